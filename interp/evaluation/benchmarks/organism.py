"""The organism benchmark: items generated on the shipped organism's scenes (``interp.organism.scenes``).

``"test"`` uses its test scenes, ``"train"`` / ``"val"`` its val scenes (its MLLM was trained on
the train scenes, so a cell is selected on held-out val scenes); ``"all"`` is both.

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("organism", split="val", tasks=["Depth"], n_per_task=2).summary()
    'organism/val: 2 items (Depth 2)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from interp.evaluation.benchmarks.core import _Spec
from interp.evaluation.items import Item, from_organism
from interp.types import OrganismItem


def _generate_organism(
    split: str, tasks: Sequence[str], limit: int | None, options: Mapping[str, Any]
) -> list[Item]:
    from interp.organism.scenes import make_item

    n = options["n_per_task"] if limit is None else min(options["n_per_task"], limit)
    scene_splits = {"test": ["test"], "train": ["val"], "val": ["val"], "all": ["val", "test"]}[
        split
    ]
    return [
        # make_item builds an OrganismItem (its annotation still says dict)
        from_organism(cast(OrganismItem, make_item(s, t, options["start"] + i, options["seed"])))
        for t in tasks
        for s in scene_splits
        for i in range(n)
    ]


SPEC = _Spec(
    name="organism",
    tasks=("Count", "Relation", "Depth", "Distance", "Attribute"),
    options={"n_per_task": 150, "seed": 0, "start": 0},
    generate=_generate_organism,
)
