"""The demo runs the whole pipeline on the organism, writes its report, and a rerun reuses it."""

import importlib

import pandas as pd
import pytest

from interp.demo import DemoConfig, run_demo


def _small(out, **kw):
    return DemoConfig(
        out=str(out), methods=("meanshift", "diffmean"), concepts=["counting"], layers=[0, 1],
        strengths=(-1.0, 1.0), selectors=("image", "both"), n_train=8, n_test=12, n_random=3,
        figures=False, progress=False, **kw,
    )


def test_demo_writes_the_report_and_a_rerun_reuses_it(tmp_path, monkeypatch):
    report = run_demo(_small(tmp_path / "demo"))
    out = report.out
    assert (out / "results.sqlite").is_file()
    for name in ("grid.csv", "table.csv", "variance_share.csv", "modality_gap.csv", "isomorphic_accuracy.csv"):
        assert (out / "tables" / name).is_file(), name
    assert sorted(p.name for p in (out / "vectors").iterdir()) == ["diffmean__counting", "meanshift__counting"]
    table = pd.read_csv(out / "tables" / "table.csv")
    assert set(table["vector"]) == {"meanshift/counting", "diffmean/counting"}
    assert set(table["selector"]) == {"image", "both"}
    assert (table["n_test"] == 12).all()
    text = report.summary.read_text()
    assert "gain [95% CI]" in text and "McNemar" in text and "random" in text
    native = pd.read_csv(out / "tables" / "native.csv")  # the native comparator (interp.compare_native)
    assert "## Native comparator" in text and set(native["layer"]) == {0, 1} and native["cosine"].between(-1, 1).all()

    sw = importlib.import_module("interp.evaluation.cells")  # where the sweep runs its batches
    import interp.vectors as vectors

    monkeypatch.setattr(sw, "_run_batch", lambda *a, **k: pytest.fail("a rerun ran a forward pass"))
    monkeypatch.setattr(vectors, "compute", lambda *a, **k: pytest.fail("a rerun recomputed a vector"))
    again = run_demo(_small(tmp_path / "demo", analyses=False))
    pd.testing.assert_frame_equal(again.table, report.table)


def test_demo_refuses_unknown_options_and_benchmarks(tmp_path):
    with pytest.raises(ValueError, match="unknown demo option 'n_items'"):
        run_demo(out=str(tmp_path), n_items=3)
    with pytest.raises(ValueError, match="unknown benchmark 'mmlu'"):
        run_demo(out=str(tmp_path), benchmark="mmlu")
    with pytest.raises(ValueError, match=r"concepts \['negation'\] have no task in organism"):
        run_demo(out=str(tmp_path), concepts=["negation"])


def test_demo_runs_on_the_llava_organism_with_its_own_backbone_and_saes(tmp_path):
    from interp.organism import llava

    if not (llava.DATA_DIR / "mllm" / "model.safetensors").exists():
        pytest.skip("the LLaVA organism is not built")
    cfg = _small(tmp_path / "llava", model="organism-llava", analyses=False)
    cfg.methods = ("sae",)
    report = run_demo(cfg)
    from interp.vectors import SteeringVector

    v = SteeringVector.load(report.out / "vectors" / "sae__counting")
    assert v.meta.source_model == "organism-llava-text" and v.meta.params["saes"] == "organism-llava"
    assert set(pd.read_csv(report.out / "tables" / "table.csv")["vector"]) == {"sae/counting"}


def test_demo_replicates_its_chosen_cells_checks_specificity_and_opens_with_a_verdict(tmp_path):
    cfg = _small(tmp_path / "demo", analyses=False, n_replicate=6, hint="look at the objects .")
    cfg.concepts = ["counting", "spatial_relationship"]
    cfg.methods = ("diffmean",)
    report = run_demo(cfg)
    tables = report.out / "tables"
    rep = pd.read_csv(tables / "replication.csv")
    assert len(rep) == len(report.table) and (rep["n_rep"] == 6).all()
    spec = pd.read_csv(tables / "specificity.csv")
    assert set(spec["control"]) >= {"flipped"} and len(set(spec["control"])) >= 2  # another concept too
    text = report.summary.read_text()
    assert text.index("## Verdict: organism") < text.index("## The sweep")
    assert "fresh scenes per task" in text and "## Replication" in text and "## Specificity" in text
    assert "look at the objects ." in text
    import json

    config = json.loads((report.out / "config.json").read_text())
    assert config["hint"] == "look at the objects ." and config["n_replicate"] == 6
    assert all(h.startswith("look at the objects .") for h in config["prompting_hints"].values())


def test_a_demo_of_other_settings_into_the_same_out_is_refused_unless_overwrite(tmp_path):
    cfg = _small(tmp_path / "demo", analyses=False, specificity=False)
    cfg.methods = ("diffmean",)
    first = run_demo(cfg)
    kept = first.summary.read_text()
    other = _small(tmp_path / "demo", analyses=False, specificity=False)
    other.methods, other.n_random = ("diffmean",), 1
    with pytest.raises(FileExistsError, match=r"already holds the tables of a demo with other settings \(n_random 3, now 1\)"):
        run_demo(other)
    assert first.summary.read_text() == kept
    other.overwrite = True
    assert run_demo(other).table["n_random"].eq(1).all()
