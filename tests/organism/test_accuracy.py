"""A quick accuracy check on a small test sample against the figures on the card."""

from __future__ import annotations

import pytest

from interp.organism.recipe.evaluate import CHANCE, evaluate_mllm, evaluate_text, read_metrics
from interp.organism.scenes import TASKS

N = 30
MARGIN = 0.15


def test_mllm_accuracy_stays_near_the_card(mllm):
    model, proc = mllm
    card = read_metrics()["mllm"]
    acc = evaluate_mllm(N, model=model, processor=proc)
    for t in TASKS:
        assert acc[t] >= card[t] - MARGIN, (t, acc[t], card[t])


def test_text_backbone_accuracy_stays_near_the_card(text_model):
    model, tok = text_model
    card = read_metrics()["text"]
    acc = evaluate_text(N, model=model, tokenizer=tok)
    for t in TASKS:
        assert acc[t] >= card[t] - MARGIN, (t, acc[t], card[t])


@pytest.mark.parametrize("task", TASKS)
def test_card_reports_mllm_well_above_chance(task):
    card = read_metrics()["mllm"]
    assert card[task] > CHANCE[task] + 0.15, (task, card[task])


def test_card_meets_the_relation_and_attribute_targets():
    card = read_metrics()["mllm"]
    assert card["Relation"] >= 0.80 and card["Attribute"] >= 0.90, card


def test_card_shows_textual_superiority():
    metrics = read_metrics()
    mllm, text = metrics["mllm"], metrics["text"]
    assert text["all"] > mllm["all"], (text["all"], mllm["all"])
    for t in TASKS:
        assert text[t] >= mllm[t], (t, text[t], mllm[t])


def test_card_leaves_the_mllm_room_to_be_steered():
    card = read_metrics()["mllm"]
    assert min(card[t] for t in TASKS) <= 0.90, card
