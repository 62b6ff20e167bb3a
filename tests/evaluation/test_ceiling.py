"""The ceiling of one vector at a sweep's chosen cells: a learned vector trained on train items only,
shared per cell, scored on the table's test items, and the textual gain as a fraction of its gain."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import interp
from interp.evaluation import ceiling, gain_fraction, learned_cosines, score, sweep
from interp.evaluation.ceiling import AT_TOP, CEILING_COLUMNS, NO_CEILING, UNBOUNDED
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.steering import add
from interp.vectors import SteeringVector, Training

sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker
from planted_task import PLANTED_NORM, planted_task

#: The module (``interp.evaluation.ceiling`` the attribute is the function, as with ``sweep``).
ceiling_module = sys.modules["interp.evaluation.ceiling"]


def _spy(monkeypatch) -> list[dict]:
    """Record every learned_vector call ceiling makes (its items and cell), then train for real."""
    calls: list[dict] = []
    real = ceiling_module.learned_vector

    def spy(mllm, items, **kw):
        calls.append({"ids": [it.id for it in items], "tasks": {it.task for it in items}, **kw})
        return real(mllm, items, **kw)

    monkeypatch.setattr(ceiling_module, "learned_vector", spy)
    return calls


# -- a planted task: the fraction means what it says ------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted task (tests/planted_task.py: a tiny PaliGemma whose answer a known direction ``d``
    at its last layer's last token fixes), swept with ``d`` and a random direction as the "textual"
    vectors at that one cell; ``d`` takes every test item from wrong to right."""
    mllm, d, train, test = planted_task(tmp_path_factory.mktemp("planted"))
    last = mllm.n_layers - 1
    vectors = {
        "planted": SteeringVector.from_tensors({last: d}, method="planted", concept="shape"),
        "random": SteeringVector.from_tensors(
            {last: torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(1))}, method="random", concept="shape"),
    }
    res = sweep(mllm, vectors, [last], [PLANTED_NORM], ["last"], train, test, n_random=0, prompt_baseline=False,
                batch_size=32, progress=False)
    return mllm, d, vectors, res, train, test


@pytest.fixture(scope="module")
def planted_ceiling(planted):
    """``ceiling`` on the planted sweep (trained once for the module), with the calls it made to
    ``learned_vector`` and the learned vectors it kept."""
    mllm, _, vectors, res, train, test = planted
    with pytest.MonkeyPatch.context() as mp:
        calls = _spy(mp)
        kept: dict = {}
        out = ceiling(mllm, res, vectors, train, test, training=Training(norm=PLANTED_NORM), learned=kept, batch_size=32)
    return out, calls, kept


def test_the_planted_direction_reaches_the_ceiling_and_a_random_one_a_fraction_of_it(planted, planted_ceiling):
    mllm, _, vectors, _, train, _ = planted
    out, calls, kept = planted_ceiling
    assert set(CEILING_COLUMNS) <= set(out.columns) and len(out) == 2
    assert len(calls) == 1, "both textual vectors were chosen at the one cell: one training serves both"
    last = mllm.n_layers - 1
    assert list(kept) == [("Planted", last, "last")] and calls[0]["tokens"] == "last" and calls[0]["layer"] == last
    assert calls[0]["ids"] == [it.id for it in train]
    row = out.set_index("vector")
    assert row.loc["planted", "textual_gain"] == 1.0 and row.loc["planted", "learned_gain"] == 1.0
    assert (row.loc["planted", "textual_fraction"], row.loc["planted", "textual_fraction_low"],
            row.loc["planted", "textual_fraction_high"]) == (1.0, 1.0, 1.0)
    assert row.loc["planted", "learned_cosine"] > 0.9, "the learned vector found the planted direction"
    assert row.loc["planted", "learned_gain_low"] == 1.0 and row.loc["planted", "learned_minus_textual"] == 0.0
    assert (out["textual_gain"] == out["test_gain"]).all(), "scored on the very test items the table reports"
    assert (out["n_train"] == 32).all() and (out["n_test"] == 32).all() and (out["textual_fraction_reason"] == "").all()
    v = kept[("Planted", last, "last")]
    cos = learned_cosines(kept, vectors).set_index("vector")["cosine"]
    assert cos["planted"] == pytest.approx(row.loc["planted", "learned_cosine"])
    assert cos["random"] == pytest.approx(float(torch.nn.functional.cosine_similarity(
        v.at(last).double(), vectors["random"].at(last).double(), dim=0)))


def test_the_fraction_is_the_ratio_of_gains_measured_directly(planted, planted_ceiling):
    mllm, _, vectors, _, _, test = planted
    out, _, kept = planted_ceiling
    last = mllm.n_layers - 1
    base = score(mllm, test)["correct"].to_numpy(float)
    learned = score(mllm, test, add(kept[("Planted", last, "last")], last, 1.0, "last"))["correct"].to_numpy(float)
    for _, row in out.iterrows():
        textual = score(mllm, test, add(vectors[row["vector"]].at(last), last, float(row["alpha"]), "last"))
        t = textual["correct"].to_numpy(float)
        t_gain, l_gain = t.mean() - base.mean(), learned.mean() - base.mean()
        assert row["textual_gain"] == pytest.approx(t_gain) and row["learned_gain"] == pytest.approx(l_gain)
        assert row["learned_minus_textual"] == pytest.approx(l_gain - t_gain)
        assert row["textual_fraction"] == pytest.approx(t_gain / l_gain)
        assert row["textual_fraction_low"] <= row["textual_fraction"] <= row["textual_fraction_high"]


# -- the fraction's rule, on its own --------------------------------------------------------------
def test_gain_fraction_rule_for_a_ceiling_at_or_below_unsteered():
    right, wrong = [1] * 50, [0] * 50
    f = gain_fraction(right, [1] * 25 + [0] * 25, right)
    assert np.isnan(f.value) and np.isnan(f.low) and f.reason == AT_TOP
    f = gain_fraction(wrong[:25] + right[:25], wrong[:30] + right[:20], wrong[:25] + right[:25])
    assert np.isnan(f.value) and f.reason == NO_CEILING
    # a learned gain of one item in 100: most resamples cannot bound the ratio
    f = gain_fraction([0] * 100, [1] + [0] * 99, [0] * 100)
    assert f.value == 0.0 and (f.low, f.high) == (-np.inf, np.inf) and f.reason == UNBOUNDED and f.undefined_share > 0.025


def test_gain_fraction_interval_matches_an_independent_paired_bootstrap():
    rng = np.random.default_rng(3)
    n = 200
    b = (rng.random(n) < 0.5).astype(float)
    t = np.where(rng.random(n) < 0.15, 1.0, b)
    le = np.where(rng.random(n) < 0.35, 1.0, b)
    f = gain_fraction(t, le, b, n_boot=4000, seed=0)
    assert f.value == pytest.approx((t.mean() - b.mean()) / (le.mean() - b.mean()))
    g = np.random.default_rng(99)
    ratios = []
    for _ in range(4000):
        i = g.integers(0, n, n)
        lg = le[i].mean() - b[i].mean()
        if lg > 0:
            ratios.append((t[i].mean() - b[i].mean()) / lg)
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert f.low == pytest.approx(low, abs=0.06) and f.high == pytest.approx(high, abs=0.06)
    with pytest.raises(ValueError, match="one 0/1 value per item"):
        gain_fraction([1, 0], [1], [0, 0])
    with pytest.raises(ValueError, match="0/1 correctness"):
        gain_fraction([0.5, 1], [1, 1], [0, 0])


# -- the organism: train items only, one training per cell, refusals -------------------------------
@pytest.fixture(scope="module")
def swept():
    """A tiny organism sweep on Count at layer 1, image tokens: both random vectors chosen at one cell.
    Its test items are ones the unsteered organism answers right (the at-top rule's case)."""
    mllm = interp.load_mllm("organism")
    vectors = sweep_worker.random_vectors(mllm, ["counting", "spatial_relationship"], seed=0)
    train = [from_record(d) for d in make_split("val", 8, tasks=["Count"])]
    pool = [from_record(d) for d in make_split("test", 12, tasks=["Count"])]
    right = score(mllm, pool)["correct"].to_numpy(bool)
    test = [it for it, ok in zip(pool, right) if ok][:6]
    res = sweep(mllm, vectors, [1], [-2.0, 2.0], ["image"], train, test, n_random=0, prompt_baseline=False,
                batch_size=8, progress=False)
    return mllm, vectors, res, train, test


FAST = {"training": Training(steps=2), "batch_size": 8}


def test_learned_vectors_train_on_the_tasks_train_items_only_and_once_per_cell(swept, monkeypatch):
    mllm, vectors, res, train, test = swept
    calls = _spy(monkeypatch)
    kept: dict = {}
    out = ceiling(mllm, res, vectors, train, test, learned=kept, train_at_top=True, **FAST)
    assert len(out) == 2 and out["learned_key"].nunique() == 1 == len(calls)
    assert calls[0]["ids"] == [it.id for it in train if it.task == "Count"]
    assert not set(calls[0]["ids"]) & {it.id for it in test}
    assert (calls[0]["layer"], calls[0]["tokens"]) == (1, "image")
    # Every gain is 0 or less here (the unsteered model is right on every test item): NaN, with the reason.
    assert out["textual_fraction"].isna().all() and (out["textual_fraction_reason"] == AT_TOP).all()
    # A rerun with the kept vectors trains nothing and gives the same table.
    again = ceiling(mllm, res, vectors, train, test, learned=kept, train_at_top=True, **FAST)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(out, again)


def test_cells_where_unsteered_is_right_on_every_test_item_are_not_trained(swept, monkeypatch):
    mllm, vectors, res, train, test = swept
    calls = _spy(monkeypatch)
    out = ceiling(mllm, res, vectors, train, test, **FAST)
    assert calls == [] and (out["learned_key"] == "").all()
    assert out["learned_gain"].isna().all() and (out["textual_fraction_reason"] == AT_TOP).all()
    assert (out["unsteered_accuracy"] == 1.0).all() and set(CEILING_COLUMNS) <= set(out.columns)
    from interp import figures

    fig = figures.ceiling_bars(out)
    assert all("unsteered right on every test item" in label for label in fig.data[0].y)


def test_foreign_tables_vectors_and_items_are_refused_before_training(swept, monkeypatch):
    mllm, vectors, res, train, test = swept
    calls = _spy(monkeypatch)
    other = dict(vectors, **{"random/counting": 2 * vectors["random/counting"]})
    with pytest.raises(ValueError, match="is not the vector that made the sweep's table"):
        ceiling(mllm, res, other, train, test, **FAST)
    foreign = res.table.assign(model="organism@0000000000000000")
    with pytest.raises(ValueError, match="was computed on organism@0000000000000000"):
        ceiling(mllm, foreign, vectors, train, test, **FAST)
    with pytest.raises(ValueError, match="train items are also test items"):
        ceiling(mllm, res, vectors, train + test[:1], test, **FAST)
    with pytest.raises(ValueError, match="were the sweep's test items"):
        ceiling(mllm, res, vectors, train + test[:1], test[1:], **FAST)
    with pytest.raises(ValueError, match="reports task 'Count' on 6 test items, the test items given hold 5"):
        ceiling(mllm, res.table, vectors, train, test[1:], **FAST)
    fresh = [from_record(d, id_prefix="fresh") for d in make_split("test", 6, seed=7, tasks=["Count"])]
    with pytest.raises(ValueError, match="the test items of task 'Count' are not the sweep's"):
        ceiling(mllm, res, vectors, train, fresh, **FAST)
    with pytest.raises(ValueError, match="learned_vector needs at least 6 for its validation split"):
        ceiling(mllm, res, vectors, train[:5], test, **FAST)
    with pytest.raises(ValueError, match="expected a sweep's result or its table"):
        ceiling(mllm, "table.csv", vectors, train, test, **FAST)  # type: ignore[arg-type]
    stranger = interp.learned_vector(mllm, train[:6], layer=1, tokens="image", steps=1)
    with pytest.raises(ValueError, match="was not trained on this call's train items"):
        ceiling(mllm, res, vectors, train, test, learned={("Count", 1, "image"): stranger}, **FAST)
    with pytest.raises(ValueError, match=r"training must be an interp.vectors.Training .* got dict"):
        ceiling(mllm, res, vectors, train, test, training={"steps": 2})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\), got 1.5"):
        ceiling(mllm, res, vectors, train, test, training=Training(val_fraction=1.5))
    assert calls == []


# -- the figure ------------------------------------------------------------------------------------
def test_ceiling_bars_draw_textual_native_and_learned_with_cis_and_n(planted_ceiling):
    from interp import figures

    out = planted_ceiling[0]
    fig = figures.ceiling_bars(out)
    assert [t.name for t in fig.data] == ["textual", "learned"]
    assert "n = 32 test items per task" in fig.layout.title.subtitle.text
    assert any("textual/learned 1.00 [1.00, 1.00]" in label for label in fig.data[0].y)
    assert fig.data[1].x[0] == pytest.approx(100.0) and fig.data[0].error_x.array is not None
    native = pd.DataFrame([{
        "textual": r["vector"], "native": f"native/{r['vector']}", "task": r["task"], "selector": r["selector"],
        "layer": r["layer"], "strength": r["strength"], "native_gain": 0.25, "native_gain_low": 0.1,
        "native_gain_high": 0.4} for _, r in out.iterrows()])
    fig = figures.ceiling_bars(out, native=native)
    assert [t.name for t in fig.data] == ["textual", "native", "learned"]
    assert list(fig.data[1].x) == pytest.approx([25.0, 25.0]) and "native" in fig.layout.title.text
    with pytest.raises(ValueError, match=r"lacks columns \['learned_gain'"):
        figures.ceiling_bars(out.drop(columns=["learned_gain"]))
