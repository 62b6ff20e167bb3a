"""The ``interp`` command on the organism: every command, the user's own taxonomy, one-line errors."""

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
from interp.cli import app, parse_params
from interp.cli._app import _spread
from interp.cli._inputs import task_targets as _targets

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

    monkeypatch.setattr("interp.cli.extract._load_backbone", lambda *a: object())
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



# -- sweep, evaluate, analyze, figures, demo ------------------------------------------------------
@pytest.fixture(scope="module")
def mllm():
    torch.set_num_threads(1)
    return interp.load_mllm("organism")


@pytest.fixture(scope="module")
def vectors(tmp_path_factory, backbone) -> dict[str, Path]:
    """A counting vector and one for the user's own 'redness' taxonomy, saved as interp extract saves them."""
    root = tmp_path_factory.mktemp("vectors")
    corpus = root / "redness.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in OWN_TAXONOMY) + "\n")
    counting = interp.compute(backbone, "counting", "meanshift", source="organism")
    redness = interp.compute(backbone, corpus, "meanshift")
    return {"counting": counting.save(root / "counting"), "redness": redness.save(root / "redness")}


SWEEP_ARGS = ["--tasks", "Count", "Attribute", "--layers", "0", "1", "--strengths", "-1", "1",
              "--selectors", "image", "text", "--n-train", "4", "--n-test", "4", "--n-random", "2"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory, vectors):
    out = tmp_path_factory.mktemp("sweep") / "run"
    result = CliRunner().invoke(app, ["sweep", "--vector", str(vectors["counting"]), str(vectors["redness"]),
                                      *SWEEP_ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def _same_sweep_by_api(mllm, vectors, out):
    """The sweep the command ran, through the API, on the command's own results store."""
    from interp.evaluation import load_benchmark, sweep
    from interp.organism.prompting import HINTS as ORGANISM_HINTS
    from interp.prompts import MC_PREFIX, prompting_prefix

    vs = {"meanshift/counting": interp.SteeringVector.load(vectors["counting"]),
          "meanshift/redness": interp.SteeringVector.load(vectors["redness"])}
    train = load_benchmark("organism", split="train", tasks=["Count", "Attribute"], n_per_task=4, seed=0)
    test = load_benchmark("organism", split="test", tasks=["Count", "Attribute"], n_per_task=4, seed=0)
    hints = {"counting": ORGANISM_HINTS["counting"] + MC_PREFIX, "redness": prompting_prefix("redness")}
    return sweep(mllm, vs, [0, 1], [-1, 1], ["image", "text"], train, test, store=out / "results.sqlite",
                 targets={name: ["Count", "Attribute"] for name in vs}, n_random=2, prompt_baseline=hints,
                 progress=False)


def test_sweep_writes_the_tables_the_api_gives_from_the_same_store(swept, mllm, vectors, monkeypatch):
    import pandas as pd

    sweep_module = importlib.import_module("interp.evaluation.cells")
    out, output = swept
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "grid.csv", "results.sqlite", "table.csv", "table.md"]
    # Same items, cells and prompts: every row is in the command's store, so no forward pass runs.
    monkeypatch.setattr(sweep_module, "_run_batch", lambda *a, **k: pytest.fail("the API needed rows the command did not store"))
    res = _same_sweep_by_api(mllm, vectors, out)
    assert len(pd.read_csv(out / "table.csv")) == 2 * 2 * 2  # vectors x tasks x selectors
    assert (out / "table.csv").read_text() == res.table.to_csv(index=False)
    assert (out / "grid.csv").read_text() == res.grid.to_csv(index=False)
    assert (out / "table.md").read_text() == res.to_markdown() + "\n"
    config = json.loads((out / "config.json").read_text())
    assert config["layers"] == [0, 1] and config["n_train"] == 8 and config["benchmark"] == "organism"
    printed = flat(output)
    row = res.table.iloc[0]
    assert f"│ {row['vector']} │ {row['task']} │ {row['selector']} │ L{row['layer']} @ {row['strength']:+g} │" in printed
    assert f"{100 * row['gain']:+.1f} [{100 * row['gain_low']:+.1f}, {100 * row['gain_high']:+.1f}]" in printed


def test_sweep_rerun_reuses_every_result(swept, vectors, monkeypatch):
    sweep_module = importlib.import_module("interp.evaluation.cells")
    out, _ = swept
    before = (out / "table.csv").read_text()
    monkeypatch.setattr(sweep_module, "_run_batch", lambda *a, **k: pytest.fail("a rerun ran a forward pass"))
    result = CliRunner().invoke(app, ["sweep", "--vector", str(vectors["counting"]), str(vectors["redness"]),
                                      *SWEEP_ARGS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "table.csv").read_text() == before


def test_sweep_with_cells_stacked_gives_the_same_tables(swept, vectors, tmp_path):
    import pandas as pd

    out, _ = swept
    stacked = tmp_path / "stacked"
    result = CliRunner().invoke(app, ["sweep", "--vector", str(vectors["counting"]), str(vectors["redness"]),
                                      *SWEEP_ARGS, "--out", str(stacked), "--cells-per-forward", "4",
                                      "--max-batch-tokens", "100000"])
    assert result.exit_code == 0, result.output
    want, got = pd.read_csv(out / "grid.csv"), pd.read_csv(stacked / "grid.csv")
    assert list(got["n_correct"]) == list(want["n_correct"])
    assert list(pd.read_csv(stacked / "table.csv")["gain"]) == list(pd.read_csv(out / "table.csv")["gain"])
    too_small = CliRunner().invoke(app, ["sweep", "--vector", str(vectors["counting"]), *SWEEP_ARGS,
                                         "--out", str(tmp_path / "small"), "--cells-per-forward", "4",
                                         "--max-batch-tokens", "10"])
    assert too_small.exit_code != 0 and "max_batch_tokens" in flat(too_small.output)
    assert not (tmp_path / "small" / "table.csv").exists()


def test_sweep_replicates_on_fresh_scenes_and_shows_the_replicated_and_specificity_columns(vectors, tmp_path):
    import pandas as pd

    out = tmp_path / "rep"
    args = ["--tasks", "Count", "--layers", "0", "--strengths", "1", "--selectors", "image", "--n-train", "4",
            "--n-test", "4", "--n-random", "1", "--replicate", "5", "--specificity", "--no-prompt-baseline"]
    result = CliRunner().invoke(app, ["sweep", "--vector", str(vectors["counting"]), str(vectors["redness"]),
                                      *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "table.csv")
    assert (table["n_rep"] == 5).all() and {"rep_gain", "replicated", "beats_flipped", "specific"} <= set(table.columns)
    assert set(pd.read_csv(out / "specificity.csv")["control"]) == {"flipped", "meanshift/counting", "meanshift/redness"}
    assert len(pd.read_csv(out / "replication.csv")) == len(table)
    md = (out / "table.md").read_text()
    assert "replicated gain [95% CI] (n)" in md and "beats other concepts" in md
    printed = flat(result.output)
    assert "replicated" in printed and "specific" in printed and "(5)" in printed
    assert json.loads((out / "config.json").read_text())["n_replicate"] == 5


def test_sweep_replicate_needs_fresh_scenes_or_a_split(vectors, tmp_path):
    base = ["sweep", "--vector", str(vectors["counting"]), "--layers", "0", "--strengths", "1", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*base, "--benchmark", "cvbench", "--replicate", "5"])
    assert result.exit_code != 0 and "draws fresh items, which the fixed benchmark cvbench does not make" in flat(result.output)
    result = CliRunner().invoke(app, [*base, "--replicate", "5", "--replicate-split", "val"])
    assert result.exit_code != 0 and "not both" in flat(result.output)


def test_sweep_pairs_concepts_with_the_papers_tasks_unless_told():
    counting = interp.SteeringVector.from_tensors({0: torch.ones(128)}, method="meanshift", concept="counting")
    spatial = interp.SteeringVector.from_tensors({0: torch.ones(128)}, method="probe", concept="spatial_relationship")
    red = interp.SteeringVector.from_tensors({0: torch.ones(128)}, method="meanshift", concept="redness")
    assert _targets({"c": counting, "s": spatial}, "cvbench", None) == {
        "c": ["Count"], "s": ["Relation", "Depth", "Distance"]}
    assert _targets({"c": counting, "r": red}, "organism", ["Attribute"]) == {"c": ["Attribute"], "r": ["Attribute"]}
    with pytest.raises(ValueError, match=r"concept 'redness' has no default task on organism .*: pass --tasks"):
        _targets({"r": red}, "organism", None)


def test_figures_from_a_sweep_folder(swept, tmp_path):
    out, _ = swept
    figs = tmp_path / "figs"
    result = run(CliRunner(), "figures", str(out), "--out", str(figs), "--format", "html")
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in figs.glob("*.html"))
    assert written == sorted(["gains.html", "method_table.html", "accuracy_counting_Count.html",
                              "accuracy_counting_Attribute.html", "accuracy_redness_Count.html",
                              "accuracy_redness_Attribute.html"])
    assert all((figs / name).stat().st_size > 1000 for name in written)
    assert f"{len(written)} files written to {figs}" in flat(result.output)


def test_figures_without_a_browser_write_html_and_say_what_to_install(swept, tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))  # kaleido looks for Chromium there
    out, _ = swept
    result = run(CliRunner(), "figures", str(out), "--out", str(tmp_path / "f"), "--format", "html", "png")
    assert result.exit_code == 0, result.output
    assert "note: report_figures wrote HTML only" in flat(result.output) and "Chromium" in result.output
    assert {p.suffix for p in (tmp_path / "f").iterdir() if p.name != "plotly.min.js"} == {".html"}
    only_png = run(CliRunner(), "figures", str(out), "--out", str(tmp_path / "g"), "--format", "png")
    assert only_png.exit_code == 1
    assert f"error: no figure was written to {tmp_path / 'g'}: static export failed" in flat(only_png.output)


def test_evaluate_scores_as_the_api_does_steered_and_unsteered(runner, mllm, vectors, tmp_path):
    import pandas as pd

    from interp.evaluation import load_benchmark, score

    out = tmp_path / "eval.csv"
    result = run(runner, "evaluate", "--tasks", "Count", "Relation", "--n-items", "4", "--vector", str(vectors["counting"]),
                 "--layer", "1", "--strength", "6", "--selector", "image", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    items = load_benchmark("organism", split="test", tasks=["Count", "Relation"], n_per_task=4, seed=0)
    v = interp.SteeringVector.load(vectors["counting"])
    steered = score(mllm, items, interp.add(v, 1, 6.0, "image"))
    plain = score(mllm, items)
    got = table[table["condition"] == "steered"].reset_index(drop=True)
    assert list(got["item_id"]) == list(steered["item_id"])
    assert list(got["pred"]) == list(steered["pred"])
    assert got["p_correct"].to_numpy() == pytest.approx(steered["p_correct"].to_numpy(), abs=1e-6)
    assert list(table[table["condition"] == "unsteered"]["pred"]) == list(plain["pred"])
    printed = flat(result.output)
    from interp.stats import accuracy

    acc = accuracy(steered["correct"].to_numpy(dtype=float))
    assert f"│ all │ 8 │ {acc.value:.3f} [{acc.low:.3f}, {acc.high:.3f}] │" in printed
    assert "gain (points)" in printed and "p (McNemar)" in printed


def test_evaluate_writes_parquet_when_out_ends_in_parquet(runner, tmp_path):
    import pandas as pd

    csv, parquet = tmp_path / "eval.csv", tmp_path / "eval.parquet"
    for out in (csv, parquet):
        result = run(runner, "evaluate", "--tasks", "Count", "--n-items", "3", "--out", str(out))
        assert result.exit_code == 0, result.output
    a, b = pd.read_csv(csv), pd.read_parquet(parquet)
    assert list(a["item_id"]) == list(b["item_id"]) and list(a["pred"]) == list(b["pred"])
    assert parquet.read_bytes()[:4] == b"PAR1"


def test_evaluate_relative_strength_scales_by_the_residual_norm(runner, mllm, vectors, tmp_path):
    import pandas as pd

    from interp.evaluation import load_benchmark, residual_norms

    out = tmp_path / "eval.csv"
    result = run(runner, "evaluate", "--tasks", "Count", "--n-items", "3", "--vector", str(vectors["counting"]),
                 "--layer", "0", "--strength", "0.5", "--relative", "--selector", "text", "--no-baseline", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert set(table["condition"]) == {"steered"} and len(table) == 3
    items = list(load_benchmark("organism", split="test", tasks=["Count"], n_per_task=3, seed=0))
    norm = residual_norms(mllm, items, [0], ["text"])[0, "text"]
    v = interp.SteeringVector.load(vectors["counting"])
    assert table["alpha"].iloc[0] == pytest.approx(0.5 * norm / float(v.at(0).norm()), rel=1e-6)


#: Per analysis: extra options, the main table's columns (some of them) and the extra parts written.
ANALYSES = {
    "alignment": (["--vector", "counting", "--layers", "1"], {"vector", "layer", "kind", "mean_cos", "cos_of_mean"}, []),
    "variance-share": (["--vector", "counting", "--layers", "1"], {"vector", "layer", "kind", "share", "ratio"}, []),
    "modality-gap": (["--layers", "0", "3"], {"layer", "cosine", "distance", "cka"}, []),
    "isomorphic": (["--layers", "3"], {"run", "task", "accuracy"}, ["similarity", "items"]),
    "logit-lens": (["--layers", "3"], {"item", "position", "kind", "layer", "rank", "pred_token", "prob"}, []),
    "projection": (["--vector", "counting", "--layers", "0"], {"vector", "item", "kind", "layer", "projection"}, []),
    "patching": (["--layers", "0", "3"], {"pair", "layer", "group", "recovered"}, ["pairs"]),
    "ablation": (["--vector", "counting", "--layers", "0"], {"item", "layer", "tokens", "mode", "d_logit_diff"}, []),
    "attribution": (["--layers", "0"], {"item", "layer", "position", "kind", "attribution"}, []),
    "attribution-patching": (["--layers", "0"], {"item", "corrupt", "layer", "kind", "attribution"}, []),
    "sae-attribution": (["--layers", "0"], {"layer"}, ["layers"]),
    "cast": (["--vector", "counting", "--layers", "1"], {"layer", "threshold", "comparator", "f1"}, ["scores"]),
    "lora": (["--vector", "counting"], {"vector", "module", "side", "cosine", "random_abs_q95"}, ["pairs"]),
}


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, mllm, vectors):
    """The counting vector written as a rank-1 LoRA on layer 1's down_proj (its write is the vector)."""
    from interp.analysis.lora_rank_one import conditional_adapter

    v = interp.SteeringVector.load(vectors["counting"])
    condition = torch.randn(mllm.module.model.language_model.layers[1].mlp.down_proj.in_features)
    ad = conditional_adapter(mllm, "model.language_model.layers.1.mlp.down_proj", v.at(1), condition, 2.0)
    return ad.save(tmp_path_factory.mktemp("adapter") / "adapter")


@pytest.mark.parametrize("kind", list(ANALYSES))
def test_analyze_writes_each_analysis_table(runner, mllm, vectors, adapter, tmp_path, kind):
    import pandas as pd

    extra, columns, parts = ANALYSES[kind]
    extra = [str(vectors[x]) if x in vectors else x for x in extra]
    if kind == "lora":
        extra += ["--adapter", str(adapter)]
    out = tmp_path / f"{kind}.csv"
    result = run(runner, "analyze", kind, "--tasks", *(["Attribute"] if "patching" in kind else ["Count"]),
                 "--n-items", "2", *extra, "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) > 0 and columns <= set(table.columns), sorted(table.columns)
    for part in parts:
        assert len(pd.read_csv(tmp_path / f"{kind}_{part}.csv")) > 0
    assert f"{kind}: summary" in result.output and f"wrote {out} ({len(table)} rows)" in flat(result.output)
    if kind == "lora":  # the adapter's one write is the counting vector at layer 1, exactly
        assert table["abs_cosine"].tolist() == pytest.approx([1.0], abs=1e-5)


def test_analyze_tables_equal_the_api(runner, mllm, vectors, tmp_path):
    import pandas as pd

    from interp.analysis import modality_gap, variance_share
    from interp.evaluation import load_benchmark

    items = list(load_benchmark("organism", split="test", tasks=["Count", "Depth"], n_per_task=2, seed=0))
    out = tmp_path / "gap.csv"
    assert run(runner, "analyze", "modality-gap", "--tasks", "Count", "Depth", "--n-items", "2", "--out", str(out)).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(out), modality_gap(mllm, items), check_dtype=False)
    out = tmp_path / "share.csv"
    result = run(runner, "analyze", "variance-share", "--vector", str(vectors["counting"]), "--tasks", "Count", "Depth",
                 "--n-items", "2", "--layers", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    v = interp.SteeringVector.load(vectors["counting"])
    expected = variance_share(mllm, v, items, layers=[2], kinds=("image", "text")).assign(vector="meanshift/counting")
    pd.testing.assert_frame_equal(pd.read_csv(out), expected, check_dtype=False)


def test_demo_runs_the_pipeline_with_the_options_given(runner, tmp_path):
    import pandas as pd

    out = tmp_path / "demo"
    args = ["demo", "--model", "organism", "--methods", "meanshift", "--concepts", "counting", "--layers", "0", "1",
            "--strengths", "-1", "1", "--n-replicate", "0",
            "--selectors", "image", "--n-train", "4", "--n-test", "4", "--n-random", "1", "--no-analyses",
            "--no-figures", "--out", str(out), "--device-map", "cpu", "--dtype", "float32", "--no-library"]
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    assert f"summary: {out / 'summary.md'}" in flat(result.output)
    assert [p.name for p in (out / "vectors").iterdir()] == ["meanshift__counting"]  # --no-library: no other concept
    table = pd.read_csv(out / "tables" / "table.csv")
    assert list(table["vector"]) == ["meanshift/counting"] and list(table["n_test"]) == [4]
    config = json.loads((out / "config.json").read_text())
    assert config["strengths"] == [-1.0, 1.0] and config["layers"] == [0, 1] and config["n_random"] == 1
    assert config["device_map"] == "cpu" and config["dtype"] == "float32"
    assert "Verdict organism: " in flat(result.output) and "of 1 chosen cells gain on test" in flat(result.output)
    # a short log: where the tables are, not the tables (they are hundreds of characters wide)
    assert f"tables: {out / 'tables'}" in flat(result.output) and "│" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 200


def test_demo_log_names_each_models_own_figure_folder_and_wraps_the_verdicts(tmp_path):
    import pandas as pd

    from interp.cli.demo import LOG_WIDTH, report_lines
    from interp.demo import DemoReport

    parts = []
    for model in ("organism-llava", "organism"):
        out = tmp_path / "demo" / model
        (out / "tables").mkdir(parents=True)
        (out / "tables" / "table.csv").write_text("x\n1\n")
        (out / "tables" / "replication.csv").write_text("x\n1\n")
        figs = [out / "figures" / f"gains.{ext}" for ext in ("html", "png")]
        parts.append(DemoReport(out=out, table=pd.DataFrame({"x": range(60)}), grid=None, summary=out / "summary.md",
                                figures=figs, verdicts=(f"{model}: " + "a long verdict, " * 50,)))
    report = DemoReport(out=tmp_path / "demo", table=None, grid=None, summary=tmp_path / "demo" / "summary.md",
                        figures=[f for p in parts for f in p.figures], verdicts=tuple(v for p in parts for v in p.verdicts),
                        parts=tuple(parts))
    lines = report_lines(report)
    assert f"  figures: {tmp_path / 'demo' / 'organism-llava' / 'figures'} (2 files)" in lines
    assert f"  figures: {tmp_path / 'demo' / 'organism' / 'figures'} (2 files)" in lines
    assert not any(line.startswith("  figures: ") and line.split()[1] == str(tmp_path / "demo" / "figures") for line in lines)
    assert f"  tables: {tmp_path / 'demo' / 'organism' / 'tables'} (2 CSV files; table.csv: the 60 chosen cells)" in lines
    verdict = lines[lines.index("Verdict") + 1:]
    assert verdict[0].startswith("organism-llava: ") and max(len(line) for line in verdict) <= LOG_WIDTH
    assert " ".join(" ".join(verdict).split()) == " ".join(" ".join(report.verdicts).split())


def test_demo_replicates_takes_a_hint_and_tells_its_stages_off_a_terminal(runner, tmp_path, capfd):
    import pandas as pd

    out = tmp_path / "demo"
    args = ["demo", "--model", "organism", "--methods", "meanshift", "--concepts", "counting", "--layers", "0", "--strengths", "1",
            "--selectors", "image", "--n-train", "4", "--n-test", "4", "--n-random", "1", "--n-replicate", "4",
            "--hint", "count them .", "--no-analyses", "--no-figures", "--out", str(out)]
    result = run(runner, *args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "tables" / "table.csv")
    if (table["gain"] > 0).any():  # the chosen cell gained on test: it is replicated with its controls
        rep = pd.read_csv(out / "tables" / "replication.csv")
        assert list(rep["n_rep"]) == [4]
        assert (out / "tables" / "specificity.csv").is_file() and (out / "tables" / "transfer.csv").is_file()
    else:  # it did not: nothing is replicated, and the verdict says so
        assert table["rep_gain"].isna().all() and not (out / "tables" / "replication.csv").exists()
        assert "no chosen cell gained on test" in flat(result.output)
    config = json.loads((out / "config.json").read_text())
    assert config["n_replicate"] == 4 and config["hint"] == "count them ."
    said = result.output + capfd.readouterr().err
    assert "demo sweeping" in said and "replicating the 2 best on 4 fresh scenes per task" in said
    assert "demo estimated time for this model: about" in said and "this rerun reuses" not in said
    again = run(runner, *args)  # the same run again: every result is in the store, and the estimate says so
    assert again.exit_code == 0, again.output
    assert "this rerun reuses the results already in" in flat(again.output + capfd.readouterr().err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "--vector", "missing", "--layers", "0", "--strengths", "1", "--out", "o"],
         "no saved steering vector at missing"),
        (["sweep", "--vector", "{counting}", "--tasks", "Counting", "--layers", "0", "--strengths", "1", "--out", "o"],
         "unknown tasks ['Counting'] for organism"),
        (["sweep", "--vector", "{redness}", "--layers", "0", "--strengths", "1", "--out", "o"],
         "vector 'meanshift/redness': concept 'redness' has no default task on organism"),
        (["sweep", "--vector", "{counting}", "--benchmark", "mmlu", "--layers", "0", "--strengths", "1", "--out", "o"],
         "unknown benchmark 'mmlu'"),
        (["sweep", "--vector", "{counting}", "--layers", "0", "--strengths", "1", "--n-test", "0", "--out", "o"],
         "--n-test must be a positive number of items, got 0"),
        (["sweep", "--vector", "{counting}", "--tasks", "Count", "--layers", "7", "--strengths", "1", "--n-train", "2",
          "--n-test", "2", "--out", "o"], "layer 7 is out of range: organism has 4 decoder layers (0..3)"),
        (["evaluate", "--vector", "{counting}", "--out", "e.csv"], "steering needs --vector, --layer and --strength together"),
        (["evaluate", "--vector", "{counting}", "--layer", "9", "--strength", "1", "--out", "e.csv"],
         "{counting} has no direction at layer 9 (it has [0, 1, 2, 3])"),
        (["evaluate", "--out", "e.txt"], "--out e.txt must end in .csv"),
        (["evaluate", "--split", "dev", "--out", "e.csv"], "unknown split 'dev'"),
        (["evaluate", "--relative", "--out", "e.csv"], "--relative needs --vector, --layer and --strength"),
        (["analyze", "alignment", "--out", "a.csv"], "alignment needs --vector DIR"),
        (["analyze", "isomorphic", "--benchmark", "cvbench", "--out", "a.csv"], "isomorphic needs a generated world's scenes, which cvbench does not have: use --benchmark organism"),
        (["analyze", "modality-gap", "--vector", "{counting}", "--out", "a.csv"], "modality-gap takes no --vector"),
        (["analyze", "lora", "--vector", "{counting}", "--out", "a.csv"], "lora needs --adapter DIR"),
        (["analyze", "patching", "--tasks", "Count", "--out", "a.csv"], "patching patches organism's counterfactual pairs (task Attribute), not ['Count']"),
        (["analyze", "cast", "--vector", "{counting}", "{redness}", "--out", "a.csv"], "cast searches one condition vector"),
        (["analyze", "logit-lens", "--n-items", "0", "--out", "a.csv"], "--n-items must be a positive number of items"),
        (["figures", ".", "--out", "f"], ". holds no grid.csv or table.csv"),
        (["figures", "missing", "--out", "f"], "missing is not a directory"),
        (["demo", "--methods", "nope"], "unknown vector method 'nope'"),
        (["demo", "--benchmark", "mmlu"], "unknown benchmark 'mmlu': the demo knows"),
        (["demo", "--concepts", "negation"], "concepts ['negation'] have no task in organism"),
    ],
)
def test_bad_arguments_of_every_command_exit_2_with_one_red_line(runner, vectors, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    args = [str(vectors[a[1:-1]]) if a.startswith("{") else a for a in args]
    message = message.replace("{counting}", str(vectors["counting"]))
    result = run(runner, *args)
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in flat(result.output)
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["analyze", "nope", "--out", "a.csv"], "kind"),
        (["figures", ".", "--out", "f", "--format", "gif"], "--format"),
        (["sweep", "--vector", "v", "--layers", "0", "--strengths", "x", "--out", "o"], "--strengths"),
        (["evaluate", "--selector", "pixels", "--out", "e.csv"], "--selector"),
    ],
)
def test_unparsable_values_are_usage_errors(runner, args, option):
    result = run(runner, *args)
    assert result.exit_code == 2
    assert option in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("command", "example"),
    [
        ("sweep", "interp sweep --model organism --vector vectors/counting --benchmark organism --tasks Count"),
        ("evaluate", "interp evaluate --vector vectors/counting --layer 1 --strength 4 --selector image"),
        ("analyze", "interp analyze patching --layers 0 1 2 3 --n-items 8 --out runs/patching.csv"),
        ("figures", "interp figures runs/counting --out runs/counting/figures"),
        ("demo", "interp demo --model google/paligemma2-3b-mix-448 --benchmark cvbench"),
    ],
)
def test_every_command_help_shows_an_example(runner, command, example):
    result = run(runner, command, "--help")
    assert result.exit_code == 0
    assert example in flat(result.output)
    assert command in flat(run(runner, "--help").output)


def test_figures_is_a_lazy_subpackage():
    code = (
        "import sys, interp\n"
        "assert 'interp.figures' not in sys.modules and 'plotly' not in sys.modules\n"
        "assert interp.figures.__name__ == 'interp.figures' and 'figures' in dir(interp)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# -- nothing a user saved is replaced without --overwrite ----------------------------------------
def test_evaluate_and_analyze_refuse_an_existing_csv_without_overwrite(runner, tmp_path):
    """Once silently overwritten; refused before the model loads."""
    for args in (["evaluate", "--n-items", "2"], ["analyze", "logit-lens", "--n-items", "1"]):
        out = tmp_path / f"{args[0]}.csv"
        out.write_text("mine\n")
        result = run(runner, *args, "--out", str(out))
        assert result.exit_code == 2, result.output
        assert f"error: --out {out} already exists: pass --overwrite to replace it" in flat(result.output)
        assert out.read_text() == "mine\n"
        replaced = run(runner, *args, "--out", str(out), "--overwrite")
        assert replaced.exit_code == 0, replaced.output
        assert out.read_text() != "mine\n"


def test_a_sweep_with_another_grid_into_the_same_out_is_refused(swept, vectors, tmp_path, monkeypatch):
    """Once the store kept both runs but table.csv and grid.csv silently held only the second's."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(swept[0], out)
    before = {name: (out / name).read_text() for name in ("grid.csv", "table.csv", "table.md", "config.json")}
    other = [a if a != "-1" else "-2" for a in SWEEP_ARGS]
    monkeypatch.setattr("interp.cli._inputs.load_with_status", lambda *a, **k: pytest.fail("loaded the model before refusing"))
    result = run(CliRunner(), "sweep", "--vector", str(vectors["counting"]), str(vectors["redness"]), *other, "--out", str(out))
    assert result.exit_code == 2, result.output
    assert (f"error: --out {out} already holds the tables of a sweep with other settings (strengths [-1.0, 1.0], "
            "now [-2.0, 1.0])") in flat(result.output)
    assert "pass --overwrite to replace them (results.sqlite keeps both runs' rows)" in flat(result.output)
    assert {name: (out / name).read_text() for name in before} == before


def test_figures_refuse_to_replace_figures_without_overwrite(swept, tmp_path):
    out, _ = swept
    figs = tmp_path / "figs"
    assert run(CliRunner(), "figures", str(out), "--out", str(figs), "--format", "html").exit_code == 0
    (figs / "gains.html").write_text("mine")
    again = run(CliRunner(), "figures", str(out), "--out", str(figs), "--format", "html")
    assert again.exit_code == 2, again.output
    assert f"error: --out {figs} already holds " in flat(again.output) and "gains.html" in again.output
    assert (figs / "gains.html").read_text() == "mine"
    assert not [p for p in figs.iterdir() if p.name.startswith(".")]
    replaced = run(CliRunner(), "figures", str(out), "--out", str(figs), "--format", "html", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert (figs / "gains.html").read_text() != "mine"


# -- figures refuse tables that are not whole ----------------------------------------------------
def _broken_results(swept, tmp_path, name, edit):
    import shutil

    results = tmp_path / name
    shutil.copytree(swept[0], results)
    edit(results / "table.csv")
    return results


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("cut", lambda p: p.write_bytes(p.read_bytes().rstrip(b"\n").rsplit(b",", 2)[0]),  # its last two fields gone
         r"table\.csv: line \d+ has \d+ fields but the header has \d+: the file ends inside its last row"),
        ("cut_in_last_field", lambda p: p.write_bytes(p.read_bytes().rstrip(b"\n")), r"table\.csv ends inside its last row \(no final newline"),
        ("binary", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 10), r"table\.csv is not a UTF-8 CSV table \(byte 0x89 at offset 0\)"),
        ("header_only", lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), r"table\.csv holds a header but no rows: nothing to draw"),
        ("columns", lambda p: p.write_text("a,b\n1,2\n"), r"table\.csv lacks the columns \['vector'"),
    ],
)
def test_figures_refuse_a_table_that_is_not_whole_naming_it(swept, tmp_path, name, edit, message):
    """Once a half row was drawn (exit 0), a binary file gave a bare codec error, a header-only one blamed the browser."""
    import re

    results = _broken_results(swept, tmp_path, name, edit)
    result = run(CliRunner(), "figures", str(results), "--out", str(tmp_path / f"figs_{name}"), "--format", "html")
    assert result.exit_code == 2, result.output
    assert f"error: {results / 'table.csv'}" in flat(result.output)
    assert re.search(message, flat(result.output)), result.output
    assert not (tmp_path / f"figs_{name}").exists()


def test_extract_says_an_unknown_model_does_not_exist_and_a_folder_is_no_concept(runner, tmp_path):
    """Once 'no known text backbone' for a model that does not exist, and 'file not found' for a folder."""
    missing = run(runner, "extract", "--model", str(tmp_path / "nowhere"), "--concept", "counting", "--out", str(tmp_path / "v"))
    assert missing.exit_code == 2, missing.output
    assert f"error: cannot load a config from '{tmp_path / 'nowhere'}': the directory does not exist" in flat(missing.output)
    folder = run(runner, "extract", "--concept", str(tmp_path), "--out", str(tmp_path / "v"))
    assert folder.exit_code == 2, folder.output
    assert f"error: --concept {tmp_path} is a directory: expected a taxonomy name" in flat(folder.output)


def test_the_sweep_table_prints_power_prior_replication_and_transfer_columns(monkeypatch):
    """What the CLI prints per row: the test's detectable gain, the answer-prior shift, the
    replication with its own detectable gain, and the cost on the other tasks; '-' where a row was
    not replicated and 'too few items' where no gain is detectable."""
    import pandas as pd
    from rich.console import Console

    from interp.cli import render

    row = {"vector": "diffmean/counting", "task": "Count", "selector": "text", "layer": 1, "strength": 1.0,
           "n_test": 200, "unsteered_accuracy": 0.5, "accuracy": 0.55, "gain": 0.05, "gain_low": 0.01,
           "gain_high": 0.09, "p_value": 0.01, "p_holm": 0.02, "mde": 0.0412, "prior_gain": 0.02,
           "beats_prior": True, "rep_gain": 0.03, "rep_gain_low": 0.01, "rep_gain_high": 0.05, "n_rep": 1200,
           "rep_p_holm": 0.004, "rep_mde": 0.021, "replicated": True, "transfer_gain": -0.016,
           "transfer_gain_low": -0.021, "transfer_gain_high": -0.012}
    other = {**row, "task": "Depth", "mde": float("inf"), "rep_gain": float("nan"), "transfer_gain": float("nan")}
    console = Console(record=True, width=400, force_terminal=True)
    monkeypatch.setattr(render, "console", console)
    render.show_result_table(pd.DataFrame([row, other]))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "vector" in line)
    for name in ("mde", "prior shift", "beats prior", "rep mde", "transfer cost [95% CI]"):
        assert name in header
    count = next(line for line in text.splitlines() if "Count" in line)
    assert "4.1" in count and "+2.0" in count and "2.1" in count and "-1.6 [-2.1, -1.2]" in count
    depth = next(line for line in text.splitlines() if "Depth" in line)
    assert "too few items" in depth
