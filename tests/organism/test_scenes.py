"""The world's generator: ground truth, splits, determinism, input checks."""

from __future__ import annotations

import math
import random

import pytest

from interp.organism import scenes
from interp.organism.scenes import (
    RGB,
    TASKS,
    make_item,
    make_split,
    render_text,
    sample_scene,
    scene_split,
)


def _independent_answer(item: dict) -> str:
    """Recompute an item's answer from the objects' pixel coordinates only."""
    objs = {o.name: o for o in item["scene"].objects}
    q = item["question"]
    task = item["task"]
    if task == "Count":
        what = q.split("How many ")[1].split(" are")[0]
        if what == "objects":
            return str(len(objs))
        return str(sum(o.shape + "s" == what for o in objs.values()))
    if task == "Relation":
        names = [n for n in objs if f"the {n} and" in q]
        a = objs[names[0]]
        b = objs[q.split(" and the ")[1].split(" in the image")[0]]
        if "left" in item["choices"]:
            return "left" if a.cx < b.cx else "right"
        return "above" if a.cy < b.cy else "below"
    if task == "Depth":
        a, b = (objs[c] for c in item["choices"])
        # closer to the camera = lower in the image and drawn larger for its intrinsic size
        return a.name if a.cy > b.cy else b.name
    if task == "Distance":
        ref = objs[q.split("closer to the ")[1].rstrip("?")]
        a, b = (objs[c] for c in item["choices"])
        da = math.hypot(a.cx - ref.cx, a.cy - ref.cy)
        db = math.hypot(b.cx - ref.cx, b.cy - ref.cy)
        return a.name if da < db else b.name
    if task == "Attribute":
        if "color of the" in q:
            shape = q.split("color of the ")[1].rstrip("?")
            return next(o.color for o in objs.values() if o.shape == shape)
        color = q.split("shape of the ")[1].split(" object")[0]
        return next(o.shape for o in objs.values() if o.color == color)
    raise AssertionError(task)


@pytest.mark.parametrize("task", TASKS)
def test_ground_truth_matches_independent_computation_from_coordinates(task):
    for item in make_split("test", 60, seed=3, tasks=[task]):
        truth = _independent_answer(item)
        assert item["answer_text"] == truth
        letter = item["answer"][1]
        assert item["choices"]["ABCDEF".index(letter)] == truth


def test_image_pixels_show_each_object_in_its_colour_at_its_centre():
    for item in make_split("val", 20, tasks=["Count"]):
        img = item["image"]
        for o in item["scene"].objects:
            assert img.getpixel((int(o.cx), int(o.cy))) == RGB[o.color]


def test_item_has_cvbench_fields_and_prompt_format():
    item = make_item("test", "Relation", 0)
    for k in ("idx", "type", "task", "image", "question", "choices", "answer", "prompt", "source"):
        assert k in item
    assert item["source"] == "organism"
    assert item["type"] == "2D"
    assert item["prompt"].startswith(item["question"] + " Select from the following choices.\n(A) ")
    assert item["image"].size == (64, 64)


def test_splits_never_share_a_scene():
    keys = {s: {it["scene"].key for it in make_split(s, 150)} for s in ("train", "val", "test")}
    assert not keys["train"] & keys["val"]
    assert not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]
    rng = random.Random(0)
    for _ in range(200):
        s = sample_scene(rng, rng.randint(1, 6))
        assert scene_split(s) == scene_split(scenes.Scene(s.objects))


def test_generation_is_deterministic_by_seed():
    a = make_split("test", 5, seed=1)
    b = make_split("test", 5, seed=1)
    c = make_split("test", 5, seed=2)
    assert [x["prompt"] for x in a] == [x["prompt"] for x in b]
    assert [x["image"].tobytes() for x in a] == [x["image"].tobytes() for x in b]
    assert [x["scene"].key for x in a] != [x["scene"].key for x in c]


def test_text_rendering_lists_every_object():
    item = make_item("test", "Count", 4)
    text = render_text(item["scene"])
    for o in item["scene"].objects:
        assert f"{o.size} {o.color} {o.shape} in row {o.row + 1} , column {o.col + 1}" in text


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown split"):
        make_item("dev", "Count", 0)
    with pytest.raises(ValueError, match="unknown task"):
        make_item("test", "Colour", 0)
    with pytest.raises(ValueError, match="n_objects"):
        sample_scene(random.Random(0), 7)


@pytest.mark.parametrize("task", TASKS)
def test_refs_are_the_objects_the_question_names_in_role_order(task):
    for item in make_split("val", 20, seed=5, tasks=[task]):
        refs = item["refs"]
        q = item["question"]
        assert all(o in item["scene"].objects for o in refs)
        if task == "Count":
            assert refs == ()
        elif task == "Relation":
            assert q.index(f"the {refs[0].name} and the {refs[1].name}") > 0
        elif task in ("Depth", "Distance"):
            assert [o.name for o in refs[:2]] == item["choices"]
            if task == "Distance":
                assert q.endswith(f"closer to the {refs[2].name}?")
        else:
            (o,) = refs
            assert f"the {o.shape}?" in q or f"the {o.color} object?" in q
