"""CLEVR counting (``BUAADreamer/clevr_count_70k``, hub split ``test``: ``images``, ``problem``, ``answer``).

Counting items (kind ``"number"``) with choices ``"0"`` .. ``"max_count"`` (10). Reported whole
by default (``n_val`` holds rows out, see ``splits``).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("clevr_count", path="data/clevr_count")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from interp.evaluation.benchmarks.core import BenchmarkSpec, _BadRow, _Ctx
from interp.evaluation.benchmarks.fields import _extras, _image, _text, _whole
from interp.evaluation.benchmarks.splits import _plan_holdout
from interp.items import Item


def _parse_clevr(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    raw = row.get("images")
    images = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    if not images:
        raise _BadRow("missing images")
    question = _text(row, "problem").replace("<image>", "").strip()
    if row.get("answer") is None:
        raise _BadRow("missing answer")
    count, top = _whole(row["answer"], "answer"), ctx.options["max_count"]
    if count > top:
        raise _BadRow(f"answer {count} is outside the choices 0..{top} (raise max_count)")
    return Item(
        id=f"{ctx.spec.name}/{i}",
        images=tuple(_image(v, "images", ctx.base_dir) for v in images),
        question=question,
        choices=tuple(str(k) for k in range(top + 1)),
        answer=count,
        task="Count",
        source=ctx.spec.name,
        kind="number",
        metadata={**_extras(row, ctx.spec, ("problem", "answer")), "row": i, "split": ctx.split},
    )


SPEC = BenchmarkSpec(
    name="clevr_count",
    tasks=("Count",),
    options={"n_val": 0, "seed": 42, "max_count": 10},
    concept_tasks={"counting": ("Count",)},
    hub="BUAADreamer/clevr_count_70k",
    hub_split="test",
    required=("images", "problem", "answer"),
    image_fields=("images",),
    list_image_fields=("images",),
    parse=_parse_clevr,
    plan=_plan_holdout,
)
