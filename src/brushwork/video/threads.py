"""Decoding and encoding beside the stylizer: the two helpers that keep both CPU cores busy.

Why: on a 2-core CPU the frame loop was serial apart from the optical flow: decode, stylize,
warp and blend, then encode, each waiting for the one before.  While the main thread blends or
the network runs, the decoder can already unpack the next frame and x264 can compress the last
one; PyAV and OpenCV release the GIL for that work.  Both helpers keep the order of frames and
hand any error of the background thread to the caller at the next call, as if it had happened
there, so the loop's error handling (damaged input, full disk) is unchanged.
"""

from __future__ import annotations

import collections
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], depth: int = 3, name: str = "brushwork-decode") -> Generator[T, None, None]:
    """``items``, produced up to ``depth`` ahead by a background thread.

    The thread stops when the consumer stops iterating (the generator is closed or collected),
    so an interrupted loop leaves nothing running.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(("error", exc))
            return
        put(("done", _DONE))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join(timeout=5)
        close = getattr(items, "close", None)
        if close is not None and not thread.is_alive():
            close()


class InOrder:
    """Runs calls of ``work`` one at a time, in order, in a background thread, with at most
    ``depth`` waiting; :meth:`drain` waits for all of them.  An exception of a call is raised
    by the next :meth:`submit` or :meth:`drain`."""

    def __init__(self, work: Callable[..., None], depth: int = 2, name: str = "brushwork-encode") -> None:
        self.work = work
        self.depth = depth
        self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)
        self.pending: collections.deque[concurrent.futures.Future[None]] = collections.deque()

    def submit(self, *args: Any) -> None:
        while self.pending and (self.pending[0].done() or len(self.pending) >= self.depth):
            self.pending.popleft().result()
        self.pending.append(self.pool.submit(self.work, *args))

    def drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Stop: calls not started are dropped, a running one is waited for (errors ignored)."""
        for f in self.pending:
            f.cancel()
        self.pool.shutdown(wait=True)
        self.pending.clear()
