"""Remote models through nnsight's ``remote="local"`` dry run of NDIF: the request counter, and
the sweep's fast remote path (one session per batch: base pass and cells together) on the tiny
model of every family against the local shared-work path."""

from __future__ import annotations

import warnings

import pytest
import torch

from interp.evaluation.cells import Cell, _keyed, run_cells
from interp.evaluation.store import ResultStore
from interp.items import Item
from interp.testing import tiny_image, tiny_mllm_dir

FAMILIES = ["paligemma", "gemma3", "idefics3", "llava", "qwen2_vl"]


def remote_tiny(family, tiny_root):
    from interp.models import load_mllm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_mllm(tiny_mllm_dir(family, tiny_root), remote="local")


def items(n=3):
    return [
        Item(f"tiny/{i}", (tiny_image(seed=i),), "Is the red cube left of the sphere?", ("yes", "no"), i % 2,
             task="Relation", source="tiny")
        for i in range(n)
    ]


def grid(mllm):
    g = torch.Generator().manual_seed(0)
    d = torch.randn(mllm.d_model, generator=g)
    fp = mllm.fingerprint().store_key(mllm.name)
    cells = [_keyed(Cell("unsteered", tasks=("Relation",)), fp)]
    for layer in (0, 1):
        for sel, alpha in (("image", 2.0), ("text", -3.0), ("both", 0.0)):
            cells.append(_keyed(Cell("steered", "v", "meanshift", "spatial", layer, sel, alpha, alpha, d,
                                     tasks=("Relation",)), fp))
    cells.append(_keyed(Cell("prompt", concept="spatial", prefix="Look at where things are. ", tasks=("Relation",)), fp))
    return cells


def scored(mllm, **kw):
    with ResultStore(":memory:") as store:
        cells = grid(mllm)
        run_cells(mllm, items(), cells, store, split="train", batch_size=3, **kw)
        rows = store.rows([c.key for c in cells])
    order = {c.key: k for k, c in enumerate(cells)}
    rows["order"] = rows["cell"].map(order)
    return rows.sort_values(["order", "item_id"]).reset_index(drop=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_remote_cells_equal_the_local_shared_pass_on_every_family(family, load_tiny, tiny_root):
    local = load_tiny(family)
    remote = remote_tiny(family, tiny_root)
    want = scored(local)
    got = scored(remote)
    assert remote.requests == 1  # one batch: the base pass, every cell and the prompting baseline
    assert len(got) == len(want) == 3 * len(grid(local))
    assert got["pred"].tolist() == want["pred"].tolist()
    torch.testing.assert_close(torch.tensor(got["p_correct"].to_numpy()), torch.tensor(want["p_correct"].to_numpy()), atol=1e-5, rtol=0)


def test_the_request_counter_counts_traces_and_sessions_not_local_runs(load_tiny, tiny_root):
    local = load_tiny("paligemma")
    remote = remote_tiny("paligemma", tiny_root)
    inputs = local.encode(["a cube"], [tiny_image(seed=0)])
    with torch.no_grad(), remote.trace(inputs):
        h = remote.layers[0].output.save()
    assert remote.requests == 1
    with torch.no_grad(), remote.session():
        with remote.nn.trace(dict(inputs)):
            a = remote.layers[0].output.save()
        with remote.nn.trace(dict(inputs)):
            b = remote.layers[1].output.save()
    assert remote.requests == 2  # a session of two traces is one request
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(h))
    assert torch.as_tensor(b).shape == torch.as_tensor(a).shape
    with torch.no_grad(), local.trace(inputs):
        local.layers[0].output.save()
    assert local.requests == 0


def test_unembed_refuses_a_remote_model(tiny_root):
    remote = remote_tiny("paligemma", tiny_root)
    with pytest.raises(ValueError, match=r"unembed .* runs on local weights, but .* is remote \(remote='local'\)"):
        remote.unembed(torch.zeros(1, remote.d_model))
