"""The training-only reference targets: every mention of a named object, with its grid cell."""

from __future__ import annotations

import torch

from interp.organism.recipe.batches import (
    N_REF_SLOTS,
    last_prompt_position,
    mllm_batch,
    reference_heads,
    reference_loss,
    reference_targets,
    text_qa_batch,
)
from interp.organism.recipe.model import build_tokenizer
from interp.organism.scenes import COLORS, SHAPES, make_split


def test_mentions_point_at_the_last_word_of_each_name_with_its_cell():
    tok = build_tokenizer()
    nl = tok.convert_tokens_to_ids("\n")
    items = make_split("train", 6, seed=2)
    b = mllm_batch(items, tok, nl)
    mentions, slots = reference_targets(items, b["input_ids"], tok, last_prompt_position(b), start=16)
    for bi, pos, row, col, color, shape in mentions.tolist():
        words = tok.convert_ids_to_tokens(b["input_ids"][bi, pos - 1 : pos + 1].tolist())
        matches = [
            o
            for o in items[bi]["refs"]
            if words == o.name.split() or words == ["the", o.shape] or words == [o.color, "object"]
        ]
        assert len(matches) == 1
        o = matches[0]
        assert (o.row, o.col, COLORS[color], SHAPES[shape]) == (row, col, o.color, o.shape)
    for bi, it in enumerate(items):
        n_named = len(it["refs"])
        found = (mentions[:, 0] == bi).sum().item()
        # each named object is mentioned at least once in the question
        assert found >= n_named
        assert (slots[bi, n_named:] == -100).all()
        for k, o in enumerate(it["refs"]):
            assert slots[bi, k].tolist() == [o.row, o.col]
    assert slots.shape == (len(items), N_REF_SLOTS, 2)


def test_text_mentions_skip_the_rendering():
    tok = build_tokenizer()
    nl = tok.convert_tokens_to_ids("\n")
    items = make_split("train", 3, seed=4, tasks=["Relation"])
    b = text_qa_batch(items, tok, nl)
    last = last_prompt_position(b)
    first_nl = (b["input_ids"] == nl).float().argmax(1)
    all_m, _ = reference_targets(items, b["input_ids"], tok, last)
    q_m, _ = reference_targets(items, b["input_ids"], tok, last, start=first_nl)
    assert len(all_m) > len(q_m) > 0
    assert all(pos > int(first_nl[bi]) for bi, pos, *_ in q_m.tolist())


def test_reference_loss_trains_the_heads_and_ignores_empty_slots():
    torch.manual_seed(0)
    tok = build_tokenizer()
    nl = tok.convert_tokens_to_ids("\n")
    items = make_split("train", 2, seed=1, tasks=["Count", "Relation"])
    b = mllm_batch(items, tok, nl)
    last = last_prompt_position(b)
    m, s = reference_targets(items, b["input_ids"], tok, last, start=16)
    hidden = tuple(torch.randn(*b["input_ids"].shape, 8) for _ in range(4))
    heads = reference_heads(8)
    loss = reference_loss(hidden, heads, m, s, last, mention_layer=2, slot_layer=3)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert heads["slots"].weight.grad.abs().sum() > 0
    count_only = [it for it in items if it["task"] == "Count"]
    bc = mllm_batch(count_only, tok, nl)
    mc, sc = reference_targets(count_only, bc["input_ids"], tok, last_prompt_position(bc), start=16)
    assert mc.shape == (0, 6) and (sc == -100).all()
    zero = reference_loss(
        tuple(torch.randn(*bc["input_ids"].shape, 8) for _ in range(4)), heads, mc, sc, last_prompt_position(bc), 2, 3
    )
    assert zero.item() == 0.0
