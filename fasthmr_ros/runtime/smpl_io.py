"""Reading SMPL-format body model files without chumpy, and the `fasthmr convert-smpl` command.

The official SMPL `.pkl` files were pickled under Python 2 with chumpy arrays (`chumpy.ch.Ch`) and scipy sparse
matrices inside. chumpy does not install on current Python, and a plain `pickle.load` would import and run whatever
classes the file names. `load_smpl_arrays` uses an unpickler that only resolves numpy's own array/dtype rebuilders;
every chumpy or scipy class is replaced by an inert record of its pickled state, which is then turned into a numpy
array. Anything else in the file is refused.
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np

SMPL_DOWNLOAD_HINT = (
    "supply the licensed SMPL body model (SMPL_NEUTRAL.pkl or .npz, from https://smpl.is.tue.mpg.de) "
    "via the smpl_model parameter (fasthmr run -p smpl_model:=...) / --smpl-model flag"
)

# Keys a SMPL-format file must hold for smplx.SMPL / SMPLLayer.
REQUIRED_KEYS = ("v_template", "f", "J_regressor", "weights", "kintree_table", "shapedirs", "posedirs")

# numpy's rebuilders, under the module names numpy 1.x and 2.x pickles use. Nothing else is ever imported.
_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_REDUCE_HELPERS = {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")}
# Plain containers chumpy objects carry in their state (py2 pickles name them under __builtin__).
_BUILTINS = {(module, name) for module in ("__builtin__", "builtins") for name in ("object", "set", "frozenset")}


class _PickledObject:
    """Inert stand-in for a chumpy / scipy object: keeps the pickled state, runs no code of the original class."""

    source: str = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self) -> tuple:  # never re-pickle a stand-in as if it were the original
        raise TypeError(f"stand-in for {self.source} cannot be pickled")


def _stand_in(module: str, name: str) -> type:
    return type(name, (_PickledObject,), {"source": f"{module}.{name}"})


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """_codecs.encode as protocol-2 pickles use it for raw bytes (array buffers): str -> bytes, nothing else."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError("unexpected use of _codecs.encode")
    return text.encode("latin1")


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor restricted to our stand-ins and plain object."""
    if not (isinstance(cls, type) and issubclass(cls, _PickledObject)) or base is not object:
        raise pickle.UnpicklingError(f"refusing to rebuild {cls!r} from base {base!r}")
    obj = object.__new__(cls)
    if state is not None:
        obj.__setstate__(state)
    return obj


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) in _REDUCE_HELPERS:
            return _safe_reconstructor
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in _BUILTINS:
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if module == "chumpy" or module.startswith(("chumpy.", "scipy.sparse")):
            return _stand_in(module, name)
        raise pickle.UnpicklingError(f"SMPL file refers to {module}.{name}, which is not allowed in a body model file")


def _to_array(value: Any, key: str) -> Any:
    """Turn stand-ins into numpy arrays; leave plain values alone."""
    if not isinstance(value, _PickledObject):
        return value
    state = value.state if isinstance(getattr(value, "state", None), dict) else {}
    if "scipy.sparse" in value.source:
        shape = state.get("_shape", state.get("shape"))
        data, indices, indptr = (np.asarray(state.get(k)) for k in ("data", "indices", "indptr"))
        if shape is None or data.ndim != 1:
            raise ValueError(f"{key}: unreadable sparse matrix ({value.source})")
        dense = np.zeros(tuple(int(n) for n in shape), dtype=np.float64)
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        if "csc" in value.source:
            dense[indices, major] = data
        elif "csr" in value.source:
            dense[major, indices] = data
        else:
            raise ValueError(f"{key}: unsupported sparse format {value.source}")
        return dense
    if isinstance(state.get("x"), np.ndarray):
        return state["x"]
    raise ValueError(f"{key}: chumpy object {value.source} holds no plain array ('x'); convert the file with chumpy")


def load_smpl_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read a SMPL-format `.pkl` (chumpy inside or not) or `.npz` into plain numpy arrays.

    Raises FileNotFoundError for a missing file and ValueError for a file that is not a SMPL-format body model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SMPL body model file not found: {path}; {SMPL_DOWNLOAD_HINT}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    else:
        try:
            raw = _RestrictedUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: not a readable SMPL .pkl ({error})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: a SMPL .pkl holds a dict, found {type(raw).__name__}")
        arrays = {}
        for key, value in raw.items():
            value = _to_array(value, key)
            if isinstance(value, np.ndarray):
                arrays[str(key)] = value
            elif isinstance(value, str):
                arrays[str(key)] = np.asarray(value)
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path}: not a SMPL-format body model, missing {', '.join(missing)}")
    return arrays


def save_smpl_npz(arrays: dict[str, np.ndarray], path: str | Path) -> None:
    """Write SMPL arrays as a chumpy-free compressed .npz (object arrays are dropped, never pickled)."""
    plain = {key: value for key, value in arrays.items() if isinstance(value, np.ndarray) and value.dtype != object}
    np.savez_compressed(path, **plain)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="official SMPL .pkl (chumpy inside is fine), e.g. SMPL_NEUTRAL.pkl")
    parser.add_argument("output", help="chumpy-free .npz to write")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    try:
        if output.suffix != ".npz":
            raise ValueError(f"output must end in .npz, got {output}")
        arrays = load_smpl_arrays(args.input)
    except (FileNotFoundError, ValueError) as error:
        print(f"fasthmr convert-smpl: {error}", file=sys.stderr)
        return 2
    save_smpl_npz(arrays, output)
    v, f = arrays["v_template"].shape, arrays["f"].shape
    print(f"wrote {output}: {v[0]} vertices, {f[0]} faces, {arrays['shapedirs'].shape[-1]} shape directions")
    return 0
