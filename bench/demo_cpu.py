"""Where `fasthmr demo`'s CPU goes while the clip plays: per thread of the node (named at the OS level:
fasthmr-stage1, fasthmr-stage2, fasthmr-visual, fasthmr-lm_*, MediaPipe's graph threads, DDS) and for the player
process, from /proc (Linux), as ms of CPU per processed frame and as cores.

    python -m bench.demo_cpu [--frames 0] [-p NAME:=VALUE ...]

Start-up is left out: counting begins at the first sample in which the node's stage-2 thread has used CPU (the
first frame is in) and ends at the last sample before the node exits. Samples every 0.25 s; a thread that ends
between samples keeps its last reading.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.demo_rate import demo_command

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(stat_path: Path) -> float | None:
    try:
        fields = stat_path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def _threads(pid: int) -> dict[int, tuple[str, float]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue
        cpu = _cpu_s(task / "stat")
        if cpu is not None:
            out[int(task.name)] = (name, cpu)
    return out


def _group(name: str, tid: int, pid: int) -> str:
    if tid == pid:
        return "main (executor: callbacks, image receive)"
    if name.startswith("mediapipe"):
        return "MediaPipe graphs (detector, landmarkers)"
    if name.startswith("dds."):
        return "Fast DDS"
    return name


def _node_pid(parent: int, timeout: float = 60.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"fasthmr_ros.cli run" in cmdline:
                return int(child)
        time.sleep(0.05)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=0, help="frames to play (0 = the whole clip)")
    parser.add_argument("-p", "--param", action="append", default=[], help="node parameter for the demo")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "demo"
        command = demo_command(sys.executable, out, args.frames, args.param)
        demo = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        node = _node_pid(demo.pid)
        if node is None:
            demo.kill()
            raise SystemExit("the demo did not start a node")
        samples: list[tuple[float, float | None, dict[int, tuple[str, float]]]] = []
        while demo.poll() is None and Path(f"/proc/{node}").exists():
            samples.append((time.monotonic(), _cpu_s(Path(f"/proc/{demo.pid}/stat")), _threads(node)))
            time.sleep(0.25)
        demo.wait()
        summary = json.loads((out / "summary.json").read_text())

    def stage2(sample) -> float:
        return sum(cpu for name, cpu in sample[2].values() if name == "fasthmr-stage2")

    playing = [s for s in samples if stage2(s) > 0]
    if len(playing) < 2:
        raise SystemExit("the node processed frames for less than one sample period: nothing to count")
    first, last = playing[0], playing[-1]
    seconds, frames = last[0] - first[0], summary["frames"]
    per_group: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in last[2].items():
        per_group[_group(name, tid, node)] += cpu - first[2].get(tid, (name, 0.0))[1]
    player = (last[1] or 0.0) - (first[1] or 0.0)
    print(f"fasthmr demo: {frames} frames, {summary['frames_per_second']:.1f} fps, "
          f"{summary['people_per_frame_mean']:.2f} people a frame; {seconds:.1f} s counted; "
          f"CPU cores {os.cpu_count()}")  # fmt: skip
    print("| process / thread | CPU s | ms per frame | cores |")
    print("|---|---|---|---|")
    for group, cpu in sorted(per_group.items(), key=lambda item: -item[1]):
        if cpu > 0.005:
            print(f"| node: {group} | {cpu:.2f} | {cpu / frames * 1e3:.1f} | {cpu / seconds:.2f} |")
    total = sum(per_group.values())
    print(f"| node, all threads | {total:.2f} | {total / frames * 1e3:.1f} | {total / seconds:.2f} |")
    print(f"| player (the demo process) | {player:.2f} | {player / frames * 1e3:.1f} | {player / seconds:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
