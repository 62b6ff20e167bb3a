#!/usr/bin/env bash
# One-time set-up of a fresh clone: a virtual environment with a CPU build of PyTorch and interp.
# GPU users: set TORCH_SPEC to the build you need (e.g. TORCH_SPEC="torch --index-url ...").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first and on its own, so that nothing below pulls a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q $TORCH_SPEC
fi
"$VENV/bin/python" -m pip install -q -e ".[dev]"
touch "$VENV/.interp-installed"
echo "interp is installed in $VENV ($("$VENV/bin/python" -c 'import torch, interp; print("torch", torch.__version__, "interp", interp.__version__)'))"
