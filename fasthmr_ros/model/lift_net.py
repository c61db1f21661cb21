"""The landmark lift's network: BlazePose's 33 world landmarks (metres, hip-centred, camera-aligned axes) with
their visibilities in, the body model's 24 joint rotations (6D; joint 0 = orientation in the camera frame) and
shape coefficients out. A residual MLP: one batched call for every person of a frame costs well under 1 ms on a
CPU. Trained on the body model alone (training/train_lift.py); no images are involved."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fasthmr_ros.model.landmark_map import NUM_LANDMARKS
from fasthmr_ros.model.rotation import rot6d_to_rotmat
from fasthmr_ros.model.skeleton import NUM_JOINTS


@dataclass(frozen=True)
class LiftConfig:
    hidden: int = 512
    blocks: int = 3
    num_betas: int = 5
    min_visibility: float = 0.5  # landmarks below this are given to the network as missing


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class LandmarkLiftNet(nn.Module):
    def __init__(self, config: LiftConfig | None = None) -> None:
        super().__init__()
        self.config = config or LiftConfig()
        width = self.config.hidden
        self.inp = nn.Linear(NUM_LANDMARKS * 4, width)
        self.blocks = nn.Sequential(*[_Residual(width) for _ in range(self.config.blocks)])
        self.norm = nn.LayerNorm(width)
        self.pose = nn.Linear(width, NUM_JOINTS * 6)
        self.betas = nn.Linear(width, self.config.num_betas)
        # start at the identity rotation everywhere so early training is stable
        nn.init.zeros_(self.pose.weight)
        with torch.no_grad():
            self.pose.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(NUM_JOINTS))
        nn.init.zeros_(self.betas.weight)
        nn.init.zeros_(self.betas.bias)

    def features(self, world: torch.Tensor, visibility: torch.Tensor) -> torch.Tensor:
        """(B,33,3) metres + (B,33) visibility -> (B,132); missing landmarks are zeroed and flagged."""
        seen = (visibility >= self.config.min_visibility).to(world.dtype)
        return torch.cat([world * seen[..., None], seen[..., None]], -1).flatten(1)

    def forward(self, world: torch.Tensor, visibility: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> rotmats (B,24,3,3), betas (B,num_betas)."""
        h = self.norm(self.blocks(self.inp(self.features(world, visibility))))
        rot6d = self.pose(h).unflatten(-1, (NUM_JOINTS, 6))
        return rot6d_to_rotmat(rot6d), self.betas(h)
