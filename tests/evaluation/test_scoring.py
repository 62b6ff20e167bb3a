"""Fast (option logits) and faithful (generate-and-parse) scoring, and the reference parser."""

import pytest
import torch

from interp.answers import encode_items, last_logits, option_token_ids
from interp.evaluation.scoring import agreement, parse_answer, score
from interp.items import Item, from_record
from interp.prompts import MC_PREFIX, NUMBER_PREFIX, prompting_prefix
from interp.steering import add, steered_logits
from interp.testing import tiny_image

CHOICES = ["left", "right", "above", "below"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(A)", 0), ("(B) right", 1), ("The answer is (C).", 2), ("B", 1), ("b", 1), ("B.", 1),
        ("D) below", 3), ("  A  ", 0), ("right", 1), ("Right.", 1), ("It is below the cube", 3),
        ("", None), ("Answer", None), ("(E)", None), ("left or right", None), ("Because", None),
    ],
)
def test_parser_reads_the_paper_answer_forms(text, expected):
    assert parse_answer(text, CHOICES) == expected


def test_parser_prefers_the_longest_choice_text():
    assert parse_answer("the red circle", ["circle", "red circle"]) == 1


@pytest.mark.parametrize(("text", "expected"), [("3", 3), ("There are 10 objects.", 10), ("three", None), ("12", None)])
def test_number_parser_takes_the_first_integer(text, expected):
    assert parse_answer(text, [str(k) for k in range(11)], kind="number") == expected


def _items(n=4):
    return [
        Item(f"toy/{i}", (tiny_image(seed=i),), f"Where is object {i}?", ("left", "right"), i % 2, task="Relation", source="toy")
        for i in range(n)
    ]


def test_item_prompts_follow_the_reference():
    it = _items(1)[0]
    assert it.prompt() == MC_PREFIX + "Where is object 0? Select from the following choices.\n(A) left\n(B) right"
    num = Item("n", (), "How many?", [str(k) for k in range(5)], 3, kind="number")
    assert num.prompt() == NUMBER_PREFIX + "How many?"
    with pytest.raises(ValueError, match=r"answer must be a choice index in 0\.\.1"):
        Item("x", (), "q", ("a", "b"), 2)


@pytest.mark.parametrize("family", ["paligemma", "llava", "qwen2_vl"])
def test_fast_scores_equal_a_hand_computed_softmax(family, load_tiny):
    mllm = load_tiny(family)
    items = _items()
    df = score(mllm, items, batch_size=3)
    for it, (_, row) in zip(items, df.iterrows()):
        inputs = mllm.encode([it.prompt()], [list(it.images)])
        with torch.no_grad():
            logits = mllm.module(**inputs).logits[0, -1]
        ids = option_token_ids(mllm.tokenizer, it)
        probs = torch.softmax(logits[ids].float(), -1)
        assert row["pred"] == int(probs.argmax())
        assert row["p_correct"] == pytest.approx(float(probs[it.answer]), abs=1e-5)
        assert row["correct"] == (row["pred"] == it.answer)


def test_fast_scoring_under_steering_equals_the_full_logits(load_tiny):
    mllm = load_tiny("paligemma")
    items = _items(3)
    inputs = encode_items(mllm, items)
    steer = add(torch.ones(mllm.d_model), 0, 2.0, "image")
    full = steered_logits(mllm, inputs, [steer], last_only=True)
    torch.testing.assert_close(last_logits(mllm, inputs, [steer]), full.float())


def test_generate_scoring_and_agreement_on_the_organism():
    import interp
    from interp.organism.scenes import make_split

    mllm = interp.load_mllm("organism")
    items = [from_record(d) for d in make_split("test", 4)]
    fast = score(mllm, items)
    slow = score(mllm, items, method="generate")
    assert slow["parsed"].all()
    report = agreement(fast, slow)
    assert report["n"] == len(items)
    assert report["agreement"] >= 0.9
    assert fast["correct"].mean() >= 0.8


def test_number_items_with_multi_token_choices_ask_for_generation(load_tiny):
    mllm = load_tiny("paligemma")
    it = Item("n", (tiny_image(),), "How many?", [str(k) for k in range(12)], 3, kind="number")
    try:
        option_token_ids(mllm.tokenizer, it)
    except ValueError as err:
        assert "method='generate'" in str(err)
    else:
        assert all(len(mllm.tokenizer.encode(c, add_special_tokens=False)) == 1 for c in it.choices)


def test_bad_inputs_are_refused(load_tiny):
    mllm = load_tiny("paligemma")
    with pytest.raises(ValueError, match="no items to score"):
        score(mllm, [])
    with pytest.raises(ValueError, match=r"expected interp\.items\.Item"):
        score(mllm, [{"question": "q"}])
    with pytest.raises(ValueError, match="method must be 'logits' or 'generate'"):
        score(mllm, _items(1), method="greedy")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        score(mllm, _items(1), batch_size=0)
    with pytest.raises(ValueError, match="item ids must be unique"):
        score(mllm, _items(1) * 2)
    with pytest.raises(ValueError, match="must contain '\\{concept\\}'"):
        prompting_prefix("counting", "Count well.")
