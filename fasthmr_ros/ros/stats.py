"""Counters and rates the node reports on /diagnostics."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = now - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()


class NodeStats:
    """Thread-safe counters shared by the callback thread, the inference thread and the diagnostics timer."""

    def __init__(self, latency_window: int = 200) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.processed = 0
        self.bad_frames = 0
        self.errors = 0
        self.last_problem = ""
        self.input_rate = RateMeter()
        self.output_rate = RateMeter()
        self._stage_ms: dict[str, deque[float]] = {}
        self._latency_window = latency_window

    def on_received(self) -> None:
        with self._lock:
            self.received += 1
            self.input_rate.tick()

    def on_processed(self, stage_ms: dict[str, float]) -> None:
        with self._lock:
            self.processed += 1
            self.output_rate.tick()
            for stage, ms in stage_ms.items():
                self._stage_ms.setdefault(stage, deque(maxlen=self._latency_window)).append(ms)

    def on_bad_frame(self, reason: str) -> None:
        with self._lock:
            self.bad_frames += 1
            self.last_problem = reason

    def on_error(self, reason: str) -> None:
        with self._lock:
            self.errors += 1
            self.last_problem = reason

    def snapshot(self) -> dict[str, float | int | str]:
        with self._lock:
            values: dict[str, float | int | str] = {
                "frames_received": self.received,
                "frames_processed": self.processed,
                "bad_frames": self.bad_frames,
                "errors": self.errors,
                "input_rate_hz": round(self.input_rate.rate(), 2),
                "processed_rate_hz": round(self.output_rate.rate(), 2),
                "last_problem": self.last_problem,
            }
            for stage, samples in sorted(self._stage_ms.items()):
                arr = np.asarray(samples)
                values[f"{stage}_ms_p50"] = round(float(np.median(arr)), 2)
                values[f"{stage}_ms_p95"] = round(float(np.percentile(arr, 95)), 2)
            return values
