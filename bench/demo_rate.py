"""`fasthmr demo`'s reported frame rate (what `make demo` prints), this checkout against a baseline install, run
alternately so both see the same machine load; medians over rounds.

The baseline is another installation of the package, e.g. an older commit built into its own venv:
    git worktree add /tmp/base <commit> && cp -a .venv /tmp/base-venv
    (cd /tmp/base && /tmp/base-venv/bin/python -m pip install --no-build-isolation --no-deps .)
    python -m bench.demo_rate --baseline-python /tmp/base-venv/bin/python [--rounds 3] [--frames 0]

Each run is a whole `fasthmr demo` (node process, player, overlay video, MCAP), started from a scratch folder so
each interpreter imports its own installed package. The rate compared is the node's output rate, read the same
way for both from the run's outputs.mcap: meshes messages after the first, over the time from the first to the
last (installs older than the demo's own fps figure have no other); the demo's reported fps (frames over its
whole sending time), latency and dropped frames come from summary.json where the install writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def demo_command(python: str, out: Path, frames: int, params: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The `fasthmr demo` command line: output folder, frames (0 = the whole clip), node parameters."""
    command = [python, "-m", "fasthmr_ros.cli", "demo", "--out", str(out)]
    command += ["--frames", str(frames)] if frames else []
    for item in params:
        command += ["-p", item]
    return command


def run_demo(python: str, out: Path, frames: int) -> dict:
    proc = subprocess.run(demo_command(python, out, frames), cwd=out.parent, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{python}: demo failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads((out / "summary.json").read_text())


def output_rate(mcap_file: Path, topic: str = "/fasthmr/meshes") -> float:
    """Messages on topic after the first, per second of recording time between the first and the last."""
    from mcap.reader import make_reader

    with mcap_file.open("rb") as stream:
        times = [message.log_time for _, _, message in make_reader(stream).iter_messages(topics=[topic])]
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / ((times[-1] - times[0]) * 1e-9)


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
                out = Path(folder) / f"{name.replace(' ', '_')}_{round_index}"
                summary = run_demo(python, out, args.frames)
                summary["output_rate"] = output_rate(out / "outputs.mcap")
                runs[name].append(summary)
                print(f"round {round_index + 1} {name}: output {summary['output_rate']:.2f} fps, reported "
                      f"{summary.get('frames_per_second', float('nan')):.2f} fps, "
                      f"{summary.get('frames_dropped_by_node', '?')} dropped", flush=True)  # fmt: skip
    print("| install | output fps (median) | per round | reported fps (median) | latency p50 ms (median) | "
          "frames dropped by the node |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    medians = {}
    for name, summaries in runs.items():
        rates = [s["output_rate"] for s in summaries]
        medians[name] = statistics.median(rates)
        reported = [s["frames_per_second"] for s in summaries if "frames_per_second" in s]
        shown = f"{statistics.median(reported):.2f}" if reported else "not reported"
        latency = statistics.median(s["latency_ms_p50"] for s in summaries)
        dropped = [s.get("frames_dropped_by_node", "not reported") for s in summaries]
        print(f"| {name} | {medians[name]:.2f} | {', '.join(f'{r:.2f}' for r in rates)} | {shown} | {latency:.0f} | "
              f"{dropped} |")  # fmt: skip
    paired = [ours["output_rate"] / base["output_rate"] for ours, base in zip(runs["this checkout"], runs["baseline"],
                                                                               strict=True)]  # fmt: skip
    print(f"this checkout / baseline (output fps): {medians['this checkout'] / medians['baseline']:.2f}x; "
          f"per round (each pair run back to back) {', '.join(f'{r:.2f}' for r in paired)}, "
          f"median {statistics.median(paired):.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
