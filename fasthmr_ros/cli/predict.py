"""`fasthmr predict`: one image, one person box -> HMR2.0 SMPL parameters and camera in an .npz.

Output keys (a contract others test against; keep them stable): global_orient (1,3,3), body_pose (23,3,3),
betas (10,), pred_cam (3,) = crop camera (s, tx, ty), pred_cam_t_full (3,) = translation in the full image's
camera frame (--focal, else HMR2.0's 5000/256*max(W,H)). The base model is used unless --merge-plan (ECLM) is
given or the checkpoint is a merged one; there are no person masks here, so no token merging.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fasthmr_ros.model.configs import CONFIGS

if TYPE_CHECKING:  # torch is imported only when the command runs
    from fasthmr_ros.model.hmr2 import HMR2

OUTPUT_KEYS = ("global_orient", "body_pose", "betas", "pred_cam", "pred_cam_t_full")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", required=True, help="image file (any format OpenCV reads)")
    parser.add_argument(
        "--box", required=True, type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"), help="person box, pixels"
    )
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--focal", type=float, default=None, help="focal length in pixels (default 5000/256*max(W,H))")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_model_arguments(parser)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Options choosing the encoder. Accelerated encoders (e.g. a --merge-plan from ECLM/Mask-ToMe) add theirs
    here and apply them in build_model(); predict's default stays the base model."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="HMR2.0 weights: the official 4D-Humans .ckpt or a state_dict saved by fasthmr (required)",
    )
    parser.add_argument("--config", default="vit_h", choices=sorted(CONFIGS), help="model config (default vit_h)")
    parser.add_argument(
        "--merge-plan",
        default=None,
        help="ECLM merge plan from `fasthmr calibrate` (.json/.yaml), applied to the weights at load",
    )


def build_model(args: argparse.Namespace) -> HMR2:
    from fasthmr_ros.model.eclm import apply_plan, load_plan
    from fasthmr_ros.runtime.checkpoint import OFFICIAL_CHECKPOINT_HINT
    from fasthmr_ros.runtime.weights import load_model

    if not args.checkpoint:
        raise ValueError(f"no --checkpoint given: {OFFICIAL_CHECKPOINT_HINT}")
    _check_device(args.device)
    plan = load_plan(args.merge_plan) if getattr(args, "merge_plan", None) else None  # a bad plan fails before loading
    model = load_model(args.checkpoint, args.config, device=args.device)
    return apply_plan(model, plan) if plan is not None else model


def _check_device(device: str) -> None:
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"--device {device!r} is not a torch device (try cpu or cuda)") from error
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: this torch build or machine has no CUDA; use --device cpu")


def predict(args: argparse.Namespace) -> dict[str, np.ndarray]:
    import cv2
    import torch

    from fasthmr_ros.perception.camera import cam_crop_to_full
    from fasthmr_ros.perception.preprocess import crop_people

    image_path = Path(args.image)
    if not image_path.is_file():
        raise FileNotFoundError(f"image not found: {image_path}; pass --image with an existing image file")
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"OpenCV cannot read {image_path} as an image")
    if args.focal is not None and not args.focal > 0:
        raise ValueError(f"--focal must be a positive number of pixels, got {args.focal}")
    # Input errors first: the official model takes seconds to load.
    batch = crop_people(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.asarray([args.box], dtype=np.float64))
    model = build_model(args)
    with torch.inference_mode():
        out = model(batch.images.to(args.device))
        cam_t = cam_crop_to_full(out.pred_cam, batch.centers, batch.sizes, batch.image_wh, args.focal)
    values = {
        "global_orient": out.global_orient[0],
        "body_pose": out.body_pose[0],
        "betas": out.betas[0],
        "pred_cam": out.pred_cam[0],
        "pred_cam_t_full": cam_t[0],
    }
    return {k: values[k].float().cpu().numpy() for k in OUTPUT_KEYS}


def run(args: argparse.Namespace) -> int:
    try:
        result = predict(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"fasthmr predict: error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:  # a file handle keeps numpy from appending .npz to the name
        np.savez(handle, **result)
    s, tx, ty = result["pred_cam"]
    print(
        f"wrote {out} (weights {args.checkpoint}, config {args.config}); crop camera s={s:.4f} t=({tx:.4f}, {ty:.4f})"
    )
    return 0
