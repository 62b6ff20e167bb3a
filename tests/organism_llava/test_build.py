"""Building blocks of the LLaVA organism: backbone growth, processor, batches, alignment targets."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

from interp.organism import parts
from interp.organism.recipe import llava
from interp.organism.recipe.batches import last_prompt_position
from interp.organism.recipe.model import IMAGE, N_IMAGE_TOKENS, build_tokenizer, text_config
from interp.organism.scenes import make_item


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_grown_backbone_computes_what_the_original_did():
    from transformers import Gemma2ForCausalLM

    torch.manual_seed(0)
    small = Gemma2ForCausalLM(text_config(40)).eval()
    big = llava.grow_backbone(small).eval()
    assert big.config.num_hidden_layers == 6
    ids = torch.tensor([[2, 5, 9, 11, 7]])
    assert torch.allclose(small(ids).logits, big(ids).logits, atol=1e-5)
    # the original layers keep their weights, moved past the inserted ones
    assert torch.equal(big.model.layers[3].mlp.up_proj.weight, small.model.layers[2].mlp.up_proj.weight)
    assert float(big.model.layers[2].self_attn.o_proj.weight.detach().abs().sum()) == 0.0


def test_grow_refuses_insertions_outside_the_stack():
    from transformers import Gemma2ForCausalLM

    with pytest.raises(ValueError, match=r"insert_before must hold indices in 0\.\.4"):
        llava.grow_backbone(Gemma2ForCausalLM(text_config(40)), insert_before=(7,))


def test_processor_builds_exactly_the_training_sequence(tok):
    from interp.prompts import MC_PREFIX

    proc = llava.build_llava_processor(tok)
    items = [make_item("val", "Count", 3), make_item("val", "Distance", 4)]
    batch = llava.llava_batch(items, tok)
    texts = [
        proc.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": MC_PREFIX + it["prompt"]}]}],
            add_generation_prompt=True,
            tokenize=False,
        )
        for it in items
    ]
    enc = proc(text=texts, images=[[it["image"]] for it in items], return_tensors="pt", padding=True)
    pos = last_prompt_position(batch)
    for r in range(len(items)):
        n = int(pos[r]) + 1
        assert torch.equal(enc["input_ids"][r, :n], batch["input_ids"][r, :n])
        assert int(enc["attention_mask"][r].sum()) == n
    assert torch.allclose(enc["pixel_values"], batch["pixel_values"], atol=1e-6)
    assert int((batch["input_ids"][0] == IMAGE).sum()) == N_IMAGE_TOKENS


def test_llava_model_from_config_takes_the_batch(tok):
    from transformers import LlavaForConditionalGeneration

    cfg = llava.llava_config(llava.text_config_for(len(tok.get_vocab())))
    model = LlavaForConditionalGeneration(cfg).eval()
    items = [make_item("train", "Attribute", 0)]
    scores = llava.llava_scorer(model, tok)(items)
    assert scores.shape == (1, 6) and torch.isfinite(scores).all()


def test_description_ids_and_targets_follow_the_scene(tok):
    it = make_item("train", "Count", 5)
    desc = llava.description_ids([it], tok)
    occupied = {o.row * 4 + o.col: o for o in it["scene"].objects}
    for p in range(N_IMAGE_TOKENS):
        if p in occupied:
            o = occupied[p]
            assert desc[0, p].tolist() == tok.convert_tokens_to_ids([o.size, o.color, o.shape])
        else:
            assert desc[0, p].tolist() == [-1, -1, -1]
    embed = torch.randn(len(tok.get_vocab()), 8)
    empty = torch.zeros(8)
    tgt = llava.alignment_targets(desc, embed, empty)
    p = next(iter(occupied))
    assert torch.allclose(tgt[0, p], embed[desc[0, p]].mean(0))


def test_alignment_loss_grows_with_distance():
    t = torch.randn(2, 16, 8)
    assert float(llava.alignment_loss(t, t)) < 1e-5
    assert float(llava.alignment_loss(t + 0.1 * torch.randn_like(t), t)) < float(llava.alignment_loss(-t, t))


def test_path_refuses_unknown_parts_and_names_the_script(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="valid kinds are mllm, text, sae"):
        parts.path("vision", "organism-llava")
    monkeypatch.setitem(parts.DATA_DIRS, "organism-llava", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"scripts/train_organism_llava\.py"):
        parts.path("mllm", "organism-llava")
