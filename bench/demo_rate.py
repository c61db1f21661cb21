"""`fasthmr demo`'s reported frame rate (what `make demo` prints), this checkout against a baseline install, run
alternately so both see the same machine load; medians over rounds.

The baseline is another installation of the package, e.g. an older commit built into its own venv:
    git worktree add /tmp/base <commit> && cp -a .venv /tmp/base-venv
    (cd /tmp/base && /tmp/base-venv/bin/python -m pip install --no-build-isolation --no-deps .)
    python -m bench.demo_rate --baseline-python /tmp/base-venv/bin/python [--rounds 3] [--frames 0]

Each run is a whole `fasthmr demo` (node process, player, overlay video, MCAP), started from a scratch folder so
each interpreter imports its own installed package; the demo's summary.json gives frames per second, latency and
the frames the node dropped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_demo(python: str, out: Path, frames: int) -> dict:
    command = [python, "-m", "fasthmr_ros.cli", "demo", "--out", str(out)]
    if frames:
        command += ["--frames", str(frames)]
    proc = subprocess.run(command, cwd=out.parent, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{python}: demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads((out / "summary.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-python", required=True, help="python of the baseline installation")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=0, help="frames per run (0 = the whole clip)")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {"baseline": [], "this checkout": []}
    pythons = {"baseline": args.baseline_python, "this checkout": sys.executable}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            for name, python in pythons.items():
                summary = run_demo(python, Path(folder) / f"{name.replace(' ', '_')}_{round_index}", args.frames)
                runs[name].append(summary)
                print(f"round {round_index + 1} {name}: {summary['frames_per_second']:.2f} fps, "
                      f"{summary['frames_dropped_by_node']} dropped", flush=True)  # fmt: skip
    print("| install | fps (median) | per round | latency p50 ms (median) | frames dropped by the node |")
    print("|---|---|---|---|---|")
    medians = {}
    for name, summaries in runs.items():
        rates = [s["frames_per_second"] for s in summaries]
        medians[name] = statistics.median(rates)
        latency = statistics.median(s["latency_ms_p50"] for s in summaries)
        dropped = [s["frames_dropped_by_node"] for s in summaries]
        print(f"| {name} | {medians[name]:.2f} | {', '.join(f'{r:.2f}' for r in rates)} | {latency:.0f} | {dropped} |")
    print(f"this checkout / baseline: {medians['this checkout'] / medians['baseline']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
