"""Half precision (bfloat16, float16): loading, steering, the sweep against its naive loop,
vectors cast at the edit, relative strengths in float32, and float16 overflow refused.

Tolerance of the bfloat16 sweep against the naive loop: option probabilities within 1/128, the
same predictions. Both paths compute every layer with the same kernels except the last layer's
MLP, which the fast path runs on the answer position alone (a matmul of another shape); on the
CPU this machine has, the two agree bitwise, but a kernel that blocks another shape differently
may round a logit differently by one bfloat16 step (2^-8 relative, about 0.06 at a logit of 10),
which moves a softmax probability by at most ~1.5%/2 of its value: 1/128 covers one such step
with room, and is well below what separates the organism's answers.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import interp
from interp.answers import encode_items, last_logits
from interp.evaluation.cells import BasePass
from interp.evaluation.sweep import sweep
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.steering import add, steered_logits
from interp.vectors import SteeringVector

BF16_PROB_ATOL = 1 / 128

_MODELS: dict[tuple[str, torch.dtype], object] = {}


def _load(name: str, dtype: torch.dtype):
    if (name, dtype) not in _MODELS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _MODELS[name, dtype] = interp.load_mllm(name, dtype=dtype)
    return _MODELS[name, dtype]


def _random_vector(mllm, dtype=torch.float32) -> SteeringVector:
    g = torch.Generator().manual_seed(0)
    return SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g).to(dtype) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )


def _args(mllm, **over):
    train = [from_record(d) for d in make_split("val", 3, tasks=["Count", "Relation"])]
    test = [from_record(d) for d in make_split("test", 3, tasks=["Count", "Relation"])]
    args = dict(
        vectors={"v": _random_vector(mllm)}, layers=[1, 2], strengths=[-2.0, 1.0], selectors=["image", "text"],
        train=train, test=test, n_random=1, batch_size=3, progress=False,
    )
    return {**args, **over}


def _key_rows(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["condition", "vector", "layer", "selector", "strength", "seed", "item_id"]
    return df.sort_values(cols).reset_index(drop=True)


def _probs(df: pd.DataFrame) -> np.ndarray:
    return np.concatenate([json.loads(p) for p in df["probs"]])


@pytest.mark.parametrize("name", [pytest.param("organism", marks=pytest.mark.slow), "organism-llava"])
def test_bf16_sweep_equals_the_naive_loop_with_the_same_predictions(name):
    mllm = _load(name, torch.bfloat16)
    assert mllm.dtype == torch.bfloat16
    args = _args(mllm, selectors=["image"])
    fast, naive = sweep(mllm, **args), sweep(mllm, naive=True, **args)
    a, b = _key_rows(fast.rows), _key_rows(naive.rows)
    assert len(a) == len(b) > 0
    assert (a["pred"] == b["pred"]).all()
    assert np.abs(_probs(a) - _probs(b)).max() <= BF16_PROB_ATOL
    pd.testing.assert_frame_equal(fast.grid, naive.grid)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("family", ["paligemma", "gemma3", "idefics3", "llava", "qwen2_vl"])
def test_half_precision_loads_steers_and_shares_the_base_pass_in_every_family(family, dtype, tiny_root):
    from interp.testing import tiny_image, tiny_mllm_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mllm = interp.load_mllm(tiny_mllm_dir(family, tiny_root), dtype=dtype)
    assert mllm.dtype == dtype
    inputs = mllm.encode(["what is this?", "is the cube left of it?"], [tiny_image(), tiny_image(seed=1)])
    bp = BasePass(mllm, inputs, [0, mllm.n_layers - 1])
    plain = last_logits(mllm, inputs)
    assert plain.dtype == torch.float32 and torch.isfinite(plain).all()
    v = torch.randn(mllm.d_model)
    for layer, sel in ((0, "image"), (mllm.n_layers - 1, "last")):
        s = add(v, layer, 3.0, sel)
        steered = last_logits(mllm, inputs, [s])
        assert torch.isfinite(steered).all()
        assert not torch.equal(steered, plain)
        # One rounding step of the half-precision logits apart at most (see the module docstring).
        torch.testing.assert_close(bp.steered(s), steered, rtol=0, atol=2 ** -6 * max(1.0, float(steered.abs().max())))
    assert v.dtype == torch.float32


def test_a_vector_keeps_its_precision_and_is_cast_at_the_edit():
    mllm = _load("organism", torch.bfloat16)
    v = _random_vector(mllm)
    before = v.at(1).clone()
    inputs = encode_items(mllm, [from_record(make_split("val", 1, tasks=["Count"])[0])])
    logits = steered_logits(mllm, inputs, add(v, 1, 2.0, "image"), last_only=True)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    assert v.at(1).dtype == torch.float32 and torch.equal(v.at(1), before)
    # The edit is alpha * v in float32, rounded once to the activation's dtype.
    h = torch.randn(1, 3, mllm.d_model).to(torch.bfloat16)
    mask = torch.tensor([[True, False, True]])
    edited = add(v, 1, 2.7, "image").edit(h, mask)
    assert edited.dtype == torch.bfloat16
    assert torch.equal(edited[0, 0], h[0, 0] + (2.7 * v.at(1)).to(torch.bfloat16))
    assert torch.equal(edited[0, 1], h[0, 1])


def test_relative_strengths_are_computed_in_float32():
    mllm = _load("organism", torch.bfloat16)
    v = _random_vector(mllm, torch.bfloat16)
    args = _args(mllm, vectors={"v": v}, layers=[1], strengths=[1.0], selectors=["image"], test=None)
    res = sweep(mllm, **args)
    norm = res.config["norms"]["1/image"]
    alpha = float(res.grid.loc[res.grid["condition"] == "steered", "alpha"].iloc[0])
    f32 = norm / float(v.at(1).float().norm())
    half = norm / float(v.at(1).norm())  # the norm rounded to bfloat16, which the sweep must not use
    assert f32 != half
    assert alpha == pytest.approx(f32, rel=1e-6)
    # The calibration norm of a bfloat16 model is within bfloat16's error of float32's.
    f32_norm = sweep(_load("organism", torch.float32), **args).config["norms"]["1/image"]
    assert norm == pytest.approx(f32_norm, rel=0.02)


def test_extraction_in_bf16_gives_the_float32_direction():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b16 = interp.load_text_backbone(mllm="organism", dtype=torch.bfloat16)
        b32 = interp.load_text_backbone(mllm="organism")
    v16 = interp.compute(b16, "counting", "meanshift", source="organism")
    v32 = interp.compute(b32, "counting", "meanshift", source="organism")
    for layer in v32.layers:
        a, b = v16.at(layer).float(), v32.at(layer).float()
        assert torch.isfinite(a).all()
        assert float(torch.nn.functional.cosine_similarity(a, b, dim=0)) > 0.999
        assert float((a - b).norm() / b.norm()) < 0.02


def test_an_fp16_edit_beyond_65504_is_refused_naming_the_cell_before_anything_runs(monkeypatch):
    mllm = _load("organism", torch.float16)
    ones = SteeringVector.from_tensors(
        {layer: torch.ones(mllm.d_model) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )
    calls = []
    monkeypatch.setattr(BasePass, "__init__", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match=r"steered cell \(vector 'v', layer 1, strength 70000 .*selector 'image'\): "
                       r"\|alpha \* v\| has an element of size 7e\+04, beyond the largest float16 number \(65504\)"
                       r".*load the model in bfloat16 or float32"):
        sweep(mllm, **_args(mllm, vectors={"v": ones}, layers=[1], strengths=[7e4], selectors=["image"],
                            relative=False))
    assert calls == []
    with pytest.raises(ValueError, match=r"steer 0 \(add at layer 1, alpha=70000.*beyond the largest float16 number"):
        steered_logits(mllm, mllm.encode("a red circle"), add(ones, 1, 7e4, "all"))


def test_an_fp16_overflow_inside_the_model_is_refused_never_scored():
    mllm = _load("organism", torch.float16)
    ones = torch.ones(mllm.d_model)
    # Each edit fits float16; their sum does not: the residual stream holds inf.
    with pytest.raises(ValueError, match=r"NaN or inf logits: .*beyond what float16 can hold; use a smaller "
                       r"strength, or load the model in bfloat16 or float32"):
        steered_logits(mllm, mllm.encode("a red circle"), [add(ones, 1, 4e4, "all"), add(ones, 1, 4e4, "all")])

    # In the sweep: activations as large as real float16 checkpoints have (a stand-in: layer 0's
    # output scaled up) leave no room for a moderate edit, which overflows the residual.
    def massive(module, inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        h = h * 4000
        return (h, *output[1:]) if isinstance(output, tuple) else h

    handle = mllm.torch_layers[0].register_forward_hook(massive)
    try:
        for naive in (False, True):
            with pytest.raises(ValueError, match=r"steered cell \(vector 'v', layer 1, strength 60000 .*selector 'image'\) "
                               r"gave NaN or inf logits .*float16 can hold; use a smaller strength, or load the model "
                               r"in bfloat16 or float32 .*never scored as an answer"):
                sweep(mllm, **_args(mllm, vectors={"v": SteeringVector.from_tensors(
                    {layer: torch.ones(mllm.d_model) for layer in range(mllm.n_layers)},
                    method="random", concept="counting", n_layers=mllm.n_layers)},
                    layers=[1], strengths=[6e4], selectors=["image"], relative=False, test=None), naive=naive)
    finally:
        handle.remove()




def test_the_logit_lens_in_bf16_agrees_with_float32():
    from interp.analysis.logit_lens import logit_lens

    items = [from_record(d) for d in make_split("val", 1, tasks=["Count"])]
    frames = [logit_lens(_load("organism", dt), items, layers=[1, 3], kinds=["text"], top_k=1)
              for dt in (torch.float32, torch.bfloat16)]
    a, b = frames
    assert len(a) == len(b) > 0
    assert np.isfinite(b["prob"]).all()
    assert (a["pred_id"] == b["pred_id"]).mean() >= 0.9
    assert (a["prob"] - b["prob"]).abs().max() <= 0.05
