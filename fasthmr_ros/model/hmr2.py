"""HMR2.0: ViT encoder + SMPL transformer-decoder head, crop in, SMPL parameters and crop camera out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fasthmr_ros.model.configs import HMRConfig, get_config
from fasthmr_ros.model.head import HeadOutput, SMPLHead
from fasthmr_ros.model.rotation import rot6d_to_rotmat
from fasthmr_ros.model.vit import ViT


@dataclass
class HMROutput:
    global_orient: torch.Tensor  # (B, 1, 3, 3)
    body_pose: torch.Tensor  # (B, 23, 3, 3)
    betas: torch.Tensor  # (B, 10)
    pred_cam: torch.Tensor  # (B, 3) = (s, tx, ty), crop camera
    token: torch.Tensor  # (B, head dim): 1024 for the official head
    pose_6d: torch.Tensor  # (B, 144), global orientation first

    @property
    def rotmats(self) -> torch.Tensor:
        """(B, 24, 3, 3): global orientation then the 23 body joints, SMPL joint order."""
        return torch.cat((self.global_orient, self.body_pose), dim=1)


class HMR2(nn.Module):
    def __init__(self, config: str | HMRConfig = "vit_h") -> None:
        super().__init__()
        self.config = get_config(config)
        self.backbone = ViT(self.config.backbone)
        self.smpl_head = SMPLHead(self.config.head, context_dim=self.config.backbone.embed_dim)

    def forward(self, images: torch.Tensor) -> HMROutput:
        """images (B, 3, 256, 192): normalised crops from fasthmr_ros.perception.preprocess.crop_people."""
        return self.head_from_tokens(self.backbone(images))

    def head_from_tokens(self, tokens: torch.Tensor, context_bias: torch.Tensor | None = None) -> HMROutput:
        """Run the SMPL head on encoder tokens (B, N, C), N = 192 or fewer after token merging.

        The head runs in its own dtype: the runtime may keep it in float32 while the encoder runs in fp16/bf16
        (the 6D -> rotation-matrix readout loses ~1e-3 in half precision, the head costs little)."""
        head_dtype = self.smpl_head.init_cam.dtype
        if tokens.dtype != head_dtype:
            tokens = tokens.to(head_dtype)
            context_bias = context_bias.to(head_dtype) if context_bias is not None else None
        return self.output_from_head(self.smpl_head(tokens, context_bias))

    @staticmethod
    def output_from_head(head: HeadOutput) -> HMROutput:
        batch = head.pose_6d.shape[0]
        rotmats = rot6d_to_rotmat(head.pose_6d.reshape(batch, -1, 6))
        return HMROutput(
            global_orient=rotmats[:, :1],
            body_pose=rotmats[:, 1:],
            betas=head.betas,
            pred_cam=head.cam,
            token=head.token,
            pose_6d=head.pose_6d,
        )
