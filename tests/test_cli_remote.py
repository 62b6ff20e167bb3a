"""``--remote ndif|local`` on the commands that load a model, and ``DemoConfig.remote``: the
commands run the organism through nnsight's ``remote="local"`` dry run of NDIF and write what
the local run writes (predictions equal, probabilities within 1e-5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import interp
from interp.cli import app
from interp.cli._app import Remote, remote_value


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    torch.set_num_threads(1)
    return CliRunner()


@pytest.fixture(scope="module")
def vector_dir(tmp_path_factory) -> Path:
    backbone = interp.load_text_backbone(mllm="organism")
    v = interp.compute(backbone, "counting", "meanshift", source="organism", layers=[0, 1])
    return v.save(tmp_path_factory.mktemp("vec") / "counting")


def run(runner, *args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_remote_option_maps_to_the_loaders_remote_argument():
    assert remote_value(None) is False
    assert remote_value(Remote.ndif) is True
    assert remote_value(Remote.local) == "local"


def test_evaluate_remote_local_writes_what_the_local_run_writes(runner, vector_dir, tmp_path):
    args = ["evaluate", "--tasks", "Count", "--n-items", "3", "--vector", str(vector_dir), "--layer", "1",
            "--strength", "2", "--selector", "image"]
    run(runner, *args, "--out", str(tmp_path / "local.csv"))
    run(runner, *args, "--remote", "local", "--out", str(tmp_path / "remote.csv"))
    local, remote = pd.read_csv(tmp_path / "local.csv"), pd.read_csv(tmp_path / "remote.csv")
    assert remote["pred"].tolist() == local["pred"].tolist()
    assert remote["p_correct"].to_numpy() == pytest.approx(local["p_correct"].to_numpy(), abs=1e-5)


def test_sweep_remote_local_chooses_and_reports_as_the_local_sweep(runner, vector_dir, tmp_path):
    args = ["sweep", "--vector", str(vector_dir), "--tasks", "Count", "--layers", "0", "1", "--strengths", "-1", "1",
            "--n-train", "3", "--n-test", "3", "--n-random", "1", "--no-prompt-baseline"]
    run(runner, *args, "--out", str(tmp_path / "local"))
    run(runner, *args, "--remote", "local", "--out", str(tmp_path / "remote"))
    local, remote = pd.read_csv(tmp_path / "local" / "table.csv"), pd.read_csv(tmp_path / "remote" / "table.csv")
    cols = ["vector", "task", "selector", "layer", "strength", "n_test", "accuracy", "unsteered_accuracy", "gain"]
    assert len(local) and remote[cols].equals(local[cols])
    assert remote["alpha"].to_numpy() == pytest.approx(local["alpha"].to_numpy(), rel=1e-5)


def test_extract_remote_local_saves_the_local_vector(runner, tmp_path):
    base = ["extract", "--concept", "counting", "--layers", "0", "1"]
    run(runner, *base, "--out", str(tmp_path / "local"))
    run(runner, *base, "--remote", "local", "--out", str(tmp_path / "remote"))
    local = interp.SteeringVector.load(tmp_path / "local")
    remote = interp.SteeringVector.load(tmp_path / "remote")
    for layer in (0, 1):
        torch.testing.assert_close(remote.at(layer), local.at(layer), atol=1e-5, rtol=1e-5)


def test_an_unknown_remote_is_refused(runner, tmp_path):
    result = runner.invoke(app, ["evaluate", "--remote", "cloud", "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "cloud" in result.output and "ndif" in result.output and "local" in result.output


def test_demo_config_remote_reaches_the_loaders(monkeypatch, tmp_path):
    from interp.demo import DemoConfig, run_demo

    seen = {}

    def fake_load(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop after loading")

    monkeypatch.setattr(interp, "load_mllm", fake_load)
    with pytest.raises(RuntimeError, match="stop after loading"):
        run_demo(DemoConfig(out=str(tmp_path / "demo"), remote="local", progress=False))
    assert seen["remote"] == "local"
