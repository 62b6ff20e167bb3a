"""Every public operation, made to raise half-way, leaves no hook and bitwise-identical weights.

A forward pre-hook (``fail_on_call``, removed afterwards) makes a deep module, a decoder layer or
the LM head, raise on its n-th call, so the operation stops in the middle of a forward pass, of
a generation or of a corpus. ``nothing_left`` then checks that no hook, no patched ``forward``
and no changed parameter or buffer stays behind, and a clean rerun must give the result of a
run made before the failure, to the bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from interp.concepts import encode_corpus
from interp.steering import (
    add,
    apply_steering,
    clamp,
    conditional,
    steered_generate,
    steered_logits,
)
from interp.testing import tiny_image
from interp.testing.leaks import InjectedFailure, fail_on_call, nothing_left
from interp.vectors import compute


def equal(a: Any, b: Any) -> bool:
    """Bitwise equality of results: tensors, vectors, generations, dicts and lists of them."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if hasattr(a, "equals"):
        return a.equals(b)
    if hasattr(a, "token_ids"):
        return torch.equal(a.token_ids, b.token_ids) and a.texts == b.texts
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    return a == b


def interrupted(module: torch.nn.Module, op: Callable[[], Any], where: torch.nn.Module, n: int) -> None:
    """Run ``op`` with ``where``'s n-th call raising; check it raised there and left nothing."""
    with pytest.raises(InjectedFailure), nothing_left(module), fail_on_call(where, n) as calls:
        op()
    assert calls[0] == n, f"the failure was injected on call {n} but {calls[0]} calls were made"


def check(module: torch.nn.Module, op: Callable[[], Any], where: torch.nn.Module, n: int) -> None:
    reference = op()
    interrupted(module, op, where, n)
    assert equal(op(), reference), "a rerun after the failure gives another result"


# -- steering on the organism --------------------------------------------------------------------
def steers(mllm):
    g = torch.Generator().manual_seed(1)
    v, c = torch.randn(mllm.d_model, generator=g), torch.randn(mllm.d_model, generator=g)
    return [add(v, 0, 4.0, "image"), conditional(v, c, 1, 0.5, tokens="text"), clamp(c, 2, 1.0, tokens="all")]


@pytest.mark.parametrize("where", ["decoder layer 2", "lm head"])
def test_steered_logits(mllm, inputs, where):
    target = mllm.torch_layers[2] if where == "decoder layer 2" else mllm.lm_head
    check(mllm.module, lambda: steered_logits(mllm, inputs, steers(mllm)), target, 1)


@pytest.mark.parametrize("every_step", [False, True], ids=["prefill", "every step"])
def test_steered_generate_fails_in_the_third_decode_step(mllm, inputs, every_step):
    def op():
        return steered_generate(
            mllm, inputs, steers(mllm), max_new_tokens=4, min_new_tokens=4, every_step=every_step
        )

    check(mllm.module, op, mllm.lm_head, 3)


def test_apply_steering_in_a_user_trace(mllm, inputs):
    def op():
        with torch.no_grad(), mllm.trace(inputs):
            apply_steering(mllm, steers(mllm), inputs)
            logits = mllm.nn.output.logits.save()
        return torch.as_tensor(logits)

    check(mllm.module, op, mllm.torch_layers[3], 1)


def test_encode_restores_the_tokenizer_when_the_processor_fails(mllm, scenes):
    from interp import organism

    prompts, images = [organism.format_prompt(s) for s in scenes], [s["image"] for s in scenes]
    side = mllm.tokenizer.padding_side
    reference = mllm.encode(prompts, images, padding_side="right" if side == "left" else "left")
    processor = mllm.processor.image_processor
    original = type(processor).__call__

    def broken(self, *args, **kwargs):
        raise InjectedFailure("image processor")

    type(processor).__call__ = broken
    try:
        with pytest.raises(InjectedFailure):
            mllm.encode(prompts, images, padding_side="right" if side == "left" else "left")
    finally:
        type(processor).__call__ = original
    assert mllm.tokenizer.padding_side == side
    assert equal(mllm.encode(prompts, images, padding_side="right" if side == "left" else "left"), reference)


# -- scoring and the sweep on the organism ------------------------------------------------------
def sweep_args(mllm):
    from interp.items import from_record
    from interp.organism.scenes import make_split
    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(2)
    vec = SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )
    train = [from_record(d) for d in make_split("val", 3, tasks=["Count"])]
    test = [from_record(d) for d in make_split("test", 3, tasks=["Count"])]
    return dict(vectors={"v": vec}, layers=[0, 2], strengths=[-1.0, 2.0], selectors=["image", "text"],
                train=train, test=test, n_random=1, batch_size=2, progress=False)


@pytest.mark.parametrize("way", ["shared", "naive", "faithful"])
def test_the_sweep_fails_in_the_last_layer_half_way(mllm, way):
    # The shared path runs each cell through the layers above its own outside the trace, with a
    # hook on the last layer's MLP: the failure lands while that hook is on.
    from interp.evaluation import sweep

    args = sweep_args(mllm)

    def op():
        res = sweep(mllm, naive=way == "naive", faithful=way == "faithful", **args)
        return [res.rows, res.grid, res.table]

    check(mllm.module, op, mllm.torch_layers[-1], 5)


@pytest.mark.parametrize("method", ["logits", "generate"])
def test_score_fails_on_the_second_batch(mllm, method):
    from interp.evaluation import score

    items = sweep_args(mllm)["test"]
    steer = steers(mllm)[0]

    def op():
        return score(mllm, items, steer, method=method, batch_size=2)

    # Logits: one forward per batch, so call 2 is the second batch's. Generation: the head runs
    # once per new token, a letter and EOS per batch here (calls on batches of 2, 2, 1, 1), so
    # call 4 is the second batch's last step.
    check(mllm.module, op, mllm.torch_layers[2] if method == "logits" else mllm.lm_head, 2 if method == "logits" else 4)


# -- vectors, residuals and corpus encoding on the organism backbone ----------------------------
METHODS = {
    "meanshift": {},
    "diffmean": {},
    "probe": {"n_components": 4},
    "sae": {"saes": "organism"},
}


@pytest.mark.parametrize("method", list(METHODS))
def test_compute_fails_on_the_second_batch(backbone, small_corpus, method):
    from interp.concepts import ContrastPairs, load_pairs

    data: Any = small_corpus
    if method == "diffmean":
        pairs = load_pairs("counting", source="organism")
        data = ContrastPairs(pairs.name, pairs.pairs[:8], pairs.source)

    def op():
        return compute(backbone, data, method, layers=[1, 2], batch_size=4, **METHODS[method])

    check(backbone.module, op, backbone.torch_layers[2], 2)


@pytest.mark.parametrize("backend", ["torch", "nnsight", "transformer_lens"])
def test_residual_extraction_fails_half_way(backbone, small_corpus, backend):
    if backend == "transformer_lens":
        pytest.importorskip("transformer_lens")
    from interp.activations import residual_fn

    run = residual_fn(backbone, backend)
    batches = list(encode_corpus(backbone.tokenizer, small_corpus, batch_size=5))

    def op():
        return [run(b, [0, 3]) for b in batches]

    if backend != "transformer_lens":
        module, where = backbone.module, backbone.torch_layers[1]
    else:
        from interp.activations import _HOOKED

        module = _HOOKED[backbone.module]
        where = module.blocks[1]
    check(module, op, where, 2)


def test_compute_on_the_transformer_lens_backend_fails_half_way(backbone, small_corpus):
    pytest.importorskip("transformer_lens")
    from interp.activations import _HOOKED, residual_fn

    residual_fn(backbone, "transformer_lens")
    hooked = _HOOKED[backbone.module]

    def op():
        return compute(backbone, small_corpus, layers=[1, 3], batch_size=4, backend="transformer_lens")

    with nothing_left(backbone.module):
        check(hooked, op, hooked.blocks[2], 2)


def test_corpus_encoding_fails_half_way(backbone, small_corpus):
    tokenizer = backbone.tokenizer
    state = (tokenizer.padding_side, tokenizer.truncation_side)

    def op():
        return [(b.input_ids, b.attention_mask, b.content_mask, b.anchor_mask) for b in encode_corpus(tokenizer, small_corpus, batch_size=3)]

    reference = op()
    cls = type(tokenizer)
    original = cls.__call__
    calls = [0]

    def fails_second(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise InjectedFailure("tokenizer")
        return original(self, *args, **kwargs)

    cls.__call__ = fails_second  # type: ignore[method-assign]
    try:
        with pytest.raises(InjectedFailure):
            op()
    finally:
        cls.__call__ = original  # type: ignore[method-assign]
    assert calls[0] == 2
    assert (tokenizer.padding_side, tokenizer.truncation_side) == state
    assert equal(op(), reference)


def test_loading_that_fails_restores_the_progress_bar_setting(monkeypatch):
    import nnsight
    from transformers.utils import logging as hf_logging

    import interp

    def broken(*args, **kwargs):
        raise InjectedFailure("TransformersModel")

    for enabled in (True, False):
        (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
        with monkeypatch.context() as m:
            m.setattr(nnsight, "TransformersModel", broken)
            with pytest.raises(InjectedFailure):
                interp.load_mllm("organism")
            with pytest.raises(InjectedFailure):
                interp.load_text_backbone("organism")
        assert hf_logging.is_progress_bar_enabled() is enabled
    hf_logging.enable_progress_bar()


def test_loading_prints_no_progress_bars_unless_asked(capfd):
    from transformers.utils import logging as hf_logging

    import interp

    hf_logging.enable_progress_bar()
    interp.load_text_backbone("organism")
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled(), "the user's own setting is restored"
    interp.load_text_backbone("organism", progress=True)
    assert "Loading weights" in capfd.readouterr().err


# -- tiny models of several families -------------------------------------------------------------
@pytest.mark.parametrize("family", ["paligemma", "qwen2_vl", "idefics3", "llava_next"])
def test_tiny_families_steering_and_generation(family, load_tiny):
    mllm = load_tiny(family)
    inputs = mllm.encode(["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)])
    v = torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(2))
    steer = [add(v, 0, 3.0, "image"), add(v, 1, 2.0, "text")]
    check(mllm.module, lambda: steered_logits(mllm, inputs, steer), mllm.torch_layers[1], 1)
    check(
        mllm.module,
        lambda: steered_generate(mllm, inputs, steer, max_new_tokens=3, min_new_tokens=3, every_step=True),
        mllm.lm_head,
        2,
    )
