"""Attribution against direct computation on tiny models: gradients by hand, real patching."""

import numpy as np
import pytest
import torch
from PIL import Image

from interp.analysis.attribution import (
    answer_batch,
    attribution_patching,
    gradient_x_activation,
    sae_feature_attribution,
)
from interp.analysis.common import answer_logit_diff
from interp.items import Item
from interp.testing import tiny_image
from interp.testing.leaks import hook_state, same_weights, snapshot


def tiny_items(n=2, perturb=None, choices=("left", "right", "up")):
    out = []
    for i in range(n):
        img = tiny_image(seed=i)
        if perturb is not None:
            arr = np.asarray(img).astype(np.int16)
            arr = np.clip(arr + perturb(i, arr.shape), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr)
        out.append(Item(f"tiny/{i}", (img,), "What is left of the red cube?", choices, i % len(choices)))
    return out


def hand_grad_x_act(mllm, items, layers):
    """Gradient x activation with plain torch hooks and autograd, independently of interp."""
    batch = answer_batch(mllm, items)
    outs = {}
    handles = []

    def keep(layer):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            out.retain_grad()
            outs[layer] = out

        return hook

    for layer in layers:
        handles.append(mllm.torch_layers[layer].register_forward_hook(keep(layer)))
    try:
        emb = mllm.module.get_input_embeddings()
        handles.append(emb.register_forward_hook(lambda m, a, o: o.requires_grad_(True)))
        logits = mllm.module(**batch.inputs).logits
    finally:
        for h in handles:
            h.remove()
    rows = torch.arange(len(items))
    metric = batch.metric(logits[rows, batch.last])
    torch.testing.assert_close(metric, answer_logit_diff(logits[rows, batch.last], items, mllm.tokenizer))
    metric.sum().backward()
    return batch, metric.detach(), {layer: (outs[layer] * outs[layer].grad).sum(-1).detach() for layer in layers}


def test_gradient_x_activation_matches_hand_computation(load_tiny):
    mllm = load_tiny("paligemma")
    items = tiny_items(3)
    df = gradient_x_activation(mllm, items, batch_size=2)
    for p in mllm.module.parameters():
        p.grad = None
    batch, metric, expected = hand_grad_x_act(mllm, items, [0, 1])
    for p in mllm.module.parameters():
        p.grad = None
    real = batch.inputs["attention_mask"].bool()
    assert len(df) == 2 * int(real.sum())
    for layer in (0, 1):
        got = df[df.layer == layer]
        want = expected[layer][real].numpy()
        np.testing.assert_allclose(got.attribution.to_numpy(), want, rtol=1e-4, atol=1e-6)
        assert (got.attribution.abs() > 0).any()
    per_item = df.groupby("item", sort=False).metric.first().to_numpy()
    np.testing.assert_allclose(per_item, metric.numpy(), rtol=1e-5, atol=1e-6)
    kinds = df[df.layer == 0].kind.to_numpy()
    assert (kinds == "image").sum() == 3 * 16 and (kinds == "last").sum() == 3
    assert set(df.columns) == {
        "item", "layer", "position", "token", "kind", "patch", "patch_row", "patch_col", "metric", "attribution"
    }


def real_patching(mllm, clean, corrupt, layer, positions):
    """m(clean with layer's output at one position taken from the corrupt run) - m(clean).

    Every (item, position) is a row of one batch: the clean batch repeated once per position,
    each copy patched at its own position. Returns ``(items, positions)``.
    """
    positions = list(positions)
    cb, bb = answer_batch(mllm, clean), answer_batch(mllm, corrupt)
    n, k = len(clean), len(positions)
    with torch.no_grad(), mllm.trace(bb.inputs):
        bad = mllm.layers[layer].output.save()
    rep = {key: v.repeat(k, *([1] * (v.dim() - 1))) for key, v in cb.inputs.items()}
    where = torch.zeros(k * n, cb.inputs["input_ids"].shape[1], dtype=torch.bool)
    for j, p in enumerate(positions):
        where[j * n : (j + 1) * n, p] = True
    bad_rep = bad.repeat(k, 1, 1)
    rows = torch.arange(k * n)
    last = cb.last.repeat(k)
    with torch.no_grad(), mllm.trace(rep):
        h = mllm.layers[layer].output
        mllm.layers[layer].output = torch.where(where.unsqueeze(-1), bad_rep, h)
        logits = mllm.nn.output.logits[rows, last].save()
    patched = (logits[:, cb.ids] * cb.weights.repeat(k, 1)).sum(-1).view(k, n).T
    with torch.no_grad(), mllm.trace(cb.inputs):
        logits = mllm.nn.output.logits[torch.arange(n), cb.last].save()
    base = cb.metric(logits)
    return patched - base.unsqueeze(1)


def test_attribution_patching_agrees_with_activation_patching_for_small_perturbations(load_tiny):
    mllm = load_tiny("paligemma")
    clean = tiny_items(2)
    rng = np.random.default_rng(0)
    corrupt = tiny_items(2, perturb=lambda i, shape: rng.integers(-3, 4, size=shape))
    df = attribution_patching(mllm, clean, corrupt)
    width = answer_batch(mllm, clean).inputs["input_ids"].shape[1]
    for layer in (0, 1):
        actual = real_patching(mllm, clean, corrupt, layer, range(width))
        est = torch.tensor(df[df.layer == layer].attribution.to_numpy(), dtype=torch.float32).view(2, -1)
        assert actual.abs().max() > 1e-4, "the perturbation must move the metric"
        big = actual.abs() > 0.1 * actual.abs().max()
        assert torch.equal(torch.sign(est[big]), torch.sign(actual[big]))
        torch.testing.assert_close(est, actual, rtol=0.05, atol=0.02 * float(actual.abs().max()))
    # On image tokens alone (small effects through attention at layer 0) the estimate holds too.
    image = df[(df.layer == 0) & (df.kind == "image")]
    actual = real_patching(mllm, clean, corrupt, 0, image.position.unique().tolist())
    est = torch.tensor(image.attribution.to_numpy(), dtype=torch.float32).view(2, -1)
    assert torch.corrcoef(torch.stack([est.flatten(), actual.flatten()]))[0, 1] > 0.99
    assert (df.metric_corrupt != df.metric_clean).all()
    assert (df.delta_norm[df.kind == "image"] > 0).all()


def tiny_saes(d_model, layers, d_sae=48, seed=0):
    from sae_lens import StandardSAE, StandardSAEConfig

    torch.manual_seed(seed)
    out = {}
    for layer in layers:
        sae = StandardSAE(StandardSAEConfig(d_in=d_model, d_sae=d_sae))
        with torch.no_grad():
            sae.W_enc.normal_(0, 0.3)
            sae.W_dec.copy_(sae.W_enc.T)
            sae.b_dec.normal_(0, 0.1)
        sae.cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
        out[layer] = sae
    return out


def test_sae_feature_attribution_adds_up_to_gradient_x_activation(load_tiny):
    mllm = load_tiny("paligemma")
    items = tiny_items(3)
    saes = tiny_saes(mllm.d_model, [0, 1])
    res = sae_feature_attribution(mllm, items, saes, batch_size=2)
    gxa = gradient_x_activation(mllm, items)
    for layer in (0, 1):
        row = res.layers.set_index("layer").loc[layer]
        image_total = gxa[(gxa.layer == layer) & (gxa.kind == "image")].attribution.sum() / len(items)
        assert row.total == pytest.approx(image_total, rel=1e-4, abs=1e-6)
        assert row.features + row.bias + row.error == pytest.approx(row.total, rel=1e-4, abs=1e-6)
        assert row.n_tokens == 3 * 16
    # One feature by hand: activation x gradient along its decoder row, summed over image tokens.
    feats = res.features[res.features.layer == 0].sort_values("abs_attribution")
    top = int(feats.iloc[-1].feature)
    batch, _, _ = hand_grad_x_act(mllm, items, [0])
    outs = {}
    handle = mllm.torch_layers[0].register_forward_hook(lambda m, a, o: outs.setdefault(0, o))
    try:
        emb = mllm.module.get_input_embeddings()
        h2 = emb.register_forward_hook(lambda m, a, o: o.requires_grad_(True))
        try:
            logits = mllm.module(**batch.inputs).logits
        finally:
            h2.remove()
    finally:
        handle.remove()
    h = outs[0]
    rows = torch.arange(len(items))
    metric = batch.metric(logits[rows, batch.last]).sum()
    (g,) = torch.autograd.grad(metric, h)
    image = batch.inputs["input_ids"] == mllm.image_token_id
    f = saes[0].encode(h.detach()[image])[:, top]
    want = (f * (g[image] @ saes[0].W_dec[top])).sum() / len(items)
    assert float(feats.iloc[-1].attribution) == pytest.approx(float(want.detach()), rel=1e-4, abs=1e-6)
    assert ((feats.fire_rate > 0) & (feats.fire_rate <= 1)).all()
    for p in mllm.module.parameters():
        p.grad = None


def test_analyses_leave_nothing_behind_when_they_raise(load_tiny):
    mllm = load_tiny("paligemma")
    items = tiny_items(2)
    before, hooks = snapshot(mllm.module), hook_state(mllm.module)
    flags = [p.requires_grad for p in mllm.module.parameters()]

    broken = tiny_saes(mllm.d_model, [0])

    def encode(x):
        raise RuntimeError("broken SAE")

    broken[0].encode = encode
    with pytest.raises(RuntimeError, match="broken SAE"):
        sae_feature_attribution(mllm, items, broken)
    # A failure inside the traced forward, while gradients are being set up.
    def boom(module, args, output):
        raise RuntimeError("boom in layer 1")

    handle = mllm.torch_layers[1].register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="boom in layer 1"):
            gradient_x_activation(mllm, items)
        with pytest.raises(RuntimeError, match="boom in layer 1"):
            attribution_patching(mllm, items, items)
    finally:
        handle.remove()
    assert hook_state(mllm.module) == hooks
    assert same_weights(before, mllm.module)
    assert [p.requires_grad for p in mllm.module.parameters()] == flags
    assert all(p.grad is None for p in mllm.module.parameters())
    # and a clean call afterwards runs the model unchanged
    gradient_x_activation(mllm, items, layers=[0])
    assert hook_state(mllm.module) == hooks and same_weights(before, mllm.module)


def test_bad_input_is_refused(load_tiny):
    mllm = load_tiny("paligemma")
    items = tiny_items(2)
    with pytest.raises(ValueError, match="no items given"):
        gradient_x_activation(mllm, [])
    with pytest.raises(ValueError, match=r"items\[0\] is a str: expected an interp\.items\.Item"):
        gradient_x_activation(mllm, ["a prompt"])
    with pytest.raises(ValueError, match="layer 5 is out of range"):
        gradient_x_activation(mllm, items, layers=[5])
    with pytest.raises(ValueError, match="got 2 clean items and 1 corrupt ones"):
        attribution_patching(mllm, items, items[:1])
    longer = [Item("x", (tiny_image(),), "What is left of the red cube and the blue sphere?", ("left", "right", "up"), 0)]
    with pytest.raises(ValueError, match="encode to different token layouts"):
        attribution_patching(mllm, items[:1], longer)
    two = [Item("y", (tiny_image(),), "What is left of the red cube?", ("left", "right"), 0)]
    with pytest.raises(ValueError, match="a pair must share its options"):
        attribution_patching(mllm, items[:1], two)
    with pytest.raises(ValueError, match="have the same answer token"):
        attribution_patching(mllm, items[:1], items[:1], metric="pair")
    with pytest.raises(ValueError, match="metric must be 'answer' or 'pair'"):
        attribution_patching(mllm, items, items, metric="prob")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        gradient_x_activation(mllm, items, batch_size=0)


def test_pair_metric_is_the_clean_answer_minus_the_corrupt_answer(load_tiny):
    mllm = load_tiny("paligemma")
    clean = tiny_items(2)
    corrupt = [Item(f"c/{i}", it.images, it.question, it.choices, (it.answer + 1) % 3) for i, it in enumerate(clean)]
    batch = answer_batch(mllm, clean, versus=corrupt)
    logits = torch.randn(2, 500)
    letters = [mllm.tokenizer.convert_tokens_to_ids(c) for c in "ABC"]
    want = torch.stack([logits[r, letters[c.answer]] - logits[r, letters[x.answer]] for r, (c, x) in enumerate(zip(clean, corrupt))])
    torch.testing.assert_close(batch.metric(logits), want)
    df = attribution_patching(mllm, clean, corrupt, metric="pair")
    assert (df.groupby("item").metric_clean.first() != 0).all()
