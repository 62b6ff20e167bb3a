"""The rule that picks the shipped MLLM checkpoint among the kept ones."""

from __future__ import annotations

from interp.organism.recipe.evaluate import choose_checkpoint

TEXT = {"Count": 0.99, "Relation": 0.92, "Depth": 0.95, "Distance": 0.80, "Attribute": 0.97}


def _row(step, **val):
    full = {"Count": 0.9, "Relation": 0.85, "Depth": 0.9, "Distance": 0.7, "Attribute": 0.95} | val
    full["all"] = sum(full.values()) / len(full)
    return {"step": step, "val": full}


def test_picks_the_best_row_that_keeps_every_property():
    rows = [_row(1, Relation=0.75), _row(2), _row(3, Depth=0.93), _row(4, Distance=0.85)]
    # 1: Relation under its floor; 4: Distance above the text backbone's; 3 beats 2 on "all"
    assert choose_checkpoint(rows, TEXT)["step"] == 3


def test_a_saturated_model_has_no_room_and_is_refused():
    rows = [_row(1, Count=0.95, Relation=0.91, Depth=0.94, Distance=0.92, Attribute=0.96)]
    assert choose_checkpoint(rows, TEXT | {"Distance": 0.99}) is None
    assert choose_checkpoint(rows, TEXT | {"Distance": 0.99}, room=0.95)["step"] == 1


def test_near_chance_tasks_and_custom_floors_are_refused():
    assert choose_checkpoint([_row(1, Distance=0.6)], TEXT) is None
    assert choose_checkpoint([_row(1)], TEXT, floors={"Relation": 0.9}) is None
    assert choose_checkpoint([], TEXT) is None


def test_ties_go_to_the_later_checkpoint():
    assert choose_checkpoint([_row(5), _row(9)], TEXT)["step"] == 9
