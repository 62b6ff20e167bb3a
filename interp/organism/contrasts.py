"""The organisms' visual contrasts for the native comparator (``interp.vectors.visual_contrast``).

Per concept, two sets of generated items whose images differ in that concept: ``counting`` Count
scenes with 5-6 objects vs 1-2; ``spatial_relationship`` Relation items whose first named object
is left vs right of the second; ``attribute`` Attribute colour questions whose object is red vs
blue.

Example:
    >>> c = organism_contrast("counting", 4)
    >>> len(c.positive), len(c.negative)
    (4, 4)
"""

from __future__ import annotations

from interp.items import as_items
from interp.organism.scenes import make_item
from interp.vectors.native import ContrastSet, VisualContrast

#: Concept -> (task, what the positive set shows, what the negative set shows).
CONTRASTS = {
    "counting": ("Count", "scenes with 5-6 objects", "scenes with 1-2 objects"),
    "spatial_relationship": ("Relation", "the first named object left of the second", "right of it"),
    "attribute": ("Attribute", "the asked-about object is red", "it is blue"),
}


def _side(concept: str, item: dict) -> str | None:
    if concept == "counting":
        k = len(item["scene"].objects)
        return "pos" if k >= 5 else "neg" if k <= 2 else None
    if concept == "spatial_relationship":
        return {"left": "pos", "right": "neg"}.get(item["answer_text"])
    return {"red": "pos", "blue": "neg"}.get(item["answer_text"])


def organism_contrast(concept: str, n: int, *, seed: int = 0, split: str = "val", start: int = 0) -> VisualContrast:
    """``n`` organism items per side of the contrast for ``concept``, from scene index ``start`` of ``split``.

    Example:
        >>> organism_contrast("attribute", 2).description
        'organism val Attribute items: the asked-about object is red (positive) vs it is blue (negative)'
    """
    task, pos_text, neg_text = CONTRASTS[concept]
    sides: dict[str, list[dict]] = {"pos": [], "neg": []}
    index = start
    while min(len(s) for s in sides.values()) < n:
        if index - start > 200 * n:  # pragma: no cover - the organism's scenes make both sides common
            raise RuntimeError(f"could not find {n} items per side for {concept!r}")
        item = make_item(split, task, index, seed)
        index += 1
        side = _side(concept, item)
        if side is not None and len(sides[side]) < n:
            sides[side].append(item)
    return VisualContrast(
        concept, tuple(as_items(sides["pos"])), tuple(as_items(sides["neg"])),
        f"organism {split} {task} items: {pos_text} (positive) vs {neg_text} (negative)",
    )


CONTRAST_SET = ContrastSet({c: (pos, neg) for c, (_, pos, neg) in CONTRASTS.items()}, organism_contrast)

__all__ = ["CONTRASTS", "CONTRAST_SET", "organism_contrast"]
