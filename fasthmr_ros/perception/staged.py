"""Two stages of per-frame work overlapped across two threads: stage 1 of frame t+1 runs while stage 2 of frame t
does, so the rate is set by the slower stage instead of by their sum.

The node uses it with the pipeline's masks (stage 1: MediaPipe's graphs, which release the GIL) and the rest
(stage 2: tracks, lift or encoder, decoder, body model, publishing). Between the stages there is room for one
item: stage 1 waits rather than run ahead, so nothing queues, latency stays bounded by the two stages, and items
leave stage 2 in the order they entered stage 1. Where frames come from (newest only) is the caller's business:
`take(timeout)` returns the next input or None.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from fasthmr_ros.runtime.os_threads import name_os_thread

In = TypeVar("In")
Mid = TypeVar("Mid")

_POLL_S = 0.1  # how often waiting threads look at the stop flag
_WAKE = object()  # put on the hand-over by stop(): an idle stage-2 thread ends now, not a poll period later


class StagedRunner(Generic[In, Mid]):
    """Runs `second(first(item))` for every item `take` gives, in two threads when `overlap`, else in one.

    An exception in either stage goes to `on_error` and loses only that item; the threads outlive it."""

    def __init__(
        self,
        take: Callable[[float], In | None],
        first: Callable[[In], Mid | None],
        second: Callable[[Mid], None],
        on_error: Callable[[BaseException], None],
        overlap: bool = True,
        name: str = "fasthmr",
    ) -> None:
        self._take, self._first, self._second, self._on_error = take, first, second, on_error
        self.overlap = overlap
        self._handoff: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._first_loop, name=f"{name}-stage1", daemon=True)]
        if overlap:
            self._threads.append(threading.Thread(target=self._second_loop, name=f"{name}-stage2", daemon=True))

    def start(self) -> StagedRunner[In, Mid]:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask both threads to finish their current item and end; True when they did within timeout."""
        self._stop.set()
        # a full hand-over means stage 2 has an item to take, and it looks at the stop flag right after it
        with contextlib.suppress(queue.Full):
            self._handoff.put_nowait(_WAKE)
        for thread in self._threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in self._threads)

    def _run_first(self, item: In) -> Mid | None:
        try:
            return self._first(item)
        except Exception as err:  # one bad frame must not end the stream
            self._on_error(err)
            return None

    def _run_second(self, mid: Mid) -> None:
        try:
            self._second(mid)
        except Exception as err:
            self._on_error(err)

    def _first_loop(self) -> None:
        name_os_thread()
        # serial: stage 2 right here; overlapped: hand the item to the stage-2 thread
        deliver = self._hand_over if self.overlap else self._run_second
        while not self._stop.is_set():
            item = self._take(_POLL_S)
            if item is None:
                continue
            mid = self._run_first(item)
            if mid is not None:
                deliver(mid)

    def _hand_over(self, mid: Mid) -> None:
        while not self._stop.is_set():
            try:
                self._handoff.put(mid, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _second_loop(self) -> None:
        name_os_thread()
        while not self._stop.is_set():
            try:
                mid = self._handoff.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if mid is not _WAKE:
                self._run_second(mid)


def run_through(
    items: Iterable[In],
    first: Callable[[In], Mid],
    second: Callable[[Mid], None],
    overlap: bool = True,
    name: str = "fasthmr",
) -> None:
    """Every item of a finite sequence through both stages (offline tools, benchmarks); returns when the last one
    has left stage 2, or raises the first exception either stage raised (the rest are then not run)."""
    source = iter(items)
    end = object()
    lock = threading.Lock()
    counts = {"taken": 0, "done": 0}
    exhausted = threading.Event()
    finished = threading.Event()
    errors: list[BaseException] = []

    def take(timeout: float):
        if exhausted.is_set():
            finished.wait(timeout)
            return None
        item = next(source, end)
        with lock:
            if item is end:
                exhausted.set()
                if counts["done"] == counts["taken"]:
                    finished.set()
                return None
            counts["taken"] += 1
        return item

    def counted(mid: Mid) -> None:
        second(mid)
        with lock:
            counts["done"] += 1
            if exhausted.is_set() and counts["done"] == counts["taken"]:
                finished.set()

    def failed(err: BaseException) -> None:
        errors.append(err)
        finished.set()

    runner = StagedRunner(take, first, counted, failed, overlap=overlap, name=name).start()
    finished.wait()
    runner.stop()
    if errors:
        raise errors[0]
