"""Joining a Ray cluster (or starting a private local one) and sizing the workers.

``--ray local`` starts a cluster on this computer for the run and stops it afterwards;
``--ray auto`` or ``--ray ray://host:10001`` (any address ``ray.init`` takes) joins an existing
one and leaves it running.  A process that is already connected (an API user who called
``ray.init`` first, or the tests) keeps its connection.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core.errors import ResourceError, SettingsError

#: Ray's own messages stay out of the user's terminal unless something goes wrong.
_QUIET_ENV = {"RAY_DEDUP_LOGS": "1", "RAY_DATA_DISABLE_PROGRESS_BARS": "1"}


@dataclass(frozen=True)
class ClusterOptions:
    """Where to run and how big each worker is."""

    address: str = "local"
    """"local" (a private cluster on this computer), "auto" (the cluster this machine belongs
    to) or an address such as "ray://head:10001"."""
    gpus_per_worker: float | None = None
    """GPUs each worker holds; None: 1 when the cluster has GPUs, else CPU workers."""
    cpus_per_worker: float = 1.0
    """CPU cores each worker holds (and the torch/onnxruntime threads it uses)."""
    workers: int | None = None
    """How many workers; None: as many as the cluster's CPUs or GPUs fit."""
    local_cpus: int | None = None
    """--ray local only: CPU cores the private cluster may use (default: all)."""
    object_store_mb: int | None = None
    """--ray local only: size of the object store (default: Ray's)."""

    def __post_init__(self) -> None:
        if not self.address.strip():
            raise SettingsError("--ray needs an address: local, auto or ray://HOST:10001.")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise SettingsError(f"--gpus-per-worker must be 0 or more, not {self.gpus_per_worker:g}.")
        if self.cpus_per_worker <= 0:
            raise SettingsError(f"CPUs per worker must be more than 0, not {self.cpus_per_worker:g}.")
        if self.workers is not None and self.workers < 1:
            raise SettingsError(f"workers must be at least 1, not {self.workers}.")


def import_ray() -> Any:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SettingsError("--ray needs Ray: `pip install 'brushwork[cluster]'`, or run without --ray.") from None
    return ray


@contextlib.contextmanager
def connected(options: ClusterOptions) -> Iterator[Any]:
    """Ray, connected for the duration of the block (see the module's docstring)."""
    if options.address == "local" and "ray" not in sys.modules:
        # Ray reads this when imported: "0" makes a local cluster use, and listen on, the loopback address only
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
    if options.address == "local":
        kwargs.update(address="local", include_dashboard=False)
        if options.local_cpus:
            kwargs["num_cpus"] = options.local_cpus
        if options.object_store_mb:
            kwargs["object_store_memory"] = options.object_store_mb * 1024 * 1024
    else:
        kwargs["address"] = options.address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ResourceError(f"could not reach the Ray cluster at '{options.address}' ({exc}): start it "
                            "(`ray start --head`), check the address, or use --ray local.") from None
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class WorkerShape:
    """The resources of one worker and how many of them run."""

    count: int
    cpus: float
    gpus: float

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.cpus))

    def describe(self) -> str:
        kind = f"{self.gpus:g} GPU" if self.gpus else f"{self.cpus:g} CPU"
        return f"{self.count} worker{'s' if self.count != 1 else ''} of {kind}"


def worker_shape(ray: Any, options: ClusterOptions, most: int | None = None) -> WorkerShape:
    """How many workers of what size, from the cluster's resources (``most``: no more than the tasks)."""
    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    per_gpu = options.gpus_per_worker if options.gpus_per_worker is not None else (1.0 if gpus else 0.0)
    if per_gpu and not gpus:
        raise ResourceError(f"--gpus-per-worker {per_gpu:g} asks for GPUs, but the Ray cluster has none: "
                            "drop the option to use CPU workers.")
    per_cpu = min(options.cpus_per_worker, cpus) if cpus else options.cpus_per_worker
    fit = math.floor(gpus / per_gpu + 1e-9) if per_gpu else math.floor(cpus / per_cpu + 1e-9)
    count = options.workers or max(1, fit)
    if most is not None:
        count = max(1, min(count, most))
    return WorkerShape(count, per_cpu, per_gpu)
