"""The training script runs end to end on a few steps, writing only where it is told to."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from interp.organism import DATA_DIR

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_organism.py"


@pytest.fixture()
def script(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("train_organism_under_test", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "LOG_DIR", tmp_path / "runs")
    return mod


def test_text_sae_mllm_on_a_few_steps_leave_the_shipped_organism_alone(script, tmp_path, capsys):
    kept = [
        DATA_DIR / "training.json",
        DATA_DIR / "metrics.json",
        DATA_DIR / "sae" / "layer_0" / "sae_weights.safetensors",
    ]
    shipped = {p: p.read_bytes() for p in kept}
    shipped_weights = (DATA_DIR / "mllm" / "model.safetensors").stat().st_mtime_ns
    out = tmp_path / "run"
    argv = ["--phases", "text,sae,mllm", "--threads", "1", "--batch", "4", "--val-per-task", "2"]
    argv += [
        "--sae-steps",
        "2",
        "--sae-docs",
        "4",
        "--sae-batch",
        "16",
        "--sae-out",
        str(out / "sae"),
    ]
    argv += ["--text-steps", "2", "--mllm-steps", "2", "--eval-every", "1", "--mllm-text-qa", "2"]
    argv += ["--text-out", str(out / "text"), "--mllm-out", str(out / "mllm")]
    assert script.main(argv) == 0
    assert (out / "text" / "model.safetensors").exists()
    assert (out / "mllm" / "model.safetensors").exists()
    assert sorted(p.name for p in (out / "sae").iterdir()) == [f"layer_{i}" for i in range(4)]
    # headroom selection keeps every evaluated checkpoint beside the output
    assert sorted(p.name for p in (out / "mllm_checkpoints").iterdir()) == ["step1", "step2"]
    info = json.loads((out / "training.json").read_text())
    assert info["text"]["steps"] == 2 and info["mllm"]["steps"] == 2 and "sae" in info
    rows = [json.loads(x) for x in (tmp_path / "runs" / "log.jsonl").read_text().splitlines()]
    select = [r for r in rows if r.get("select") == "headroom"]
    assert len(select) == 1 and set(select[0]["text_val"]) >= {"Count", "all"}
    # two steps from random weights meet no floor: the rule finds nothing and says so
    assert select[0]["chosen"] is None
    printed = capsys.readouterr()
    assert "no checkpoint meets the headroom rule" in printed.out + printed.err
    # each phase reports through interp.progress: its bar's lines and its validation notes
    for line in ("text backbone: 2/2 done in", "text step 2: lm", "sae layer 3: {", "mllm: 2/2 done in", "mllm step 2: ans"):
        assert line in printed.err, line
    for p, data in shipped.items():
        assert p.read_bytes() == data, p
    assert (DATA_DIR / "mllm" / "model.safetensors").stat().st_mtime_ns == shipped_weights


def test_rebuild_command_lists_only_changed_options(script):
    args = script.build_parser().parse_args(["--threads", "1", "--mllm-select", "best"])
    assert script.rebuild_command(args).endswith("train_organism.py --mllm-select best --threads 1")


def test_unknown_phase_is_refused(script):
    with pytest.raises(ValueError, match=r"unknown phases \['train'\]"):
        script.main(["--phases", "text,train"])
