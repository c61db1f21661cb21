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


class ProblemLog:
    """Decides which problem reports reach the log: each distinct key at once, then at most once per period.

    Keys are per reason (kind of error + encoding, CameraInfo field, ...), so a reason that repeats every frame
    never silences a new one. Keys partly come from the wire (encoding names), so only the most recent
    `max_keys` are remembered: a stream of ever-new garbage encodings costs bounded memory.
    """

    def __init__(self, period_s: float = 5.0, max_keys: int = 256) -> None:
        self._period_s = period_s
        self._max_keys = max_keys
        self._logged_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def should_log(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._logged_at.get(key)
            if last is not None and now - last < self._period_s:
                return False
            self._logged_at.pop(key, None)  # re-insert: the dict's order is the order of last logging
            self._logged_at[key] = now
            while len(self._logged_at) > self._max_keys:
                del self._logged_at[next(iter(self._logged_at))]
            return True


class NodeStats:
    """Thread-safe counters shared by the callback thread, the inference thread and the diagnostics timer."""

    def __init__(self, latency_window: int = 200) -> None:
        self._lock = threading.Lock()
        self.received = 0
        self.processed = 0
        self.bad_frames = 0
        self.errors = 0
        self.lost = 0
        self.lost_in_transport = 0
        self.bad_camera_info = 0
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

    def on_lost(self, count: int) -> int:
        """Frames the camera published that never reached the node (sequence gaps); returns the total so far."""
        with self._lock:
            self.lost += count
            return self.lost

    def on_lost_in_transport(self, count: int) -> int:
        """Frames DDS itself reported lost in transport; returns the total so far.

        Overlaps `lost` (sequence gaps) but is neither part nor whole of it: DDS also counts frames lost before the
        first that arrived, and does not count frames pushed out of the subscription's queue.
        """
        with self._lock:
            self.lost_in_transport += count
            return self.lost_in_transport

    def on_bad_camera_info(self) -> None:
        with self._lock:
            self.bad_camera_info += 1

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
                "frames_lost": self.lost,
                "frames_lost_in_transport": self.lost_in_transport,
                "bad_camera_info": self.bad_camera_info,
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
