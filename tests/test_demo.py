"""The demo runs the whole pipeline on the organism, writes its report, and a rerun reuses it."""

import importlib

import pandas as pd
import pytest

from interp.demo import DemoConfig, run_demo


def _small(out, **kw):
    kw.setdefault("model", "organism")
    kw.setdefault("n_replicate", 0)
    kw.setdefault("figures", False)
    return DemoConfig(
        out=str(out), methods=("meanshift", "diffmean"), concepts=["counting"], layers=[0, 1],
        strengths=(-1.0, 1.0), selectors=("image", "both"), n_train=8, n_test=12, n_random=3,
        progress=False, **kw,
    )


def test_demo_writes_the_report_and_a_rerun_reuses_it(tmp_path, monkeypatch):
    report = run_demo(_small(tmp_path / "demo", figures=True, static=False))
    out = report.out
    assert (out / "figures" / "variance_share.html").is_file() and (out / "tables" / "lm_drift.csv").is_file()
    assert "*Share of image- and text-token variance" in report.summary.read_text()
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
    # every section comes before the closing timing line, the native comparator included
    assert text.index("## Native comparator") < text.index("## Figures") < text.index("## Files")
    assert text.rstrip("\n").splitlines()[-1].startswith("Finished in ")

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
    cfg.layers = [0, 3]  # the organism's last layer: its image and both cells are skipped
    report = run_demo(cfg)
    tables = report.out / "tables"
    rep = pd.read_csv(tables / "replication.csv")
    assert len(rep) == len(report.table) and (rep["n_rep"] == 6).all()
    table = pd.read_csv(tables / "table.csv")
    assert (table["n_rep"] == 6).all() and {"rep_gain", "replicated", "specific", "above_random"} <= set(table.columns)
    grid = pd.read_csv(tables / "grid.csv")
    assert set(grid.loc[grid["skipped"], "layer"]) == {3} and (table["layer"] == 0).all()
    spec = pd.read_csv(tables / "specificity.csv")
    assert set(spec["control"]) >= {"flipped"} and len(set(spec["control"])) >= 2  # another concept too
    text = report.summary.read_text()
    assert text.index("## Verdict: organism") < text.index("## The sweep")
    assert "fresh scenes per task" in text and "## Replication" in text and "## Specificity" in text
    assert "look at the objects ." in text
    assert "Skipped, not run: L3 both, L3 image (4 of 8 cells per vector)" in text
    verdict = text.split("## Verdict: organism\n\n")[1].split("\n")[0]
    assert verdict == report.verdicts[0] and verdict.startswith("organism: textual steering ")
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


def test_the_default_demo_runs_both_organisms_the_positive_control_first_with_a_verdict_each(tmp_path):
    from interp.models.sources import demo_models

    assert demo_models() == ["organism-llava", "organism"] and DemoConfig().model is None
    cfg = _small(tmp_path / "both", analyses=False, n_replicate=6, model=None)
    cfg.methods, cfg.n_random = ("diffmean",), 1
    report = run_demo(cfg)
    assert [p.out.name for p in report.parts] == ["organism-llava", "organism"]
    assert len(report.verdicts) == 2
    assert report.verdicts[0].startswith("organism-llava: ") and report.verdicts[1].startswith("organism: ")
    top = report.summary.read_text()
    assert top.index("## Verdict") < top.index("## Reports")
    assert f"- {report.verdicts[0]}\n- {report.verdicts[1]}" in top
    for part in report.parts:
        assert (part.out / "summary.md").is_file() and (part.out / "tables" / "replication.csv").is_file()
    assert set(report.table["model"]) == {"organism-llava", "organism"}
    import json

    assert json.loads((report.out / "config.json").read_text())["models"] == demo_models()


def _row(**kw):
    row = {"vector": "sae/counting", "task": "Count", "selector": "image", "layer": 0, "strength": -0.5,
           "unsteered_accuracy": 0.6, "gain": 0.05, "gain_low": 0.01, "gain_high": 0.09, "p_value": 0.01,
           "p_holm": 0.04, "n_rep": 300, "rep_gain": 0.04, "rep_gain_low": 0.02, "rep_gain_high": 0.06,
           "rep_p_holm": 0.001, "rep_random_q95_gain": 0.01, "rep_above_random": True, "replicated": True,
           "specific": False, "beats_flipped": True, "beats_other_concepts": False}
    return {**row, **kw}


def test_the_verdict_line_gives_the_replicated_estimate_specificity_harms_and_why():
    from interp.demo.verdict import verdict_line as _verdict_line

    helps = pd.DataFrame([_row(), _row(task="Depth", unsteered_accuracy=0.99, rep_gain=0.0, rep_gain_low=-0.02,
                                       rep_gain_high=0.02, replicated=False, gain=-0.12, gain_low=-0.2,
                                       gain_high=-0.04, p_value=0.0075)])
    line = _verdict_line("organism-llava", helps, {"lm_drift": {"embed": 0.0, "layer_0": 0.0}})
    assert line.startswith("organism-llava: textual steering helps at 1 of 2 replicated cells on 300 fresh scenes")
    assert "sae/counting on Count (image tokens, L0 @ -0.5): +4.0 points [+2.0, +6.0], Holm p 0.001" in line
    assert "above every random direction" in line and "not specific: another concept's vector does" in line
    assert "Depth is at the ceiling" in line and "drift 0" in line
    assert "1 harm on test significant before correction (worst sae/counting on Depth" in line
    assert "-12.0 points [-20.0, -4.0], p 0.0075, Holm p 0.04)" in line
    none = pd.DataFrame([_row(replicated=False, rep_gain_low=-0.01),
                         _row(task="Distance", replicated=False, rep_gain=-0.08, rep_gain_low=-0.13,
                              rep_gain_high=-0.027, rep_p_holm=0.044)])
    iso = type("Iso", (), {"accuracy": pd.DataFrame({"run": ["image", "mllm_text", "backbone_text"],
                                                     "task": ["all"] * 3, "accuracy": [0.48, 0.98, 1.0]})})()
    line = _verdict_line("organism", none, {"isomorphic": iso, "lm_drift": {"layer_0": 0.19}})
    assert line.startswith("organism: textual steering does not help: none of the 2 best chosen cells replicates")
    assert ("1 significant harm on the fresh scenes (worst sae/counting on Distance (image tokens, L0 @ -0.5): "
            "-8.0 points [-13.0, -2.7], Holm p 0.044)") in line
    assert "modality gap: the same scenes are answered at 0.48 as images and 0.98 as text" in line
    assert "drifted from the text backbone" in line and "0.19" in line


def test_figure_captions_say_train_or_test_and_the_items_behind_them(tmp_path):
    from types import SimpleNamespace

    from interp.demo.report import _figure_lines

    res = SimpleNamespace(config={"n_train": 240}, table=pd.DataFrame({"n_test": [100, 100]}))
    figs = [tmp_path / "figures" / name for name in ("gains.png", "gains.html", "accuracy_counting_Count.html")]
    lines = _figure_lines(figs, res, tmp_path, 48)
    text = "\n".join(lines)
    assert "![Gains of the chosen cells over the unsteered model, on test (n = 100 test items per row)" in text
    assert "(figures/gains.png)" in text and "[Interactive](figures/gains.html)" in text
    assert "*Train accuracy over layers x strengths" in text and "n = 240 train items in all" in text
    assert "![Train accuracy" not in text  # no PNG of it: a caption and a link only


def test_the_analyses_sample_takes_every_task_in_turn():
    from types import SimpleNamespace

    from interp.demo.inside import spread

    items = [SimpleNamespace(task=t, i=i) for t in ("A", "B", "C") for i in range(20)]
    sample = spread(items, 9)
    assert [it.task for it in sample] == ["A", "B", "C"] * 3 and len(spread(items[:2], 9)) == 2
