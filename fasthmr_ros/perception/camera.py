"""Crop camera -> full-image camera translation (HMR2.0's cam_crop_to_full), the one place for this maths.

The head predicts a weak-perspective crop camera (s, tx, ty) for a 256 px crop seen with focal length 5000. For a
box of side b centred at (cx, cy) in a W x H image seen with focal length F (pixels) and principal point (px, py):
    bs = b * s,  tz = 2F / bs,  tx_full = 2 (cx - px) / bs + tx,  ty_full = 2 (cy - py) / bs + ty.
HMR2.0 uses the image centre as principal point and F = 5000 / 256 * max(W, H) (default_focal); with a real
camera, pass its CameraInfo focal length (and optionally its principal point) for metric depth.
The result, added to the body model's output (global orientation applied), places the person in the camera's
OpenCV optical frame (x right, y down, z forward, metres).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

CROP_FOCAL_LENGTH = 5000.0
CROP_SIZE = 256
_EPS = 1e-9  # the reference's guard against s = 0


def default_focal(width: float, height: float) -> float:
    """HMR2.0's focal length for an image of unknown intrinsics: 5000 / 256 * max(W, H) pixels."""
    return CROP_FOCAL_LENGTH / CROP_SIZE * max(float(width), float(height))


def cam_crop_to_full(
    pred_cam: torch.Tensor | np.ndarray,
    centers: torch.Tensor | np.ndarray,
    sizes: torch.Tensor | np.ndarray,
    image_wh: Sequence[float],
    focal: float | torch.Tensor | np.ndarray | None = None,
    principal_point: Sequence[float] | None = None,
) -> torch.Tensor | np.ndarray:
    """(N, 3) crop cameras (s, tx, ty) -> (N, 3) camera-frame translations (tx, ty, tz).

    centers (N, 2) box centres and sizes (N,) square box sides in full-image pixels (CropBatch.centers/.sizes);
    image_wh = (W, H); focal: pixels, scalar or (N,), None = default_focal(W, H); principal_point: (px, py),
    None = image centre (HMR2.0). Returns the type of pred_cam (torch tensors keep device and dtype).
    """
    width, height = float(image_wh[0]), float(image_wh[1])
    if focal is None:
        focal = default_focal(width, height)
    px, py = (width / 2.0, height / 2.0) if principal_point is None else map(float, principal_point)
    if isinstance(pred_cam, torch.Tensor):
        like = {"dtype": pred_cam.dtype, "device": pred_cam.device}
        centers_t = torch.as_tensor(centers, **like)
        sizes_t = torch.as_tensor(sizes, **like)
        focal_t = torch.as_tensor(focal, **like)
        return _convert(pred_cam, centers_t, sizes_t, focal_t, px, py, torch.stack)
    cam = np.asarray(pred_cam, dtype=np.float64)
    return _convert(cam, np.asarray(centers, np.float64), np.asarray(sizes, np.float64), focal, px, py, np.stack)


def _convert(cam, centers, sizes, focal, px, py, stack):
    """The formula itself, for numpy arrays or torch tensors alike."""
    if cam.ndim != 2 or cam.shape[1] != 3:
        raise ValueError(f"pred_cam must be (N, 3) = (s, tx, ty), got {tuple(cam.shape)}")
    if tuple(centers.shape) != (cam.shape[0], 2) or tuple(sizes.shape) != (cam.shape[0],):
        raise ValueError(
            f"centers must be (N, 2) and sizes (N,) for N = {cam.shape[0]}, got {tuple(centers.shape)} and "
            f"{tuple(sizes.shape)}"
        )
    scaled_size = sizes * cam[:, 0] + _EPS
    tz = 2.0 * focal / scaled_size
    tx = 2.0 * (centers[:, 0] - px) / scaled_size + cam[:, 1]
    ty = 2.0 * (centers[:, 1] - py) / scaled_size + cam[:, 2]
    return stack([tx, ty, tz], -1)


def default_camera_matrix(width: int, height: int) -> np.ndarray:
    """Intrinsics used while no CameraInfo is known: HMR2.0's focal 5000/256*max(W,H), principal point at the
    image centre. Depth is then only as right as that guess; send CameraInfo for metric depth."""
    focal = 5000.0 / 256.0 * max(width, height)
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
