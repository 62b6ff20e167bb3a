#!/usr/bin/env bash
# Each optional extra installed ALONE in its own fresh virtual environment (no system site
# packages), then that extra's own tests: a dependency that moves under one extra (a new major
# release that `interp[all]` would not pick because another extra caps it) shows up here.
#
#   bash scripts/ci_extras.sh              # all extras
#   EXTRAS="lens probe" bash scripts/ci_extras.sh
#
# torch and interp's core are installed once, into a base environment (torch first and on its
# own: TORCH_SPEC, default the CPU build, as in scripts/setup.sh, so that no extra pulls a
# multi-GB CUDA build); each extra then gets a fresh copy of that base and installs itself on
# top, so what differs between two extras' environments is only what the extras brought (a
# full install per extra took 27 minutes here, almost all of it the same core). Tests run offline
# (HF_HUB_OFFLINE=1) on the tiny local models of interp.testing. Exits non-zero when any
# extra fails to install, to import or to pass its tests; the time of each is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EXTRAS:-sae probe lens lora data figures smolvlm parquet}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/interp-extras.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# extra -> modules that must import once it is installed (so a test's importorskip cannot
# turn a broken install into a skip)
declare -A MODULES=(
    [sae]="sae_lens"
    [probe]="sklearn"
    [lens]="transformer_lens"
    [lora]="peft"
    [data]="datasets"
    [figures]="plotly kaleido"
    [smolvlm]="num2words"
    [parquet]="pyarrow"
)
# extra -> its tests (pytest arguments, run from the repository root), into the array TEST_ARGS
tests_for() {
    case "$1" in
        sae) TEST_ARGS=(tests/vectors/test_sae_vectors.py) ;;
        # (test_benchmarks' holdout split test needs datasets too, to write its files)
        probe) TEST_ARGS=(tests/vectors/test_methods.py::test_probe_matches_sklearn_directly) ;;
        lens) TEST_ARGS=(tests/backends) ;;
        lora) TEST_ARGS=(tests/analysis/test_lora.py) ;;
        data) TEST_ARGS=(tests/evaluation/test_benchmarks.py -k "datasets or hub") ;;
        figures) TEST_ARGS=(tests/test_figures.py) ;;
        smolvlm) TEST_ARGS=(tests/testing/test_tiny.py -k smolvlm) ;;
        parquet) TEST_ARGS=(tests/evaluation/test_export.py) ;;
        *) return 1 ;;
    esac
}

failed=()
summary=()
total_start=$SECONDS
base="$WORK/base"
echo "== base: torch and interp's core in $base"
if ! { "$PYTHON" -m venv "$base" \
    && "$base/bin/python" -m pip install -q --upgrade pip \
    && "$base/bin/python" -m pip install -q $TORCH_SPEC \
    && "$base/bin/python" -m pip install -q . pytest; }; then
    echo "FAILED: the base environment (torch and interp's core) did not install" >&2
    exit 1
fi
echo "   base ready in $((SECONDS - total_start))s"
for extra in $EXTRAS; do
    if ! tests_for "$extra"; then
        echo "unknown extra '$extra' (known: ${!MODULES[*]})" >&2
        failed+=("$extra(unknown)")
        continue
    fi
    start=$SECONDS
    venv="$WORK/$extra"
    echo "== $extra: a fresh copy of the base in $venv, then .[$extra]"
    status=ok
    if ! { cp -a "$base" "$venv" && sed -i "s#$base#$venv#g" "$venv/pyvenv.cfg" "$venv/bin/activate" \
        && "$venv/bin/python" -m pip install -q ".[$extra]"; }; then
        status="install failed"
    elif ! "$venv/bin/python" -c "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]" ${MODULES[$extra]}; then
        status="import failed"
    else
        "$venv/bin/python" -m pip list 2>/dev/null | grep -i -E "^(torch|transformers|nnsight|sae-lens|scikit-learn|transformer-lens|peft|datasets|plotly|kaleido|num2words) " | sed "s/^/   $extra: /"
        if ! HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TEST_ARGS[@]}"; then
            status="tests failed"
        fi
    fi
    took=$((SECONDS - start))
    summary+=("$(printf '%-8s %-14s %4ss' "$extra" "$status" "$took")")
    [ "$status" = ok ] || failed+=("$extra")
    rm -rf "$venv"
done
echo "== extras, each alone (install + tests):"
printf '   %s\n' "${summary[@]}"
echo "   total $((SECONDS - total_start))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
