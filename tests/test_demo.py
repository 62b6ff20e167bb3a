"""The demo runs the whole pipeline on the organism, writes its report, and a rerun reuses it."""

import importlib
import re

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
    saved = {p.name for p in (out / "vectors").iterdir()}
    assert {"diffmean__counting", "meanshift__counting"} <= saved
    # the specificity control's comparison set: every other concept of the organism's corpora, by the same methods
    assert {"diffmean__entity", "meanshift__negation"} <= saved and "diffmean__counting" in saved
    table = pd.read_csv(out / "tables" / "table.csv")
    assert set(table["vector"]) == {"meanshift/counting", "diffmean/counting"}
    assert set(table["selector"]) == {"image", "both"}
    assert (table["n_test"] == 12).all()
    text = report.summary.read_text()
    assert "gain [95% CI]" in text and "McNemar" in text and "random" in text
    assert re.search(r"Isomorphic inputs .*image \d\.\d{3} \[\d\.\d\d, \d\.\d\d\].* \(Wilson 95% CIs\)", text)
    assert re.search(r"modality gap: .* as text \([+-]\d+\.\d points as text \[", report.why[0])
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
    cfg = _small(tmp_path / "demo", analyses=False, n_replicate=6, hint="look at the objects .", replicate_top=None)
    cfg.concepts = ["counting", "spatial_relationship"]
    cfg.methods = ("diffmean",)
    cfg.layers = [0, 3]  # the organism's last layer: its image and both cells are skipped
    report = run_demo(cfg)
    tables = report.out / "tables"
    rep = pd.read_csv(tables / "replication.csv")
    assert len(rep) == len(report.table) and (rep["n_rep"] == 6).all()
    table = pd.read_csv(tables / "table.csv")
    assert (table["n_rep"] == 6).all() and {"rep_gain", "replicated", "specific", "above_random"} <= set(table.columns)
    assert {"rep_prior_gain", "rep_beats_prior", "transfer_gain", "rep_mde", "n_other_concepts"} <= set(table.columns)
    assert (table["rep_n_random"] == 20).all()  # enough for the q95 the verdict quotes
    assert (table["n_other_concepts"] == 5).all()  # the library's six concepts but its own
    cost = pd.read_csv(tables / "transfer.csv")
    assert set(cost["other_task"]) == {"Count", "Depth", "Distance", "Relation"}
    grid = pd.read_csv(tables / "grid.csv")
    assert set(grid.loc[grid["skipped"], "layer"]) == {3} and (table["layer"] == 0).all()
    spec = pd.read_csv(tables / "specificity.csv")
    assert set(spec["control"]) >= {"flipped"} and len(set(spec["control"])) >= 2  # another concept too
    text = report.summary.read_text()
    assert text.index("## Verdict: organism") < text.index("## The sweep")
    assert "fresh scenes per task" in text and "## Replication" in text and "## Specificity" in text
    assert "## Transfer cost" in text
    assert "look at the objects ." in text
    assert "Skipped, not run: L3 both, L3 image (4 of 8 cells per vector)" in text
    verdict = text.split("## Verdict: organism\n\n")[1].split("\n")[0]
    assert verdict == report.verdicts[0] and verdict.startswith("organism: ")
    assert "answer-prior shift" in verdict and "false-claim rate not measured in this run" in verdict
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
    cfg = _small(tmp_path / "both", analyses=False, n_replicate=6, model=None, replicate_top=None)
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
           "rep_p_holm": 0.001, "rep_random_q95_gain": 0.01, "rep_n_random": 20, "rep_above_random": True,
           "replicated": True, "rep_mde": 0.031, "rep_prior_gain": 0.01, "rep_prior_share": 0.25,
           "rep_beats_prior": True, "specific": False, "beats_flipped": True, "beats_other_concepts": False,
           "n_other_concepts": 5, "other_concepts_best": "sae/entity", "other_concepts_max_gain": 0.045,
           "transfer_tasks": "Depth Relation", "transfer_gain": -0.02, "transfer_gain_low": -0.03,
           "transfer_gain_high": -0.01}
    return {**row, **kw}


def test_the_verdict_line_gives_the_numbers_first_then_every_control():
    from interp.demo.verdict import verdict_line, why_line

    helps = pd.DataFrame([_row(), _row(task="Depth", unsteered_accuracy=0.99, rep_gain=-0.05, rep_gain_low=-0.08,
                                       rep_gain_high=-0.02, replicated=False, rep_p_holm=0.01)])
    null = pd.DataFrame({"claims_a_gain": [False] * 19 + [True]})
    line = verdict_line("organism-llava", helps, null=null)
    assert line.startswith("organism-llava: +4.0 [+2.0, +6.0] points at sae/counting on Count, image tokens L0 @ -0.5 "
                           "(300 fresh scenes, Holm p 0.001; 1 of 2 replicated cells hold)")
    parts = line.rstrip(".").split(" · ")
    assert parts[1] == "answer-prior shift +1.0, 25% of the gain: beaten"
    assert parts[2] == "not specific: sae/entity does about as well (+4.5)"
    assert parts[3] == "random q95 +1.0 (20 directions): above"
    assert parts[4] == "transfer to Depth/Relation -2.0 [-3.0, -1.0]"
    assert parts[5] == "false-claim rate 1/20 [0%, 25%]"
    assert parts[6].startswith("1 replicated harm (worst sae/counting on Depth")
    none = pd.DataFrame([_row(replicated=False, rep_gain_low=-0.01, rep_mde=0.0264)])
    line = verdict_line("organism", none)
    assert line.startswith("organism: no gain of at least 2.6 points (80% power; 300 fresh scenes per task, 1 replicated "
                           "cells); best sae/counting on Count")
    assert line.endswith("false-claim rate not measured in this run (--null-runs N; docs/findings_null.md measures it).")
    few = verdict_line("organism", pd.DataFrame([_row(replicated=False, rep_mde=float("inf"))]))
    assert "too few items to detect one with 80% power" in few
    iso = type("Iso", (), {"accuracy": pd.DataFrame({"run": ["image", "mllm_text", "backbone_text"], "n": [48] * 3,
                                                     "task": ["all"] * 3, "accuracy": [0.48, 0.98, 1.0]})})()
    why = why_line("organism", helps, {"isomorphic": iso, "lm_drift": {"layer_0": 0.19}})
    assert why.startswith("organism, why: Depth is answered at >= 0.98 unsteered")
    assert "the same 48 scenes answered at 0.48 as images, 0.98 as text" in why and "up to 0.19" in why
    # with the per-item answers, the gap carries its paired interval and McNemar p
    runs = [("image", [True] * 2 + [False] * 8), ("mllm_text", [True] * 10)]
    iso.items = pd.DataFrame([{"item": i, "run": run, "correct": c} for run, cs in runs for i, c in enumerate(cs)])
    why = why_line("organism", helps, {"isomorphic": iso})
    assert "0.98 as text (+80.0 points as text [+" in why and "McNemar p 0.0078)" in why


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
