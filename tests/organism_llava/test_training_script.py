"""The LLaVA organism's training script runs end to end on a few steps, writing only where it is told."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from interp.organism import DATA_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_organism_llava.py"


@pytest.fixture()
def script(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("train_organism_llava_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "LOG_DIR", tmp_path / "runs")
    return mod


@pytest.mark.slow
def test_text_sae_mllm_on_a_few_steps_leave_the_shipped_organisms_alone(script, tmp_path):
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    first = (DATA_DIR / "text" / "model.safetensors").read_bytes()
    out = tmp_path / "run"
    argv = ["--phases", "text,sae,mllm", "--out", str(out), "--batch", "4", "--val-per-task", "1"]
    argv += ["--text-steps", "2", "--sae-steps", "2", "--sae-docs", "4", "--sae-batch", "16"]
    argv += ["--mllm-steps", "2", "--eval-every", "1"]
    assert script.main(argv) == 0
    assert (DATA_DIR / "text" / "model.safetensors").read_bytes() == first
    text = AutoModelForCausalLM.from_pretrained(out / "text")
    mllm = LlavaForConditionalGeneration.from_pretrained(out / "mllm")
    assert text.config.num_hidden_layers == 6
    assert sorted(p.name for p in (out / "sae").iterdir()) == [f"layer_{i}" for i in range(6)]
    # the language model is frozen: the MLLM's copy is the text backbone, bit for bit
    lm = dict(mllm.model.language_model.named_parameters())
    assert all(lm[k].equal(w) for k, w in text.model.named_parameters())
    info = json.loads((out / "training.json").read_text())
    assert info["text"]["steps"] == 2 and info["mllm"]["steps"] == 2
    assert [row["step"] for row in info["mllm"]["history"]] == [1, 2]


def test_unknown_phase_is_refused(script):
    with pytest.raises(ValueError, match=r"unknown phases \['train'\]"):
        script.main(["--phases", "train"])


def _row(vector, gain, low, p, beats, holm=1.0):
    return {"vector": vector, "task": "Count", "selector": "both", "layer": 1, "strength": -0.5,
            "gain": gain, "gain_low": low, "gain_high": gain + 0.03, "p_value": p, "beats_random": beats,
            "p_holm": holm, "random_q95_gain": 0.02}


def test_steering_summary_counts_only_cells_that_beat_all_three_bars(script):
    import pandas as pd

    table = pd.DataFrame([
        _row("a", 0.05, 0.01, 0.01, True, holm=0.03),  # helps, survives Holm
        _row("b", 0.08, -0.01, 0.04, True),            # CI includes 0
        _row("c", 0.06, 0.02, 0.07, True),             # p >= 0.05
        _row("d", 0.07, 0.02, 0.01, False),            # not above the random q95
        _row("e", 0.04, 0.01, 0.02, True),             # helps, not after Holm
    ])
    s = script.steering_summary(table)
    assert (s["cells"], s["helping"], s["helping_holm"]) == (5, 2, 1)
    assert s["best"].startswith("a Count both L1 @ -0.5: +5.0 [+1.0, +8.0], p 0.01")
    none = script.steering_summary(table[table["vector"].isin(["b", "c"])])
    assert none["helping"] == 0 and none["best"].startswith("b ")  # the best chosen cell instead


def test_side_by_side_is_left_out_without_both_organisms_measured(script, tmp_path):
    assert script.side_by_side({}, tmp_path) == []
    assert script.side_by_side({"mllm": {}}, tmp_path) == []  # no steering table of its own


def test_confirm_section_says_when_nothing_needed_confirming_and_reports_each_cell(script):
    empty = script._fmt_confirm({"items_per_cell": 600, "n_random": 20, "cells": []})
    assert "nothing to confirm" in "\n".join(empty)
    row = {"vector": "probe/spatial_relationship", "task": "Distance", "selector": "text", "layer": 1,
           "strength": 0.25, "test_gain": 0.033, "unsteered": 0.803, "accuracy": 0.82, "gain": 0.017,
           "gain_low": -0.003, "gain_high": 0.037, "p_value": 0.132, "p_holm": 0.397,
           "random_q95_gain": 0.005, "confirmed": False}
    text = "\n".join(script._fmt_confirm({"items_per_cell": 600, "n_random": 20, "cells": [row]}))
    assert "| probe/spatial_relationship | Distance | text | L1 @ +0.25 | +3.3 | 0.803 -> 0.820 | +1.7 [-0.3, +3.7] | 0.132 | 0.397 | +0.5 | no |" in text


def test_confirm_phase_is_a_known_phase(script):
    assert "confirm" in script.build_parser().parse_args([]).phases.split(",")


def _fake_run(path: Path, align: float) -> Path:
    path.mkdir(parents=True)
    info = {"args": {"mllm": {"align_weight": align, "mllm_seed": 2}}, "mllm": {"steps": 2000, "history": []}}
    (path / "training.json").write_text(json.dumps(info))
    (path / "confirm.json").write_text(json.dumps({"items_per_cell": 600, "cells": []}))
    (path / "steering_table.csv").write_text("vector,layer,gain\nsae/attribute,0,0.02\n")
    return path


def test_record_folds_a_measured_run_into_training_json_and_never_overwrites_a_different_one(script, tmp_path):
    out = tmp_path / "shipped"
    out.mkdir()
    (out / "training.json").write_text(json.dumps({"mllm": {"steps": 1}}))
    run = _fake_run(tmp_path / "runB", 2.0)
    script.record_runs(script.build_parser().parse_args(["--out", str(out), "--record", f"{run}=recipe_b_seed2"]))
    info = json.loads((out / "training.json").read_text())
    assert info["mllm"] == {"steps": 1}  # the shipped model's own record is untouched
    rec = info["recipe_b_seed2"]
    assert rec["args"]["align_weight"] == 2.0 and rec["mllm"]["steps"] == 2000
    assert rec["steering_table"] == "vector,layer,gain\nsae/attribute,0,0.02\n"  # the CSV's text
    assert rec["confirm"]["items_per_cell"] == 600 and "metrics" not in rec
    # the same record again is a no-op; a different one under the same key is refused, file unchanged
    script.record_runs(script.build_parser().parse_args(["--out", str(out), "--record", f"{run}=recipe_b_seed2"]))
    before = (out / "training.json").read_bytes()
    other = _fake_run(tmp_path / "run1", 0.5)
    with pytest.raises(ValueError, match="already holds a different record 'recipe_b_seed2'"):
        script.record_runs(script.build_parser().parse_args(["--out", str(out), "--record", f"{other}=recipe_b_seed2"]))
    assert (out / "training.json").read_bytes() == before


@pytest.mark.parametrize(
    ("spec", "match"),
    [("no-equals-sign", "expected RUN_DIR=KEY"), ("{run}=mllm", "shipped model's own keys"),
     ("{empty}=recipe_x", "has no training.json")],
)
def test_record_refuses_bad_specs_by_name(script, tmp_path, spec, match):
    run = _fake_run(tmp_path / "run", 2.0)
    (tmp_path / "empty").mkdir()
    spec = spec.format(run=run, empty=tmp_path / "empty")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        script.record_runs(script.build_parser().parse_args(["--out", str(tmp_path / "out"), "--record", spec]))
