"""`fasthmr train-lift`: train the landmark lift (BlazePose world landmarks -> body-model pose and shape) on the
body model alone (training/lift_data.py), and write the weights the pipeline embeds (data/lift/)."""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, LANDMARK_NAMES, LIMB_LANDMARKS
from fasthmr_ros.model.lift_net import LandmarkLiftNet, LiftConfig
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.lift_files import save_lift
from fasthmr_ros.training.lift_data import LiftSamples, corrupt, make_samples
from fasthmr_ros.training.metrics import pa_mpjpe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="weights to write (.pt; a .json with the figures beside it)")
    parser.add_argument("--samples", type=int, default=200_000, help="training poses (validation: 5,000 more)")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=LiftConfig.hidden)
    parser.add_argument("--blocks", type=int, default=LiftConfig.blocks)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def _landmarks(body: BodyLandmarks, rotmats, betas) -> tuple[torch.Tensor, torch.Tensor]:
    """Hip-centred (landmarks (B,33,3), joints (B,24,3)) of a pose and shape."""
    lm, joints = body(rotmats, betas)
    centre = lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True)
    return lm - centre, joints - centre


def evaluate(net: LandmarkLiftNet, body: BodyLandmarks, data: LiftSamples, seed: int) -> dict:
    """Errors (mm) of the lift on noisy inputs of held-out samples: joints and limb landmarks."""
    generator = torch.Generator().manual_seed(seed)
    net.eval()
    with torch.no_grad():
        noisy, visibility = corrupt(data.landmarks, generator)
        rotmats, betas = net(noisy, visibility)
        lm, joints = _landmarks(body, rotmats, betas)
    net.train()
    limb = list(LIMB_LANDMARKS)
    return {
        "joint_mpjpe_mm": float((joints - data.joints).norm(dim=-1).mean() * 1000),
        "joint_pa_mpjpe_mm": pa_mpjpe(joints, data.joints),
        "limb_landmark_mpjpe_mm": float((lm[:, limb] - data.landmarks[:, limb]).norm(dim=-1).mean() * 1000),
        "input_limb_error_mm": float((noisy[:, limb] - data.landmarks[:, limb]).norm(dim=-1).mean() * 1000),
    }


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    body = load_body_model(None)
    landmarks = BodyLandmarks(body)
    started = time.perf_counter()
    train = make_samples(landmarks, args.samples, args.seed)
    held_out = make_samples(landmarks, 5000, args.seed + 1)
    print(f"[train-lift] {len(train)} training / {len(held_out)} held-out poses in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
    net = LandmarkLiftNet(LiftConfig(hidden=args.hidden, blocks=args.blocks))
    optimiser = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
    )
    generator = torch.Generator().manual_seed(args.seed)
    weights = torch.ones(len(LANDMARK_NAMES))
    weights[:11] = 0.3  # the face only fixes the head's orientation
    for step in range(1, args.steps + 1):
        pick = torch.randint(0, len(train), (args.batch,), generator=generator)
        target_lm, target_joints = train.landmarks[pick], train.joints[pick]
        noisy, visibility = corrupt(target_lm, generator)
        rotmats, betas = net(noisy, visibility)
        lm, joints = _landmarks(landmarks, rotmats, betas)
        loss_lm = ((lm - target_lm).abs().sum(-1) * weights).mean()
        loss_joints = (joints - target_joints).abs().sum(-1).mean()
        loss_rot = (rotmats - train.rotmats[pick]).square().sum((-1, -2)).mean()
        loss_betas = (betas - train.betas[pick]).square().mean()
        loss = loss_lm + loss_joints + 0.02 * loss_rot + 0.002 * loss_betas
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        if step % 500 == 0 or step == args.steps:
            figures = evaluate(net, landmarks, held_out, args.seed)
            print(f"[train-lift] step {step}: loss {loss.item():.4f}, held-out joints {figures['joint_mpjpe_mm']:.1f} "
                  f"mm (PA {figures['joint_pa_mpjpe_mm']:.1f}), limb landmarks "
                  f"{figures['limb_landmark_mpjpe_mm']:.1f} mm (input {figures['input_limb_error_mm']:.1f})",
                  file=sys.stderr)  # fmt: skip
    figures = evaluate(net, landmarks, held_out, args.seed)
    metadata = {
        "description": "landmark lift: BlazePose world landmarks -> fasthmr-embedded body pose and shape, trained "
        "on the body model alone (sampled poses, simulated MediaPipe errors; no images)",
        "body_model": body.name,
        "samples": args.samples,
        "steps": args.steps,
        "batch": args.batch,
        "seed": args.seed,
        "held_out_simulated": figures,
        "train_seconds": round(time.perf_counter() - started),
    }
    path = save_lift(net, args.out, metadata)
    print(f"[train-lift] wrote {path} ({sum(p.numel() for p in net.parameters()):,} parameters): {figures}",
          file=sys.stderr)  # fmt: skip
    return 0
