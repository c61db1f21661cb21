"""The chumpy-free SMPL reader: official-style pickles (chumpy arrays, scipy sparse regressor), .npz, refusals."""

from __future__ import annotations

import argparse
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from fasthmr_ros.cli import COMMANDS
from fasthmr_ros.model.poses import standard_pose_rotmats
from fasthmr_ros.runtime import smpl_io
from fasthmr_ros.runtime.body_files import embedded_model_path, load_body_model


def _fake_chumpy_module() -> types.ModuleType:
    """A stand-in `chumpy.ch` whose Ch pickles like chumpy's: instance __dict__ with the array under 'x'.

    A stand-in because the real chumpy cannot be installed or imported here. Its only PyPI release, chumpy 0.70
    (sdist, 2020), fails at each step on Python 3.11 with numpy 2.4:
    - `pip install chumpy`: "Getting requirements to build wheel did not run successfully" with
      "ModuleNotFoundError: No module named 'pip'" (its setup.py imports pip, absent from the isolated build);
    - built with --no-build-isolation, `import chumpy`: "AttributeError: module 'inspect' has no attribute
      'getargspec'" (chumpy/ch.py line 1203; removed in Python 3.11);
    - with inspect.getargspec put back: "ImportError: cannot import name 'int' from 'numpy'" (chumpy/__init__.py
      line 11, `from numpy import bool, int, float, complex, object, unicode, str, nan, inf`).
    """
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x
            self._dirty_vars = {"x"}
            self._itr = None
            self._depends_on_deps = {}

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    return module


def write_chumpy_pickle(arrays: dict[str, np.ndarray], path) -> None:
    """Pickle SMPL arrays the way the official files are: chumpy arrays and a scipy CSC J_regressor."""
    fake = _fake_chumpy_module()
    parent = types.ModuleType("chumpy")
    parent.ch = fake
    saved = {name: sys.modules.get(name) for name in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = parent, fake
    try:
        content = {
            "v_template": fake.Ch(np.asarray(arrays["v_template"], np.float64)),
            "shapedirs": fake.Ch(np.asarray(arrays["shapedirs"], np.float64)),
            "posedirs": np.asarray(arrays["posedirs"], np.float64),
            "weights": fake.Ch(np.asarray(arrays["weights"], np.float64)),
            "J_regressor": scipy.sparse.csc_matrix(np.asarray(arrays["J_regressor"], np.float64)),
            "kintree_table": np.asarray(arrays["kintree_table"]),
            "f": np.asarray(arrays["f"], np.uint32),
            "bs_type": "lrotmin",
            "bs_style": "lbs",
        }
        path.write_bytes(pickle.dumps(content, protocol=2))
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@pytest.fixture(scope="module")
def embedded_arrays() -> dict[str, np.ndarray]:
    return smpl_io.load_smpl_arrays(embedded_model_path())


def test_chumpy_pickle_loads_without_chumpy(tmp_path, embedded_arrays):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    write_chumpy_pickle(embedded_arrays, path)
    assert "chumpy" not in sys.modules
    arrays = smpl_io.load_smpl_arrays(path)
    assert "chumpy" not in sys.modules  # nothing imported chumpy while reading
    for key in ("v_template", "shapedirs", "weights", "J_regressor"):
        assert isinstance(arrays[key], np.ndarray)
        np.testing.assert_allclose(arrays[key], embedded_arrays[key], atol=1e-7)
    assert arrays["J_regressor"].shape == embedded_arrays["J_regressor"].shape


def test_user_pickle_drives_like_the_source_model(tmp_path, embedded_arrays):
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    write_chumpy_pickle(embedded_arrays, path)
    user = load_body_model(path)
    embedded = load_body_model(None)
    assert user.name == "smpl" and user.is_smpl
    assert embedded.name == "fasthmr-embedded" and not embedded.is_smpl
    rot = torch.from_numpy(standard_pose_rotmats("walking"))[None]
    betas = torch.tensor([[1.0, -0.5, 0.3, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0]])
    a = user(rot[:, :1], rot[:, 1:], betas)
    b = embedded(rot[:, :1], rot[:, 1:], betas)
    torch.testing.assert_close(a.vertices, b.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.joints, b.joints, atol=1e-5, rtol=0)


def test_convert_smpl_command_writes_loadable_npz(tmp_path, embedded_arrays, capsys):
    source, target = tmp_path / "SMPL_NEUTRAL.pkl", tmp_path / "smpl_neutral.npz"
    write_chumpy_pickle(embedded_arrays, source)
    assert COMMANDS["convert-smpl"][0] == "fasthmr_ros.runtime.smpl_io"
    parser = argparse.ArgumentParser()
    smpl_io.add_arguments(parser)
    assert smpl_io.run(parser.parse_args([str(source), str(target)])) == 0
    assert f"{len(embedded_arrays['v_template'])} vertices" in capsys.readouterr().out
    with np.load(target, allow_pickle=False) as npz:  # plain arrays only: loads without pickle
        np.testing.assert_allclose(npz["v_template"], embedded_arrays["v_template"], atol=1e-7)
    model = load_body_model(target)
    assert model.name == "smpl" and model.num_vertices == len(embedded_arrays["v_template"])
    # a missing input is one line on stderr and exit status 2, not a traceback
    assert smpl_io.run(parser.parse_args([str(tmp_path / "missing.pkl"), str(target)])) == 2
    error = capsys.readouterr().err
    assert "smpl.is.tue.mpg.de" in error and error.count("\n") == 1


def test_pickle_naming_other_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo should-not-run",))

    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="not allowed"):
        smpl_io.load_smpl_arrays(path)


def test_missing_or_incomplete_file_gives_one_line_errors(tmp_path, embedded_arrays):
    with pytest.raises(FileNotFoundError) as missing:
        load_body_model(tmp_path / "SMPL_NEUTRAL.pkl")
    message = str(missing.value)
    assert "SMPL_NEUTRAL" in message and "smpl.is.tue.mpg.de" in message and "\n" not in message
    partial = {k: v for k, v in embedded_arrays.items() if k != "J_regressor"}
    np.savez(tmp_path / "partial.npz", **partial)
    with pytest.raises(ValueError, match="J_regressor"):
        load_body_model(tmp_path / "partial.npz")
    (tmp_path / "garbage.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="not a readable SMPL"):
        load_body_model(tmp_path / "garbage.pkl")
