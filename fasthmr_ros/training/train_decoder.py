"""`fasthmr train-decoder`: train the streaming diffusion decoder from AMASS-layout motion files or from the
package's own synthetic motion set, with simulated per-frame HMR errors as the conditioning input."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fasthmr_ros.model.decoder_net import REPRESENTATIONS, DecoderConfig
from fasthmr_ros.runtime.decoder_files import save_decoder
from fasthmr_ros.training.decoder_training import CHECKPOINT, TrainConfig, evaluate, train

SYNTHETIC_VAL_SEED = 10_000  # validation clips are drawn from a seed range the training set never uses


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--amass",
        nargs="+",
        metavar="PATH",
        help="AMASS-layout .npz files, folders or globs (default: the built-in synthetic set)",
    )
    data.add_argument("--fps", type=float, default=30.0, help="camera frame rate to resample motions to (30)")
    data.add_argument("--synthetic-clips", type=int, default=400, help="synthetic training clips (400)")
    data.add_argument("--clip-seconds", type=float, default=10.0, help="length of each synthetic clip (10 s)")
    data.add_argument("--val-clips", type=int, default=16, help="held-out clips for validation (16)")
    model = parser.add_argument_group("model")
    defaults = DecoderConfig()
    model.add_argument("--window", type=int, default=defaults.window, help=f"frames per window ({defaults.window})")
    model.add_argument("--d-model", type=int, default=defaults.d_model)
    model.add_argument("--layers", type=int, default=defaults.layers)
    model.add_argument("--heads", type=int, default=defaults.heads)
    model.add_argument("--ffn", type=int, default=defaults.ffn)
    model.add_argument("--max-lookahead", type=int, default=defaults.max_lookahead)
    model.add_argument("--representation", choices=REPRESENTATIONS, default=defaults.representation)
    model.add_argument(
        "--filter-taps",
        type=int,
        default=defaults.filter_taps,
        help=f"learned linear temporal filter skip path, taps (rot6d_delta only; 0: off; {defaults.filter_taps})",
    )
    model.add_argument("--token-dim", type=int, default=0, help="condition on HMR head tokens of this size (0: no)")
    run = parser.add_argument_group("training")
    tdefaults = TrainConfig()
    run.add_argument("--out", default="out/decoder", help="folder for checkpoint.pt and logs (out/decoder)")
    run.add_argument("--steps", type=int, default=tdefaults.steps, help=f"optimiser steps ({tdefaults.steps})")
    run.add_argument("--batch", type=int, default=tdefaults.batch)
    run.add_argument("--lr", type=float, default=tdefaults.lr)
    run.add_argument(
        "--terminal-fraction",
        type=float,
        default=tdefaults.terminal_fraction,
        help="share of windows trained at the pure-noise step used by one-step inference",
    )
    run.add_argument("--joint-weight", type=float, default=tdefaults.joint_weight)
    run.add_argument("--velocity-weight", type=float, default=tdefaults.velocity_weight)
    run.add_argument("--accel-weight", type=float, default=tdefaults.accel_weight)
    run.add_argument(
        "--filter-start",
        type=float,
        default=tdefaults.filter_start,
        help="fraction of the run before the linear filter path starts learning",
    )
    run.add_argument(
        "--error-scale",
        type=float,
        nargs=2,
        default=(tdefaults.error_scale_min, tdefaults.error_scale_max),
        metavar=("MIN", "MAX"),
        help="per-window error level range (log-uniform) times the simulated HMR error model",
    )
    run.add_argument(
        "--lift-errors",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="share of windows whose estimates come from the embedded landmark lift on simulated landmarks (0)",
    )
    run.add_argument("--seed", type=int, default=tdefaults.seed)
    run.add_argument("--checkpoint-every", type=int, default=tdefaults.checkpoint_every)
    run.add_argument("--threads", type=int, default=tdefaults.threads, help="torch CPU threads (1)")
    run.add_argument("--resume", action="store_true", help=f"continue from OUT/{CHECKPOINT}")
    run.add_argument("--stop-after", type=int, help="stop (checkpointed) after this many steps of this call")
    run.add_argument("--export", metavar="PATH", help="also write compact fp16 weights + .json metadata here")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.amass:
        from fasthmr_ros.training.synth.amass import load_motion_files

        clips = load_motion_files(args.amass, args.fps, min_frames=args.window)
        val_count = min(args.val_clips, max(1, len(clips) // 10)) if len(clips) > 1 else 0
        val_clips, clips = clips[:val_count], clips[val_count:]
        description = f"AMASS-layout motion files ({len(clips)} clips from {', '.join(map(str, args.amass))})"
    else:
        from fasthmr_ros.training.synth.motion import synthetic_motion_set

        clips = synthetic_motion_set(args.synthetic_clips, args.clip_seconds, args.fps, seed=args.seed)
        val_clips = synthetic_motion_set(args.val_clips, args.clip_seconds, args.fps, seed=SYNTHETIC_VAL_SEED)
        description = (
            f"synthetic motion set (fasthmr_ros.training.synth.motion: {args.synthetic_clips} clips x "
            f"{args.clip_seconds:g} s at {args.fps:g} fps, seed {args.seed}; random/walk/run/reach)"
        )
    model_config = DecoderConfig(
        window=args.window,
        d_model=args.d_model,
        layers=args.layers,
        heads=args.heads,
        ffn=args.ffn,
        max_lookahead=args.max_lookahead,
        representation=args.representation,
        filter_taps=args.filter_taps,
        token_dim=args.token_dim,
    )
    train_config = TrainConfig(
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        terminal_fraction=args.terminal_fraction,
        joint_weight=args.joint_weight,
        velocity_weight=args.velocity_weight,
        accel_weight=args.accel_weight,
        filter_start=args.filter_start,
        error_scale_min=args.error_scale[0],
        error_scale_max=args.error_scale[1],
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        threads=args.threads,
    )
    error_model = None
    if args.lift_errors > 0:
        from fasthmr_ros.model.body_points import BodyLandmarks
        from fasthmr_ros.runtime.body_files import load_body_model
        from fasthmr_ros.runtime.lift_files import load_lift
        from fasthmr_ros.training.lift_errors import LiftErrorModel, MixedErrorModel

        net, _ = load_lift(None)
        lift = LiftErrorModel(BodyLandmarks(load_body_model(None)), net.eval())
        error_model = MixedErrorModel(lift, args.lift_errors)
    model = train(
        model_config,
        train_config,
        clips,
        args.out,
        resume=args.resume,
        val_clips=val_clips or None,
        data_description=description,
        progress=not args.no_progress,
        stop_after=args.stop_after,
        error_model=error_model,
    )
    summary: dict = {"checkpoint": str(Path(args.out) / CHECKPOINT), "trained_on": model.description}
    if val_clips:
        summary["validation"] = {
            f"lookahead_{k}": evaluate(model, val_clips, lookahead=k) for k in (0, 4) if k <= model.config.max_lookahead
        }
        model.metadata["validation"] = summary["validation"]
    if args.export:
        summary["exported"] = str(save_decoder(model, args.export))
    print(json.dumps(summary, indent=2))
    return 0
