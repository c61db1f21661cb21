"""Generation speed of synthetic people: training frames (random size 320-640 px long side) and sequence frames,
wall and CPU time per frame, one torch thread, and the cost of each step of one training frame.

    python bench/synth_generate.py --frames 48
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.training.synth import appearance, pose_sampler
from fasthmr_ros.training.synth.backgrounds import load_plates, random_background
from fasthmr_ros.training.synth.dataset import encode_jpeg
from fasthmr_ros.training.synth.scene import SynthGenerator, sample_camera


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, 1000 * (time.perf_counter() - wall), 1000 * (time.process_time() - cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--sequence-seconds", type=float, default=2.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    (body, plates), setup_wall, _ = timed(lambda: (load_body_model(None), load_plates()))
    generator = SynthGenerator(seed=123, body=body, plates=plates)
    frames, wall, cpu = timed(lambda: generator.frames(range(args.frames)))
    pixels = statistics.mean(f.image.shape[0] * f.image.shape[1] for f in frames)
    print(f"setup (body model + background plates from cache or video): {setup_wall:.0f} ms")
    print("| what | frames | wall ms/frame | CPU ms/frame | mean image |")
    print("|---|---|---|---|---|")
    print(f"| training frames | {len(frames)} | {wall / len(frames):.1f} | {cpu / len(frames):.1f} | "
          f"{pixels / 1e3:.0f} kpx |")  # fmt: skip
    sequence, wall, cpu = timed(lambda: generator.sequence(0, seconds=args.sequence_seconds, fps=30.0))
    n = len(sequence.frames)
    shape = sequence.frames[0].image.shape
    print(f"| sequence frames ({sequence.kind}) | {n} | {wall / n:.1f} | {cpu / n:.1f} | {shape[1]}x{shape[0]} |")
    _, wall, cpu = timed(lambda: [encode_jpeg(f.image) for f in frames])
    print(f"| JPEG encoding (cache) | {len(frames)} | {wall / len(frames):.1f} | {cpu / len(frames):.1f} | |")

    # Step breakdown of one training frame (medians over the frames).
    steps: dict[str, list[float]] = {"pose sample": [], "body model": [], "background": [], "rasterise": [],
                                     "composite": []}  # fmt: skip
    rng = np.random.default_rng(0)
    for _ in range(min(args.frames, 24)):
        camera = sample_camera(rng)
        pose, w, _ = timed(pose_sampler.sample_pose, rng)
        steps["pose sample"].append(w)
        rot = torch.from_numpy(pose.rotmats)
        out, w, _ = timed(body, rot[None, :1], rot[None, 1:], torch.zeros(1, 10))
        steps["body model"].append(w)
        background, w, _ = timed(random_background, plates, camera.width, camera.height, rng)
        steps["background"].append(w)
        # Facing the camera 3 m away.
        vertices = out.vertices[0].double().numpy() @ np.diag([1.0, -1.0, -1.0]) + [0, 0, 3.0]
        size = (camera.K, camera.width, camera.height)
        raster, w, _ = timed(appearance.rasterize_person, vertices, generator.regions, *size)
        steps["rasterise"].append(w)
        look = appearance.sample_look(rng)
        _, w, _ = timed(appearance.composite, background.copy(), raster, look, rng)
        steps["composite"].append(w)
    print("\nmedian wall ms per step: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in steps.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
