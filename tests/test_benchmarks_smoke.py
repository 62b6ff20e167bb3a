"""Smoke test of the benchmarks: each runs at its tiniest settings (``--quick``, the organism only)
and ends with one JSON line holding the keys ``run_all`` and readers rely on. Not a timing test:
no speed figure is held to its target here; only what must hold whatever the machine (the
steered logits equal the hand-written hook's, the fast sweep equals the naive loop, ...)."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"

#: Keys of each benchmark's per-model record in its JSON line.
MODEL_KEYS = {
    "steering_overhead": {"batch", "tokens", "median_s", "ratios", "pass", "max_abs_diff_steered_vs_hook", "same_logits"},
    "scoring_speed": {"n_items", "conditions", "summary", "reference_max_new_tokens"},
    "sweep_speed": {"grid", "measured_s", "grid_s", "ratios", "identical_to_naive", "same_chosen_cells", "chosen",
                    "breakdown_s", "sampled"},
    "extraction": {"tokens", "tokens_per_s", "peak_mib", "ratios", "pass"},
    "activation_memory": {"sizes", "peak_mib", "peak_ratio", "pass"},
}


def _module(name: str):
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return importlib.import_module(name)


#: Run in a process of their own: extraction changes glibc's allocator settings for its process.
OWN_PROCESS = {"extraction"}


@pytest.fixture(scope="module")
def runs():
    """Each benchmark's printed output, run once with --quick (torch's thread count restored)."""
    threads = torch.get_num_threads()
    out = {}
    try:
        for name in MODEL_KEYS:
            if name in OWN_PROCESS:
                proc = subprocess.run(
                    [sys.executable, str(BENCH_DIR / f"{name}.py"), "--quick"], capture_output=True, text=True
                )
                assert proc.returncode == 0, proc.stderr[-3000:]
                out[name] = proc.stdout
                continue
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                _module(name).main(["--quick"])
            out[name] = buf.getvalue()
    finally:
        torch.set_num_threads(threads)
    return out


def _json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.parametrize("name", list(MODEL_KEYS))
def test_quick_run_prints_threads_and_ends_with_its_json_line(name, runs):
    text = runs[name]
    assert "torch threads: 1" in text
    res = _json(text)
    assert res["benchmark"] == name
    assert res["env"]["threads"] == 1
    assert set(res["models"]) == {"organism"}
    missing = MODEL_KEYS[name] - set(res["models"]["organism"])
    assert not missing, f"{name}'s JSON line lacks {sorted(missing)}"


def test_steered_forward_equals_the_hand_written_hook(runs):
    m = _json(runs["steering_overhead"])["models"]["organism"]
    assert m["same_logits"] and m["edit_effect"] > 0


def test_fast_sweep_equals_the_naive_loop_and_the_breakdown_adds_up(runs):
    m = _json(runs["sweep_speed"])["models"]["organism"]
    assert m["identical_to_naive"] and m["max_abs_p_diff"] <= 1e-5
    parts = m["breakdown_s"]
    assert sum(v for k, v in parts.items() if k != "total") == pytest.approx(parts["total"], rel=1e-6)
    assert set(m["chosen"]["reference"]) == set(m["chosen"]["interp sweep"]) == {"Count/image", "Relation/image"}


def test_scoring_agrees_in_format_and_reports_off_format_answers(runs):
    conds = _json(runs["scoring_speed"])["models"]["organism"]["conditions"]
    assert conds["unsteered"]["unparsed"] == 0.0 and conds["unsteered"]["agreement"] == 1.0
    off = next(v for k, v in conds.items() if "off-format" in k)
    assert off["unparsed"] > 0.0


def test_extraction_counts_ten_times_the_tokens(runs):
    m = _json(runs["extraction"])["models"]["organism"]
    assert m["tokens"]["x10"] == 10 * m["tokens"]["x1"]
    assert all(v >= 0 for v in m["peak_mib"].values())


def test_run_all_summarizes_every_target(runs):
    run_all = _module("run_all")
    rows = run_all.summarize({name: _json(text) for name, text in runs.items()})
    assert {r[0] for r in rows} == set(MODEL_KEYS)
    assert {r[5] for r in rows} <= {"PASS", "MISS", "-", "n/a", "- (random)"}


def test_run_all_forwards_options_and_refuses_unknown_benchmarks():
    run_all = _module("run_all")
    args = _module("common").parser(None).parse_args(["--quick", "--threads", "2"])
    cmd = run_all.command("sweep_speed", args)
    assert cmd[1].endswith("sweep_speed.py") and "--quick" in cmd and cmd[cmd.index("--threads") + 1] == "2"
    with pytest.raises(ValueError, match="unknown benchmark 'nope'"):
        run_all.command("nope", args)


def test_reference_hook_leaves_nothing_behind_when_the_body_raises(load_tiny):
    from interp.testing.leaks import nothing_left

    common = _module("common")
    mllm = load_tiny("paligemma")
    from interp.testing import tiny_image

    inputs = mllm.encode("what is this?", [tiny_image()])
    mask = mllm.mask("image", inputs)
    with (
        pytest.raises(RuntimeError, match="boom"),
        nothing_left(mllm.module),
        common.reference_hook(mllm, torch.ones(mllm.d_model), 1, 2.0, mask),
    ):
        raise RuntimeError("boom")


def test_interleaved_rotates_which_way_goes_first():
    common = _module("common")
    order: list[str] = []
    times, _ = common.interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 2, warmup=False)
    assert order == ["a", "b", "b", "a"] and [len(t) for t in times.values()] == [2, 2]
    with pytest.raises(ValueError, match="rounds must be a positive int"):
        common.interleaved({"a": lambda: None}, 0)


def test_run_all_judges_several_processes_on_the_median():
    run_all = _module("run_all")

    def res(steered: float) -> dict:
        return {
            "target": {"steered/plain": 1.05},
            "models": {"organism": {"ratios": {"steered/plain": steered}}},
        }

    rows = run_all.summarize_processes({"steering_overhead": [res(1.04), res(1.07), res(1.03)]})
    assert rows == [["steering_overhead", "organism", "steered/plain", 1.04, "1.03-1.07", "<= 1.05", "PASS", "2/3"]]
    rows = run_all.summarize_processes({"steering_overhead": [res(1.06), res(1.07), res(1.03)]})
    assert rows[0][3] == 1.06 and rows[0][6] == "MISS" and rows[0][7] == "1/3"


def test_run_all_refuses_processes_below_one(capsys):
    run_all = _module("run_all")
    with pytest.raises(SystemExit):
        run_all.main(["--processes", "0", "--only", "extraction"])
    assert "--processes must be at least 1, got 0" in capsys.readouterr().err


def test_run_all_over_processes_keeps_every_target_of_one(runs):
    run_all = _module("run_all")
    results = {name: _json(text) for name, text in runs.items()}
    one = run_all.summarize(results)
    many = run_all.summarize_processes({name: [res, res] for name, res in results.items()})
    assert [r[:3] for r in many] == [r[:3] for r in one]
    for single, double in zip(one, many, strict=True):
        assert double[3] == single[3] and double[5] == single[4] and double[6] == single[5]
        assert double[7] == ("-" if single[4] == "-" else f"{2 * (single[5] == 'PASS')}/2")


@pytest.mark.slow
def test_precision_floor_rounds_only_the_weights_and_the_fp32_head_equals_unembed_in_float32():
    """The precision benchmark's two explanatory measurements measure what they say: the floor
    model holds float32 weights that bfloat16 represents exactly, and the float32 head gives the
    model's own ``unembed`` on a float32 model (and is gone afterwards)."""
    precision = _module("precision")
    floor = precision._load("organism", precision.ROUNDED)
    exact = precision._load("organism", "float32")
    assert floor.dtype == torch.float32
    weights = dict(exact.module.named_parameters())
    moved = 0
    for name, w in floor.module.named_parameters():
        assert torch.equal(w, w.to(torch.bfloat16).float()), name
        moved += int(not torch.equal(w, weights[name]))
    assert moved > 0  # the rounding changed the model
    h = torch.randn(3, exact.d_model)
    with precision._head_in_fp32(exact):
        ours = exact.unembed(h)
    assert "unembed" not in vars(exact)
    torch.testing.assert_close(ours, exact.unembed(h), rtol=1e-6, atol=1e-5)
