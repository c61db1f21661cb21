"""`torch_threads`: auto gives the landmark pose source one torch thread on a CPU, an explicit value wins, and the
encoder source keeps torch's default. Each case in its own process: the thread count is process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys, torch
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.pipeline import Pipeline
before = torch.get_num_threads()
Pipeline(PipelineConfig.from_flat(json.loads(sys.argv[1])))
print(json.dumps([before, torch.get_num_threads()]))
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, 1),
        ({"torch_threads": 3}, 3),
        ({"pose_source": "hmr"}, "default"),
        ({"pose_source": "hmr", "torch_threads": 1}, 1),
    ],
)
def test_thread_count(settings, expected):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(settings)], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert after == (before if expected == "default" else expected)
