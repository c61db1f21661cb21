"""How a synthetic person looks: clothing regions on the body mesh, colours, lighting, and compositing.

The mesh is split into regions by each vertex's dominant skinning joint (shirt, trousers, skin, shoes, hair); every
region is rasterised as its own mesh in one call of perception.render.rasterize_meshes, so the z-buffer is shared
and the region of each pixel is its mesh id. Hair covers the back and top of the head and the face is skin, which
gives the model a front/back cue that plain shading lacks. Colours, sleeve and leg lengths, screen-space stripes
and the light response vary per person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasthmr_ros.model.skeleton import JOINT_NAMES
from fasthmr_ros.perception.render import Raster, rasterize_meshes

REGIONS: tuple[str, ...] = ("shirt", "sleeve", "trousers", "shin", "skin", "shoes", "hair")
_J = {name: i for i, name in enumerate(JOINT_NAMES)}
_REGION_OF_JOINT = {
    **dict.fromkeys(("spine1", "spine2", "spine3", "left_collar", "right_collar"), "shirt"),
    **dict.fromkeys(("left_shoulder", "right_shoulder"), "shirt"),
    **dict.fromkeys(("left_elbow", "right_elbow"), "sleeve"),
    **dict.fromkeys(("pelvis", "left_hip", "right_hip"), "trousers"),
    **dict.fromkeys(("left_knee", "right_knee"), "shin"),
    **dict.fromkeys(("left_wrist", "right_wrist", "left_hand", "right_hand", "neck", "head"), "skin"),
    **dict.fromkeys(("left_ankle", "right_ankle", "left_foot", "right_foot"), "shoes"),
}
_SKIN_TONES = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 135], [198, 134, 94], [141, 85, 54],
                        [92, 56, 36]], dtype=np.float32)  # fmt: skip
_HAIR = np.array([[20, 15, 10], [60, 40, 25], [110, 75, 40], [190, 160, 110], [120, 120, 120], [35, 30, 30]],
                 dtype=np.float32)  # fmt: skip


@dataclass
class BodyRegions:
    """Face subsets of one body mesh, one per entry of REGIONS (possibly empty)."""

    faces: list[np.ndarray]


def body_regions(lbs_weights: np.ndarray, faces: np.ndarray, rest_vertices: np.ndarray, rest_joints: np.ndarray
                 ) -> BodyRegions:  # fmt: skip
    """Regions from skinning weights (V, 24) and the rest pose (SMPL frame: y up, z forward)."""
    dominant = np.asarray(lbs_weights).argmax(axis=1)
    names = np.array([_REGION_OF_JOINT[JOINT_NAMES[j]] for j in range(len(JOINT_NAMES))])
    vertex_region = names[dominant].astype(object)
    head = rest_joints[_J["head"]]
    on_head = dominant == _J["head"]
    # Hair: the back of the skull and the crown; the face (front, below the crown) stays skin.
    behind = rest_vertices[:, 2] < head[2] - 0.01
    crown = rest_vertices[:, 1] > head[1] + 0.09
    vertex_region[on_head & (behind | crown)] = "hair"
    face_region = vertex_region[np.asarray(faces)[:, 0]]
    return BodyRegions([np.asarray(faces)[face_region == name] for name in REGIONS])


@dataclass
class Look:
    """One person's appearance (RGB in 0-255)."""

    colors: np.ndarray  # (len(REGIONS), 3)
    ambient: float  # light response: ambient + (1 - ambient) * shade ** gamma
    gamma: float
    stripe_period: float  # pixels; 0 = plain shirt
    stripe_angle: float
    stripe_depth: float


def sample_look(rng: np.random.Generator) -> Look:
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.08)
    shirt = rng.uniform(15, 245, 3)
    trousers = rng.uniform(15, 200, 3) if rng.random() < 0.6 else np.array([40, 50, 90]) * rng.uniform(0.6, 1.6)
    sleeve = shirt if rng.random() < 0.45 else skin  # long or short sleeves
    shin = trousers if rng.random() < 0.75 else skin  # trousers or shorts
    shoes = rng.uniform(10, 230, 3) if rng.random() < 0.5 else rng.uniform(10, 60) * np.ones(3)
    hair = _HAIR[rng.integers(len(_HAIR))] * rng.uniform(0.8, 1.2)
    by_name = {"shirt": shirt, "sleeve": sleeve, "trousers": trousers, "shin": shin, "skin": skin, "shoes": shoes,
               "hair": hair}  # fmt: skip
    colors = np.clip(np.stack([by_name[name] for name in REGIONS]), 0, 255).astype(np.float32)
    striped = rng.random() < 0.3
    return Look(
        colors=colors,
        ambient=float(rng.uniform(0.15, 0.55)),
        gamma=float(rng.uniform(0.6, 2.0)),
        stripe_period=float(rng.uniform(6, 24)) if striped else 0.0,
        stripe_angle=float(rng.uniform(0, np.pi)),
        stripe_depth=float(rng.uniform(0.15, 0.4)),
    )


def rasterize_person(vertices_cam: np.ndarray, regions: BodyRegions, K: np.ndarray, width: int, height: int
                     ) -> Raster:  # fmt: skip
    """Rasterise one posed body (camera frame) region by region; Raster.mesh_id indexes REGIONS."""
    meshes = [(vertices_cam, faces, (1.0, 1.0, 1.0)) for faces in regions.faces]
    return rasterize_meshes(meshes, K, width, height)


def composite(image: np.ndarray, raster: Raster, look: Look, rng: np.random.Generator) -> np.ndarray:
    """Paint the rasterised person over `image` (H, W, 3) uint8 in place and return it."""
    if not len(raster.pixels):
        return image
    light = look.ambient + (1.0 - look.ambient) * np.power(raster.shade, look.gamma)
    color = look.colors[raster.mesh_id] * light[:, None]
    if look.stripe_period > 0:
        rows, cols = np.divmod(raster.pixels, raster.width)
        phase = (cols * np.cos(look.stripe_angle) + rows * np.sin(look.stripe_angle)) * (2 * np.pi / look.stripe_period)
        shirt = raster.mesh_id == REGIONS.index("shirt")
        color[shirt] *= (1.0 - look.stripe_depth * (np.sin(phase[shirt]) > 0))[:, None]
    # Fine grain so that flat regions are not perfectly flat (cloth, skin).
    color += rng.normal(0.0, 4.0, color.shape)
    flat = image.reshape(-1, 3)
    flat[raster.pixels] = np.clip(color, 0, 255).astype(np.uint8)
    return image
