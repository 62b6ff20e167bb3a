"""CAST condition search and conditional steering against direct computation on a tiny MLLM."""

import numpy as np
import pytest
import torch

from interp.analysis.attribution import answer_batch
from interp.analysis.cast import (
    CastCondition,
    cast_similarity,
    cast_steer,
    condition_grid,
    contrast_condition,
)
from interp.items import Item
from interp.steering import add, conditional, steered_logits
from interp.testing import tiny_image
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.vectors import SteeringVector


def items(question, n, start=0):
    return [
        Item(f"{question[:8]}/{i}", (tiny_image(seed=start + i),), question, ("left", "right", "up"), i % 3)
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def sets():
    return items("What is left of the red cube?", 6), items("How many?", 6, start=10)


def hand_pooled(mllm, its, layers, pool="mean"):
    """Pooled hidden states by hand: mean over real non-special tokens (or the last token)."""
    batch = answer_batch(mllm, its)
    with torch.no_grad():
        hs = mllm.module(**batch.inputs, output_hidden_states=True).hidden_states
    special = torch.isin(batch.inputs["input_ids"], torch.tensor(sorted(mllm.special_ids)))
    mask = batch.inputs["attention_mask"].bool() & ~special
    out = {}
    for layer in layers:
        h = hs[layer + 1] if layer + 1 < len(hs) - 1 else None
        if h is None:  # HF's last hidden state is after the final norm: read the layer itself
            with torch.no_grad(), mllm.trace(batch.inputs):
                h = mllm.layers[layer].output.save()
        if pool == "last":
            out[layer] = h[:, -1]
        else:
            m = mask.unsqueeze(-1).float()
            out[layer] = (h * m).sum(1) / m.sum(1)
    return out


def condition_vector(d_model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return SteeringVector.from_tensors({0: torch.randn(d_model, generator=g), 1: torch.randn(d_model, generator=g)})


@pytest.mark.parametrize("pool", ["mean", "last"])
def test_grid_scores_are_the_pooled_similarities_and_best_is_the_best_split(load_tiny, sets, pool):
    mllm = load_tiny("paligemma")
    pos, neg = sets
    c = condition_vector(mllm.d_model)
    grid = condition_grid(mllm, pos, neg, c, pool=pool, batch_size=4)
    hp, hn = hand_pooled(mllm, pos, [0, 1], pool), hand_pooled(mllm, neg, [0, 1], pool)
    best_f1 = 0.0
    for layer in (0, 1):
        cu = c.at(layer) / c.at(layer).norm()
        sp = ((hp[layer] @ cu).abs() / hp[layer].norm(dim=-1)).numpy()
        sn = ((hn[layer] @ cu).abs() / hn[layer].norm(dim=-1)).numpy()
        got = grid.scores[grid.scores.layer == layer]
        np.testing.assert_allclose(got[got.set == "positive"].sim, sp, rtol=1e-4)
        np.testing.assert_allclose(got[got.set == "negative"].sim, sn, rtol=1e-4)
        # brute force: every split of the sorted similarities, both comparators
        for t in np.concatenate([sp, sn]):
            for above in (True, False):
                for strict_t in (t - 1e-9, t + 1e-9):
                    fp_pos = (sp > strict_t) if above else (sp < strict_t)
                    fp_neg = (sn > strict_t) if above else (sn < strict_t)
                    tp, fp = fp_pos.sum(), fp_neg.sum()
                    fn = len(sp) - tp
                    best_f1 = max(best_f1, 2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    assert grid.best.f1 == pytest.approx(best_f1)
    assert grid.best.pool == pool
    row = grid.grid[(grid.grid.layer == grid.best.layer) & (grid.grid.threshold == grid.best.threshold)
                    & (grid.grid.comparator == grid.best.comparator)].iloc[0]
    sims = grid.scores[grid.scores.layer == grid.best.layer]
    fired_pos = grid.best.fires(torch.tensor(sims[sims.set == "positive"].sim.to_numpy()))
    fired_neg = grid.best.fires(torch.tensor(sims[sims.set == "negative"].sim.to_numpy()))
    assert (row.tp, row.fp) == (int(fired_pos.sum()), int(fired_neg.sum()))
    assert set(grid.grid.comparator) == {"above", "below"} and set(grid.grid.layer) == {0, 1}


def test_contrast_condition_is_the_difference_of_pooled_means(load_tiny, sets):
    mllm = load_tiny("paligemma")
    pos, neg = sets
    c = contrast_condition(mllm, pos, neg, layers=[0], batch_size=4)
    hp, hn = hand_pooled(mllm, pos, [0]), hand_pooled(mllm, neg, [0])
    torch.testing.assert_close(c.at(0), hp[0].mean(0) - hn[0].mean(0), rtol=1e-4, atol=1e-5)
    assert c.meta.method == "cast-contrast" and c.meta.corpus_size == 12


def base_and_steered(mllm, its, steer):
    batch = answer_batch(mllm, its)
    rows = torch.arange(len(its))
    base = steered_logits(mllm, batch.inputs)[rows, batch.last]
    moved = steered_logits(mllm, batch.inputs, steer)[rows, batch.last]
    return batch.metric(base), batch.metric(moved)


def test_input_gate_steers_exactly_the_items_whose_pooled_state_fires(load_tiny, sets):
    mllm = load_tiny("paligemma")
    pos, neg = sets
    c = condition_vector(mllm.d_model, seed=1)
    sims = cast_similarity(hand_pooled(mllm, pos + neg, [1])[1], c.at(1))
    found = CastCondition(layer=1, threshold=float(sims.median()), comparator="above", f1=0.0)
    v = torch.randn(mllm.d_model)
    # Condition read at layer 1, behaviour added at layer 0: decided on the unsteered pass.
    run = cast_steer(mllm, {"pos": pos, "neg": neg}, c, found, v, 3.0, layer=0, tokens="image", batch_size=4)
    fired = (sims > found.threshold).numpy()
    np.testing.assert_array_equal(run.items.fired.to_numpy(), fired)
    assert 0 < fired.sum() < len(fired)
    m0, m1 = base_and_steered(mllm, pos + neg, add(v, 0, 3.0, "image"))
    np.testing.assert_allclose(run.items.metric_base, m0.numpy(), rtol=1e-5, atol=1e-5)
    want = np.where(fired, m1.numpy(), m0.numpy())
    np.testing.assert_allclose(run.items.metric_steered, want, rtol=1e-5, atol=1e-5)
    summary = run.summary.set_index("set")
    assert summary.loc["pos", "fire_rate"] == pytest.approx(fired[:6].mean())
    assert summary.loc["neg", "n"] == 6
    assert summary.loc["pos", "delta_acc"] == pytest.approx(summary.loc["pos", "acc_steered"] - summary.loc["pos", "acc_base"])


def test_token_gate_is_interp_steering_conditional(load_tiny, sets):
    mllm = load_tiny("paligemma")
    pos, _ = sets
    c = condition_vector(mllm.d_model, seed=2)
    found = CastCondition(layer=0, threshold=0.1, comparator="below", f1=0.0)
    v = torch.randn(mllm.d_model)
    run = cast_steer(mllm, {"pos": pos}, c, found, v, 2.0, tokens="both", gate="token")
    _, m1 = base_and_steered(mllm, pos, conditional(v, c, 0, 2.0, threshold=0.1, above=False, tokens="both"))
    np.testing.assert_allclose(run.items.metric_steered, m1.numpy(), rtol=1e-5, atol=1e-5)
    assert ((run.items.fired_share >= 0) & (run.items.fired_share <= 1)).all()
    assert (run.items.metric_steered != run.items.metric_base).any()


def test_bad_input_is_refused_and_nothing_is_left_behind(load_tiny, sets):
    mllm = load_tiny("paligemma")
    pos, neg = sets
    c = condition_vector(mllm.d_model)
    found = CastCondition(layer=0, threshold=0.1, comparator="above", f1=0.0)
    with pytest.raises(ValueError, match="the positive set is empty"):
        condition_grid(mllm, [], neg, c)
    with pytest.raises(ValueError, match="must be all Items or all prompt strings"):
        condition_grid(mllm, [pos[0], "a prompt"], neg, c)
    with pytest.raises(ValueError, match="condition must be a SteeringVector"):
        condition_grid(mllm, pos, neg, torch.ones(mllm.d_model))
    with pytest.raises(ValueError, match="this custom vector for 'custom' has no layer 1"):
        condition_grid(mllm, pos, neg, SteeringVector.from_tensors({0: torch.ones(mllm.d_model)}), layers=[1])
    with pytest.raises(ValueError, match="pool must be one of"):
        condition_grid(mllm, pos, neg, c, pool="max")
    with pytest.raises(ValueError, match="comparators must be"):
        condition_grid(mllm, pos, neg, c, comparators=["over"])
    with pytest.raises(ValueError, match="thresholds as a count must be >= 2"):
        condition_grid(mllm, pos, neg, c, thresholds=1)
    with pytest.raises(ValueError, match="gate='token' steers at the condition layer 0"):
        cast_steer(mllm, {"pos": pos}, c, found, torch.ones(mllm.d_model), 1.0, layer=1, gate="token")
    with pytest.raises(ValueError, match="must hold Items"):
        cast_steer(mllm, {"pos": ["a prompt"]}, c, found, torch.ones(mllm.d_model), 1.0)
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        cast_steer(mllm, {"pos": pos}, c, found, torch.ones(mllm.d_model), float("nan"))
    # Raising midway (the second set's selector picks nothing) leaves the model as it was.
    before, hooks = snapshot(mllm.module), hook_state(mllm.module)
    bad = CastCondition(layer=0, threshold=0.1, comparator="above", f1=0.0, tokens=torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask selector has shape"):
        cast_steer(mllm, {"pos": pos}, c, bad, torch.ones(mllm.d_model), 1.0)
    assert hook_state(mllm.module) == hooks and same_weights(before, mllm.module)
