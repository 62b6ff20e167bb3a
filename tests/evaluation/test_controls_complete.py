"""The complete controls: the answer-prior baseline, transfer cost, specificity against concepts
that were not swept, and a random-direction quantile only where enough directions measure it.

Each is checked against a computation from plain scoring (``interp.evaluation.score`` with an
``add`` edit), not against its own code path.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from interp.evaluation import score
from interp.evaluation.controls import replicate, specificity, transfer, transfer_columns
from interp.evaluation.prior import fit_prior_offset, prior_predictions, stored_probs
from interp.evaluation.sweep import sweep
from interp.evaluation.tables import MIN_RANDOM_Q95, measured, random_columns
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.stats import paired_difference
from interp.steering import add

sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker


# -- the answer prior, alone ------------------------------------------------------------------------
def _brute_best(probs: np.ndarray, answers: np.ndarray, grid: np.ndarray) -> int:
    scores = np.log(np.maximum(probs, 1e-12))
    best = 0
    for offs in itertools.product(grid, repeat=probs.shape[1] - 1):
        pred = (scores + np.array([0.0, *offs])).argmax(axis=1)
        best = max(best, int((pred == answers).sum()))
    return best


def test_with_two_options_the_fitted_offset_is_the_best_any_constant_offset_reaches():
    rng = np.random.default_rng(2)
    for _ in range(10):
        probs = rng.dirichlet(np.ones(2), size=24)
        answers = rng.integers(0, 2, size=24)
        offsets = fit_prior_offset(probs, answers)
        reached = int((prior_predictions(probs, offsets) == answers).sum())
        assert reached == _brute_best(probs, answers, np.linspace(-8, 8, 1601))
        assert offsets[0] == 0.0


@pytest.mark.parametrize("k", [3, 5])
def test_with_more_options_it_beats_no_offset_and_every_single_option_shift(k):
    rng = np.random.default_rng(k)
    scores_grid = np.linspace(-6, 6, 241)
    for _ in range(5):
        probs = rng.dirichlet(np.ones(k), size=30)
        answers = rng.integers(0, k, size=30)
        reached = int((prior_predictions(probs, fit_prior_offset(probs, answers)) == answers).sum())
        assert reached >= int((probs.argmax(axis=1) == answers).sum())
        for option in range(1, k):
            for b in scores_grid:
                offsets = np.zeros(k)
                offsets[option] = b
                assert reached >= int((prior_predictions(probs, offsets) == answers).sum())


def test_a_model_whose_prior_is_already_best_keeps_offset_zero():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    assert fit_prior_offset(probs, np.array([0, 1, 0])).tolist() == [0.0, 0.0]


def test_an_over_answered_option_is_pushed_back():
    # truth B on the first three, the model leans A on two of them by a small margin
    probs = np.array([[0.55, 0.45], [0.52, 0.48], [0.2, 0.8], [0.9, 0.1]])
    answers = np.array([1, 1, 1, 0])
    offsets = fit_prior_offset(probs, answers)
    assert offsets[1] > 0
    assert prior_predictions(probs, offsets).tolist() == [1, 1, 1, 0]


def test_prior_input_is_checked():
    with pytest.raises(ValueError, match="at least 2 options"):
        fit_prior_offset(np.ones((3, 1)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="must index the 2 options"):
        fit_prior_offset(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(ValueError, match="one option index per item"):
        fit_prior_offset(np.full((2, 2), 0.5), np.array([0.5, 1.0]))
    import pandas as pd

    with pytest.raises(ValueError, match="scored by generation"):
        stored_probs(pd.DataFrame({"probs": ['{"text": "A"}']}))


# -- random directions: a q95 only from enough of them ------------------------------------------------
def test_a_q95_is_reported_only_from_enough_random_directions():
    from types import SimpleNamespace

    diff = SimpleNamespace(diff=0.05, low=0.01)
    few = random_columns(diff, [0.0] * (MIN_RANDOM_Q95 - 1))
    assert math.isnan(few["random_q95_gain"]) and not measured(few["above_random"])
    assert few["random_max_gain"] == 0.0 and few["n_random"] == MIN_RANDOM_Q95 - 1
    enough = random_columns(diff, [0.0] * MIN_RANDOM_Q95)
    assert enough["random_q95_gain"] == 0.0 and measured(enough["above_random"])
    assert not measured(random_columns(SimpleNamespace(diff=0.05, low=-0.01), [0.0] * 20)["above_random"])


# -- the controls on the organism ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def swept():
    import interp

    mllm = interp.load_mllm("organism")
    vectors = sweep_worker.random_vectors(mllm, ["counting", "spatial_relationship", "attribute"], seed=1)
    swept_vectors = {k: vectors[k] for k in ("random/counting", "random/spatial_relationship")}
    library = {"random/attribute": vectors["random/attribute"]}
    tasks = ["Count", "Attribute"]
    train = [from_record(d) for d in make_split("val", 6, tasks=tasks)]
    test = [from_record(d) for d in make_split("test", 4, tasks=tasks)]
    res = sweep(
        mllm, swept_vectors, layers=[0, 1], strengths=[-2.0, 2.0], selectors=["image"], train=train, test=test,
        targets={"random/counting": ["Count"], "random/spatial_relationship": ["Count"]}, n_random=0,
        prompt_baseline=False, batch_size=8,
    )
    fresh = [from_record(d, id_prefix="fresh") for d in make_split("test", 6, seed=7, tasks=tasks)]
    return mllm, swept_vectors, library, res, train, test, fresh


def _correct(mllm, items, steer=None):
    rows = score(mllm, items, steer) if steer is not None else score(mllm, items)
    return rows.set_index("item_id").reindex(sorted(it.id for it in items))


def test_the_prior_columns_equal_a_prior_fitted_on_train_and_applied_to_the_replication_set(swept):
    mllm, vectors, _, res, train, _, fresh = swept
    rep = replicate(mllm, res, vectors, fresh, n_random=0)
    count_train = [it for it in train if it.task == "Count"]
    count_fresh = [it for it in fresh if it.task == "Count"]
    base_train = _correct(mllm, count_train)
    offsets = fit_prior_offset(stored_probs(base_train), base_train["answer"].to_numpy(dtype=int))
    base = _correct(mllm, count_fresh)
    prior = (prior_predictions(stored_probs(base), offsets) == base["answer"].to_numpy()).astype(float)
    expected_prior_gain = paired_difference(prior, base["correct"].to_numpy(dtype=float)).diff
    for _, row in rep.iterrows():
        layer = int(row["layer"])
        steer = add(vectors[row["vector"]].at(layer), layer, float(row["alpha"]), row["selector"])
        steered = _correct(mllm, count_fresh, steer)["correct"].to_numpy(dtype=float)
        assert row["rep_prior_gain"] == pytest.approx(expected_prior_gain, abs=1e-9)
        assert row["rep_gain_over_prior"] == pytest.approx(paired_difference(steered, prior).diff, abs=1e-9)
        assert row["rep_beats_prior"] == (row["rep_gain_over_prior_low"] > 0)
        if row["rep_gain"] > 0:
            assert 0.0 <= row["rep_prior_share"] <= 1.0
        else:
            assert math.isnan(row["rep_prior_share"])


def test_the_test_table_carries_the_prior_baseline(swept):
    _, _, _, res, _, _, _ = swept
    assert {"prior_gain", "gain_over_prior", "beats_prior", "prior_share"} <= set(res.table.columns)
    assert (res.table["gain_over_prior"] - (res.table["gain"] - res.table["prior_gain"])).abs().max() < 1e-9


def test_transfer_scores_each_chosen_cell_on_the_tasks_it_was_not_chosen_for(swept):
    mllm, vectors, _, res, _, _, fresh = swept
    cost = transfer(mllm, res, vectors, fresh)
    assert set(cost["other_task"]) == {"Attribute"} and len(cost) == len(res.table)
    other = [it for it in fresh if it.task == "Attribute"]
    base = _correct(mllm, other)["correct"].to_numpy(dtype=float)
    for _, row in cost.iterrows():
        layer = int(row["layer"])
        steer = add(vectors[row["vector"]].at(layer), layer, float(row["alpha"]), row["selector"])
        steered = _correct(mllm, other, steer)["correct"].to_numpy(dtype=float)
        assert row["gain"] == pytest.approx(float(steered.mean() - base.mean()), abs=1e-9)
    folded = transfer_columns(cost)
    assert len(folded) == len(res.table)
    assert (folded["transfer_gain"] - cost["gain"].to_numpy()).abs().max() < 1e-9  # one other task: its gain


def test_specificity_takes_concepts_that_were_not_swept(swept):
    mllm, vectors, library, res, _, test, _ = swept
    spec = specificity(mllm, res, vectors, test, others=library)
    assert "random/attribute" in set(spec["control"])
    row = spec[spec["control"] == "random/attribute"].iloc[0]
    layer, d = int(row["layer"]), vectors[row["vector"]].at(int(row["layer"]))
    o = library["random/attribute"].at(layer)
    steer = add(o * (float(d.norm()) / float(o.norm())), layer, float(row["alpha"]), row["selector"])
    count = [it for it in test if it.task == "Count"]
    expected = float(_correct(mllm, count, steer)["correct"].mean() - _correct(mllm, count)["correct"].mean())
    assert row["control_gain"] == pytest.approx(expected, abs=1e-9)


def test_the_sweep_merges_every_control_as_columns(swept):
    mllm, vectors, library, _, train, test, fresh = swept
    res = sweep(
        mllm, vectors, layers=[1], strengths=[2.0], selectors=["image"], train=train, test=test,
        targets={"random/counting": ["Count"], "random/spatial_relationship": ["Count"]}, n_random=0,
        prompt_baseline=False, batch_size=8, replicate=fresh, specificity=True, transfer=True,
        control_vectors=library, replicate_random=MIN_RANDOM_Q95,
    )
    cols = set(res.table.columns)
    assert {"rep_prior_gain", "rep_beats_prior", "transfer_gain", "transfer_worst_task", "specific",
            "rep_random_q95_gain", "rep_n_random"} <= cols
    assert (res.table["rep_n_random"] == MIN_RANDOM_Q95).all()
    from interp.evaluation.power import detectable_gain

    for _, row in res.table.iterrows():  # the power columns: the churn of the random directions
        assert 0 < row["rep_discordance"] < 1
        assert row["rep_mde"] == pytest.approx(detectable_gain(
            int(row["n_rep"]), row["rep_discordance"], comparisons=len(res.table)))
    assert "mde" in res.table
    assert "random/attribute" in set(res.specificity["control"])
    assert res.config["control_vectors"] == ["random/attribute"] and res.transfer is not None


def test_a_foreign_control_vector_is_refused(swept):
    import interp

    mllm, vectors, _, res, _, test, _ = swept
    foreign = interp.SteeringVector.from_tensors(
        {layer: vectors["random/counting"].at(layer) for layer in vectors["random/counting"].layers},
        method="random", concept="attribute", source_model="someone/other-4layer-128d",
    )
    with pytest.raises(ValueError, match=r"others\['random/attribute'\]|random/attribute"):
        specificity(mllm, res, vectors, test, others={"random/attribute": foreign})


@pytest.mark.parametrize("module", ["interp.evaluation.prior", "interp.evaluation.halving", "interp.evaluation.null",
                                    "interp.evaluation.tables"])
def test_the_examples_in_the_docstrings_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_null_vectors_keep_names_concepts_and_norms_but_not_directions(swept):
    import torch

    from interp.evaluation.null import null_vectors

    _, vectors, _, _, _, _, _ = swept
    null = null_vectors(vectors, seed=3)
    assert set(null) == set(vectors)
    for name, v in vectors.items():
        assert null[name].meta.concept == v.meta.concept and null[name].meta.method == "null"
        for layer in v.layers:
            assert float(null[name].at(layer).norm()) == pytest.approx(float(v.at(layer).norm()), rel=1e-5)
            cos = torch.nn.functional.cosine_similarity(null[name].at(layer).double(), v.at(layer).double(), dim=0)
            assert abs(float(cos)) < 0.5
    assert null_vectors(vectors, seed=3)["random/counting"].digest() == null["random/counting"].digest()
    assert null_vectors(vectors, seed=4)["random/counting"].digest() != null["random/counting"].digest()


def test_the_false_claim_rate_and_its_exact_interval():
    import pandas as pd
    from scipy.stats import binomtest

    from interp.evaluation.null import claims_a_gain, false_claim_rate

    rate = false_claim_rate([True] + [False] * 19)
    ci = binomtest(1, 20).proportion_ci(0.95, method="exact")
    assert rate.claims == 1 and rate.rate == 0.05
    assert (rate.low, rate.high) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert false_claim_rate([False] * 20).low == 0.0
    with pytest.raises(ValueError, match="no null pipeline"):
        false_claim_rate([])
    table = pd.DataFrame({"replicated": [True, False, float("nan")], "rep_gain": [-0.01, 0.05, 0.02]})
    assert not claims_a_gain(table)  # a replicated harm is not a claimed gain
    assert claims_a_gain(table.assign(rep_gain=[0.01, 0.05, 0.02]))
