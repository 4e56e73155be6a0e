"""The background decode and encode helpers keep order, pass errors on and leave no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from brushwork.video.threads import InOrder, prefetch


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(name)]


def test_prefetch_keeps_order_and_runs_ahead() -> None:
    produced: list[int] = []

    def items():
        for i in range(20):
            produced.append(i)
            yield i

    it = prefetch(items(), depth=3, name="test-prefetch-order")
    assert next(it) == 0
    time.sleep(0.2)
    assert len(produced) > 1  # the next items were made while the consumer waited
    assert [0, *it] == list(range(20))
    assert not _threads("test-prefetch-order")


def test_prefetch_raises_the_producers_error_where_it_happened() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("damaged at frame 3")

    got = []
    with pytest.raises(ValueError, match="frame 3"):
        for x in prefetch(items(), name="test-prefetch-error"):
            got.append(x)
    assert got == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless(), depth=2, name="test-prefetch-stop")
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()
    assert not _threads("test-prefetch-stop")
    assert closed.is_set()  # the source was closed too (its files released)


def test_in_order_runs_calls_in_order_and_reports_errors_at_the_next_call() -> None:
    done: list[int] = []

    def work(i: int) -> None:
        time.sleep(0.01 * (i % 3))
        if i == 5:
            raise OSError("disk full")
        done.append(i)

    runner = InOrder(work, depth=2, name="test-in-order")
    for i in range(5):
        runner.submit(i)
    runner.drain()
    assert done == [0, 1, 2, 3, 4]
    runner.submit(5)
    with pytest.raises(OSError, match="disk full"):
        for i in range(6, 10):
            runner.submit(i)
        runner.drain()
    runner.close()
    assert done[:5] == [0, 1, 2, 3, 4] and 5 not in done
    assert not _threads("test-in-order")
