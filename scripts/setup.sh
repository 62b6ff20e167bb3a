#!/usr/bin/env bash
# One-time set-up of a fresh clone: a virtual environment with a CPU build of PyTorch and interp,
# plus Debian's chromium for kaleido's static figure export when it can be installed.
# GPU users: set TORCH_SPEC to the build you need (e.g. TORCH_SPEC="torch --index-url ...").
# INTERP_SKIP_CHROMIUM=1 leaves chromium alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

# kaleido (plotly's static export) drives a Chromium it finds on the system. Installing it needs
# root and apt-get; anywhere else the set-up goes on without it and says so: figures still build,
# only their export to PNG/PDF needs the browser.
install_chromium() {
    if [ "${INTERP_SKIP_CHROMIUM:-0}" = "1" ]; then
        echo "chromium: skipped (INTERP_SKIP_CHROMIUM=1)"
        return 0
    fi
    if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "chromium: not installed and no apt-get here; install Chromium yourself for static figure export"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "chromium: not installed and not root; run 'sudo apt-get install chromium' for static figure export"
        return 0
    fi
    echo "chromium: installing Debian's chromium for kaleido's static figure export"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
        echo "chromium: installed ($(command -v chromium))"
    else
        echo "chromium: apt-get could not install it; figures build, but static export will not work"
    fi
    return 0
}

install_chromium || true

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
