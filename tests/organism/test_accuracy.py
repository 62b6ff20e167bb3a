"""A quick accuracy check on a small test sample against the figures on the card."""

from __future__ import annotations

import pytest

from interp.organism.evaluate import evaluate_mllm, evaluate_text, read_metrics
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


CHANCE = {"Count": 0.2, "Relation": 0.5, "Depth": 0.5, "Distance": 0.5, "Attribute": 0.34}
SHORT = {"Distance": "the shipped organism reaches only 0.573 on Distance (see ORGANISM.md, Known shortfalls)"}


@pytest.mark.parametrize(
    "task",
    [pytest.param(t, marks=pytest.mark.xfail(reason=SHORT[t], strict=True)) if t in SHORT else t for t in TASKS],
)
def test_card_reports_mllm_well_above_chance(task):
    card = read_metrics()["mllm"]
    assert card[task] > CHANCE[task] + 0.1, (task, card[task])
