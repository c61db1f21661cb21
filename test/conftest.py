"""Shared test fixtures: an isolated ROS 2 domain per test, process management, message collectors.

The ROS environment is set here, before anything imports rclpy: the Fast DDS localhost profile (without it,
best-effort camera images between processes are dropped), localhost discovery, and a random domain id per test
so parallel CI jobs and leftover processes never talk to each other.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_localhost.xml"
os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(PROFILE)
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
os.environ["PYTHONUNBUFFERED"] = "1"

_used_domains: set[int] = set()


def _fresh_domain() -> int:
    while True:
        domain = random.randint(1, 101)
        if domain not in _used_domains:
            _used_domains.add(domain)
            return domain


class Proc:
    """A child process with its output in a log file, stopped with SIGINT (like Ctrl-C) at teardown."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115
        self.popen = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


@pytest.fixture
def ros_env(tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: a fresh ROS domain, the DDS profile, the source tree first on the path."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(_fresh_domain())
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def spawn(ros_env: dict[str, str], tmp_path: Path, request) -> Iterator[Callable[..., Proc]]:
    """Start child processes in the test's ROS domain; all are stopped (and their logs shown on failure) after."""
    procs: list[Proc] = []

    def start(*args: str, name: str = "proc", env: dict[str, str] | None = None) -> Proc:
        proc = Proc([sys.executable, *args], env or ros_env, tmp_path / f"{name}-{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.stop()
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for proc in procs:
            print(f"----- log of {' '.join(proc.args[1:4])} -----\n{proc.log()[-4000:]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def ros_node(ros_env: dict[str, str]):
    """An rclpy node in the test process, in the test's domain."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node(f"test_{os.getpid()}", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.test_executor = executor
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def spin_until(node, condition: Callable[[], bool], timeout: float, procs: list[Proc] = ()) -> bool:
    """Spin the test node until condition() holds; fails fast when a child process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        node.test_executor.spin_once(timeout_sec=0.05)
        if condition():
            return True
        for proc in procs:
            if not proc.alive():
                raise AssertionError(f"{proc.args} exited with {proc.popen.returncode}:\n{proc.log()[-3000:]}")
    return condition()


class Collector:
    """Collects every message on a topic."""

    def __init__(self, node, msg_type, topic: str, qos=None) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.messages: list = []
        qos = qos or QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.sub = node.create_subscription(msg_type, topic, self.messages.append, qos)


def diagnostics_values(msg) -> dict[str, str]:
    return {kv.key: kv.value for status in msg.status for kv in status.values}
