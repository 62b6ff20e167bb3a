"""The shipped organism loads like a hub checkpoint and its processor matches the training inputs."""

from __future__ import annotations

import pytest
import torch

from interp import organism
from interp.organism.recipe.batches import mllm_batch
from interp.organism.scenes import make_split


def test_path_gives_each_part_and_refuses_unknown_kinds():
    for kind in organism.KINDS:
        assert organism.path(kind).is_dir()
    assert (organism.path("sae") / "layer_0").is_dir()
    with pytest.raises(ValueError, match="valid kinds are mllm, text, sae, concepts"):
        organism.path("vision")


def test_missing_part_names_the_training_script(monkeypatch, tmp_path):
    monkeypatch.setitem(organism.DATA_DIRS, "organism", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"scripts/train_organism\.py"):
        organism.path("mllm")


def test_mllm_loads_through_transformers(mllm):
    model, proc = mllm
    assert type(model).__name__ == "PaliGemmaForConditionalGeneration"
    assert proc.tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_id
    layers = model.model.language_model.layers
    assert len(layers) == model.config.text_config.num_hidden_layers


def test_text_backbone_loads_and_matches_mllm_shapes(text_model, mllm):
    text, tok = text_model
    model, _ = mllm
    assert type(text).__name__ == "Gemma2ForCausalLM"
    assert text.config.hidden_size == model.config.text_config.hidden_size
    assert text.config.num_hidden_layers == model.config.text_config.num_hidden_layers
    ids = tok("the red circle is left of the blue square .").input_ids
    assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids


def test_processor_round_trips_a_scene(mllm):
    model, proc = mllm
    item = make_split("test", 1, tasks=["Relation"])[0]
    enc = proc(text=organism.format_prompt(item), images=item["image"], return_tensors="pt")
    assert enc["pixel_values"].shape == (1, 3, 64, 64)
    n_img = int((enc["input_ids"] == model.config.image_token_id).sum())
    assert n_img == model.config.text_config.num_image_tokens == 16
    assert proc.tokenizer.unk_token_id not in enc["input_ids"][0].tolist()
    # the training pipeline builds exactly the processor's inputs
    ref = mllm_batch([item], proc.tokenizer, proc.tokenizer.convert_tokens_to_ids("\n"))
    n = enc["input_ids"].shape[1]
    assert torch.equal(ref["input_ids"][:, :n], enc["input_ids"])
    assert torch.equal(ref["token_type_ids"][:, :n], enc["token_type_ids"])
    assert torch.allclose(ref["pixel_values"], enc["pixel_values"], atol=1e-5)


def test_greedy_generation_answers_with_a_letter(mllm):
    model, proc = mllm
    item = make_split("test", 1, tasks=["Attribute"])[0]
    enc = proc(text=organism.format_prompt(item), images=item["image"], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=20, do_sample=False)
    text = proc.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert text in {"A", "B", "C", "D"}


def test_mllm_loads_through_nnsight(mllm_dir):
    import nnsight
    model = nnsight.TransformersModel(str(mllm_dir), task="image-text-to-text", dispatch=True)
    item = make_split("test", 1, tasks=["Count"])[0]
    with model.trace(organism.format_prompt(item), images=[item["image"]]):
        h = model.model.language_model.layers[1].output.save()
    assert h.shape[0] == 1 and h.shape[-1] == 128
