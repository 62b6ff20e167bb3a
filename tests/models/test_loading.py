
import pytest
import torch

from interp.errors import UnsupportedModelError
from interp.models import (
    MLLM,
    adapter_for,
    hook_name,
    layer_from_hook_name,
    load_mllm,
    load_text_backbone,
    supported_model_types,
    text_backbone_name,
)
from interp.testing import TINY_FAMILIES, TINY_TEXT_FAMILIES, tiny_image, tiny_text_dir

EXPECTED_LAYERS = {
    "idefics3": "model.text_model.layers",
    "smolvlm": "model.text_model.layers",
}


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_adapter_finds_layers_and_image_tokens(family, load_tiny):
    mllm: MLLM = load_tiny(family)
    config = mllm.module.config
    text = getattr(config, "text_config", config)
    assert mllm.layers_path == EXPECTED_LAYERS.get(family, "model.language_model.layers")
    assert mllm.n_layers == text.num_hidden_layers
    assert mllm.d_model == text.hidden_size
    assert mllm.image_token_id not in mllm.special_ids
    inputs = mllm.encode(["What is left of the cube?", "How many shapes?"], [tiny_image(), tiny_image(seed=1)])
    image = mllm.mask("image", inputs)
    assert torch.equal(image, inputs["input_ids"] == mllm.image_token_id)
    assert (image.sum(dim=1) > 0).all()
    # The image tokens are exactly where the model puts image features: run the model and
    # check the embedding of image positions is not the image token's own text embedding.
    with torch.no_grad():
        embeds = mllm.module.get_input_embeddings()(inputs["input_ids"])
    text_mask = mllm.mask("text", inputs)
    assert not (text_mask & image).any()
    assert embeds.shape[:2] == image.shape


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_decoder_layer_output_is_the_hidden_state_convention(family, load_tiny):
    """layers[l].output == HF hidden_states[l + 1] (DESIGN.md's layer convention)."""
    mllm: MLLM = load_tiny(family)
    inputs = mllm.encode("Is the red cube left?", [tiny_image()])
    last = mllm.n_layers - 1
    with torch.no_grad(), mllm.trace(inputs):
        h0 = mllm.layers[0].output.save()
        hl = mllm.layers[last].output.save()
    with torch.no_grad():
        out = mllm.module(**inputs, output_hidden_states=True)
    hidden = out.hidden_states if hasattr(out, "hidden_states") else out.language_model_outputs.hidden_states
    assert h0.shape == (1, inputs["input_ids"].shape[1], mllm.d_model)
    torch.testing.assert_close(h0, hidden[1])
    # The last hidden state is normed in HF; the last layer's raw output is not.
    assert len(hidden) == mllm.n_layers + 1
    assert hl.shape == h0.shape


def test_unsupported_model_type_lists_supported_ones(tmp_path):
    from transformers import BertConfig

    BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match=r"model_type 'bert' is not supported: interp has adapters for .*paligemma"):
        load_mllm(tmp_path)
    with pytest.raises(UnsupportedModelError, match="qwen2_vl"):
        adapter_for(type("C", (), {"model_type": "gpt2"})())
    assert {"paligemma", "gemma3", "idefics3", "smolvlm", "llava", "llava_next", "llava_onevision", "qwen2_vl", "qwen2_5_vl"} <= set(supported_model_types())


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"cannot load a config from .*nothing-here"):
        load_mllm(tmp_path / "nothing-here")


def test_hook_names_map_to_layers(load_tiny):
    mllm = load_tiny("paligemma")
    assert mllm.hook_name(1) == "blocks.1.hook_resid_post" == hook_name(1)
    assert layer_from_hook_name("blocks.1.hook_resid_post") == 1
    with pytest.raises(ValueError, match=r"hook name 'blocks.1.hook_resid_pre' is not a residual-stream hook"):
        layer_from_hook_name("blocks.1.hook_resid_pre")
    with pytest.raises(ValueError, match=r"layer 5 is out of range: .* has 2 decoder layers \(0..1\)"):
        mllm.layer_from_hook_name("blocks.5.hook_resid_post")


@pytest.mark.parametrize("family", TINY_TEXT_FAMILIES)
def test_text_backbones_load_and_trace(family, tiny_root):
    backbone = load_text_backbone(tiny_text_dir(family, tiny_root))
    inputs = backbone.encode(["the red cube", "two cats played"])
    assert (inputs["input_ids"][:, 0] == backbone.tokenizer.bos_token_id).all(), "every row starts with BOS"
    with torch.no_grad(), backbone.trace(inputs):
        h = backbone.layers[backbone.n_layers - 1].output.save()
    assert h.shape == (*inputs["input_ids"].shape, backbone.d_model)
    with pytest.raises(ValueError, match="selects no token"):
        backbone.mask("image", inputs)


def test_gemma3_backbone_is_the_mllm_run_on_text(tiny_root, load_tiny):
    mllm = load_tiny("gemma3")
    backbone = load_text_backbone(mllm=mllm)
    assert backbone.module is mllm.module
    assert backbone.n_layers == mllm.n_layers
    inputs = backbone.encode("the red cube")
    with torch.no_grad(), backbone.trace(inputs):
        h = backbone.layers[0].output.save()
    assert h.shape[-1] == mllm.d_model


def test_pairings_follow_the_paper():
    assert text_backbone_name("google/paligemma2-3b-mix-448") == "google/gemma-2-2b"
    assert text_backbone_name("google/paligemma2-10b-mix-448") == "google/gemma-2-9b"
    assert text_backbone_name("HuggingFaceM4/Idefics3-8B-Llama3") == "meta-llama/Llama-3.1-8B-Instruct"
    assert text_backbone_name("google/gemma-3-4b-it") == "<self>"
    with pytest.raises(ValueError, match=r"no known text backbone for 'acme/vlm': pass the backbone explicitly"):
        text_backbone_name("acme/vlm")
    with pytest.raises(ValueError, match="exactly one of"):
        load_text_backbone()


def test_image_count_must_match_prompt(load_tiny):
    mllm = load_tiny("llava")
    img = tiny_image()
    with pytest.raises(ValueError, match=r"got 1 image entries for 2 prompt\(s\)"):
        mllm.encode(["a", "b"], [img])
    two_placeholders = "USER: <image> <image> What is this? ASSISTANT:"
    with pytest.raises(ValueError, match=r"prompts and images do not match: .*2 <image> tokens and 1 images"):
        mllm.encode(two_placeholders, [img], chat=False)
    with pytest.raises(ValueError, match="some prompts have images and some do not"):
        mllm.encode(["a", "b"], [img, []])
    # A prompt whose placeholder expands to the wrong number of tokens for the image.
    pali = load_tiny("paligemma")
    n = pali.processor.image_seq_length
    wrong = "<image>" * (n - 1) + pali.tokenizer.bos_token + "answer en what"
    with pytest.raises(ValueError, match=rf"prompts and images do not match: .*{n - 1} <image> tokens and 1 images"):
        pali.encode(wrong, [img], chat=False)
    with pytest.raises(ValueError, match=r"prompts and images do not match: the prompts hold \d+ image tokens but no image was given"):
        pali.encode(wrong, chat=False)


def test_remote_flag_reaches_nnsight(load_tiny, monkeypatch):
    mllm = load_tiny("paligemma")
    seen = {}
    backend = object()

    def fake_backend(remote, blocking, job_id, verbose):
        seen["remote"] = remote
        return backend

    def fake_trace(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop")

    monkeypatch.setattr(mllm.nn, "_remote_backend", fake_backend)
    monkeypatch.setattr(mllm.nn, "trace", fake_trace)
    mllm.remote = True
    try:
        with pytest.raises(RuntimeError, match="stop"):
            mllm.trace({"input_ids": torch.ones(1, 2, dtype=torch.long)})
    finally:
        mllm.remote = False
    # the trace gets nnsight's remote backend (the one trace(remote=True) builds), counted
    assert seen["remote"] is True
    assert seen["backend"].inner is backend
    assert mllm.requests == 0  # nothing was sent: the trace failed before its body ran


@pytest.mark.parametrize("family", ["paligemma", "gemma3", "idefics3", "llava", "qwen2_vl"])
def test_several_images_per_prompt(family, load_tiny):
    from interp.steering import add, steered_logits

    mllm = load_tiny(family)
    one = mllm.encode(["compare"], [[tiny_image()]])
    two = mllm.encode(["compare these", "and these"], [[tiny_image(), tiny_image(seed=2)], [tiny_image(seed=3), tiny_image(seed=4)]])
    per_image = int(mllm.mask("image", one).sum())
    assert mllm.mask("image", two).sum(dim=1).tolist() == [2 * per_image, 2 * per_image]
    logits = steered_logits(mllm, two, add(torch.ones(mllm.d_model), 0, 1.0, "image"), last_only=True)
    assert logits.shape[0] == 2 and torch.isfinite(logits).all()
