"""Deterministic HumanMeshArray content from a seed, shared by the publisher process and the checking test."""

from __future__ import annotations

import numpy as np

from fasthmr_ros.perception.types import FrameResult, Person


def people_from_seed(seed: int, count: int = 2, num_vertices: int = 6890) -> FrameResult:
    rng = np.random.default_rng(seed)
    people = []
    for i in range(count):
        people.append(
            Person(
                track_id=int(rng.integers(1, 1000)) + i,
                score=float(rng.uniform(0.5, 1.0)),
                box=np.array([*np.sort(rng.uniform(0, 640, 2))[::1], *np.sort(rng.uniform(0, 480, 2))], np.float32)[
                    [0, 2, 1, 3]
                ],
                global_orient=rng.normal(size=3).astype(np.float32),
                body_pose=rng.normal(size=69).astype(np.float32),
                betas=rng.normal(size=10).astype(np.float32),
                translation=rng.normal(size=3),
                joints=rng.normal(size=(24, 3)),
                keypoints_2d=rng.uniform(0, 640, size=(24, 2)),
                vertices=rng.normal(size=(num_vertices, 3)).astype(np.float32),
            )
        )
    return FrameResult(people=people, ended_track_ids=[int(rng.integers(1, 50))])
