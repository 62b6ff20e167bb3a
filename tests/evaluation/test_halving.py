"""Adaptive choosing: successive halving on the train side finds what the full grid finds, spends
fewer item x cell evaluations, never touches test items, and resumes after a kill."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interp.evaluation.cells import Cell
from interp.evaluation.halving import Halving, choose_by_halving
from interp.evaluation.store import ResultStore
from interp.evaluation.sweep import sweep
from interp.items import Item, from_record
from interp.organism.scenes import make_split

sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker


def test_the_schedule_and_the_share_that_survives():
    assert Halving(first=48).rounds(48) == [48]
    assert Halving(first=48).rounds(30) == [30]
    assert Halving(first=48, growth=3).rounds(1000) == [48, 144, 432, 1000]
    assert [Halving(keep=0.5).survivors(k) for k in (1, 2, 3, 4, 5, 9)] == [1, 2, 2, 2, 3, 5]
    for bad in (dict(first=0), dict(first=True), dict(keep=1.0), dict(keep=0), dict(growth=1.0), dict(growth=float("inf"))):
        with pytest.raises(ValueError, match="Halving"):
            Halving(**bad)


# -- the rule on synthetic cells: a planted gain, Bernoulli answers ------------------------------------
def _synthetic(n_cells: int, planted: int, gain: float, pool: int, seed: int = 0):
    """Cells of one group with paired answers: unsteered right with p 0.8; each cell flips an
    unsteered answer with probability 0.05, the planted cell wins ``gain`` more of those flips."""
    rng = np.random.default_rng(seed)
    items = [Item(id=f"i{k}", images=[], question="q", choices=("a", "b"), answer=0, task="T") for k in range(pool)]
    base = rng.random(pool) < 0.8
    cells = [Cell("steered", "v", "m", "c", layer=k, selector="image", strength=1.0, alpha=1.0, tasks=("T",),
                  key=f"c{k}") for k in range(n_cells)]
    answers = {}
    for k, c in enumerate(cells):
        flip = rng.random(pool) < 0.05
        right = np.where(flip, ~base, base)
        if k == planted:  # some wrong unsteered answers made right
            right = right | ((rng.random(pool) < gain / 0.2) & ~base)
        answers[c.key] = right
    unsteered = Cell("unsteered", tasks=("T",), key="u")
    answers["u"] = base
    return items, cells, unsteered, answers


def _grid_fn(answers, cells):
    meta = {c.key: c for c in cells}

    def grid_of(cs, items):
        idx = [int(it.id[1:]) for it in items]
        rows = []
        base = answers["u"][idx]
        for c in cs:
            r = answers[c.key][idx]
            rows.append({"cell": c.key, "task": "T", "condition": c.condition, "vector": c.vector, "selector": c.selector,
                         "layer": c.layer, "strength": c.strength, "n": len(idx), "n_correct": int(r.sum()),
                         "gain": float(r.mean() - base.mean())})
        return pd.DataFrame(rows)

    return grid_of, meta


def test_halving_keeps_the_planted_cell_and_spends_a_fraction_of_the_full_grid():
    items, cells, unsteered, answers = _synthetic(n_cells=27, planted=13, gain=0.08, pool=1296)
    grid_of, _ = _grid_fn(answers, cells)
    scored: list[tuple[int, int, int]] = []
    grid, schedule = choose_by_halving(cells, unsteered, items, Halving(first=48), lambda its, cs, r: scored.append((r, len(its), len(cs))), grid_of)
    assert [r["n_per_task"] for r in schedule] == [48, 144, 432, 1296]
    assert [r["cells"] for r in schedule] == [27, 9, 3, 2]
    final = grid[grid["finalist"]]
    assert list(final["cell"]) == ["c13"] and int(final["n"].iloc[0]) == 1296
    spent = sum(r["new_evaluations"] for r in schedule)
    assert spent == 27 * 48 + 9 * 96 + 3 * 288 + 2 * 864
    assert spent < 0.2 * 27 * 1296
    assert int(grid["n"].sum()) == spent  # each cell's n is what it was scored on
    assert [s[0] for s in scored] == [1, 2, 3, 4]


def test_a_group_of_one_is_decided_at_once_and_two_go_to_the_whole_pool():
    items, cells, unsteered, answers = _synthetic(n_cells=1, planted=0, gain=0.1, pool=500)
    grid_of, _ = _grid_fn(answers, cells)
    grid, schedule = choose_by_halving(cells, unsteered, items, Halving(first=50), lambda *a: None, grid_of)
    assert len(schedule) == 1 and grid["finalist"].sum() == 1  # nothing to choose between
    items, cells, unsteered, answers = _synthetic(n_cells=2, planted=0, gain=0.1, pool=500)
    grid_of, _ = _grid_fn(answers, cells)
    grid, schedule = choose_by_halving(cells, unsteered, items, Halving(first=50), lambda *a: None, grid_of)
    assert [r["cells"] for r in schedule] == [2, 2, 2, 2] and set(grid["n"]) == {500}


# -- on the organism ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def organism():
    import interp

    mllm = interp.load_mllm("organism")
    vectors = sweep_worker.random_vectors(mllm, ["counting"], seed=0)
    pool = [from_record(d) for d in make_split("val", 12, tasks=["Count"])]
    test = [from_record(d) for d in make_split("test", 4, tasks=["Count"])]
    return mllm, vectors, pool, test


KW = dict(layers=[0, 1, 2], strengths=[-2.0, 2.0], selectors=["image"], n_random=0, prompt_baseline=False,
          batch_size=4, progress=False)


def test_the_sweep_chooses_among_finalists_and_records_its_schedule(organism, tmp_path):
    mllm, vectors, pool, test = organism
    store = tmp_path / "s.sqlite"
    res = sweep(mllm, vectors, train=pool, test=test, store=store, halving=Halving(first=4, keep=0.5, growth=3), **KW)
    grid = res.grid[res.grid["condition"] == "steered"]
    assert res.config["halving"]["rounds"][0] == {"round": 1, "n_per_task": 4, "cells": 6, "new_evaluations": 24}
    finalists = grid[grid["finalist"].astype(bool)]
    assert len(finalists) == 1 and len(res.table) == 1
    assert res.table["layer"].iloc[0] == finalists["layer"].iloc[0]
    assert res.table["strength"].iloc[0] == finalists["strength"].iloc[0]
    assert set(grid["n"]) <= {4, 12}
    db = ResultStore(store)
    note = db.note(next(k[len("note:"):] for (k,) in db.conn.execute("SELECT key FROM meta WHERE key LIKE 'note:halving:%'")))
    assert json.loads(note)["evaluations"] == res.config["halving"]["evaluations"] < json.loads(note)["full_grid_evaluations"]
    rows = db.rows()
    steered_train = rows[(rows["condition"] == "steered") & (rows["split"] == "train")]
    assert len(steered_train) == res.config["halving"]["evaluations"]  # nothing scored beyond the schedule
    assert not set(steered_train["item_id"]) & {it.id for it in test}
    db.close()


def test_one_round_is_the_full_grid(organism):
    mllm, vectors, pool, test = organism
    small = [it for it in pool][:4]
    full = sweep(mllm, vectors, train=small, test=test, **KW)
    halved = sweep(mllm, vectors, train=small, test=test, halving=Halving(first=4), **KW)
    cols = ["vector", "task", "selector", "layer", "strength", "gain"]
    assert full.table[cols].equals(halved.table[cols])


def test_a_killed_halving_resumes_with_the_same_choice(organism, tmp_path, monkeypatch):
    sweep_module = sys.modules["interp.evaluation.sweep"]  # the module, not the function of that name
    mllm, vectors, pool, test = organism
    kw = dict(train=pool, test=test, halving=Halving(first=4, keep=0.5, growth=3), **KW)
    whole = sweep(mllm, vectors, store=tmp_path / "whole.sqlite", **kw)
    real = sweep_module.run_cells
    calls = {"n": 0}

    def dies_in_round_two(mllm_, items, cells, db, **k):
        if k.get("split") == "train" and len(items) > 4:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real(mllm_, items, cells, db, **k)

    monkeypatch.setattr(sweep_module, "run_cells", dies_in_round_two)
    with pytest.raises(KeyboardInterrupt):
        sweep(mllm, vectors, store=tmp_path / "killed.sqlite", **kw)
    monkeypatch.setattr(sweep_module, "run_cells", real)
    before = ResultStore(tmp_path / "killed.sqlite")
    done = before.count()
    before.close()
    assert done > 0
    resumed = sweep(mllm, vectors, store=tmp_path / "killed.sqlite", **kw)
    cols = ["vector", "task", "selector", "layer", "strength", "gain"]
    assert resumed.table[cols].equals(whole.table[cols])
    assert resumed.config["halving"] == whole.config["halving"]


def test_the_cli_chooses_by_halving_and_writes_the_transfer_cost(tmp_path):
    from typer.testing import CliRunner

    import interp
    from interp.cli import app

    backbone = interp.load_text_backbone(mllm="organism")
    saved = interp.compute(backbone, "counting", "meanshift", source="organism", layers=[1]).save(tmp_path / "v")
    out = tmp_path / "run"
    args = ["sweep", "--model", "organism", "--vector", str(saved), "--tasks", "Count", "Attribute", "--layers", "1",
            "--strengths", "-1", "1", "--n-train", "6", "--n-test", "3", "--n-random", "0", "--no-prompt-baseline",
            "--halving-first", "2", "--transfer", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["halving"]["rounds"][0]["n_per_task"] == 2 and config["halving"]["rounds"][-1]["n_per_task"] == 6
    cost = pd.read_csv(out / "transfer.csv")
    assert set(cost["other_task"]) == {"Attribute", "Count"}  # each task's chosen cell on the other one
