"""`fasthmr train`: train a small HMR2.0-architecture model on synthetic people and export the embedded demo model.

Steps: render the training set once into the cache (skipped when the file exists), then train on CPU within a time
budget, checkpointing as it goes (--resume continues a run), then export float16 weights in the Lightning layout
plus a JSON description. The learning-rate schedule runs on max(step / max_steps, elapsed / budget), so a run ends
on time on a busy machine and still finishes its schedule.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fasthmr_ros.model.configs import CONFIGS

if TYPE_CHECKING:
    from fasthmr_ros.model.hmr2 import HMR2
    from fasthmr_ros.training.synth.dataset import SynthSet

VALIDATION_FRAMES = 256  # held out from the end of the set (at most a tenth of it)
WARMUP_STEPS = 60
FINAL_LR_FRACTION = 0.05
CHECKPOINT_EVERY_S = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="training set .npz (default: <cache>/synth_frames_seed<S>_n<N>.npz, rendered if missing)",
    )
    parser.add_argument("--samples", type=int, default=10000, help="frames to render when the set is missing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rendered set and of the training order")
    parser.add_argument("--config", default="micro", choices=sorted(CONFIGS), help="model config (default micro)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--minutes", type=float, default=40.0, help="time budget of the training loop (default 40)")
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps too (0: time only)")
    # One thread: on this shared 2-core machine two threads ran 3-5x slower per step than one (docs/synth.md).
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--run-dir", default=None, help="checkpoints and log (default <cache>/train_<config>)")
    parser.add_argument("--resume", action="store_true", help="continue from <run-dir>/last.pt")
    parser.add_argument("--init", default=None, help="start from these weights (a Lightning-layout checkpoint such as "
                        "data/hmr/demo_micro.ckpt) instead of from scratch: fine-tuning")  # fmt: skip
    parser.add_argument("--real-data", default=None, help="pseudo-labelled real people (`fasthmr label-footage`) mixed "
                        "into every batch")  # fmt: skip
    parser.add_argument("--real-fraction", type=float, default=0.5, help="share of each batch from --real-data")
    parser.add_argument("--real-holdout", type=float, default=0.2, help="share of --real-data (its last entries, i.e. "
                        "the end of the last clip) held out; the export is the step that fits them best")  # fmt: skip
    parser.add_argument("--real-every", type=int, default=250, help="steps between checks on the held-out real set")
    parser.add_argument("--real-flip", type=float, default=0.5, help="chance of mirroring a real entry (default 0.5)")
    parser.add_argument("--export", default=None, help="exported weights (default data/hmr/demo_micro.ckpt for micro; "
                        "the JSON description goes next to it)")  # fmt: skip


def _default_paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    from fasthmr_ros.runtime.demo_model import DEMO_CONFIG, demo_model_path
    from fasthmr_ros.training.synth.dataset import cache_dir

    data = Path(args.data) if args.data else cache_dir() / f"synth_frames_seed{args.seed}_n{args.samples}.npz"
    run_dir = Path(args.run_dir) if args.run_dir else cache_dir() / f"train_{args.config}"
    if args.export:
        export = Path(args.export)
    elif args.config == DEMO_CONFIG:
        export = demo_model_path()
    else:
        export = run_dir / f"demo_{args.config}.ckpt"
    return data, run_dir, export


def ensure_dataset(path: Path, samples: int, seed: int) -> SynthSet:
    from tqdm import tqdm

    from fasthmr_ros.training.synth.dataset import SynthSet, generate_frames

    if not path.is_file():
        print(f"rendering {samples} synthetic frames into {path} (once; later runs reuse it)")
        with tqdm(total=samples, unit="frame", mininterval=5) as bar:
            meta = generate_frames(path, samples, seed=seed, progress=bar.update)
        print(f"rendered in {meta['render_s']:.0f} s ({meta['ms_per_frame']:.1f} ms/frame)")
    return SynthSet.load(path)


def mean_parameters(dataset: SynthSet, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Mean 6D pose per joint (re-orthonormalised), mean betas and mean crop camera of the training frames: the
    head's init_* buffers, HMR2.0's mean-parameter start."""
    import torch

    from fasthmr_ros.model.rotation import rot6d_to_rotmat, rotmat_to_rot6d
    from fasthmr_ros.perception.preprocess import expand_boxes
    from fasthmr_ros.training.hmr_targets import crop_camera_targets

    rotmats = np.concatenate([dataset["global_orient"][indices][:, None], dataset["body_pose"][indices]], axis=1)
    mean_6d = rotmat_to_rot6d(torch.from_numpy(rotmats.astype(np.float64))).mean(0)
    mean_6d = rotmat_to_rot6d(rot6d_to_rotmat(mean_6d))  # back onto valid rotations
    centers, sizes = expand_boxes(dataset["box"][indices])
    K = dataset["K"][indices]
    cams = crop_camera_targets(dataset["translation"][indices], K[:, 0, 0], K[:, :2, 2], centers, sizes)
    return {
        "init_body_pose": mean_6d.reshape(1, -1).float().numpy(),
        "init_betas": dataset["betas"][indices].mean(0, keepdims=True),
        "init_cam": cams.mean(0, keepdims=True).astype(np.float32),
    }


def sincos_position_embedding(rows: int, cols: int, dim: int) -> np.ndarray:
    """(1 + rows*cols, dim) fixed 2D sine-cosine position codes (MAE style: half the channels for the row, half for
    the column), with a zero cls slot. Used as the starting value of the trainable pos_embed: with the usual
    0.02-std random start a small ViT trained from scratch sat at the mean pose for 800 steps (docs/synth.md)."""
    quarter = dim // 4
    freqs = 1.0 / 10000 ** (np.arange(quarter) / quarter)
    grid_r, grid_c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    parts = []
    for coord in (grid_r.reshape(-1), grid_c.reshape(-1)):
        angles = coord[:, None] * freqs[None]
        parts += [np.sin(angles), np.cos(angles)]
    codes = np.concatenate(parts, axis=1)
    codes = np.pad(codes, ((0, 0), (0, dim - codes.shape[1])))
    return np.concatenate([np.zeros((1, dim)), codes]).astype(np.float32)


def learning_rate(base: float, step: int, progress: float) -> float:
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    cosine = FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return base * warm * cosine


def validate(model: HMR2, body, dataset: SynthSet, indices: np.ndarray, batch_size: int = 32) -> dict[str, float]:
    import torch

    from fasthmr_ros.training.hmr_data import make_batch
    from fasthmr_ros.training.hmr_losses import hmr_losses

    model.eval()
    sums: dict[str, float] = {}
    with torch.no_grad():
        for first in range(0, len(indices), batch_size):
            chunk = indices[first : first + batch_size]
            batch = make_batch(dataset, chunk, None)
            parts = hmr_losses(model(batch.images), batch, body).parts
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value * len(chunk)
    model.train()
    return {key: value / len(indices) for key, value in sums.items()}


def export_model(model: HMR2, path: Path, meta: dict) -> None:
    """float16 Lightning-layout weights + JSON description next to them."""
    import copy

    import torch

    from fasthmr_ros.runtime.checkpoint import save_hmr2

    half = copy.deepcopy(model).to(torch.float16)
    save_hmr2(half, path)
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def train(args: argparse.Namespace) -> dict:
    import torch
    from tqdm import tqdm

    from fasthmr_ros.model.hmr2 import HMR2
    from fasthmr_ros.runtime.body_files import load_body_model
    from fasthmr_ros.runtime.checkpoint import read_checkpoint
    from fasthmr_ros.runtime.demo_model import DESCRIPTION, WEIGHTS_LABEL
    from fasthmr_ros.training.hmr_data import concat_batches, make_batch
    from fasthmr_ros.training.hmr_losses import LossWeights, hmr_losses
    from fasthmr_ros.training.synth.dataset import SynthSet

    if args.batch_size <= 0 or args.minutes <= 0:
        raise ValueError("--batch-size and --minutes must be positive")
    real = SynthSet.load(args.real_data) if args.real_data else None
    real_per_batch = round(args.real_fraction * args.batch_size) if real is not None else 0
    if real is not None and not 0 < real_per_batch < args.batch_size:
        raise ValueError(f"--real-fraction {args.real_fraction} leaves no real or no synthetic frame in a batch of "
                         f"{args.batch_size}")  # fmt: skip
    real_held = round(args.real_holdout * len(real)) if real is not None else 0
    real_train = np.arange(len(real) - real_held) if real is not None else np.arange(0)
    real_val = np.arange(len(real) - real_held, len(real)) if real is not None else np.arange(0)
    if real is not None and len(real_train) == 0:
        raise ValueError(f"--real-holdout {args.real_holdout} leaves no real entry to train on")
    torch.set_num_threads(args.threads)
    data_path, run_dir, export_path = _default_paths(args)
    dataset = ensure_dataset(data_path, args.samples, args.seed)
    held_out = max(1, min(VALIDATION_FRAMES, len(dataset) // 10))
    if len(dataset) - held_out < args.batch_size:
        raise ValueError(f"{data_path} has {len(dataset)} frames; training needs at least {args.batch_size + held_out}")
    train_idx = np.arange(len(dataset) - held_out)
    val_idx = np.arange(len(dataset) - held_out, len(dataset))
    body = load_body_model(None)
    model = HMR2(args.config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    run_dir.mkdir(parents=True, exist_ok=True)
    last = run_dir / "last.pt"
    state = {"step": 0, "elapsed_s": 0.0, "history": []}
    if args.resume:
        if not last.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {last}; start without --resume")
        saved = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        print(f"resumed {last} at step {state['step']} ({state['elapsed_s'] / 60:.1f} min done)")
    elif args.init:
        # fine-tuning: the checkpoint's own mean parameters and position codes stay
        model.load_state_dict({key: value.float() for key, value in read_checkpoint(args.init).items()})
        print(f"fine-tuning from {args.init}")
    else:
        with torch.no_grad():
            for name, value in mean_parameters(dataset, train_idx).items():
                getattr(model.smpl_head, name).copy_(torch.from_numpy(value))
            rows, cols = model.config.backbone.grid
            codes = sincos_position_embedding(rows, cols, model.config.backbone.embed_dim)
            model.backbone.pos_embed.copy_(torch.from_numpy(codes)[None])

    def save_checkpoint() -> None:
        payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state,
                   "args": vars(args)}  # fmt: skip
        partial = last.with_name("last.pt.partial")
        torch.save(payload, partial)
        partial.replace(last)

    best_state: dict | None = None

    def check_real() -> None:
        # early stopping on held-out real people: with a few hundred real crops the fit to them peaks and then
        # falls while the training loss keeps dropping
        nonlocal best_state
        if real is None or not len(real_val):
            return
        held = validate(model, body, real, real_val)["mpjpe_mm"]
        state.setdefault("real_checks", []).append({"step": state["step"], "mpjpe_mm": round(held, 2)})
        if held < state.get("best_real_mpjpe_mm", float("inf")):
            state["best_real_mpjpe_mm"], state["best_real_step"] = held, state["step"]
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}

    check_real()  # the starting weights too: the export never fits the held-out people worse than they did
    budget_s = args.minutes * 60.0
    synth_per_batch = args.batch_size - real_per_batch
    per_epoch = len(train_idx) // synth_per_batch
    weights = LossWeights()
    model.train()
    bar = tqdm(initial=state["step"], unit="step", mininterval=5, desc="train")
    window: dict[str, float] = {}
    window_n = 0
    started = time.perf_counter() - state["elapsed_s"]
    saved_at = time.perf_counter()
    while True:
        step = state["step"]
        state["elapsed_s"] = time.perf_counter() - started
        progress = state["elapsed_s"] / budget_s
        if args.max_steps:
            progress = max(progress, step / args.max_steps)
        if progress >= 1.0:
            break
        epoch, position = divmod(step, per_epoch)
        order = np.random.default_rng((args.seed, epoch)).permutation(train_idx)
        chunk = order[position * synth_per_batch : (position + 1) * synth_per_batch]
        rng = np.random.default_rng((args.seed, epoch, position))
        batch = make_batch(dataset, chunk, rng)
        if real is not None:
            picked = rng.choice(real_train, real_per_batch, replace=len(real_train) < real_per_batch)
            batch = concat_batches(batch, make_batch(real, picked, rng, flip_prob=args.real_flip))
        lr = learning_rate(args.lr, step, progress)
        for group in optimizer.param_groups:
            group["lr"] = lr
        terms = hmr_losses(model(batch.images), batch, body, weights)
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state["step"] = step + 1
        for key, value in {"loss": float(terms.total.detach()), **terms.parts}.items():
            window[key] = window.get(key, 0.0) + value
        window_n += 1
        bar.update(1)
        if state["step"] % 25 == 0:
            averaged = {key: round(value / window_n, 5) for key, value in window.items()}
            state["history"].append({"step": state["step"], "minutes": round(state["elapsed_s"] / 60, 2),
                                     "lr": lr, **averaged})  # fmt: skip
            bar.set_postfix(loss=f"{averaged['loss']:.3f}", mpjpe=f"{averaged['mpjpe_mm']:.0f}mm")
            window, window_n = {}, 0
        if state["step"] % args.real_every == 0:
            check_real()
        if time.perf_counter() - saved_at > CHECKPOINT_EVERY_S:
            save_checkpoint()
            saved_at = time.perf_counter()
    bar.close()
    save_checkpoint()
    if best_state is not None:
        model.load_state_dict(best_state)
    val = validate(model, body, dataset, val_idx)
    history = state["history"]
    real_meta = None
    if real is not None:
        real_meta = {"file": Path(args.real_data).name, "meta": real.meta, "per_batch": real_per_batch,
                     "flip": args.real_flip, "held_out": real_held, "checks": state.get("real_checks", []),
                     "exported_step": state.get("best_real_step")}  # fmt: skip
    meta = {
        "description": DESCRIPTION,
        "weights_label": WEIGHTS_LABEL,
        "config": args.config,
        "body_model": body.name,
        "dtype": "float16",
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training": {
            "data": data_path.name,
            "data_meta": dataset.meta,
            "init": Path(args.init).name if args.init else None,
            "real_data": real_meta,
            "frames": len(train_idx),
            "steps": state["step"],
            "batch_size": args.batch_size,
            "samples_seen": state["step"] * args.batch_size,
            "minutes": round(state["elapsed_s"] / 60, 1),
            "threads": args.threads,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "loss_weights": dataclasses.asdict(weights),
            "first_logged": history[0] if history else None,
            "last_logged": history[-1] if history else None,
        },
        "validation_tight_boxes": {key: round(value, 4) for key, value in val.items()},
    }
    export_model(model, export_path, meta)
    (run_dir / "history.json").write_text(json.dumps(history, indent=1) + "\n")
    print(f"exported {export_path} ({export_path.stat().st_size / 1e6:.1f} MB); validation MPJPE "
          f"{val['mpjpe_mm']:.1f} mm on {len(val_idx)} held-out frames (tight boxes)")  # fmt: skip
    return meta


def run(args: argparse.Namespace) -> int:
    try:
        train(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"fasthmr train: error: {error}", file=sys.stderr)
        return 2
    return 0
