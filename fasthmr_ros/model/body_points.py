"""The body model evaluated at its joints and a few chosen vertices only: the same linear blend skinning as smplx,
restricted to the rows needed, so training and per-frame landmark maths skip the other ~6,800 vertices."""

from __future__ import annotations

import torch
from torch import nn

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.landmark_map import landmark_blend, vertex_indices
from fasthmr_ros.model.skeleton import PARENTS


def tree_levels(parents: tuple[int, ...]) -> list[tuple[int, int]]:
    """[start, stop) joint ranges of equal depth in the kinematic tree, root excluded; checks the numbering is
    level by level (every joint's parent lies in an earlier range)."""
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    if depth != sorted(depth):
        raise ValueError("joints must be numbered level by level for the batched forward kinematics")
    levels, start = [], 1
    for j in range(2, len(parents) + 1):
        if j == len(parents) or depth[j] != depth[start]:
            levels.append((start, j))
            start = j
    return levels


_LEVELS = tree_levels(PARENTS)
PARENT_INDEX = [max(p, 0) for p in PARENTS]  # the root's parent is itself: gathers stay in range


class BodyPoints(nn.Module):
    """(rotmats (B,24,3,3), betas (B,<=K)) -> joints (B,24,3), points (B,P,3) in the model frame (no translation)."""

    def __init__(self, body: BodyModel, vertex_indices: list[int]) -> None:
        super().__init__()
        layer = body.layer
        index = torch.as_tensor(vertex_indices, dtype=torch.long)
        shapedirs = layer.shapedirs.detach().float()  # (V,3,K)
        j_regressor = layer.J_regressor.detach().float()  # (24,V)
        self.register_buffer("joint_template", j_regressor @ layer.v_template.detach().float())
        self.register_buffer("joint_shapedirs", torch.einsum("jv,vck->jck", j_regressor, shapedirs))
        self.register_buffer("point_template", layer.v_template.detach().float()[index])
        self.register_buffer("point_shapedirs", shapedirs[index])
        posedirs = layer.posedirs.detach().float().reshape(-1, layer.v_template.shape[0], 3)  # (207,V,3)
        self.register_buffer("point_posedirs", posedirs[:, index])
        # a model without pose correctives (the embedded one) skips their (B,207)x(207,P,3) product
        self.pose_correctives = body.pose_correctives
        # each tree level's parent indices as tensors, made once (indexing with a list converts it every call)
        for n, (start, stop) in enumerate(_LEVELS):
            self.register_buffer(f"_parents_{n}", torch.as_tensor(PARENT_INDEX[start:stop]), persistent=False)
        self.register_buffer("_offset_parents", torch.as_tensor(PARENT_INDEX[1:]), persistent=False)
        self.register_buffer("point_weights", layer.lbs_weights.detach().float()[index])
        self.num_betas = shapedirs.shape[-1]

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch = rotmats.shape[0]
        if betas.shape[1] < self.num_betas:
            betas = nn.functional.pad(betas, (0, self.num_betas - betas.shape[1]))
        rest_joints = self.joint_template + torch.einsum("jck,bk->bjc", self.joint_shapedirs, betas)
        points = self.point_template + torch.einsum("pck,bk->bpc", self.point_shapedirs, betas)
        if self.pose_correctives:
            eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
            pose_feature = (rotmats[:, 1:] - eye).reshape(batch, -1)  # (B,207), smplx's pose blend-shape input
            points = points + torch.einsum("bf,fpc->bpc", pose_feature, self.point_posedirs)
        # forward kinematics, one tree level at a time: SMPL's joints are numbered level by level, so each level is
        # a contiguous range whose parents are all earlier, and 8 batched steps replace 23 per-joint ones (this
        # runs several times a frame in the landmark lift, where per-op overhead is the cost)
        offsets = (rest_joints[:, 1:] - rest_joints[:, self._offset_parents])[..., None]  # (B,23,3,1)
        rot = torch.empty_like(rotmats)
        joints = torch.empty_like(rest_joints)
        rot[:, 0], joints[:, 0] = rotmats[:, 0], rest_joints[:, 0]
        for n, (start, stop) in enumerate(_LEVELS):
            parents = getattr(self, f"_parents_{n}")  # indices into the levels done so far: joints 0 .. start-1
            parent_rot = rot[:, parents]
            rot[:, start:stop] = parent_rot @ rotmats[:, start:stop]
            joints[:, start:stop] = joints[:, parents] + (parent_rot @ offsets[:, start - 1 : stop - 1])[..., 0]
        # skinning transform maps rest-pose points: x -> R_j (x - J_j^rest) + J_j^posed
        shift = joints - torch.einsum("bjik,bjk->bji", rot, rest_joints)
        blend_rot = torch.einsum("pj,bjik->bpik", self.point_weights, rot)
        blend_shift = torch.einsum("pj,bji->bpi", self.point_weights, shift)
        posed = torch.einsum("bpik,bpk->bpi", blend_rot, points) + blend_shift
        return joints, posed


class BodyLandmarks(nn.Module):
    """(rotmats (B,24,3,3), betas) -> BlazePose's 33 landmarks on the body (model/landmark_map.py) (B,33,3) and the
    24 joints (B,24,3), in the model frame with joint 0's rotation applied and no translation."""

    def __init__(self, body: BodyModel) -> None:
        super().__init__()
        if body.vertex_ids is None:
            raise ValueError(f"body model {body.name} names no surface vertices: its landmarks cannot be placed")
        self.points = BodyPoints(body, vertex_indices(body.vertex_ids))
        self.register_buffer("blend", torch.from_numpy(landmark_blend()))

    def forward(self, rotmats: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joints, surface = self.points(rotmats, betas)
        return torch.einsum("lk,bkc->blc", self.blend, torch.cat([joints, surface], 1)), joints
