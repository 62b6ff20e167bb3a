"""The sweep and scoring on a remote model, through nnsight's ``remote="local"`` dry run of NDIF
(each request serialised as for the server, run here): equal to the local run (same predictions,
option probabilities within 1e-5: the local fast path runs the last layer's MLP at the answer
position only, the remote one the whole layer), one request per batch of items, and a remote job
that fails half-way keeps every finished batch and resumes."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

import interp
from interp.evaluation import load_benchmark, score, sweep
from interp.evaluation import remote as remote_mod
from interp.evaluation.cells import BasePass
from interp.evaluation.store import ResultStore
from interp.steering import add

ATOL = 1e-5


@pytest.fixture(scope="module")
def local():
    return interp.load_mllm("organism")


@pytest.fixture(scope="module")
def remote():
    return interp.load_mllm("organism", remote="local")


@pytest.fixture(scope="module")
def vector():
    backbone = interp.load_text_backbone(mllm="organism")
    return interp.compute(backbone, "counting", "meanshift", source="organism", layers=[1, 2])


@pytest.fixture(scope="module")
def data():
    train = list(load_benchmark("organism", split="train", tasks=["Count"]))[:6]
    test = list(load_benchmark("organism", split="test", tasks=["Count"]))[:6]
    return train, test


GRID = {"layers": [1, 2], "strengths": [-1.0, 1.0], "selectors": ["image", "text"]}
N_STEERED = 2 * 2 * 2  # layers x strengths x selectors (one vector)


def run(model, vector, data, store=None, *, with_test=True, **kw):
    train, test = data[0], (data[1] if with_test else None)
    kw = {"n_random": 1, "batch_size": 3, "progress": False, "n_calibration": 3, **kw}
    return sweep(model, {"m": vector}, train=train, test=test, store=store, **GRID, **kw)


def same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same cells and items, same predictions, option probabilities within ATOL."""
    cols = ["condition", "layer", "selector", "strength", "seed", "scoring", "item_id"]
    got = got.sort_values(cols).reset_index(drop=True)
    want = want.sort_values(cols).reset_index(drop=True)
    assert len(got) == len(want) > 0
    assert got[cols].equals(want[cols])
    assert got["pred"].tolist() == want["pred"].tolist()
    logits = want["scoring"] == "logits"
    torch.testing.assert_close(
        torch.tensor(got.loc[logits, "p_correct"].to_numpy()), torch.tensor(want.loc[logits, "p_correct"].to_numpy()),
        atol=ATOL, rtol=0,
    )


def test_fast_remote_sweep_equals_the_local_sweep_in_one_request_per_batch(local, remote, vector, data):
    want = run(local, vector, data)
    before = remote.requests
    got = run(remote, vector, data)
    same_rows(got.rows, want.rows)
    assert got.table[["layer", "selector", "strength"]].equals(want.table[["layer", "selector", "strength"]])
    # 1 calibration batch (3 items) + 2 train batches + 2 test batches: one request each
    assert remote.requests - before == 1 + 2 + 2


def test_faithful_remote_sweep_equals_the_local_one(local, remote, vector, data):
    want = run(local, vector, data, faithful=True, prompt_baseline=False)
    before = remote.requests
    got = run(remote, vector, data, faithful=True, prompt_baseline=False)
    same_rows(got.rows, want.rows)
    generated = got.rows[got.rows.scoring == "generate"]
    assert len(generated) and generated["probs"].tolist() == want.rows.loc[want.rows.scoring == "generate", "probs"].tolist()
    n_generated = generated["cell"].nunique()
    # calibration + train batches + per test batch: one session and one generation per generated cell
    assert remote.requests - before == 1 + 2 + 2 * (1 + n_generated)


def test_naive_remote_sweep_sends_one_request_per_cell_and_agrees(remote, vector, data):
    fast = run(remote, vector, data, with_test=False)
    before = remote.requests
    naive = run(remote, vector, data, naive=True, with_test=False)
    same_rows(naive.rows, fast.rows)
    # calibration, then per train batch the unsteered pass and each steered cell
    assert remote.requests - before == 1 + 2 * (1 + N_STEERED)


def test_a_grid_larger_than_one_request_is_split(remote, vector, data):
    whole = run(remote, vector, data, prompt_baseline=False)
    before = remote.requests
    split = run(remote, vector, data, prompt_baseline=False, cells_per_request=3)
    same_rows(split.rows, whole.rows)
    train = 2 * math.ceil(N_STEERED / 3)
    test_steered = 2 + 2  # the chosen cell per selector and its random direction
    assert remote.requests - before == 1 + train + 2 * remote_mod.n_requests(test_steered, 1, 3)


def test_a_remote_job_failing_half_way_keeps_finished_batches_and_a_rerun_resumes(remote, vector, data, tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    real = remote_mod.remote_option_logits
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("NDIF job failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(remote_mod, "remote_option_logits", flaky)
    with pytest.raises(ConnectionError, match="NDIF job failed"):
        run(remote, vector, data, store=path, prompt_baseline=False)
    with ResultStore(path) as store:
        kept = store.rows()
    train_ids = [it.id for it in data[0]]
    assert len(kept) == (1 + N_STEERED) * 3  # the first train batch: every cell on its 3 items
    assert set(kept["item_id"]) == set(train_ids[:3])
    monkeypatch.setattr(remote_mod, "remote_option_logits", real)
    before = remote.requests
    resumed = run(remote, vector, data, store=path, prompt_baseline=False)
    # calibration + the second train batch + 2 test batches: the finished batch is not rerun
    assert remote.requests - before == 1 + 1 + 2
    same_rows(resumed.rows, run(remote, vector, data, prompt_baseline=False).rows)


def test_score_on_a_remote_model_equals_local(local, remote, vector, data):
    items = data[1]
    steer = add(vector, 1, 2.0, "image")
    for steers in ((), steer):
        want = score(local, items, steers, batch_size=3)
        before = remote.requests
        got = score(remote, items, steers, batch_size=3)
        assert remote.requests - before == 2
        assert got["pred"].tolist() == want["pred"].tolist()
        torch.testing.assert_close(torch.tensor(got["p_correct"].to_numpy()), torch.tensor(want["p_correct"].to_numpy()), atol=ATOL, rtol=0)
    gen_want = score(local, items[:2], steer, method="generate", max_new_tokens=3, batch_size=2)
    gen_got = score(remote, items[:2], steer, method="generate", max_new_tokens=3, batch_size=2)
    assert gen_got["pred"].tolist() == gen_want["pred"].tolist()


def test_extraction_on_a_remote_text_backbone_equals_local():
    local = interp.load_text_backbone(mllm="organism")
    remote = interp.load_text_backbone(mllm="organism", remote="local")
    want = interp.compute(local, "counting", "meanshift", source="organism", layers=[0, 2], batch_size=8)
    got = interp.compute(remote, "counting", "meanshift", source="organism", layers=[0, 2], batch_size=8)
    assert remote.requests > 0
    for layer in (0, 2):
        torch.testing.assert_close(got.at(layer), want.at(layer), atol=1e-5, rtol=1e-5)


def test_a_remote_model_is_fingerprinted_without_its_weights(remote):
    fresh = interp.load_mllm("organism", remote="local")
    assert next(fresh.module.parameters()).device.type == "meta"
    fp = fresh.fingerprint().store_key(fresh.name)
    assert fp.startswith("organism@remote-") and fp == remote.fingerprint().store_key(remote.name)
    local = interp.load_mllm("organism")
    assert fp != local.fingerprint().store_key(local.name)


def test_the_local_base_pass_refuses_a_remote_model(remote, data):
    from interp.answers import encode_items

    with pytest.raises(ValueError, match=r"the shared base pass calls the decoder layers of local weights, but organism is remote"):
        BasePass(remote, encode_items(remote, data[0][:2]), [1])


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_bad_cells_per_request_is_refused_before_any_request(remote, vector, data, bad):
    before = remote.requests
    with pytest.raises(ValueError, match=r"cells_per_request must be a positive int"):
        run(remote, vector, data, cells_per_request=bad)
    assert remote.requests == before


def test_stacking_cells_on_a_remote_model_is_refused_before_any_request(remote, vector, data):
    before = remote.requests
    with pytest.raises(ValueError, match=r"cells_per_forward=4 stacks cells in a local forward; a remote model"):
        run(remote, vector, data, cells_per_forward=4)
    assert remote.requests == before


def test_the_request_benchmark_counts_one_request_per_batch(capsys):
    import importlib
    import json
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    sys.path.insert(0, str(bench))
    threads = torch.get_num_threads()
    try:
        importlib.import_module("remote_requests").main(["--quick"])
    finally:
        sys.path.remove(str(bench))
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "torch threads: 1" in out
    res = json.loads(out.strip().splitlines()[-1])["models"]["organism"]
    cal = res["calibration_requests"]
    assert res["requests"]["remote fast"] - cal == res["n_batches"] and res["pass"]
    assert res["requests"]["remote naive"] - cal == res["n_batches"] * (1 + res["n_cells"])
    assert res["requests"]["remote fast, split"] - cal == res["expected_grid_requests"]["remote fast, split"]
    assert res["same_as_local"] and res["same_as_naive"]
