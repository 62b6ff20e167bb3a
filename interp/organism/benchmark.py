"""The organism benchmark: items generated on the shipped organism's scenes (``interp.organism.scenes``).

``"test"`` uses its test scenes, ``"train"`` / ``"val"`` its val scenes (its MLLM was trained on
the train scenes, so a cell is selected on held-out val scenes); ``"all"`` is both. Any number of
fresh items can be drawn from any ``start`` index (the replication sets).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("organism", split="val", tasks=["Depth"], n_per_task=2).summary()
    'organism/val: 2 items (Depth 2)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interp.evaluation.benchmarks import BenchmarkSpec
from interp.items import Item, from_record
from interp.organism.scenes import TASKS, make_item

#: Concept -> the organism tasks a vector of that concept is evaluated on.
CONCEPT_TASKS: dict[str, tuple[str, ...]] = {
    "counting": ("Count",),
    "spatial_relationship": ("Relation", "Depth", "Distance"),
    "attribute": ("Attribute",),
}


def _generate(split: str, tasks: Sequence[str], limit: int | None, options: Mapping[str, Any]) -> list[Item]:
    n = options["n_per_task"] if limit is None else min(options["n_per_task"], limit)
    scene_splits = {"test": ["test"], "train": ["val"], "val": ["val"], "all": ["val", "test"]}[split]
    return [
        from_record(make_item(s, t, options["start"] + i, options["seed"]))
        for t in tasks
        for s in scene_splits
        for i in range(n)
    ]


SPEC = BenchmarkSpec(
    name="organism",
    tasks=TASKS,
    options={"n_per_task": 150, "seed": 0, "start": 0},
    concept_tasks=CONCEPT_TASKS,
    generate=_generate,
    generator="interp.organism.scenes",
)

__all__ = ["CONCEPT_TASKS", "SPEC"]
