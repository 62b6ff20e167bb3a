"""The sweep: shared-work results equal the naive per-cell loop, the paper's selection rule,
resuming after SIGKILL, and clear errors."""

from __future__ import annotations

import importlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from interp.answers import last_logits
from interp.evaluation.cells import BasePass, random_direction
from interp.evaluation.store import ResultStore
from interp.evaluation.sweep import _choose, sweep
from interp.steering import add

WORKER = Path(__file__).with_name("sweep_worker.py")
sys.path.insert(0, str(WORKER.parent))
import sweep_worker  # noqa: E402


@pytest.fixture(scope="module")
def setup():
    return sweep_worker.setup()


_key_rows = sweep_worker.key_rows


def test_shared_work_equals_the_naive_loop_cell_for_cell(setup):
    mllm, args = setup
    fast = sweep(mllm, naive=False, **args)
    naive = sweep(mllm, naive=True, **args)
    a, b = _key_rows(fast.rows), _key_rows(naive.rows)
    assert len(a) == len(b) > 0
    assert (a["pred"] == b["pred"]).all()
    assert (a["p_correct"] - b["p_correct"]).abs().max() <= 1e-5
    pd.testing.assert_frame_equal(fast.grid, naive.grid)
    pd.testing.assert_frame_equal(fast.table, naive.table)
    # Every grid cell on every train item of its task, plus the test cells.
    n_train = len(args["train"])
    n_grid = 3 * 3 * 2
    assert (a["condition"] == "steered").sum() >= n_grid * n_train


@pytest.mark.parametrize("family", ["paligemma", "gemma3", "idefics3", "llava", "qwen2_vl"])
def test_base_pass_equals_a_full_steered_forward_in_every_family(family, load_tiny):
    from interp.testing import tiny_image

    mllm = load_tiny(family)
    inputs = mllm.encode(["what is this?", "is the cube left of it?"], [tiny_image(), tiny_image(seed=1)])
    bp = BasePass(mllm, inputs, list(range(mllm.n_layers)))
    torch.testing.assert_close(bp.unsteered, last_logits(mllm, inputs), rtol=0, atol=1e-5)
    v = torch.randn(mllm.d_model)
    for layer in range(mllm.n_layers):
        for sel in ("image", "text", "both"):
            s = add(v, layer, 3.0, sel)
            torch.testing.assert_close(bp.steered(s), last_logits(mllm, inputs, [s]), rtol=0, atol=1e-5)


def test_selection_takes_the_best_train_gain_ties_to_the_smaller_strength():
    grid = pd.DataFrame({
        "vector": ["v"] * 5, "task": ["Count"] * 5, "selector": ["image"] * 5,
        "layer": [0, 0, 1, 1, 2], "strength": [2.0, -1.0, 1.0, 0.5, 0.5],
        "n_correct": [7, 7, 7, 5, 7], "cell": list("abcde"),
    })
    chosen = _choose(grid)
    assert list(chosen["cell"]) == ["e"]  # gains tie at 7: |0.5| beats 1 and 2
    grid.loc[grid["cell"] == "e", "n_correct"] = 6
    assert list(_choose(grid)["cell"]) == ["b"]  # |-1| = |1|: the lower layer (0) wins
    grid.loc[grid["cell"] == "c", "layer"] = 0
    assert list(_choose(grid)["cell"]) == ["c"]  # same layer and |strength|: the positive sign
    grid.loc[grid["cell"] == "d", "n_correct"] = 9
    assert list(_choose(grid)["cell"]) == ["d"]  # a larger gain beats every tie-break


def test_random_directions_have_the_norm_of_the_vector():
    v = torch.randn(32)
    dirs = [random_direction(v, s) for s in range(5)]
    for d in dirs:
        assert float(d.norm()) == pytest.approx(float(v.norm()), rel=1e-6)
    assert not torch.equal(dirs[0], dirs[1])
    assert torch.equal(dirs[0], random_direction(v, 0))


def test_a_rerun_reuses_every_row_and_runs_no_forward(setup, tmp_path, monkeypatch):
    mllm, args = setup
    path = tmp_path / "s.sqlite"
    first = sweep(mllm, store=path, **args)
    calls = []
    sw = importlib.import_module("interp.evaluation.cells")  # where run_cells looks _run_batch up

    monkeypatch.setattr(sw, "_run_batch", lambda *a, **k: calls.append(1))
    second = sweep(mllm, store=path, **args)
    assert calls == []
    pd.testing.assert_frame_equal(_key_rows(first.rows), _key_rows(second.rows))
    with ResultStore(path) as store:
        assert store.count() == len(first.rows.drop_duplicates(["cell", "item_id"]))


def test_two_runs_with_the_same_seed_are_identical(setup):
    mllm, args = setup
    a = sweep(mllm, **args)
    b = sweep(mllm, **args)
    pd.testing.assert_frame_equal(_key_rows(a.rows), _key_rows(b.rows))
    pd.testing.assert_frame_equal(a.table, b.table)


def _run_worker(store: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(WORKER), str(store), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rows_in(store: Path) -> int:
    if not store.exists():
        return 0
    import sqlite3

    try:
        con = sqlite3.connect(store, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0


PAUSE = 0.5


@pytest.mark.slow
def test_a_sweep_killed_ten_times_resumes_to_the_uninterrupted_result(setup, tmp_path):
    mllm, args = setup
    reference = sweep(mllm, naive=True, **args)
    total = len(reference.rows.drop_duplicates(["cell", "item_id"]))
    store = tmp_path / "killed.sqlite"
    rng = random.Random(0)
    for kill in range(10):
        before = _rows_in(store)
        assert before < total, f"the sweep finished after {kill} kills: it must be bigger than 10 runs' work"
        # The worker sleeps PAUSE after each committed batch. Once it has committed one (so every
        # kill leaves progress behind), it is killed within PAUSE + 0.1 s: between batches, or in
        # the next batch's forward or commit. So a run commits at most two of the sweep's batches,
        # however fast the machine: ten kills never finish it (the sweep has 24 batches).
        proc = _run_worker(store, "--pause", str(PAUSE))
        deadline = time.monotonic() + 120
        while proc.poll() is None and _rows_in(store) <= before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, PAUSE + 0.1))
        assert proc.poll() is None, f"the worker ended before it was killed: {proc.communicate()[1].decode()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _rows_in(store) > before, "a run was killed before it committed a batch"
    proc = _run_worker(store)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    with ResultStore(store) as db:
        rows = db.rows()
    assert len(rows) == total
    assert not rows.duplicated(["cell", "item_id"]).any()
    resumed = sweep(mllm, store=store, naive=True, **args)
    pd.testing.assert_frame_equal(_key_rows(resumed.rows), _key_rows(reference.rows))
    pd.testing.assert_frame_equal(resumed.table, reference.table)


def test_bad_sweep_arguments_are_refused(setup):
    mllm, args = setup
    bad = {
        "layers": ("all", "layers must be a list of ints"),
        "strengths": ([float("nan")], "strengths must be finite numbers"),
        "selectors": (["pixels"], "the sweep takes named selectors"),
        "train": ([], "no items to score"),
        "n_random": (-1, "n_random must be a non-negative int"),
        "batch_size": (0, "batch_size must be a positive int"),
        "targets": ({"w": ["Count"]}, "targets names vector 'w'"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(ValueError, match=message):
            sweep(mllm, **{**args, name: value})
    with pytest.raises(ValueError, match="train and test share items"):
        sweep(mllm, **{**args, "test": args["train"]})
    with pytest.raises(ValueError, match="out of range"):
        sweep(mllm, **{**args, "layers": [7]})


def test_faithful_scoring_reports_agreement_with_the_paper_parser(setup):
    from interp.evaluation.scoring import agreement, score

    mllm, args = setup
    res = sweep(mllm, faithful=True, **args)
    table = res.table
    for col in ("accuracy_generate", "agreement", "unparsed", "unsteered_accuracy_generate", "unsteered_agreement"):
        assert col in table, col
    count = [it for it in args["test"] if it.task == "Count"]
    direct = agreement(score(mllm, count), score(mllm, count, method="generate"))
    row = table[table["task"] == "Count"].iloc[0]
    assert row["unsteered_agreement"] == pytest.approx(direct["agreement"])
    assert row["unsteered_accuracy_generate"] == pytest.approx(direct["accuracy_generate"])
    assert (table["unparsed"] >= 0).all()
    # The logit-scored table figures are the same with or without the faithful columns.
    plain = sweep(mllm, **args).table
    pd.testing.assert_frame_equal(plain, table[plain.columns])


@pytest.mark.parametrize("relative", [True, False])
def test_a_strength_too_large_for_float32_is_refused_naming_the_cell(setup, relative):
    """Once silently wrong: NaN probabilities, prediction 0, items answered A counted correct."""
    mllm, args = setup
    with pytest.raises(ValueError, match=r"steered cell \(vector 'v', layer 0, strength 1e\+39 \(alpha=.*\), "
                       r"selector 'image'\): \|alpha \* v\| = .* is too large to compute in float32"):
        sweep(mllm, **{**args, "strengths": [1e39], "relative": relative, "selectors": ["image"]})


@pytest.mark.parametrize("naive", [False, True])
def test_nan_logits_are_never_scored_as_an_answer(setup, naive):
    import math

    mllm, args = setup

    def overflow(module, inputs, output):  # stands in for an overflow inside the model
        return torch.full_like(output, math.nan)

    handle = mllm.lm_head.register_forward_hook(overflow)
    try:
        with pytest.raises(ValueError, match=r"the unsteered cell gave NaN or inf logits for the answer options "
                           r"of 1 of 1 items .*never scored as an answer"):
            sweep(mllm, **{**args, "naive": naive})
    finally:
        handle.remove()
