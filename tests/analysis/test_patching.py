import dataclasses

import pytest
import torch

from interp.analysis.common import encode_items
from interp.analysis.patching import activation_patching
from interp.items import from_record
from interp.organism.inside import color_counterfactual
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.tokens import Positions


@pytest.fixture(scope="module")
def colour_pairs():
    from interp.organism.scenes import make_item

    clean = [from_record(make_item("test", "Attribute", i)) for i in range(12)]
    clean = [c for c in clean if c.question.startswith("What is the color")][:2]
    return clean, [color_counterfactual(c) for c in clean]


def letter(mllm, item):
    return mllm.tokenizer.encode(item.answer_letter, add_special_tokens=False)[0]


def test_counterfactual_changes_the_answer_and_keeps_the_token_layout(organism, colour_pairs):
    clean, corrupt = colour_pairs
    for c, x in zip(clean, corrupt):
        assert c.answer != x.answer and c.prompt() == x.prompt()
        assert x.choices[x.answer] == x.metadata["refs"][0].color
    a, b = encode_items(organism, clean), encode_items(organism, corrupt)
    assert torch.equal(a["input_ids"], b["input_ids"])
    assert not torch.equal(a["pixel_values"], b["pixel_values"])


def test_patching_everything_recovers_one_and_nothing_recovers_zero(organism, colour_pairs):
    clean, corrupt = colour_pairs
    res = activation_patching(organism, clean, corrupt, groups={"all": "all", "none": Positions([])})
    merged = res.groups.merge(res.pairs, on="pair")
    every = merged[merged.group == "all"]
    nothing = merged[merged.group == "none"]
    assert (res.pairs.metric_clean > 0).all() and (res.pairs.metric_corrupt < 0).all()
    torch.testing.assert_close(torch.tensor(every.metric_patched.tolist()), torch.tensor(every.metric_clean.tolist()), atol=1e-5, rtol=0)
    assert every.recovered.tolist() == pytest.approx([1.0] * len(every), abs=1e-6)
    assert nothing.metric_patched.tolist() == nothing.metric_corrupt.tolist()
    assert (nothing.recovered == 0).all() and (nothing.n_patched == 0).all()
    summary = res.summary()
    assert summary[summary.group == "all"].recovered.tolist() == pytest.approx([1.0] * organism.n_layers, abs=1e-6)


def test_single_position_patching_matches_a_hand_patch(organism, colour_pairs, hooked_outputs, replace_output):
    clean, corrupt = colour_pairs
    res = activation_patching(organism, clean[:1], corrupt[:1], layers=[1], groups=["last"], positions=True, position_batch=7)
    c_in, x_in = encode_items(organism, clean[:1]), encode_items(organism, corrupt[:1])
    clean_outs, _ = hooked_outputs(organism, c_in)
    ids = [letter(organism, clean[0]), letter(organism, corrupt[0])]
    n = int(x_in["attention_mask"].sum())
    assert sorted(res.positions.position) == list(range(n))
    for p in (3, 40, n - 1):
        def put(h, p=p):
            h = h.clone()
            h[0, p] = clean_outs[1][0, p]
            return h

        with torch.no_grad(), replace_output(organism, 1, put):
            logits = organism.module(**x_in).logits[0, -1]
        expected = float(logits[ids[0]] - logits[ids[1]])
        got = res.positions[res.positions.position == p].metric_patched.iloc[0]
        assert got == pytest.approx(expected, abs=1e-4)


def test_at_the_last_layer_only_the_last_position_matters(tiny, tiny_items):
    clean, corrupt = tiny_items(2, seed=0, answer=0), tiny_items(2, seed=10, answer=1)
    last = tiny.n_layers - 1
    res = activation_patching(tiny, clean, corrupt, layers=[last], groups=["last", "image"], positions=True, position_batch=5)
    pos = res.positions.merge(res.pairs, on="pair")
    at_last = pos[pos.kind == "last"]
    others = pos[pos.kind != "last"]
    torch.testing.assert_close(torch.tensor(at_last.metric_patched.tolist()), torch.tensor(at_last.metric_clean.tolist()), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor(others.metric_patched.tolist()), torch.tensor(others.metric_corrupt.tolist()), atol=1e-5, rtol=0)
    groups = res.groups.merge(res.pairs, on="pair")
    image = groups[groups.group == "image"]
    assert image.metric_patched.tolist() == image.metric_corrupt.tolist()


def test_patching_refuses_mismatched_pairs(tiny, tiny_items):
    clean, corrupt = tiny_items(2, answer=0), tiny_items(2, seed=5, answer=1)
    with pytest.raises(ValueError, match="got 2 clean and 1 corrupt items"):
        activation_patching(tiny, clean, corrupt[:1])
    with pytest.raises(ValueError, match="pair 0: clean and corrupt items have the same answer"):
        activation_patching(tiny, clean, tiny_items(2, seed=5, answer=0))
    longer = [dataclasses.replace(corrupt[0], question="Is the big red cube left of the blue sphere?"), corrupt[1]]
    with pytest.raises(ValueError, match="pair 0: clean and corrupt inputs differ in token layout"):
        activation_patching(tiny, clean, longer)
    with pytest.raises(ValueError, match="unknown token selector 'pixels'"):
        activation_patching(tiny, clean, corrupt, groups=["pixels"])
    with pytest.raises(ValueError, match="'m' is a fixed mask"):
        activation_patching(tiny, clean, corrupt, groups={"m": torch.ones(2, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="is not an organism colour question"):
        color_counterfactual(clean[0])


def test_patching_leaves_no_hook_or_weight_change_when_it_raises(tiny, tiny_items, break_layer):
    clean, corrupt = tiny_items(1, answer=0), tiny_items(1, seed=3, answer=1)
    before, hooks = snapshot(tiny.module), hook_state(tiny.module)
    patch = break_layer(tiny, 1)
    with pytest.raises(RuntimeError, match="broken layer"):
        activation_patching(tiny, clean, corrupt, positions=True)
    patch.undo()
    assert hook_state(tiny.module) == hooks
    assert same_weights(before, tiny.module)
