"""call_layer: one decoder layer run again on a new residual stream, with the inputs it had.

The fast sweep (``BasePass``) and the remote sweep both rerun the layers above a steered one this
way, so it must give what the model's own forward gives, for every supported family.
"""

from __future__ import annotations

import pytest
import torch

from interp.models.base import call_layer
from interp.testing import TINY_FAMILIES, tiny_image


def _recorded(mllm, layer: int):
    """The layer's (args, kwargs) and its output residual in one forward of two tiny items."""
    seen = {}

    def pre(module, args, kwargs):
        seen["in"] = (args, dict(kwargs))

    def post(module, args, kwargs, out):
        seen["out"] = out[0] if isinstance(out, tuple) else out

    module = mllm.torch_layers[layer]
    handles = [module.register_forward_pre_hook(pre, with_kwargs=True),
               module.register_forward_hook(post, with_kwargs=True)]
    try:
        with torch.no_grad():
            inputs = mllm.encode(["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)])
            mllm.module(**inputs, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    return seen["in"], seen["out"]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_call_layer_reproduces_the_forward_and_follows_a_new_stream(load_tiny, family):
    mllm = load_tiny(family)
    (args, kwargs), expected = _recorded(mllm, 1)
    h = args[0] if args else kwargs["hidden_states"]
    layer = mllm.torch_layers[1]
    with torch.no_grad():
        torch.testing.assert_close(call_layer(layer, h, args, kwargs), expected)
        edited = call_layer(layer, h + 1.0, args, kwargs)
    assert not torch.allclose(edited, expected)
    assert edited.shape == expected.shape


class _KeywordsOnly(torch.nn.Module):
    def forward(self, *, hidden_states, scale):
        return hidden_states * scale


class _TupleOut(torch.nn.Module):
    def forward(self, hidden_states, scale=1.0):
        return (hidden_states * scale, "attention weights")


def test_call_layer_passes_the_stream_by_keyword_or_first_and_takes_it_out_of_a_tuple():
    h = torch.ones(2, 3)
    old = torch.zeros(2, 3)
    assert torch.equal(call_layer(_KeywordsOnly(), h, (), {"hidden_states": old, "scale": 2.0}), 2 * h)
    assert torch.equal(call_layer(_TupleOut(), h, (old,), {"scale": 3.0}), 3 * h)
