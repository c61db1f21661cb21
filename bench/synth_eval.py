"""Accuracy and speed of HMR models on held-out synthetic sequences (camera frame, true focal length).

    python bench/synth_eval.py                       # the embedded demo model, 9 sequences x 3 s at 30 fps
    python bench/synth_eval.py --checkpoint X.ckpt --config micro --json out.json

Rows: the demo model per frame on true tight boxes and on detector-like jittered boxes, the mean-parameter model (the
same network with its readouts zeroed: what "learned nothing" scores), per-frame + the embedded streaming diffusion
decoder (look-ahead 0 and 4 frames), and the whole Pipeline (MediaPipe masks, tracking, crops, model, body model)
per frame. The evaluation sequences are
rendered once into the cache (seed 1000; the training set uses seed 0 and another random stream).
Speed: medians over the evaluation frames of one person per call (batch 1), crop / encoder+head / body model.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fasthmr_ros.perception.camera import cam_crop_to_full
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.checkpoint import load_hmr2
from fasthmr_ros.runtime.decoder_files import load_decoder
from fasthmr_ros.runtime.demo_model import load_demo_model
from fasthmr_ros.training.hmr_data import jitter_box
from fasthmr_ros.training.hmr_eval import DecodedPredictor, PerFramePredictor, evaluate_sequences
from fasthmr_ros.training.synth.dataset import SynthSet, cache_dir, generate_sequences

EVAL_SEED = 1000


def eval_set(sequences: int, seconds: float, fps: float) -> SynthSet:
    path = cache_dir() / f"synth_eval_seed{EVAL_SEED}_n{sequences}_{seconds:g}s.npz"
    if not path.is_file():
        meta = generate_sequences(path, sequences, seed=EVAL_SEED, seconds=seconds, fps=fps)
        print(f"rendered {meta['frames']} evaluation frames in {meta['render_s']:.0f} s "
              f"({meta['ms_per_frame']:.1f} ms/frame)")  # fmt: skip
    return SynthSet.load(path)


def pipeline_method(checkpoint: str | None, config: str):
    """The package's Pipeline (MediaPipe masks -> tracking -> crops -> model -> body), per frame, no decoder and no
    token merging; a fresh tracker for every sequence."""
    from fasthmr_ros.perception.config import PipelineConfig
    from fasthmr_ros.perception.pipeline import Pipeline
    from fasthmr_ros.perception.tracking import Tracker
    from fasthmr_ros.perception.types import Frame

    pipeline = Pipeline(
        PipelineConfig.from_flat(
            dict(checkpoint=checkpoint or "", model_config=config, decoder=False, token_merging=False, max_people=1)
        )
    )

    def method(frames):
        pipeline.tracker = Tracker()
        out = np.full((len(frames), 24, 3), np.nan)
        for t, frame in enumerate(frames):
            people = pipeline.process(Frame(frame.image, frame.K, True)).people
            if people:
                out[t] = people[0].joints
        return out

    return method


def decoder_or_none():
    """The embedded diffusion decoder, or None (with a note) where this checkout has no decoder weights."""
    try:
        return load_decoder(None)
    except FileNotFoundError as error:
        print(f"no decoder rows: {error}")
        return None


def mean_parameter_model(model):
    """The same network answering its mean parameters whatever the image."""
    frozen = copy.deepcopy(model)
    with torch.no_grad():
        for layer in (frozen.smpl_head.decpose, frozen.smpl_head.decshape, frozen.smpl_head.deccam):
            layer.weight.zero_()
            layer.bias.zero_()
    return frozen


def speed(model, body, dataset: SynthSet, frames: int = 60) -> dict[str, float]:
    times: dict[str, list[float]] = {"crop": [], "encoder_head": [], "camera_body": []}
    with torch.inference_mode():
        for index in range(min(frames, len(dataset))):
            image, K = dataset.image(index), dataset["K"][index]
            t0 = time.perf_counter()
            crop = crop_people(image, dataset["box"][index][None].astype(np.float64))
            t1 = time.perf_counter()
            out = model(crop.images)
            t2 = time.perf_counter()
            translation = cam_crop_to_full(out.pred_cam.double().numpy(), crop.centers, crop.sizes, crop.image_wh,
                                           focal=float(K[0, 0]))  # fmt: skip
            _ = body(out.global_orient, out.body_pose, out.betas).joints.numpy() + translation[:, None]
            t3 = time.perf_counter()
            for key, value in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                times[key].append(1000 * value)
    result = {f"{k}_ms": round(statistics.median(v), 2) for k, v in times.items()}
    result["total_ms"] = round(sum(result.values()), 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="weights to measure (default: the embedded demo model)")
    parser.add_argument("--config", default="micro")
    parser.add_argument("--sequences", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the row through the whole Pipeline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = eval_set(args.sequences, args.seconds, args.fps)
    if args.checkpoint:
        model, name = load_hmr2(args.checkpoint, args.config), args.checkpoint
    else:
        model, meta = load_demo_model()
        name = f"embedded demo model ({meta['config']})"
    body = load_body_model(None)
    rng = np.random.default_rng(0)
    jittered = PerFramePredictor(model, body, box_source=lambda frame: jitter_box(frame.box, rng))
    rows = {
        "per-frame, true boxes": evaluate_sequences(dataset, PerFramePredictor(model, body)),
        "per-frame, jittered boxes": evaluate_sequences(dataset, jittered),
        "mean parameters (no image)": evaluate_sequences(dataset, PerFramePredictor(mean_parameter_model(model), body)),
    }
    decoder = decoder_or_none()
    if decoder is not None:
        for lookahead in (0, 4):
            streaming = StreamingDecoder(model=decoder, lookahead=lookahead)
            method = DecodedPredictor(PerFramePredictor(model, body), streaming, lookahead=lookahead)
            rows[f"per-frame + streaming decoder (look-ahead {lookahead}), true boxes"] = evaluate_sequences(
                dataset, method
            )
    if not args.no_pipeline:
        rows["pipeline: MediaPipe masks + tracking, per-frame"] = evaluate_sequences(
            dataset, pipeline_method(args.checkpoint, args.config)
        )
    timing = speed(model, body, dataset)
    print(f"{name}; {dataset.meta['frames']} frames in {len(dataset.sequences())} sequences "
          f"({args.seconds:g} s at {args.fps:g} fps); torch threads {args.threads}\n")  # fmt: skip
    print("| method | MPJPE | PA-MPJPE | Accel | camera-frame error | root error | found | ms/frame (batch 16) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, res in rows.items():
        print(f"| {label} | {res.mpjpe:.1f} | {res.pa_mpjpe:.1f} | {res.accel:.1f} | {res.camera_error:.0f} | "
              f"{res.root_error:.0f} | {res.found:.2f} | {res.ms_per_frame:.1f} |")  # fmt: skip
    kinds = sorted({r["kind"] for r in rows["per-frame, true boxes"].per_sequence})
    print("\nper motion kind (per-frame, true boxes): MPJPE / PA-MPJPE mm")
    for kind in kinds:
        seqs = [r for r in rows["per-frame, true boxes"].per_sequence if r["kind"] == kind]
        found = sum(r["found"] for r in seqs)
        mpjpe = sum(r["mpjpe_sum"] for r in seqs) / found
        print(f"  {kind}: {mpjpe:.1f} / {sum(r['pa_mpjpe_sum'] for r in seqs) / found:.1f}")
    print(f"\nbatch-1 latency medians: {timing}")
    if args.json:
        out = {"model": name, "rows": {k: v.row() for k, v in rows.items()}, "speed_batch1": timing,
               "data": dataset.meta}  # fmt: skip
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
