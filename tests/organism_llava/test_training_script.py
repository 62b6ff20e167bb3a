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
