"""The analyses' helpers that know the organisms' world: scenes as text, counterfactuals, patch objects.

The organisms' items carry their scene (``metadata["scene"]``, from ``interp.organism.scenes``), so
some analyses can be asked questions only a fully known world answers:

- ``organism_text_prompt``: the scene as text, in the text backbone's training format (the
  isomorphic inputs of ``interp.analysis.isomorphic``, registered as the organism's rendering);
- ``color_counterfactual``: a colour question on the same scene with the object recoloured (a
  clean/corrupt pair for ``interp.analysis.activation_patching``);
- ``patch_objects`` / ``patch_object_frame``: the scene object under each image token's patch
  (``None`` for background), to name the words each patch should say under the logit lens.

Example:
    >>> it = from_record(make_item("test", "Count", 0))
    >>> organism_text_prompt(it).endswith("(F) 6\\n")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
from PIL import Image

from interp.analysis.common import image_grid
from interp.analysis.worlds import World
from interp.items import Item, as_items
from interp.models.traced import MLLM
from interp.organism.scenes import COLORS, Scene, SceneObject, render_image, render_text
from interp.prompts import PALIGEMMA_PREFIX


def is_color_question(item: Item) -> bool:
    """Whether ``item`` asks the colour of an object ("What is the color of the <shape>?").

    Example:
        >>> is_color_question(from_record(make_item("test", "Count", 0)))
        False
    """
    return item.question.startswith("What is the color")


def organism_text_prompt(item: Item) -> str:
    """The organism's text prompt for an item: rendering, newline, PaliGemma prefix, the reference
    prompt and the newline before the answer (the text backbone's training format).

    Example:
        >>> organism_text_prompt(from_record(make_item("test", "Count", 0))).endswith("(F) 6\\n")
        True
    """
    scene = item.metadata.get("scene") if item.metadata else None
    if not isinstance(scene, Scene):
        raise ValueError(
            f"item {item.id!r} has no metadata['scene']: the default rendering needs an organism "
            "item (interp.organism.scenes.make_item)"
        )
    return render_text(scene) + "\n" + PALIGEMMA_PREFIX + item.prompt() + "\n"


def color_counterfactual(item: Item, color: str | None = None) -> Item:
    """An organism "What is the color of the <shape>?" item on the same scene with that object
    recoloured: same prompt and token layout, a different answer (a clean/corrupt pair).

    Args:
        item: an organism Attribute item asking for a colour (``metadata["scene"]`` and
            ``metadata["refs"]`` from ``interp.organism.scenes.make_item``).
        color: the new colour (default: the first of the world's colours that differs and
            keeps every (colour, shape) pair in the scene unique).

    Example:
        >>> it = next(from_record(make_item("test", "Attribute", i)) for i in range(20)
        ...           if make_item("test", "Attribute", i)["question"].startswith("What is the color"))
        >>> color_counterfactual(it).answer != it.answer
        True
    """
    meta = dict(item.metadata or {})
    scene, refs = meta.get("scene"), meta.get("refs")
    if not isinstance(scene, Scene) or not isinstance(refs, tuple) or not refs or not is_color_question(item):
        raise ValueError(
            f"item {item.id!r} is not an organism colour question (expected an Attribute item "
            "'What is the color of the <shape>?' from interp.organism.scenes.make_item)"
        )
    target = refs[0]
    taken = {(o.color, o.shape) for o in scene.objects if o != target}
    options = [color] if color is not None else [c for c in COLORS if c != target.color]
    for c in options:
        if c not in COLORS:
            raise ValueError(f"unknown colour {c!r}: expected one of {COLORS}")
        if c == target.color or (c, target.shape) in taken:
            continue
        new = replace(target, color=c)
        objects = tuple(new if o == target else o for o in scene.objects)
        new_scene = Scene(objects)
        meta.update(scene=new_scene, refs=(new, *refs[1:]))
        return replace(
            item, id=f"{item.id}/color={c}", images=(render_image(new_scene),),
            answer=list(item.choices).index(c), metadata=meta,
        )
    raise ValueError(f"item {item.id!r}: no colour {color or ''} gives a valid counterfactual scene")


def patch_objects(mllm: MLLM, item: Item) -> list[SceneObject | None]:
    """The organism scene object under each image token's patch, in token (row-major) order.

    The patch grid comes from the vision config (``image_grid``); a patch's object is the one
    whose drawn box overlaps the patch most (scene pixels scaled to the model's input size),
    ``None`` where no object overlaps (background).

    Example:
        >>> [o.name if o else None for o in patch_objects(mllm, item)][:4]   # doctest: +SKIP
        ['green circle', None, None, None]
    """
    scene = item.metadata.get("scene") if item.metadata else None
    if not isinstance(scene, Scene):
        raise ValueError(
            f"item {item.id!r} has no metadata['scene']: patch_objects needs an organism item"
        )
    rows, cols = image_grid(mllm)
    image = item.image
    if not isinstance(image, Image.Image):
        raise ValueError(f"item {item.id!r} has no rendered scene image: patch_objects needs an organism item")
    width, height = image.size
    ph, pw = height / rows, width / cols
    out: list[SceneObject | None] = []
    for r in range(rows):
        for c in range(cols):
            best, best_area = None, 0.0
            for o in scene.objects:
                dx = min(o.cx + o.half, (c + 1) * pw) - max(o.cx - o.half, c * pw)
                dy = min(o.cy + o.half, (r + 1) * ph) - max(o.cy - o.half, r * ph)
                area = max(dx, 0.0) * max(dy, 0.0)
                if area > best_area:
                    best, best_area = o, area
            out.append(best)
    return out


def patch_object_frame(mllm: MLLM, items: Sequence[Item]) -> pd.DataFrame:
    """One row per (item, image patch): ``item``, ``patch``, ``patch_row``, ``patch_col``,
    ``object`` (its name, or None for background), ``color``, ``shape``, ``size``.

    Example:
        >>> ranks.merge(patch_object_frame(mllm, items), on=["item", "patch"])   # doctest: +SKIP
    """
    items = as_items(items)
    _, cols = image_grid(mllm)
    rows = []
    for it in items:
        for p, o in enumerate(patch_objects(mllm, it)):
            rows.append(
                {
                    "item": it.id, "patch": p, "patch_row": p // cols, "patch_col": p % cols,
                    "object": o.name if o else None, "color": o.color if o else None,
                    "shape": o.shape if o else None, "size": o.size if o else None,
                }
            )
    return pd.DataFrame(rows)


#: What the analyses can do with organism items (registered for the ``organism`` benchmark).
WORLD = World(
    render_text=organism_text_prompt,
    counterfactual=color_counterfactual,
    counterfactual_task="Attribute",
    accepts=is_color_question,
)

__all__ = [
    "WORLD",
    "color_counterfactual",
    "is_color_question",
    "organism_text_prompt",
    "patch_object_frame",
    "patch_objects",
]
