"""Training loop for the streaming diffusion decoder: checkpoints, exact resume, seeded data."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fasthmr_ros.model.decoder import DiffusionDecoder
from fasthmr_ros.model.decoder_net import DecoderConfig
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.training.decoder_eval import make_eval_set, motion_metrics, run_online
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import MotionClip, forward_kinematics
from fasthmr_ros.training.synth.windows import ErrorModel, WindowSampler

CHECKPOINT = "checkpoint.pt"


@dataclass
class TrainConfig:
    steps: int = 6000
    batch: int = 32
    lr: float = 2e-3
    min_lr_fraction: float = 0.05
    warmup: int = 200
    weight_decay: float = 0.01
    terminal_fraction: float = 0.9
    joint_weight: float = 10.0  # x0 joint-position loss (metres), from forward kinematics of the decoded pose
    velocity_weight: float = 100.0  # x0 joint-velocity loss (metres/frame): the part of the error a window can fix
    accel_weight: float = 100.0  # x0 joint-acceleration loss (metres/frame^2)
    filter_start: float = 0.4  # fraction of the run before the linear filter skip path starts to learn
    error_scale_min: float = 0.4  # per-window error level drawn log-uniformly from [min, max] x the error model
    error_scale_max: float = 1.6
    seed: int = 0
    checkpoint_every: int = 500
    threads: int = 1


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up then cosine decay to min_lr_fraction; a pure function of the step, so resume is exact."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    floor = config.min_lr_fraction
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def estimate_target_scale(model: DiffusionDecoder, sampler: WindowSampler, seed: int) -> float:
    """Std of the diffusion variable on 256 training windows (so data and unit noise have comparable scale)."""
    generator = torch.Generator().manual_seed(seed + 7919)
    true, estimate = sampler.sample(256, generator)
    model.target_scale.fill_(1.0)
    return float(model.encode_target(true, estimate).std().clamp_min(1e-4))


def evaluate(
    model: DiffusionDecoder, clips: Sequence[MotionClip], lookahead: int = 0, seed: int = 1
) -> dict[str, float]:
    eval_set = make_eval_set(clips, seed=seed)
    decoder = StreamingDecoder(model, lookahead=lookahead, seed=seed)
    refined = run_online(decoder.update, eval_set.estimate, lookahead)
    valid = eval_set.true.shape[1] - lookahead
    return motion_metrics(refined, eval_set.true, valid_frames=valid)


def train(
    model_config: DecoderConfig,
    train_config: TrainConfig,
    clips: Sequence[MotionClip],
    out_dir: str | Path,
    resume: bool = False,
    val_clips: Sequence[MotionClip] | None = None,
    data_description: str = "",
    error_model: ErrorModel | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> DiffusionDecoder:
    """Train (or resume) a decoder; writes out_dir/checkpoint.pt every checkpoint_every steps and at the end.

    stop_after: stop (with a checkpoint) after this many steps of this call, for split runs and tests.
    """
    torch.set_num_threads(max(1, train_config.threads))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    error_model = error_model or HMRErrorModel()
    sampler = WindowSampler(
        clips,
        model_config.window,
        error_model,
        error_scale=(train_config.error_scale_min, train_config.error_scale_max),
    )
    checkpoint_path = out_dir / CHECKPOINT
    generator = torch.Generator().manual_seed(train_config.seed)
    torch.manual_seed(train_config.seed)
    start = 0
    log: list[dict] = []
    if resume and checkpoint_path.is_file():
        blob = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model_config = DecoderConfig(**blob["config"])
        saved_train = TrainConfig(**blob["train_config"])
        saved_train.steps = train_config.steps  # resuming may extend a run
        train_config = saved_train
        model = DiffusionDecoder(model_config, blob["metadata"])
        model.load_state_dict(blob["model"])
        optimizer = _optimizer(model, train_config)
        optimizer.load_state_dict(blob["optimizer"])
        generator.set_state(blob["generator"])
        start, log = int(blob["step"]), list(blob.get("log", []))
    elif resume:
        raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint_path}")
    else:
        metadata = {
            "trained_on": data_description or f"{len(clips)} motion clips",
            "error_model": error_model.as_dict(),
            "fps": sampler.fps,
            "seed": train_config.seed,
            "train_config": asdict(train_config),
        }
        model = DiffusionDecoder(model_config, metadata)
        model.target_scale.fill_(estimate_target_scale(model, sampler, train_config.seed))
        optimizer = _optimizer(model, train_config)
    model.train()
    end = train_config.steps if stop_after is None else min(train_config.steps, start + stop_after)
    bar = _progress(range(start, end), progress, start, train_config.steps)
    began = time.time()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(train_config, step)
        true, estimate = sampler.sample(train_config.batch, generator)
        losses = model.training_losses(true, estimate, generator, terminal_fraction=train_config.terminal_fraction)
        loss = losses["v"] + losses["eps"]
        if train_config.joint_weight > 0 or train_config.velocity_weight > 0 or train_config.accel_weight > 0:
            loss = loss + _joint_losses(model, losses, train_config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step < train_config.filter_start * train_config.steps:
            model.filter.grad = None  # held at zero (identity) while the transformer learns the pose prior
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        done = step + 1
        if hasattr(bar, "set_postfix") and done % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", v=f"{losses['v'].item():.4f}")
        if done % train_config.checkpoint_every == 0 or done == end:
            entry = {"step": done, "loss": float(loss.detach()), "seconds": time.time() - began}
            if val_clips:
                model.eval()
                entry.update({f"val_{k}": v for k, v in evaluate(model, val_clips).items()})
                model.train()
                if hasattr(bar, "write"):
                    bar.write(f"step {done}: val MPJPE {entry['val_mpjpe']:.1f} mm, Accel {entry['val_accel']:.2f}")
            log.append(entry)
            model.metadata["steps"] = done
            _save_checkpoint(checkpoint_path, model, optimizer, generator, train_config, done, log)
    return model.eval()


def _joint_losses(model: DiffusionDecoder, losses: dict[str, torch.Tensor], config: TrainConfig) -> torch.Tensor:
    """Position and velocity errors of forward-kinematics joints of the decoded x0 estimate.

    With causal attention, output i of a training window is what streaming outputs for frame i, so differences
    between neighbouring outputs are the frame-to-frame motion the live decoder would produce: the velocity term
    penalises jitter and lag directly, and it is blind to the per-sequence bias that no window can remove.
    """
    weight = losses["weight"]
    joints_hat = forward_kinematics(model.decode_target(losses["x0_hat"], losses["target_estimate"]))
    joints = forward_kinematics(losses["target_true"])
    gap = (joints_hat - joints).norm(dim=-1).mean(-1)
    total = config.joint_weight * (gap * weight).sum() / weight.sum()
    pair = weight[:, 1:] * weight[:, :-1]
    velocity_gap = ((joints_hat[:, 1:] - joints_hat[:, :-1]) - (joints[:, 1:] - joints[:, :-1])).norm(dim=-1).mean(-1)
    total = total + config.velocity_weight * (velocity_gap * pair).sum() / pair.sum().clamp_min(1.0)
    if config.accel_weight > 0:
        triple = pair[:, 1:] * pair[:, :-1]
        accel_hat = joints_hat[:, 2:] - 2 * joints_hat[:, 1:-1] + joints_hat[:, :-2]
        accel = joints[:, 2:] - 2 * joints[:, 1:-1] + joints[:, :-2]
        accel_gap = (accel_hat - accel).norm(dim=-1).mean(-1)
        total = total + config.accel_weight * (accel_gap * triple).sum() / triple.sum().clamp_min(1.0)
    return total


def _optimizer(model: DiffusionDecoder, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _save_checkpoint(
    path: Path,
    model: DiffusionDecoder,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    train_config: TrainConfig,
    step: int,
    log: list[dict],
) -> None:
    blob = {
        "config": asdict(model.config),
        "train_config": asdict(train_config),
        "model": model.state_dict(),
        "metadata": model.metadata,
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "step": step,
        "log": log,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def _progress(steps: range, enabled: bool, start: int, total: int):
    if not enabled:
        return steps
    from tqdm import tqdm

    return tqdm(steps, initial=start, total=total, desc="train-decoder", dynamic_ncols=True)
