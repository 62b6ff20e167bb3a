"""The ``interp`` command: extract on the organism, the user's own taxonomy, one-line errors."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import interp
from interp.cli import _spread, app, parse_params

ROOT = Path(__file__).resolve().parents[1]

# A concept the package does not ship, in the organism's words: the colour red.
OWN_TAXONOMY = [
    {"sentence": "the red circle is left of the blue square .", "anchor": "red"},
    {"sentence": "there is a red triangle in the image .", "anchor": "red"},
    {"sentence": "the square is red .", "anchor": "red"},
    {"sentence": "i count two red objects in the scene .", "anchor": "red"},
    {"sentence": "the color of the circle is red .", "anchor": "red"},
    {"sentence": "a small red square is above the green circle .", "anchor": "red"},
]


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def backbone():
    torch.set_num_threads(1)
    return interp.load_text_backbone(mllm="organism")


def run(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args))


def flat(text: str) -> str:
    """Help and errors wrap at the terminal width: compare with whitespace collapsed."""
    return " ".join(text.split())


def test_extract_saves_the_vector_compute_returns(runner, backbone, tmp_path):
    out = tmp_path / "counting"
    result = run(runner, "extract", "--model", "organism", "--concept", "counting", "--method", "meanshift",
                 "--layers", "0", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    saved = interp.SteeringVector.load(out)
    expected = interp.compute(backbone, "counting", "meanshift", source="organism", layers=[0, 1])
    assert saved.layers == (0, 1)
    assert saved.equals(expected)
    norms = flat(result.output)
    assert "meanshift vector for counting" in norms
    for layer in (0, 1):
        assert f"│ {layer} │ {saved.norms()[layer]:.4g} │" in norms


def test_extract_method_params_reach_the_method(runner, backbone, tmp_path):
    out = tmp_path / "probe"
    result = run(runner, "extract", "--concept", "counting", "--method", "probe", "-l", "2",
                 "--param", "n_components=4", "-p", "seed=1", "--out", str(out))
    assert result.exit_code == 0, result.output
    saved = interp.SteeringVector.load(out)
    assert saved.meta.params["n_components"] == 4 and saved.meta.params["seed"] == 1
    expected = interp.compute(backbone, "counting", "probe", source="organism", layers=[2], n_components=4, seed=1)
    assert saved.equals(expected)
    balanced = saved.meta.extra["held_out_balanced_accuracy"]["2"]
    assert "│ 2 │ 1 │" in flat(result.output) and f"│ {balanced:.3f} │" in flat(result.output)


def test_extract_reads_the_users_own_jsonl_taxonomy(runner, backbone, tmp_path):
    corpus = tmp_path / "redness.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in OWN_TAXONOMY) + "\n")
    out = tmp_path / "red"
    result = run(runner, "extract", "--concept", str(corpus), "--layers", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    saved = interp.SteeringVector.load(out)
    assert saved.meta.concept == "redness"
    assert saved.meta.corpus_size == len(OWN_TAXONOMY)
    assert saved.equals(interp.compute(backbone, corpus, "meanshift", layers=[1]))


def test_extract_overwrite_replaces_an_existing_vector(runner, tmp_path):
    out = tmp_path / "v"
    assert run(runner, "extract", "--concept", "counting", "-l", "0", "--out", str(out)).exit_code == 0
    result = run(runner, "extract", "--concept", "negation", "-l", "0", "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert interp.SteeringVector.load(out).meta.concept == "negation"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "nope"], "unknown vector method 'nope': registered methods are"),
        (["--layers", "0", "7"], "layer 7 is out of range: organism-text has 4 decoder layers (0..3)"),
        (["--param", "colour=red"], "vector method 'meanshift' has no parameter 'colour': its parameters are ['normalize']"),
        (["--method", "probe", "-p", "n_components=abc"], "n_components must be an int, got 'abc' (str)"),
        (["--param", "n_components"], "--param expects key=value with a parameter name as key, got 'n_components'"),
        (["--param", "normalize=true", "--param", "normalize=false"], "--param normalize is given twice"),
        (["--concept", "no_such_taxonomy"], "unknown concept corpus 'no_such_taxonomy' in source 'organism'"),
        (["--concept", "missing/taxonomy.jsonl"], "concept corpus file not found: missing/taxonomy.jsonl"),
    ],
)
def test_bad_arguments_exit_2_with_one_red_line(runner, tmp_path, args, message):
    base = {"--concept": "counting", "--out": str(tmp_path / "v")}
    for flag, value in base.items():
        if flag not in args:
            args = [*args, flag, value]
    result = run(runner, "extract", *args)
    assert result.exit_code == 2
    assert f"error: {message}" in flat(result.output)
    assert "Traceback" not in result.output
    assert not (tmp_path / "v").exists()


def test_existing_output_is_refused_without_overwrite(runner, tmp_path):
    out = tmp_path / "v"
    interp.SteeringVector.from_tensors({0: torch.ones(128)}, method="meanshift", concept="kept").save(out)
    result = run(runner, "extract", "--concept", "counting", "--out", str(out))
    assert result.exit_code == 2
    assert f"error: {out} already holds a saved vector: pass --overwrite to replace it" in flat(result.output)
    assert "Traceback" not in result.output
    assert interp.SteeringVector.load(out).meta.concept == "kept"


def test_out_that_is_a_file_is_refused(runner, tmp_path):
    out = tmp_path / "file.txt"
    out.write_text("not a directory")
    result = run(runner, "extract", "--concept", "counting", "--out", str(out))
    assert result.exit_code == 2
    assert f"error: --out {out} is a file" in flat(result.output)


def test_unparsable_layer_is_a_usage_error_not_a_traceback(runner, tmp_path):
    result = run(runner, "extract", "--concept", "counting", "--layers", "x", "--out", str(tmp_path / "v"))
    assert result.exit_code == 2
    assert "--layers" in result.output and "Traceback" not in result.output


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(runner, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("interp.cli._load_backbone", lambda *a: object())
    monkeypatch.setattr(interp, "compute", broken)
    out = str(tmp_path / "v")
    result = run(runner, "extract", "--concept", "counting", "--out", out)
    assert result.exit_code == 1
    assert "error: unexpected RuntimeError: boom (run `interp --debug ...` for the traceback)" in flat(result.output)
    debug = run(runner, "--debug", "extract", "--concept", "counting", "--out", out)
    assert isinstance(debug.exception, RuntimeError) and str(debug.exception) == "boom"


def test_debug_reraises_user_errors(runner, tmp_path):
    result = run(runner, "--debug", "extract", "--concept", "counting", "--method", "nope", "--out", str(tmp_path / "v"))
    assert isinstance(result.exception, ValueError)
    assert "unknown vector method 'nope'" in str(result.exception)


def test_version_and_help_show_an_example(runner):
    assert flat(run(runner, "--version").output) == f"interp {interp.__version__}"
    top = flat(run(runner, "--help").output)
    assert "extract" in top
    assert "interp extract --model organism --concept counting --layers 0 1 --out vectors/counting" in top
    sub = flat(run(runner, "extract", "--help").output)
    assert "Examples:" in sub
    assert "interp extract --model organism --concept my_concept.jsonl --method probe" in sub


def test_multi_value_options_spread_values_until_the_next_option():
    assert _spread(["--layers", "0", "1", "2", "--out", "d"], ["--layers"]) == [
        "--layers", "0", "--layers", "1", "--layers", "2", "--out", "d",
    ]
    assert _spread(["-l", "3", "-1", "--x"], ["-l"]) == ["-l", "3", "-l", "-1", "--x"]
    assert _spread(["--layers", "0", "--", "1"], ["--layers"]) == ["--layers", "0", "--", "1"]
    assert _spread(["--other", "0", "1"], ["--layers"]) == ["--other", "0", "1"]


def test_parse_params_reads_json_booleans_and_strings():
    assert parse_params(["k=5", "x=0.5", "flag=True", "none=None", "ids=[1, 2]", "name=organism", "q=\"7\""]) == {
        "k": 5, "x": 0.5, "flag": True, "none": None, "ids": [1, 2], "name": "organism", "q": "7",
    }
    with pytest.raises(ValueError, match="--param expects key=value with a parameter name as key, got '=3'"):
        parse_params(["=3"])


def test_console_script_entry_point_is_the_app():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["interp"]
    module, _, attr = declared.partition(":")
    assert getattr(importlib.import_module(module), attr) is app
    try:
        installed = metadata.entry_points(group="console_scripts", name="interp")
    except metadata.PackageNotFoundError:  # pragma: no cover - depends on the install
        installed = ()
    if not installed:
        pytest.skip("interp is not pip-installed here, so there is no console script to check")
    (entry,) = installed
    assert entry.value == declared
    assert entry.load() is app
    script = Path(sys.executable).parent / "interp"
    if script.exists():
        done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"interp {interp.__version__}"
