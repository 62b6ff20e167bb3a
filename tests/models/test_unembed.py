"""``unembed`` reproduces the model's own head (final norm, lm_head, soft-capping) in every family."""

import pytest
import torch

from interp.testing import TINY_FAMILIES, tiny_image


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_unembed_of_the_last_layer_equals_the_model_logits(family, load_tiny):
    mllm = load_tiny(family)
    inputs = mllm.encode(["what is here?"], [tiny_image()])
    with torch.no_grad(), mllm.trace(inputs):
        h = mllm.layers[mllm.n_layers - 1].output.save()
        logits = mllm.nn.output.logits.save()
    with torch.no_grad():
        mine = mllm.unembed(torch.as_tensor(h))
    torch.testing.assert_close(mine, torch.as_tensor(logits), rtol=1e-5, atol=1e-5)


def test_unembed_applies_final_logit_softcapping(load_tiny):
    mllm = load_tiny("paligemma")  # a Gemma 2 backbone: final_logit_softcapping = 30
    cap = mllm.text_config.final_logit_softcapping
    assert cap
    h = torch.randn(3, mllm.d_model)
    with torch.no_grad():
        raw = mllm.lm_head(mllm.final_norm(h))
        out = mllm.unembed(h)
    # A tiny random head gives logits far below the cap, where tanh is near the identity;
    # the capped values must still be tanh(raw / cap) * cap, not raw.
    assert not torch.equal(out, raw)
    assert out.abs().max() <= cap
    torch.testing.assert_close(out, torch.tanh(raw / cap) * cap)
