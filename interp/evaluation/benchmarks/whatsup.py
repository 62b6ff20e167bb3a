"""What'sUp, controlled images A and B (``ServiceNow/whatsup_controlled_images_{a,b}_inference_test``).

Fields ``image_options``, ``caption_options``, ``TARGET``: as the reference builds them, row
``i``'s four captions are rotated left by ``i % 4`` (the true caption is always first in the
data) and asked as "Please select the correct caption for the image:" with lettered options.
Reported whole by default (``n_val`` holds rows out, see ``splits``).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("whatsup_a", path="data/whatsup_a")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from interp.evaluation.benchmarks.core import BenchmarkSpec, _BadRow, _Ctx
from interp.evaluation.benchmarks.fields import _extras, _image, _list, _whole
from interp.evaluation.benchmarks.splits import _plan_holdout
from interp.items import Item
from interp.prompts import LETTERS

_WHATSUP_QUESTION = "Please select the correct caption for the image:"


def _parse_whatsup(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    captions = _list(row, "caption_options")
    value = row.get("TARGET")
    if value is None:
        raise _BadRow("missing TARGET")
    target = _whole(value, "TARGET")
    if target >= len(captions):
        raise _BadRow(f"TARGET {target} is not among its {len(captions)} captions")
    shift = i % len(captions)  # the reference rotates row i's captions left by i % n
    choices = captions[shift:] + captions[:shift]
    raw = row.get("image_options")
    images = raw if isinstance(raw, list) else [raw]
    if not images:
        raise _BadRow("missing image_options")
    opts = "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices))
    return Item(
        id=f"{ctx.spec.name}/{i}",
        images=tuple(_image(v, "image_options", ctx.base_dir) for v in images),
        question=_WHATSUP_QUESTION,
        choices=tuple(choices),
        answer=(target - shift) % len(captions),
        task="Relation",
        source=ctx.spec.name,
        prompt_text=f"{_WHATSUP_QUESTION}\n{opts}",
        metadata={
            **_extras(row, ctx.spec, ("caption_options", "TARGET")),
            "row": i,
            "split": ctx.split,
            "target_caption": captions[target],
        },
    )



#: whatsup_a and whatsup_b, in that order.
SPECS = tuple(
    BenchmarkSpec(
        name=f"whatsup_{part}",
        tasks=("Relation",),
        options={"n_val": 0, "seed": 42},
        concept_tasks={"spatial_relationship": ("Relation",)},
        hub=f"ServiceNow/whatsup_controlled_images_{part}_inference_test",
        hub_split=f"Controlled_Images_{part.upper()}",
        required=("image_options", "caption_options", "TARGET"),
        image_fields=("image_options",),
        parse=_parse_whatsup,
        plan=_plan_holdout,
    )
    for part in ("a", "b")
)
