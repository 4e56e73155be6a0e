"""Batch jobs on a local Ray cluster (2 CPUs, loopback only, one cluster for the whole module).

Same pictures as one machine, a worker killed mid-run, the driver killed and rerun, a damaged
photo among good ones, and a video cut into segments and joined.  Inputs are tiny (≤ 48 px,
a few dozen frames) so the module stays well under two minutes on a 2-core machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # read by Ray on import: loopback only
ray = pytest.importorskip("ray", reason="the cluster tests need Ray: pip install 'brushwork[cluster]'")

from brushwork.cli import app  # noqa: E402
from brushwork.cluster import ClusterOptions, ImageJob, VideoRecipe, run_images, run_video  # noqa: E402
from brushwork.core.image import resize_longest  # noqa: E402
from brushwork.gatys.settings import StylizeSettings  # noqa: E402
from brushwork.video import NetworkFrameStylizer, VideoSettings, load_model, stylize_video  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from test_video import make_clip, read_frames, warping_error  # noqa: E402

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src"
TINY_GATYS = StylizeSettings(size=32, quality="single", iterations=6, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def cluster():
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    ray.init(address="local", num_cpus=2, object_store_memory=100 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, logging_level="ERROR")
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")  # nothing listens beyond loopback
    yield ray
    ray.shutdown()


def photos(folder: Path, content_img: Image.Image, n: int, side: int = 40, damaged: bool = True) -> Path:
    """n small photos of a few sizes (rotated crops of the demo photo), plus one damaged file."""
    folder.mkdir()
    base = resize_longest(content_img, side)
    for k in range(n):
        img = base.rotate(7 * k) if k % 3 else base.resize((side - 8, side - 12))
        img.save(folder / f"p{k:02d}.png")
    if damaged:
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


#: Same batches on both sides: which images share a batch can move a rare pixel by one level
#: (torch's CPU kernels block the work by batch size), so bit-identity is compared image by image.
ONE = ["--batch-size", "1", "-q"]


def test_fast_folder_is_bit_identical_to_one_machine_and_skips_a_damaged_photo(tmp_path, content_img):
    src = photos(tmp_path / "in", content_img, 7)
    one = runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(tmp_path / "one"), *ONE])
    many = runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(tmp_path / "ray"), "--ray", "local", *ONE])
    for run in (one, many):  # the damaged photo: one line, exit 2 at the end, every good photo written
        assert run.exit_code == 2, run.output
        assert run.output.count("broken.jpg") == 1 and "skipped" in run.output
    assert outputs(tmp_path / "one") == outputs(tmp_path / "ray") == [f"p{k:02d}.png" for k in range(7)]
    for name in outputs(tmp_path / "one"):
        assert np.array_equal(pixels(tmp_path / "one" / name), pixels(tmp_path / "ray" / name)), name
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").iterdir()}
    again = runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(tmp_path / "ray"), "--ray", "local", *ONE])
    assert again.exit_code == 2 and "wrote 0 image(s)" in again.output and "7 already there" in again.output
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "ray").iterdir()} == before  # complete outputs skipped


def _map_workers() -> set[int]:
    """PIDs of this test's Ray Data actors (descendants of this process only: other clusters may run here)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, stack = set(), [os.getpid()]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            try:
                if b"MapWorker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.add(pid)
            except OSError:
                pass
    return found


def test_a_worker_killed_mid_run_loses_nothing_and_writes_nothing_twice(tmp_path, content_img, style_file):
    n = 5
    src = photos(tmp_path / "in", content_img, n, side=32)
    one = runner.invoke(app, ["stylize", str(src), str(style_file), "-o", str(tmp_path / "one"), "--size", "32",
                              "--quality", "single", "--iterations", "6", "--device", "cpu", "-q"])
    assert one.exit_code == 2 and "broken.jpg" in one.output, one.output  # folder input on one machine
    pairs = [(p, tmp_path / "ray" / p.name) for p in sorted(src.iterdir())]
    (tmp_path / "ray").mkdir()
    job = ImageJob("stylize", stylize=TINY_GATYS, styles=(str(style_file),))
    box: dict[str, object] = {}
    thread = threading.Thread(target=lambda: box.update(result=run_images(job, pairs, options=ClusterOptions("auto"))))
    thread.start()
    killed = None
    deadline = time.monotonic() + 90
    while thread.is_alive() and time.monotonic() < deadline:
        done = len(outputs(tmp_path / "ray"))
        workers = _map_workers()
        if done >= 1 and workers:
            assert done < n, "the run finished before a worker could be killed"
            killed = min(workers)
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    thread.join(120)
    assert killed is not None and not thread.is_alive()
    result = box["result"]
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "one") == [f"p{k:02d}.png" for k in range(n)]
    assert result.written + result.present == n and not result.failed and [b for b, _ in result.bad] == [
        str(src / "broken.jpg")]
    assert result.present <= 1  # only an image finished by the killed worker can be found rather than written
    assert killed not in result.pids or len(result.pids) > 1
    assert not [p.name for p in (tmp_path / "ray").iterdir() if p.name.endswith(".part")]  # a killed write is swept
    for name in outputs(tmp_path / "one"):  # optimisation: the same picture up to float noise
        diff = np.abs(pixels(tmp_path / "one" / name) - pixels(tmp_path / "ray" / name))
        assert diff.mean() < 3.0 and diff.max() <= 40, (name, diff.mean(), diff.max())


def test_the_driver_killed_then_rerun_resumes(tmp_path, content_img):
    n = 40
    src = photos(tmp_path / "in", content_img, n, side=48, damaged=False)
    out = tmp_path / "out"
    address = ray.get_runtime_context().gcs_address  # this module's cluster, on 127.0.0.1
    assert address.startswith("127.0.0.1:")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "brushwork.cli", "fast", "starry_night", str(src), "-o", str(out), "--ray", address,
           *ONE]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while driver.poll() is None and time.monotonic() < deadline:
            if out.is_dir() and len(outputs(out)) >= 2:
                driver.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
    first = outputs(out)
    assert 2 <= len(first) < n, (len(first), driver.stderr.read().decode() if driver.stderr else "")
    stamps = {name: (out / name).stat().st_mtime_ns for name in first}
    rerun = runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(out), "--ray", "local", *ONE])
    assert rerun.exit_code == 0, rerun.output
    assert f"wrote {n - len(first)} image(s)" in rerun.output and f"{len(first)} already there" in rerun.output
    assert outputs(out) == [f"p{k:02d}.png" for k in range(n)]
    assert {name: (out / name).stat().st_mtime_ns for name in first} == stamps  # finished ones not redone
    ref = tmp_path / "ref"
    assert runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(ref), *ONE]).exit_code == 0
    for name in outputs(ref):
        assert np.array_equal(pixels(ref / name), pixels(out / name)), name


def test_video_segments_join_without_a_jump_and_a_rerun_reuses_them(tmp_path):
    # 1 s segments of 12 frames with the default 24-frame warm-up: the last segment starts its
    # warm-up at frame 12, so the join at 36 is one where the two runs' histories differ
    clip = make_clip(tmp_path / "in.mp4", frames=48)
    s = VideoSettings(crf=0)
    single = tmp_path / "single.mp4"
    stylize_video(clip, single, NetworkFrameStylizer(load_model("starry_night"), identity="x"), s)
    out = tmp_path / "ray.mp4"
    recipe = VideoRecipe(model="starry_night")

    def stop_after_a_segment(p):  # the driver dies once a segment is finished
        if p.stage.startswith("segments") and p.done >= 12:
            raise KeyboardInterrupt

    with pytest.raises(Exception, match="run the same command again"):
        run_video(clip, out, recipe, s, options=ClusterOptions("auto"), progress=stop_after_a_segment,
                  segment_seconds=1.0)
    assert not out.exists()
    result = run_video(clip, out, recipe, s, options=ClusterOptions("auto"), segment_seconds=1.0)
    assert result.frames == 48 and result.segments == 4 and result.reused >= 1 and result.joins == [12, 24, 36]
    assert "copied" in result.audio
    assert outputs(tmp_path) == ["in.mp4", "ray.mp4", "single.mp4"]  # the work folder is gone
    inputs, a, b = read_frames(clip), read_frames(single), read_frames(out)
    assert len(b) == 48
    for j in result.joins:  # warping error across each join: as low as the single run's at the same frames
        across_one = warping_error(inputs[j - 1:j + 1], a[j - 1:j + 1])
        across_ray = warping_error(inputs[j - 1:j + 1], b[j - 1:j + 1])
        assert across_ray < 1.25 * across_one + 0.5, (j, across_one, across_ray)
    assert warping_error(inputs, b) < 1.1 * warping_error(inputs, a)
    diff = np.abs(np.stack(a).astype(np.float32) - np.stack(b)).mean()
    assert diff < 3.0, diff  # the same video, up to a second chroma round trip and the joins' warm-up


def test_options_and_missing_cluster_are_one_line_errors(tmp_path, content_img):
    src = photos(tmp_path / "in", content_img, 2, damaged=False)
    bad = runner.invoke(app, ["fast", "starry_night", str(src), "-o", str(tmp_path / "o"), "--ray", "local",
                              "--gpus-per-worker", "1"])
    assert bad.exit_code == 5 and "has none" in bad.output


def test_temporary_files_of_a_killed_write_are_swept_once_the_output_is_complete(tmp_path):
    from brushwork.cluster.images import _sweep

    (tmp_path / "a.png").write_bytes(b"done")
    for name in (".a.png.k3j_x9q2.part", ".b.png.zz1yy2xx.part", ".notes.txt"):
        (tmp_path / name).write_bytes(b"")
    _sweep([tmp_path / "a.png", tmp_path / "b.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.png.zz1yy2xx.part", ".notes.txt", "a.png"]
