"""BLINK object localization (``BLINK-Benchmark/BLINK``, config ``Object_Localization``, split ``val``).

Items keep BLINK's ``prompt`` and every non-empty ``image_1`` .. ``image_4``. Reported whole by
default (``n_val`` holds rows out, see ``splits``).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("blink_object_localization")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from interp.evaluation.benchmarks.core import BenchmarkSpec, _BadRow, _Ctx
from interp.evaluation.benchmarks.fields import _extras, _image, _letter, _list, _text
from interp.evaluation.benchmarks.splits import _plan_holdout
from interp.items import Item


def _parse_blink(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    if row.get("idx") is None:
        raise _BadRow("missing idx")
    choices = _list(row, "choices")
    present = [f for f in ctx.spec.image_fields if row.get(f) not in (None, "")]
    if "image_1" not in present:
        raise _BadRow("missing image_1")
    return Item(
        id=f"{ctx.spec.name}/{row['idx']}",
        images=tuple(_image(row[f], f, ctx.base_dir) for f in present),
        question=_text(row, "question"),
        choices=tuple(choices),
        answer=_letter(row, len(choices)),
        task="Object_Localization",
        source=ctx.spec.name,
        prompt_text=row.get("prompt") or None,
        metadata={
            **_extras(row, ctx.spec, ("idx", "question", "choices", "answer", "prompt")),
            "row": i,
            "split": ctx.split,
        },
    )


SPEC = BenchmarkSpec(
    name="blink_object_localization",
    tasks=("Object_Localization",),
    options={"n_val": 0, "seed": 42},
    concept_tasks={"spatial_relationship": ("Object_Localization",)},
    hub="BLINK-Benchmark/BLINK",
    config="Object_Localization",
    hub_split="val",
    required=("idx", "question", "image_1", "choices", "answer"),
    image_fields=("image_1", "image_2", "image_3", "image_4"),
    parse=_parse_blink,
    plan=_plan_holdout,
)
