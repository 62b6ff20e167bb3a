"""Replication and specificity controls at a sweep's chosen cells, checked against plain scoring."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interp.evaluation import score
from interp.evaluation.controls import replicate, specificity
from interp.evaluation.sweep import sweep
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.steering import add

sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker


@pytest.fixture(scope="module")
def swept():
    import interp

    mllm = interp.load_mllm("organism")
    vectors = sweep_worker.random_vectors(mllm, ["counting", "spatial_relationship"], seed=0)
    train = [from_record(d) for d in make_split("val", 4, tasks=["Count"])]
    test = [from_record(d) for d in make_split("test", 4, tasks=["Count"])]
    res = sweep(
        mllm, vectors, layers=[0, 1], strengths=[-2.0, 2.0], selectors=["image"], train=train, test=test,
        targets={"random/counting": ["Count"], "random/spatial_relationship": ["Count"]}, n_random=2,
        prompt_baseline=False, batch_size=4,
    )
    fresh = [from_record(d, id_prefix="fresh") for d in make_split("test", 6, seed=7, tasks=["Count"])]
    return mllm, vectors, res, test, fresh


def _gain(mllm, items, steer) -> float:
    steered = score(mllm, items, steer)["correct"].mean()
    return float(steered - score(mllm, items)["correct"].mean())


def test_replication_scores_each_chosen_cell_as_chosen_on_fresh_items(swept):
    mllm, vectors, res, _, fresh = swept
    rep = replicate(mllm, res, vectors, fresh, n_random=2)
    assert len(rep) == len(res.table) == 2
    assert (rep["n_rep"] == len(fresh)).all()
    for _, row in rep.iterrows():
        d = vectors[row["vector"]].at(int(row["layer"]))
        expected = _gain(mllm, fresh, add(d, int(row["layer"]), float(row["alpha"]), row["selector"]))
        assert row["rep_gain"] == pytest.approx(expected, abs=1e-9)
        assert row["rep_gain_low"] <= row["rep_gain"] <= row["rep_gain_high"]
    assert rep["replicated"].dtype == bool
    assert set(rep.columns) >= {"rep_p_holm", "rep_random_q95_gain", "rep_above_random", "test_gain"}
    assert not (rep["rep_above_random"] & (rep["rep_gain_low"] <= 0)).any()


def test_replication_refuses_items_the_sweep_used(swept):
    mllm, vectors, res, test, _ = swept
    with pytest.raises(ValueError, match=r"replication items were the sweep.s train items or test items"):
        replicate(mllm, res, vectors, test)


def test_specificity_compares_the_flipped_sign_and_the_other_concept_at_the_same_norm(swept):
    mllm, vectors, res, test, _ = swept
    spec = specificity(mllm, res, vectors, test)
    assert len(spec) == 2 * len(res.table)  # flipped + the one other concept, per chosen cell
    for _, row in spec.iterrows():
        layer, alpha, sel = int(row["layer"]), float(row["alpha"]), row["selector"]
        d = vectors[row["vector"]].at(layer)
        if row["control"] == "flipped":
            direction = -d
            assert row["control_cosine"] == pytest.approx(-1.0)
        else:
            assert row["control"] != row["vector"]
            o = vectors[row["control"]].at(layer)
            direction = o * (float(d.norm()) / float(o.norm()))
        assert row["control_gain"] == pytest.approx(_gain(mllm, test, add(direction, layer, alpha, sel)), abs=1e-9)
        assert row["gain_over_control"] == pytest.approx(row["gain"] - row["control_gain"], abs=1e-9)
    per_cell = spec.groupby(["vector", "task", "selector"])["specific"].nunique()
    assert (per_cell == 1).all()


def test_controls_refuse_a_table_without_chosen_cells(swept):
    mllm, vectors, res, test, fresh = swept
    with pytest.raises(ValueError, match="lacks columns"):
        replicate(mllm, res.table.drop(columns=["alpha"]), vectors, fresh)
    with pytest.raises(ValueError, match="not among the vectors given"):
        specificity(mllm, res, {"other": vectors["random/counting"]}, test)
