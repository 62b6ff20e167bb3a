"""Cells batched together (``cells_per_forward``): equal to one cell at a time, budget refusals."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from interp.evaluation import cells as cells_mod
from interp.evaluation.cells import BasePass, _repeat_rows, _UnknownLayout
from interp.evaluation.sweep import sweep
from interp.steering import add

sweep_mod = importlib.import_module("interp.evaluation.sweep")  # the module: the package exports a function of that name
sys.path.insert(0, str(Path(__file__).parent))
import sweep_worker  # noqa: E402

# Stacking changes the shapes of the matmuls above the edited layer, so float rounding may
# differ in the last bits: the tolerance on logits / probabilities, with identical predictions.
ATOL = 1e-5


@pytest.fixture(scope="module")
def setup():
    return sweep_worker.setup()


_key_rows = sweep_worker.key_rows


@pytest.mark.parametrize("family", ["paligemma", "gemma3", "idefics3", "llava", "qwen2_vl"])
@pytest.mark.parametrize("rows", [1, 2])
def test_stacked_steers_equal_one_at_a_time_in_every_family(family, rows, load_tiny):
    from interp.testing import tiny_image

    mllm = load_tiny(family)
    prompts = ["what is this?", "is the cube left of it?"][:rows]
    inputs = mllm.encode(prompts, [tiny_image(seed=i) for i in range(rows)])
    bp = BasePass(mllm, inputs, [0])
    g = torch.Generator().manual_seed(1)
    steers = [add(torch.randn(mllm.d_model, generator=g), 0, a, sel)
              for a, sel in [(1.0, "image"), (3.0, "text"), (-2.0, "both")]]
    stacked = bp.steered_stacked(steers)
    assert len(stacked) == len(steers)
    for s, got in zip(steers, stacked):
        want = bp.steered(s)
        assert got.shape == want.shape == (rows, want.shape[-1])
        torch.testing.assert_close(got, want, rtol=0, atol=ATOL)
        assert torch.equal(got.argmax(-1), want.argmax(-1))
    # The steers really differ, so equal results are not the unsteered logits thrice.
    assert not torch.allclose(stacked[0], stacked[1])


def test_a_sweep_with_cells_stacked_equals_one_cell_at_a_time(setup, monkeypatch):
    mllm, args = setup
    args = {**args, "batch_size": 2}
    one = sweep(mllm, **args)
    widths: list[int] = []
    run_layers = BasePass._run_layers

    def counting(self, layer, h, inputs_of):  # type: ignore[no-untyped-def]
        widths.append(int(h.shape[0]))
        return run_layers(self, layer, h, inputs_of)

    monkeypatch.setattr(BasePass, "_run_layers", counting)
    stacked = sweep(mllm, cells_per_forward=4, max_batch_tokens=10**6, **args)
    # 3 strengths x 2 selectors = 6 cells per layer: stacks of 4 and 2 (x 2 items per batch).
    assert 8 in widths and 4 in widths
    a, b = _key_rows(one.rows), _key_rows(stacked.rows)
    assert len(a) == len(b) > 0
    assert (a["pred"] == b["pred"]).all()
    assert (a["p_correct"] - b["p_correct"]).abs().max() <= ATOL
    pd.testing.assert_frame_equal(one.grid, stacked.grid)
    pd.testing.assert_frame_equal(one.table, stacked.table)


def test_a_stack_over_the_token_budget_is_refused_before_any_forward(setup, monkeypatch):
    mllm, args = setup
    args = {**args, "batch_size": 2}
    calls: list[str] = []
    monkeypatch.setattr(cells_mod.BasePass, "__init__", lambda *a, **k: calls.append("base"))
    monkeypatch.setattr(sweep_mod, "residual_norms", lambda *a, **k: calls.append("calibration"))
    inputs = cells_mod.encode_items(mllm, args["train"][:2])
    length = int(inputs["input_ids"].shape[1])
    budget = 3 * 2 * length  # three cells of two items fit, four do not
    with pytest.raises(ValueError, match=r"stack of 4 cells x 2 items .* over max_batch_tokens=.*cells_per_forward=3 fits"):
        sweep(mllm, cells_per_forward=4, max_batch_tokens=budget, **args)
    assert calls == []
    with pytest.raises(ValueError, match="no stack of 2 fits"):
        sweep(mllm, cells_per_forward=4, max_batch_tokens=length, **args)
    assert calls == []


def test_bad_cell_batching_arguments_are_refused(setup):
    mllm, args = setup
    bad = [
        ({"cells_per_forward": 0}, "cells_per_forward must be a positive int"),
        ({"cells_per_forward": True}, "cells_per_forward must be a positive int"),
        ({"cells_per_forward": 2.0}, "cells_per_forward must be a positive int"),
        ({"max_batch_tokens": 0}, "max_batch_tokens must be a positive int"),
        ({"max_batch_tokens": "lots"}, "max_batch_tokens must be a positive int"),
        ({"cells_per_forward": 4, "naive": True}, "naive=True scores each cell"),
    ]
    for extra, message in bad:
        with pytest.raises(ValueError, match=message):
            sweep(mllm, **{**args, **extra})


def test_layer_inputs_are_repeated_along_the_batch_and_unknown_layouts_refused():
    mask = torch.arange(2 * 3).reshape(2, 1, 3)
    pos = torch.zeros(1, 3)
    cache_position = torch.arange(3)
    memo: dict[int, torch.Tensor] = {}
    out = _repeat_rows({"attention_mask": mask, "pos": (pos, pos), "cache": cache_position, "flag": True}, 2, 3, memo)
    assert torch.equal(out["attention_mask"], torch.cat([mask] * 3))
    assert out["pos"][0] is pos and out["cache"] is cache_position and out["flag"] is True
    again = _repeat_rows([mask], 2, 3, memo)
    assert again[0] is out["attention_mask"]  # a tensor shared by several layers is repeated once
    with pytest.raises(_UnknownLayout):
        _repeat_rows(torch.zeros(3, 5), 2, 3, {})


def test_run_cells_refuses_its_exact_largest_stack_before_any_forward(setup, monkeypatch):
    from interp.evaluation.cells import Cell, _keyed, run_cells
    from interp.evaluation.store import ResultStore

    mllm, args = setup
    items = args["train"][:2]
    v = args["vectors"]["v"].at(1)
    cells = [_keyed(Cell("steered", "v", layer=1, selector="image", strength=a, alpha=a, direction=v,
                         tasks=(items[0].task,)), "m") for a in (1.0, 2.0, 3.0)]
    calls: list[str] = []
    monkeypatch.setattr(cells_mod.BasePass, "__init__", lambda *a, **k: calls.append("base"))
    length = int(cells_mod.encode_items(mllm, [items[0]])["input_ids"].shape[1])
    store = ResultStore(":memory:")
    with pytest.raises(ValueError, match="a stack of 3 cells x 1 items"):
        run_cells(mllm, [items[0]], cells, store, split="train", batch_size=1, cells_per_forward=8,
                  max_batch_tokens=3 * length - 1)
    assert calls == [] and store.rows([c.key for c in cells]).empty
