"""runtime/os_threads.py: the node's threads carry their names to the OS (what top -H and /proc show)."""

from __future__ import annotations

import threading
from pathlib import Path

from fasthmr_ros.perception.staged import StagedRunner
from fasthmr_ros.runtime.os_threads import name_os_thread


def _os_names() -> set[str]:
    return {task.joinpath("comm").read_text().strip() for task in Path("/proc/self/task").iterdir()}


def test_a_thread_names_itself_at_the_os_level() -> None:
    seen: list[str] = []

    def run() -> None:
        name_os_thread()
        seen.append(Path(f"/proc/self/task/{threading.get_native_id()}/comm").read_text().strip())

    thread = threading.Thread(target=run, name="fasthmr-test-thread-long-name")
    thread.start()
    thread.join()
    assert seen == ["fasthmr-test-th"]  # the kernel keeps 15 characters


def test_the_two_stage_runner_threads_are_named() -> None:
    idle = threading.Event()
    runner = StagedRunner(lambda timeout: idle.wait(0.01) or None, lambda i: i, lambda m: None, lambda e: None,
                          name="fasthmr").start()  # fmt: skip
    try:
        for _ in range(100):
            if {"fasthmr-stage1", "fasthmr-stage2"} <= _os_names():
                break
            idle.wait(0.02)
        assert {"fasthmr-stage1", "fasthmr-stage2"} <= _os_names(), _os_names()
    finally:
        runner.stop()
