#!/usr/bin/env bash
# Each optional extra installed ALONE in its own fresh virtual environment (no system site
# packages), then that extra's own tests: a dependency that moves under one extra (a new major
# release that `interp[all]` would not pick because another extra caps it) shows up here.
#
#   bash scripts/ci_extras.sh              # all extras
#   EXTRAS="lens lens4" bash scripts/ci_extras.sh   # the base and these two
#
# torch and interp's core are installed once, into a base environment (torch first and on its
# own: TORCH_SPEC, default the CPU build, as in scripts/setup.sh, so that no extra pulls a
# multi-GB CUDA build); each extra then gets a fresh copy of that base and installs itself on
# top, so what differs between two extras' environments is only what the extras brought (a
# full install per extra took 27 minutes here, almost all of it the same core). The base is
# `pip install .` with no extra: what the demo needs (sae-lens, scikit-learn, plotly, kaleido)
# is core, and the base runs those parts' tests, the README's Python snippets and a reduced
# `interp demo` with every vector method itself.
# sae-lens brings TransformerLens 3.x (it caps it below 4), and with it datasets and pyarrow, so
# the lens, data and parquet environments add little to the base; lens4 is the one that is not
# an extra: the base without sae-lens, with TransformerLens 4.x, for the TransformerBridge path.
# Tests run offline (HF_HUB_OFFLINE=1) on the tiny local models of interp.testing. Exits
# non-zero when the base or any extra fails to install, to import or to pass its tests; the time
# of each is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EXTRAS:-lens lens4 lora data smolvlm parquet neuronpedia}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/interp-extras.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# extra -> modules that must import once it is installed (so a test's importorskip cannot
# turn a broken install into a skip)
declare -A MODULES=(
    [lens]="transformer_lens"
    [lens4]="transformer_lens.model_bridge"
    [lora]="peft"
    [data]="datasets"
    [smolvlm]="num2words"
    [parquet]="pyarrow"
    [neuronpedia]="neuronpedia.requests.sae_feature_request"
)
# what the base itself (no extra) must import and pass: the parts that were extras before they
# became core, and the install hints that name them
BASE_MODULES="sae_lens sklearn plotly kaleido"
BASE_TESTS=(
    tests/vectors/test_sae_vectors.py
    tests/vectors/test_methods.py::test_probe_matches_sklearn_directly
    tests/vectors/test_install_hints.py
    tests/test_figures.py
    tests/test_readme.py::test_readme_python_snippets_run_on_the_organism
)
# and the main job as the README gives it, from the installed package (run outside the checkout,
# so that the package's own files are what it reads): a reduced demo with every vector method
DEMO_ARGS=(--model organism --methods meanshift probe sae diffmean pca --n-train 8 --n-test 8
    --n-replicate 8 --layers 0 2 --strengths -1 1 --threads 1)
# extra -> its tests (pytest arguments, run from the repository root), into the array TEST_ARGS
tests_for() {
    case "$1" in
        lens | lens4) TEST_ARGS=(tests/backends) ;;
        lora) TEST_ARGS=(tests/analysis/test_lora.py) ;;
        data) TEST_ARGS=(tests/evaluation/test_benchmarks.py -k "datasets or hub") ;;
        smolvlm) TEST_ARGS=(tests/testing/test_tiny.py -k smolvlm) ;;
        parquet) TEST_ARGS=(tests/evaluation/test_export.py) ;;
        neuronpedia) TEST_ARGS=(tests/vectors/test_explanations.py) ;;
        *) return 1 ;;
    esac
}
# install an extra (or lens4) into the environment $2
install_extra() {
    case "$1" in
        lens4) "$2/bin/python" -m pip uninstall -q -y sae-lens \
            && "$2/bin/python" -m pip install -q "transformer-lens>=4,<5" ;;
        *) "$2/bin/python" -m pip install -q ".[$1]" ;;
    esac
}
run_tests() {
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" "$1/bin/python" -m pytest -q -p no:cacheprovider "${@:2}"
}
imports() {
    "$1/bin/python" -c "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]" "${@:2}"
}
versions() {
    "$1/bin/python" -m pip list 2>/dev/null | grep -i -E "^(torch|transformers|nnsight|sae-lens|scikit-learn|transformer-lens|peft|datasets|plotly|kaleido|num2words|pyarrow|neuronpedia) " | sed "s/^/   $2: /"
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
versions "$base" base
if ! imports "$base" $BASE_MODULES; then
    failed+=("base")
    summary+=("$(printf '%-11s %-14s %4ss' base "import failed" "$((SECONDS - total_start))")")
elif ! run_tests "$base" "${BASE_TESTS[@]}"; then
    failed+=("base")
    summary+=("$(printf '%-11s %-14s %4ss' base "tests failed" "$((SECONDS - total_start))")")
elif ! (cd "$WORK" && HF_HUB_OFFLINE=1 "$base/bin/interp" demo "${DEMO_ARGS[@]}" --out "$WORK/demo" >"$WORK/demo.log" 2>&1); then
    tail -n 40 "$WORK/demo.log" >&2
    failed+=("base")
    summary+=("$(printf '%-11s %-14s %4ss' base "demo failed" "$((SECONDS - total_start))")")
else
    echo "   base: interp demo ${DEMO_ARGS[*]} wrote $(find "$WORK/demo" -type f | wc -l) files"
    summary+=("$(printf '%-11s %-14s %4ss' base ok "$((SECONDS - total_start))")")
fi
for extra in $EXTRAS; do
    if ! tests_for "$extra"; then
        echo "unknown extra '$extra' (known: ${!MODULES[*]})" >&2
        failed+=("$extra(unknown)")
        continue
    fi
    start=$SECONDS
    venv="$WORK/$extra"
    echo "== $extra: a fresh copy of the base in $venv, then $([ "$extra" = lens4 ] && echo "TransformerLens 4 without sae-lens" || echo ".[$extra]")"
    status=ok
    if ! { cp -a "$base" "$venv" && sed -i "s#$base#$venv#g" "$venv/pyvenv.cfg" "$venv/bin/activate" \
        && install_extra "$extra" "$venv"; }; then
        status="install failed"
    elif ! imports "$venv" ${MODULES[$extra]}; then
        status="import failed"
    else
        versions "$venv" "$extra"
        if ! run_tests "$venv" "${TEST_ARGS[@]}"; then
            status="tests failed"
        fi
    fi
    took=$((SECONDS - start))
    summary+=("$(printf '%-11s %-14s %4ss' "$extra" "$status" "$took")")
    [ "$status" = ok ] || failed+=("$extra")
    rm -rf "$venv"
done
echo "== the base and the extras, each alone (install + tests):"
printf '   %s\n' "${summary[@]}"
echo "   total $((SECONDS - total_start))s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
