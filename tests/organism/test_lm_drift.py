"""language_model_drift: how far the MLLM's language model moved from the text backbone."""

from __future__ import annotations

import pytest
import torch

from interp.organism.recipe.evaluate import language_model_drift
from interp.organism.recipe.model import build_tokenizer, mllm_config, text_config


def _pair():
    from transformers import Gemma2ForCausalLM, PaliGemmaForConditionalGeneration

    torch.manual_seed(0)
    n = len(build_tokenizer().get_vocab())
    text = Gemma2ForCausalLM(text_config(n))
    mllm = PaliGemmaForConditionalGeneration(mllm_config(n))
    mllm.model.language_model.load_state_dict(text.model.state_dict())
    return mllm, text


def test_zero_at_initialisation_and_only_the_moved_layer_after_a_change():
    mllm, text = _pair()
    drift = language_model_drift(mllm, text)
    assert set(drift) == {"embed", "layer_0", "layer_1", "layer_2", "layer_3"}
    assert all(v == 0.0 for v in drift.values())
    with torch.no_grad():
        w = mllm.model.language_model.layers[2].mlp.down_proj.weight
        w.add_(torch.randn_like(w))
    drift = language_model_drift(mllm, text)
    assert drift["layer_2"] > 0.1
    assert all(drift[k] == 0.0 for k in drift if k != "layer_2")


def test_another_architecture_is_refused():
    mllm, other = _pair()
    other.model.register_parameter("extra", torch.nn.Parameter(torch.zeros(1)))
    with pytest.raises(ValueError, match="has no parameter 'extra'"):
        language_model_drift(mllm, other)
