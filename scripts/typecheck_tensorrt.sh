#!/usr/bin/env bash
# Type-check fasthmr_ros/runtime/tensorrt_engine.py against the `tensorrt-stubs` package (TensorRT itself cannot be
# installed from PyPI without NVIDIA's index). Installs stubs + mypy into a scratch folder, never into the project
# venv. The 10.13 stubs have syntax slips (parameters named `in`, a required parameter after defaults) and shadow
# builtins.bool; they are patched in the scratch copy and their own errors are ignored, ours are not.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${TRT_TYPECHECK_DIR:-${TMPDIR:-/tmp}/fasthmr-trt-typecheck}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$WORK/venv/bin/mypy" ]; then
  "$PYTHON" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q mypy==2.4.1
  # --no-deps: the stubs' metadata depends on the real tensorrt wheel, which downloads from NVIDIA
  "$WORK/venv/bin/pip" install -q --no-deps --target "$WORK/stubs" tensorrt-stubs==10.13.0.35.1
  sed -i -E 's/([(, ])in: /\1in_: /g; s/, channel_axis: int\) -> IScaleLayer/, channel_axis: int = ...) -> IScaleLayer/' \
    "$WORK/stubs/tensorrt_bindings/tensorrt.pyi"
fi
cat > "$WORK/mypy.ini" <<'INI'
[mypy]
ignore_missing_imports = True
follow_imports = silent
warn_unused_ignores = True
[mypy-tensorrt_bindings.*]
ignore_errors = True
[mypy-tensorrt.*]
ignore_errors = True
INI
cd "$ROOT"
MYPYPATH="$WORK/stubs" "$WORK/venv/bin/mypy" --config-file "$WORK/mypy.ini" fasthmr_ros/runtime/tensorrt_engine.py
