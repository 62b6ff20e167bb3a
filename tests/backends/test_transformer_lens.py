"""TransformerLens backend: offline conversion of the tiny text backbones, equality with HF.

The same tests run on both TransformerLens lines (3.x: a ``HookedTransformer``; 4.x: a
``TransformerBridge`` in compatibility mode); where the two differ in what they expose (the
config fields, which 4.x leaves descriptive because the bridge runs HF's own forward), a test
says which line it checks.

HF reference: transformers 5.23 overwrites ``hidden_states[-1]`` with the *final-normed* last
hidden state (``capture_outputs(tie_last_hidden_states=True)``), so the last layer's raw output,
which is what ``blocks.{n-1}.hook_resid_post`` holds, is read with a forward hook on the last
decoder layer, and ``hidden_states[-1]`` is compared with ``ln_final.hook_normalized``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import copy
import importlib.util
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformer_lens")

from transformers import AutoModelForCausalLM, AutoTokenizer

from interp.backends.transformer_lens import (
    SUPPORTED_MODEL_TYPES,
    hooked_from_hf,
    tl_residuals,
)
from interp.concepts import encode_texts
from interp.models.inputs import tokenize_texts
from interp.testing import tiny_text_dir
from interp.testing.leaks import hook_state, same_weights, snapshot

# 4.0 removed the HookedTransformer module; the backend then returns a TransformerBridge.
TL4 = importlib.util.find_spec("transformer_lens.HookedTransformer") is None

FAMILIES = ("gemma2", "llama", "gemma3_text")
TEXTS = [
    "The red cube is to the left of the blue sphere.",
    "How many?",
    "A dog sat beneath the tree while two cats played behind the house.",
]
# Longer than the tiny Gemmas' sliding window (64), so local attention layers are exercised.
LONG_TEXT = " ".join(["The red cube is to the left of the blue sphere."] * 8)

_CACHE: dict[str, tuple] = {}


@pytest.fixture(scope="session")
def tl_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny_tl")


@pytest.fixture
def converted(tl_root: Path):
    """``converted(family)`` -> (HF model, tokenizer, HookedTransformer), built once per session."""

    def get(family: str):
        if family not in _CACHE:
            path = tiny_text_dir(family, tl_root)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = AutoModelForCausalLM.from_pretrained(path).eval()
                tokenizer = AutoTokenizer.from_pretrained(path)
            _CACHE[family] = (model, tokenizer, hooked_from_hf(model, tokenizer))
        return _CACHE[family]

    return get


def hf_reference(model, enc: dict) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Every decoder layer's raw output (forward hooks), the logits and HF's ``hidden_states[-1]``."""
    inner = model.model
    layers = getattr(inner, "language_model", inner).layers
    outputs: list[torch.Tensor | None] = [None] * len(layers)

    def keep(index: int):
        def hook(module, args, output):
            outputs[index] = output[0] if isinstance(output, tuple) else output

        return hook

    handles = [layer.register_forward_hook(keep(i)) for i, layer in enumerate(layers)]
    try:
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    # hidden_states[l + 1] is decoder layer l's output for every layer but the last
    for layer in range(len(layers) - 1):
        torch.testing.assert_close(out.hidden_states[layer + 1], outputs[layer], rtol=0, atol=0)
    return outputs, out.logits, out.hidden_states[-1]


def max_diff(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return (a - b)[mask.bool()].abs().max().item()


def hook_count(hooked) -> int:
    n = 0
    for hook_point in hooked.hook_points():
        n += len(hook_point.fwd_hooks) + len(hook_point.bwd_hooks)
        n += len(hook_point._forward_hooks) + len(hook_point._backward_hooks)
    return n


# -- equality with HF ------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_residuals_match_hf_hidden_states_at_every_layer(family, converted):
    model, tokenizer, hooked = converted(family)
    enc = tokenize_texts(tokenizer, TEXTS)  # right padded, BOS first
    assert (enc["attention_mask"] == 0).any()
    raw, _, last_hidden = hf_reference(model, enc)

    acts = tl_residuals(hooked)(enc, list(range(hooked.cfg.n_layers)))

    assert sorted(acts) == list(range(hooked.cfg.n_layers))
    for layer, act in acts.items():
        assert act.dtype == torch.float32 and act.device.type == "cpu"
        assert act.shape == (*enc["input_ids"].shape, model.config.hidden_size)  # no extra BOS
        assert max_diff(act, raw[layer], enc["attention_mask"]) < 1e-5
    with torch.no_grad():
        _, cache = hooked.run_with_cache(enc["input_ids"], attention_mask=enc["attention_mask"])
    assert max_diff(cache["ln_final.hook_normalized"], last_hidden, enc["attention_mask"]) < 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_hf(family, converted):
    model, tokenizer, hooked = converted(family)
    enc = tokenize_texts(tokenizer, TEXTS)
    _, logits, _ = hf_reference(model, enc)
    with torch.no_grad():
        tl_logits = hooked(enc["input_ids"], attention_mask=enc["attention_mask"])
    assert max_diff(tl_logits, logits, enc["attention_mask"]) < 1e-4


@pytest.mark.parametrize("family", FAMILIES)
def test_match_hf_with_large_activations_soft_caps_and_sliding_window(family, converted):
    """Random tiny weights keep attention scores and logits far below Gemma's soft caps; scale
    q/k and the embeddings so the caps, the attention scale and the window all matter."""
    model, tokenizer, _ = converted(family)
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "q_proj" in name or "k_proj" in name:
                param.mul_(6)
            if "embed_tokens" in name or "lm_head" in name:
                param.mul_(60)
    hooked = hooked_from_hf(model, tokenizer)
    enc = tokenize_texts(tokenizer, [LONG_TEXT, "How many?"])
    assert enc["input_ids"].shape[1] > 64
    raw, logits, _ = hf_reference(model, enc)

    acts = tl_residuals(hooked)(enc, list(range(hooked.cfg.n_layers)))
    with torch.no_grad():
        tl_logits = hooked(enc["input_ids"], attention_mask=enc["attention_mask"])

    for layer, act in acts.items():
        assert max_diff(act, raw[layer], enc["attention_mask"]) < 1e-4
    assert logits.abs().max() > 20  # soft caps (30) engaged for Gemma
    assert max_diff(tl_logits, logits, enc["attention_mask"]) < 1e-4


@pytest.mark.skipif(TL4, reason="HookedTransformerConfig fields: TransformerLens 3.x")
def test_gemma_config_carries_attention_scale_caps_and_layer_types(converted):
    model, _, hooked = converted("gemma2")
    cfg = hooked.cfg
    assert cfg.attn_scale == pytest.approx(model.config.query_pre_attn_scalar**0.5)
    assert cfg.attn_scores_soft_cap == 50.0 and cfg.output_logits_soft_cap == 30.0
    assert cfg.attn_types == ["local", "global"] and cfg.window_size == 64
    assert (
        cfg.use_normalization_before_and_after and cfg.original_architecture == "Gemma2ForCausalLM"
    )
    g3 = converted("gemma3_text")[2].cfg
    assert g3.use_qk_norm and g3.rotary_base == 1e6 and g3.rotary_base_local == 1e4


@pytest.mark.skipif(not TL4, reason="TransformerBridge: TransformerLens 4.x")
def test_bridge_wraps_a_float32_eager_copy_with_the_legacy_hook_names(converted):
    from transformer_lens.model_bridge import TransformerBridge

    model, _, hooked = converted("gemma2")
    assert isinstance(hooked, TransformerBridge) and hooked.compatibility_mode
    cfg = hooked.cfg
    assert cfg.architecture == "Gemma2ForCausalLM" and cfg.n_layers == 2
    assert cfg.attn_scores_soft_cap == 50.0 and cfg.output_logits_soft_cap == 30.0
    wrapped = hooked.original_model
    assert wrapped is not model and wrapped.config._attn_implementation == "eager"
    assert wrapped.config.query_pre_attn_scalar == model.config.query_pre_attn_scalar
    assert all(p.dtype == torch.float32 for p in wrapped.parameters())
    names = set(hooked.hook_dict)
    for layer in range(2):
        assert {f"blocks.{layer}.hook_resid_pre", f"blocks.{layer}.hook_resid_post"} <= names
    assert "ln_final.hook_normalized" in names


def test_left_padding_gives_the_unpadded_values(converted):
    _, tokenizer, hooked = converted("gemma2")
    residuals = tl_residuals(hooked)
    right = tokenize_texts(tokenizer, TEXTS)
    left = tokenize_texts(tokenizer, TEXTS, padding_side="left")
    a, b = residuals(right, [1])[1], residuals(left, [1])[1]
    for row in range(len(TEXTS)):
        torch.testing.assert_close(
            a[row][right["attention_mask"][row].bool()],
            b[row][left["attention_mask"][row].bool()],
            rtol=0,
            atol=1e-5,
        )


def test_takes_encoded_batches_and_backbones_and_changes_nothing(converted, tl_root):
    from interp.models import load_text_backbone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = load_text_backbone(tiny_text_dir("llama", tl_root))
    before, hooks = snapshot(backbone.module), hook_state(backbone.module)
    padding_side = backbone.tokenizer.padding_side
    hooked = hooked_from_hf(backbone)
    assert hooked.tokenizer is not backbone.tokenizer
    assert backbone.tokenizer.padding_side == padding_side
    assert same_weights(before, backbone.module) and hook_state(backbone.module) == hooks

    batch = next(encode_texts(backbone.tokenizer, TEXTS, batch_size=3))
    acts = tl_residuals(hooked)(batch, [0])
    enc = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    raw, _, _ = hf_reference(backbone.module, enc)
    assert max_diff(acts[0], raw[0], batch.attention_mask) < 1e-5
    # strings go through the attached tokenizer with exactly one BOS
    tokens = hooked.to_tokens("How many?")
    assert tokens[0].tolist() == backbone.encode("How many?")["input_ids"][0].tolist()


def test_multimodal_gemma3_converts_its_language_model_for_text_runs(tl_root):
    from interp.models import load_text_backbone
    from interp.testing import tiny_mllm_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = load_text_backbone(tiny_mllm_dir("gemma3", tl_root))
    assert type(backbone.module).__name__ == "Gemma3ForConditionalGeneration"
    hooked = hooked_from_hf(backbone)
    if TL4:  # the bridge runs a Gemma3ForCausalLM over the language model and LM head
        assert hooked.cfg.architecture == "Gemma3ForCausalLM"
    else:
        assert hooked.cfg.original_architecture == "Gemma3ForConditionalGeneration"
    enc = backbone.encode(TEXTS)
    raw, logits, _ = hf_reference(backbone.module, enc)
    acts = tl_residuals(hooked)(enc, list(range(hooked.cfg.n_layers)))
    for layer, act in acts.items():
        assert max_diff(act, raw[layer], enc["attention_mask"]) < 1e-5
    with torch.no_grad():
        tl_logits = hooked(enc["input_ids"], attention_mask=enc["attention_mask"])
    assert max_diff(tl_logits, logits, enc["attention_mask"]) < 1e-4


_SMALL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "vocab_size": 64,
    "max_position_embeddings": 512,
}
_ROPE = {
    "llama": {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16,
    },
    "gemma3_text": {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
        "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
    },
}


@pytest.mark.parametrize("family", ["llama", "gemma3_text"])
def test_rope_scaling_matches_hf(family):
    """Llama 3 NTK-by-parts and Gemma 3's linear scaling on global layers (the tiny checkpoints
    use plain RoPE); the scaled model must differ from the unscaled one, or this proves nothing."""
    from transformers import Gemma3TextConfig, LlamaConfig

    def build(rope):
        if family == "llama":
            config = LlamaConfig(**_SMALL, rope_parameters=rope)
        else:
            config = Gemma3TextConfig(
                **_SMALL,
                query_pre_attn_scalar=16,
                sliding_window=8,
                layer_types=["sliding_attention", "full_attention"],
                rope_parameters=rope,
            )
        return AutoModelForCausalLM.from_config(config).eval()

    model = build(_ROPE[family])
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "q_proj" in name or "k_proj" in name:
                param.mul_(6)
    plain_rope = (
        {"rope_type": "default", "rope_theta": 500000.0}
        if family == "llama"
        else {
            k: {"rope_type": "default", "rope_theta": v["rope_theta"]}
            for k, v in _ROPE[family].items()
        }
    )
    plain = build(plain_rope)
    plain.load_state_dict(model.state_dict())
    ids = torch.randint(1, 64, (2, 40))
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0
    enc = {"input_ids": ids, "attention_mask": mask}
    raw, _, _ = hf_reference(model, enc)
    unscaled, _, _ = hf_reference(plain, enc)
    assert max_diff(raw[1], unscaled[1], mask) > 1e-3

    acts = tl_residuals(hooked_from_hf(model))(enc, [0, 1])
    for layer, act in acts.items():
        assert max_diff(act, raw[layer], mask) < 1e-5


# -- refusals --------------------------------------------------------------------------------------
def test_unsupported_model_type_is_refused():
    from transformers import Qwen2Config

    config = Qwen2Config(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=64,
    )
    model = AutoModelForCausalLM.from_config(config)
    with pytest.raises(
        ValueError,
        match=r"model type 'qwen2' is not supported \(supported: gemma2, gemma3, gemma3_text, llama\)",
    ):
        hooked_from_hf(model)
    with pytest.raises(ValueError, match="takes an HF causal LM"):
        hooked_from_hf("google/gemma-2-2b")
    assert set(SUPPORTED_MODEL_TYPES) == {*FAMILIES, "gemma3"}


def test_unconvertible_features_are_refused():
    from transformers import LlamaConfig

    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=64,
        attention_bias=True,
    )
    with pytest.raises(ValueError, match="attention biases are not converted"):
        hooked_from_hf(AutoModelForCausalLM.from_config(config))
    config = LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=64,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0},
    )
    with pytest.raises(ValueError, match="RoPE type 'yarn' is not supported"):
        hooked_from_hf(AutoModelForCausalLM.from_config(config))


@pytest.mark.parametrize("layers", [[2], [0, -1]])
def test_bad_layer_is_refused(layers, converted):
    _, tokenizer, hooked = converted("gemma2")
    enc = tokenize_texts(tokenizer, TEXTS)
    bad = next(layer for layer in layers if not 0 <= layer < 2)
    with pytest.raises(
        ValueError, match=rf"layer {bad} is out of range: gemma2 has 2 decoder layers"
    ):
        tl_residuals(hooked)(enc, layers)
    with pytest.raises(ValueError, match="no layers given"):
        tl_residuals(hooked)(enc, [])


def test_bad_batch_is_refused(converted):
    _, tokenizer, hooked = converted("llama")
    residuals = tl_residuals(hooked)
    enc = tokenize_texts(tokenizer, TEXTS)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 448\)"):
        residuals({**enc, "input_ids": enc["input_ids"] + 1000}, [0])
    with pytest.raises(ValueError, match="must both be"):
        residuals({**enc, "attention_mask": enc["attention_mask"][:, :-1]}, [0])
    with pytest.raises(ValueError, match="must have tensor input_ids"):
        residuals({"input_ids": enc["input_ids"]}, [0])


def test_no_hooks_left_after_a_call_that_raises(converted):
    _, tokenizer, hooked = converted("gemma3_text")
    enc = tokenize_texts(tokenizer, TEXTS)
    residuals = tl_residuals(hooked)
    seen: list[str] = []
    hooked.add_hook("blocks.0.hook_resid_pre", lambda act, hook: seen.append(hook.name))
    params = snapshot(hooked)
    try:
        before = hook_count(hooked)
        torch_hooks = hook_state(hooked)
        assert before > 0

        residuals(enc, [0, 1])
        assert hook_count(hooked) == before

        during: list[int] = []

        def boom(module, args):
            during.append(hook_count(hooked))
            raise RuntimeError("boom")

        handle = hooked.blocks[1].mlp.register_forward_pre_hook(boom)
        try:
            with pytest.raises(RuntimeError, match="boom"):
                residuals(enc, [0, 1])
        finally:
            handle.remove()
        assert during and during[0] > before  # the caching hooks were on when it raised
        assert hook_count(hooked) == before  # the caller's own hook stays, ours are gone
        assert not getattr(hooked, "is_caching", False)  # 3.x's flag; 4.x has none
        assert same_weights(params, hooked)
        assert hook_state(hooked) == torch_hooks
    finally:
        hooked.reset_hooks()
    assert hook_count(hooked) == 0
    # the hook point's own name: the legacy one on 3.x, the bridge's blocks.0.hook_in on 4.x
    assert seen == [hooked.hook_dict["blocks.0.hook_resid_pre"].name] * 2
