"""CV-Bench (``nyu-visionx/CV-Bench``, hub split ``test``): Count, Relation, Depth and Distance.

Per task, the rows in file order are shuffled as ``pandas.DataFrame.sample(frac=1,
random_state=42)`` does (that is ``numpy.random.RandomState(42).permutation``); the last
``n_test`` (150) are ``"test"``, the rest ``"train"``. ``shuffle="datasets"`` uses
``datasets.Dataset.shuffle(seed=42)``'s order (``numpy.random.default_rng(42).permutation``)
instead. The row order of a local copy must be the hub's for the split to be the paper's. Items
keep CV-Bench's own ``prompt``.

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("cvbench", split="train", tasks=["Count"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interp.evaluation.benchmarks.core import BenchmarkSpec, Skipped, _BadRow, _Ctx, _Table
from interp.evaluation.benchmarks.fields import _extras, _image, _letter, _list, _text
from interp.items import Item

_CVBENCH_TASKS = ("Count", "Relation", "Depth", "Distance")


def _permutation(n: int, seed: int, shuffle: str) -> list[int]:
    if shuffle == "pandas":  # DataFrame.sample(frac=1, random_state=seed), the reference's
        return np.random.RandomState(seed).permutation(n).tolist()
    return np.random.default_rng(seed).permutation(n).tolist()  # datasets.Dataset.shuffle(seed)


def _plan_cvbench(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any]
) -> tuple[dict[str, list[int]], list[Skipped]]:
    """Rows per task: each task's rows in file order, shuffled, the last ``n_test`` are test."""
    known = {t.lower(): t for t in _CVBENCH_TASKS}
    rows: dict[str, list[int]] = {t: [] for t in known.values()}
    bad = []
    for i, t in enumerate(table.column("task")):
        name = known.get(str(t).lower()) if t is not None else None
        if name is None:
            bad.append(Skipped(f"row {i}", f"task {t!r} is not one of {tuple(known.values())}", i))
        else:
            rows[name].append(i)
    n_test, seed, shuffle = options["n_test"], options["seed"], options["shuffle"]
    plan = {}
    for t in tasks:
        if split == "all" or not rows[t]:
            plan[t] = rows[t]
            continue
        if n_test >= len(rows[t]):
            n = len(rows[t])
            smaller = (
                f", or hold out fewer with load_benchmark('cvbench', ..., n_test=K), K < {n}"
                if n > 1
                else ""
            )
            raise ValueError(
                f"cvbench task {t} has {n} row{'s' if n != 1 else ''}: n_test={n_test} leaves no "
                f"train rows (the test split holds out n_test of them); score every row with "
                f"split='all' (interp evaluate --split all){smaller}"
            )
        order = [rows[t][j] for j in _permutation(len(rows[t]), seed, shuffle)]
        plan[t] = order[-n_test:] if split == "test" else order[:-n_test]
    return plan, bad


def _parse_cvbench(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    if row.get("idx") is None:
        raise _BadRow("missing idx")
    choices = _list(row, "choices")
    image_field = "image" if row.get("image") is not None or "filename" not in row else "filename"
    task = {t.lower(): t for t in _CVBENCH_TASKS}[str(row["task"]).lower()]
    return Item(
        id=f"cvbench/{task}/{row['idx']}",
        images=(_image(row.get(image_field), image_field, ctx.base_dir),),
        question=_text(row, "question"),
        choices=tuple(choices),
        answer=_letter(row, len(choices)),
        task=task,
        source="cvbench",
        prompt_text=row.get("prompt") or None,
        metadata={
            **_extras(
                row,
                ctx.spec,
                ("idx", "task", "question", "choices", "answer", "prompt", image_field),
            ),
            "row": i,
            "split": ctx.split,
        },
    )


SPEC = BenchmarkSpec(
    name="cvbench",
    tasks=_CVBENCH_TASKS,
    options={"n_test": 150, "seed": 42, "shuffle": "pandas"},
    concept_tasks={"counting": ("Count",), "spatial_relationship": ("Relation", "Depth", "Distance")},
    hub="nyu-visionx/CV-Bench",
    hub_split="test",
    required=("idx", "task", "image", "question", "choices", "answer"),
    image_fields=("image",),
    aliases={"image": "filename"},
    parse=_parse_cvbench,
    plan=_plan_cvbench,
)
