"""The sweep's own replication and specificity columns, its random-control column, and the
structurally dead cells it skips (checked against a naive steered forward)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interp.evaluation import score
from interp.evaluation.controls import replicate, specificity, specificity_columns
from interp.evaluation.sweep import dead_cell, sweep
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.steering import add

sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker


@pytest.fixture(scope="module")
def organism():
    import interp

    mllm = interp.load_mllm("organism")
    vectors = sweep_worker.random_vectors(mllm, ["counting", "spatial_relationship"], seed=1)
    train = [from_record(d) for d in make_split("val", 4, tasks=["Count"])]
    test = [from_record(d) for d in make_split("test", 4, tasks=["Count"])]
    fresh = [from_record(d, id_prefix="fresh") for d in make_split("test", 6, seed=7, tasks=["Count"])]
    return mllm, vectors, train, test, fresh


def test_dead_cell_rule_names_off_answer_selectors_at_the_last_layer_only():
    assert dead_cell(4, 3, "image") and dead_cell(4, 3, "text") and dead_cell(4, 3, "both")
    assert not dead_cell(4, 3, "last") and not dead_cell(4, 3, "all")
    assert not any(dead_cell(4, layer, "image") for layer in (0, 1, 2))


def test_the_sweep_skips_dead_cells_which_really_equal_the_unsteered_model(organism):
    mllm, vectors, train, test, _ = organism
    last = mllm.n_layers - 1
    v = {"random/counting": vectors["random/counting"]}
    res = sweep(mllm, v, layers=[last - 1, last], strengths=[-2.0, 2.0], selectors=["image", "last"],
                train=train, test=test, n_random=0, prompt_baseline=False, batch_size=4, progress=False)
    steered = res.grid[res.grid["condition"] == "steered"]
    dead = steered[(steered["layer"] == last) & (steered["selector"] == "image")]
    assert len(dead) == 2 and dead["skipped"].all() and (dead["gain"] == 0).all()
    assert not steered[steered["selector"] == "last"]["skipped"].any()
    assert res.config["skipped"] == [(last, "image")]
    # no forward was spent on them: the store holds no row of a last-layer image cell
    ran = res.rows[(res.rows["condition"] == "steered") & (res.rows["layer"] == last)]
    assert set(ran["selector"]) == {"last"}
    # never chosen; the image row's n_cells counts only the live layer
    image_row = res.table[res.table["selector"] == "image"].iloc[0]
    assert int(image_row["layer"]) == last - 1 and int(image_row["n_cells"]) == 2
    assert int(res.table[res.table["selector"] == "last"].iloc[0]["n_cells"]) == 4
    assert "Skipped (not run, never chosen): L3 image" in res.to_markdown()
    # the rule holds against a naive full forward: a large push on image tokens at the last layer
    # gives exactly the unsteered option distribution, while the same push one layer down does not
    d = v["random/counting"].at(last)
    base = score(mllm, test)
    at_last = score(mllm, test, add(d, last, 50.0, "image"))
    assert at_last["pred"].tolist() == base["pred"].tolist()
    assert at_last["p_correct"].tolist() == pytest.approx(base["p_correct"].tolist(), abs=1e-6)
    below = score(mllm, test, add(v["random/counting"].at(last - 1), last - 1, 50.0, "image"))
    assert below["p_correct"].tolist() != pytest.approx(base["p_correct"].tolist(), abs=1e-6)


def test_the_sweep_adds_replicated_and_specificity_columns_equal_to_the_controls(organism):
    mllm, vectors, train, test, fresh = organism
    targets = {name: ["Count"] for name in vectors}
    kw = dict(layers=[0, 1], strengths=[-2.0, 2.0], selectors=["image"], train=train, test=test, targets=targets,
              n_random=2, prompt_baseline=False, batch_size=4, progress=False)
    res = sweep(mllm, vectors, **kw, replicate=fresh, specificity=True, replicate_random=2)
    plain = sweep(mllm, vectors, **kw)
    table = res.table.set_index(["vector", "task", "selector"])
    rep = replicate(mllm, plain, vectors, fresh, n_random=2).set_index(["vector", "task", "selector"])
    for col in ("n_rep", "rep_gain", "rep_gain_low", "rep_gain_high", "rep_p_holm", "replicated"):
        assert table[col].tolist() == pytest.approx(rep.loc[table.index, col].tolist(), nan_ok=True), col
    spec = specificity_columns(specificity(mllm, plain, vectors, fresh)).set_index(["vector", "task", "selector"])
    for col in ("flipped_gain", "other_concepts_max_gain", "beats_flipped", "beats_other_concepts", "specific"):
        assert table[col].tolist() == spec.loc[table.index, col].tolist(), col
    assert res.replication is not None and res.specificity is not None
    assert set(res.specificity["control"]) == {"flipped", *vectors}
    md = res.to_markdown()
    for head in ("replicated gain [95% CI] (n)", "rep p (Holm)", "above random", "beats flipped sign",
                 "beats other concepts", "specific"):
        assert head in md, head
    assert f"({len(fresh)})" in md
    # two random directions measure no 95th percentile: the q95 columns say so (NaN), the max is there
    assert res.table["random_q95_gain"].isna().all() and res.table["above_random"].isna().all()
    assert (res.table["random_max_gain"] >= res.table["random_mean_gain"]).all()


def test_replicate_top_replicates_the_best_test_gains_and_leaves_the_rest_blank(organism):
    mllm, vectors, train, test, fresh = organism
    targets = {name: ["Count"] for name in vectors}
    res = sweep(mllm, vectors, layers=[0, 1], strengths=[-2.0, 2.0], selectors=["image", "both"], train=train,
                test=test, targets=targets, n_random=1, prompt_baseline=False, batch_size=4, progress=False,
                replicate=fresh, replicate_top=1)
    done = res.table[res.table["rep_gain"].notna()]
    positive = res.table[res.table["gain"] > 0]  # only a cell that gained on test is worth replicating
    assert len(done) == min(1, len(positive))
    if len(done):
        assert done["gain"].iloc[0] == positive["gain"].max()
    assert "| - |" in res.to_markdown()
    every = sweep(mllm, vectors, layers=[0, 1], strengths=[-2.0, 2.0], selectors=["image", "both"], train=train,
                  test=test, targets=targets, n_random=1, prompt_baseline=False, batch_size=4, progress=False,
                  replicate=fresh, replicate_top=None, replicate_random=1)
    assert every.table["rep_gain"].notna().all()  # None: every chosen cell, whatever its test gain


def test_the_sweep_refuses_a_replication_set_that_shares_items_with_train_or_test(organism):
    mllm, vectors, train, test, _ = organism
    with pytest.raises(ValueError, match="replication items are also train or test items"):
        sweep(mllm, vectors, layers=[0], strengths=[1.0], train=train, test=test, replicate=test[:2],
              prompt_baseline=False, progress=False)
    with pytest.raises(ValueError, match="replicate_top must be a positive int"):
        sweep(mllm, vectors, layers=[0], strengths=[1.0], train=train, test=test, replicate_top=0,
              prompt_baseline=False, progress=False)
