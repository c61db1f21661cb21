"""The body model behind every mesh: SMPL-format arrays (the user's SMPL, or the embedded licence-clean model)
driven by smplx. Reading the files is runtime/body_files.py's job; this module only holds the network.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from fasthmr_ros.model.skeleton import NUM_JOINTS, PARENTS

EMBEDDED_NAME = "fasthmr-embedded"
SMPL_NAME = "smpl"
SMPL_NUM_VERTICES = 6890


@dataclass
class BodyOutput:
    vertices: torch.Tensor  # (B, V, 3), model frame, global_orient applied, no translation
    joints: torch.Tensor  # (B, 24, 3), SMPL joint order


def _vertex_ids(arrays: dict[str, np.ndarray], num_vertices: int) -> dict[str, int] | None:
    """Vertices smplx picks its extra joints from (nose, eyes, ears, toes, heels)."""
    if "vertex_id_names" in arrays:
        names = [str(name) for name in arrays["vertex_id_names"]]
        return dict(zip(names, (int(i) for i in arrays["vertex_id_indices"]), strict=True))
    if num_vertices == SMPL_NUM_VERTICES:
        return None  # smplx's own ids are SMPL's
    # Another topology without ids: smplx's extra joints would index past the mesh. We drop them anyway
    # (only the 24 skeleton joints leave this module), so any valid vertex will do.
    keys = ["nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"]
    keys += [side + finger for side in "lr" for finger in ("thumb", "index", "middle", "ring", "pinky")]
    return dict.fromkeys(keys, 0)


class BodyModel(nn.Module):
    """SMPL-format body model: SMPL pose (rotation matrices) and betas in, vertices and 24 joints out."""

    def __init__(self, arrays: dict[str, np.ndarray], name: str, num_betas: int = 10) -> None:
        super().__init__()
        import smplx
        from smplx.utils import Struct

        kintree = np.asarray(arrays["kintree_table"])
        parents = [int(p) for p in kintree[0][:NUM_JOINTS]]
        parents[0] = -1
        if kintree.shape[-1] != NUM_JOINTS or tuple(parents) != PARENTS:
            raise ValueError(f"body model {name}: kintree_table is not SMPL's 24-joint tree (got {kintree.shape})")
        num_vertices = int(np.asarray(arrays["v_template"]).shape[0])
        vertex_ids = _vertex_ids(arrays, num_vertices)
        # smplx prints a note about the 10 shape coefficients of SMPL files; keep the node's stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            self.layer = smplx.SMPLLayer(
                model_path="",
                data_struct=Struct(**arrays),
                vertex_ids=vertex_ids,
                num_betas=num_betas,
            )
        self.name = name
        # named surface points (nose, eyes, ears, fingertips, toes, heels); None = SMPL's, as smplx knows them
        self.vertex_ids: dict[str, int] | None = None if "vertex_id_names" not in arrays else vertex_ids
        if self.vertex_ids is None and num_vertices == SMPL_NUM_VERTICES:
            from smplx.vertex_ids import vertex_ids as smplx_ids

            self.vertex_ids = dict(smplx_ids["smplh"])
        self.num_betas = int(self.layer.num_betas)
        self.faces = np.asarray(arrays["f"], dtype=np.int64)
        self.num_vertices = num_vertices
        # A body model without pose-corrective blend shapes (the embedded one: posedirs all zero) skips their
        # (B,207) x (207, 3V) product, the largest step of a forward (1.2 of 2.2 ms at batch 1 on one CPU thread,
        # reading 17 MB of zeros); the result is the same to the bit.
        self.pose_correctives = bool(np.any(np.asarray(arrays["posedirs"]) != 0))
        v_template = np.asarray(arrays["v_template"], dtype=np.float64)
        j_regressor = np.asarray(arrays["J_regressor"], dtype=np.float64)
        self.rest_joints = (j_regressor @ v_template).astype(np.float32)

    @property
    def is_smpl(self) -> bool:
        return self.name == SMPL_NAME

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor) -> BodyOutput:
        batch = global_orient.shape[0]
        if tuple(global_orient.shape[1:]) != (1, 3, 3) or tuple(body_pose.shape) != (batch, NUM_JOINTS - 1, 3, 3):
            raise ValueError(
                f"expected global_orient (B,1,3,3) and body_pose (B,23,3,3), got {tuple(global_orient.shape)} "
                f"and {tuple(body_pose.shape)}"
            )
        if betas.ndim != 2 or betas.shape[0] != batch or betas.shape[1] > self.num_betas:
            raise ValueError(f"expected betas (B, <={self.num_betas}), got {tuple(betas.shape)}")
        dtype = self.layer.shapedirs.dtype
        if betas.shape[1] < self.num_betas:
            betas = torch.nn.functional.pad(betas, (0, self.num_betas - betas.shape[1]))
        betas, body_pose, global_orient = betas.to(dtype), body_pose.to(dtype), global_orient.to(dtype)
        if not self.pose_correctives:
            return self._skin_without_correctives(torch.cat([global_orient, body_pose], 1), betas)
        output = self.layer(betas=betas, body_pose=body_pose, global_orient=global_orient)
        return BodyOutput(vertices=output.vertices, joints=output.joints[:, :NUM_JOINTS])

    def _skin_without_correctives(self, rotmats: torch.Tensor, betas: torch.Tensor) -> BodyOutput:
        """smplx's linear blend skinning with the pose-corrective term left out (it is zero for this model)."""
        from smplx.lbs import batch_rigid_transform, blend_shapes, vertices2joints

        layer, batch = self.layer, rotmats.shape[0]
        rest = layer.v_template + blend_shapes(betas, layer.shapedirs)
        joints, transforms = batch_rigid_transform(rotmats, vertices2joints(layer.J_regressor, rest), layer.parents,
                                                   dtype=rest.dtype)  # fmt: skip
        weights = layer.lbs_weights.unsqueeze(0).expand(batch, -1, -1)
        per_vertex = torch.matmul(weights, transforms.view(batch, NUM_JOINTS, 16)).view(batch, -1, 4, 4)
        homogeneous = torch.cat([rest, rest.new_ones(batch, rest.shape[1], 1)], 2)
        vertices = torch.matmul(per_vertex, homogeneous.unsqueeze(-1))[:, :, :3, 0]
        return BodyOutput(vertices=vertices, joints=joints)
