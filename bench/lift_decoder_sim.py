"""The streaming decoder on the landmark lift's own errors, simulated: body-model motions (the synthetic motion
set, seeds the decoder's training never draws) seen from random cameras -> BlazePose-style landmarks with
MediaPipe-like errors, partly persistent over frames (training/lift_errors.py) -> the embedded lift per frame ->
a decoder, online -> scored against the true motion on the 12 limb landmarks (mean shape, hip-centred). No
footage, so the decoder for the landmark source can be chosen without the real-footage benchmark.

    python -m bench.lift_decoder_sim [--decoder PATH ...] [--lookahead K ...] [--strength S ...] [--steps N ...]
                                     [--window W ...] [--clips 24] [--seconds 6] [--fps 30 60]
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, LIMB_LANDMARKS
from fasthmr_ros.perception.config import DecoderSettings
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.decoder_files import load_decoder
from fasthmr_ros.runtime.lift_files import load_lift
from fasthmr_ros.training.lift_errors import LiftErrorModel
from fasthmr_ros.training.metrics import per_frame_pa_mpjpe
from fasthmr_ros.training.synth import motion


def limb_points(body: BodyLandmarks, rotmats: torch.Tensor) -> torch.Tensor:
    """(B,T,24,3,3) -> (B,T,12,3) hip-centred limb landmarks of the mean shape, camera axes."""
    flat = rotmats.flatten(0, 1)
    lm = body(flat, torch.zeros(len(flat), 5))[0]
    lm = (lm - lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True))[:, list(LIMB_LANDMARKS)]
    return lm.unflatten(0, rotmats.shape[:2])


def scores(pred: torch.Tensor, true: torch.Tensor) -> dict[str, float]:
    """(B,T,12,3) -> mm: hip-centred MPJPE, PA-MPJPE, acceleration error."""
    mpjpe = (pred - true).norm(dim=-1).mean() * 1000
    pa = per_frame_pa_mpjpe(pred.flatten(0, 1), true.flatten(0, 1)).mean()  # already mm
    acc_p = pred[:, 2:] - 2 * pred[:, 1:-1] + pred[:, :-2]
    acc_t = true[:, 2:] - 2 * true[:, 1:-1] + true[:, :-2]
    accel = (acc_p - acc_t).norm(dim=-1).mean() * 1000
    return {"MPJPE": float(mpjpe), "PA-MPJPE": float(pa), "Accel err": float(accel)}


def online(decoder: StreamingDecoder, estimate: torch.Tensor) -> torch.Tensor:
    """Frame by frame, as the pipeline runs it; look-ahead k answers for frame t - k (the last k stay per-frame)."""
    out = estimate.clone()
    ids = list(range(estimate.shape[0]))
    for i in range(estimate.shape[1]):
        refined = decoder.update(ids, estimate[:, i])
        if i >= decoder.lookahead:
            out[:, i - decoder.lookahead] = refined
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", nargs="+", default=[""], help="decoder files ('' = the embedded one)")
    parser.add_argument("--lookahead", type=int, nargs="+", default=[0])
    lift_default = DecoderSettings().lift_strength
    parser.add_argument(
        "--strength",
        type=float,
        nargs="+",
        default=sorted({1.0, lift_default}, reverse=True),
        help=f"share of the correction applied (the pipeline's default for the lift: {lift_default:g})",
    )
    parser.add_argument("--window", type=int, nargs="+", default=[0], help="frames (0 = the decoder's own)")
    parser.add_argument("--steps", type=int, nargs="+", default=[0], help="denoising steps (0 = the decoder's own)")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, nargs="+", default=[30.0, 60.0])
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    body = BodyLandmarks(load_body_model(None))
    net, _ = load_lift(None)
    errors = LiftErrorModel(body, net.eval())
    for fps in args.fps:
        rng = np.random.default_rng(args.seed)
        generator = torch.Generator().manual_seed(args.seed)
        kinds = motion.KINDS
        clips = [motion.synthesize_clip(kinds[i % len(kinds)], args.seconds, fps, rng) for i in range(args.clips)]
        frames = min(len(c) for c in clips)
        world = torch.stack([c.rotmats()[:frames].float() for c in clips])  # (B,T,24,3,3)
        yaw = torch.from_numpy(rng.uniform(-math.pi, math.pi, args.clips)).float()
        pitch = torch.from_numpy(np.radians(rng.uniform(-10, 30, args.clips))).float()
        true_rot = motion.camera_view(world, yaw, pitch)
        with torch.no_grad():
            lifted = errors.apply(true_rot, fps, generator)
            true = limb_points(body, true_rot)
            rows = {"per frame (decoder off)": limb_points(body, lifted)}
            for path in args.decoder:
                model = load_decoder(path or None)
                for lookahead in args.lookahead:
                    for window, steps, strength in itertools.product(args.window, args.steps, args.strength):
                        decoder = StreamingDecoder(
                            model, lookahead=lookahead, window=window or None, steps=steps or None, strength=strength
                        )
                        name = f"decoder {path or 'embedded'}, look-ahead {lookahead}"
                        name += f", window {window}" * bool(window) + f", steps {steps}" * bool(steps)
                        name += f", strength {strength:g}" * (strength != 1)
                        rows[name] = limb_points(body, online(decoder, lifted))
        print(f"\n{fps:.0f} fps, {len(clips)} clips x {frames} frames (mm)")
        for name, pred in rows.items():
            figures = ", ".join(f"{k} {v:.1f}" for k, v in scores(pred, true).items())
            print(f"  {name}: {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
