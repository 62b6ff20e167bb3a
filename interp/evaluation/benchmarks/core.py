"""What every benchmark shares: the splits, skipped rows, the lazy row table and the registry.

A benchmark is a ``BenchmarkSpec`` registered in ``BENCHMARKS`` (one module per data set builds its
spec; the package registers them in order, and plugins register their own with
``register_benchmark``): where it lives on the hub, the fields it needs, its tasks and options,
which concept is evaluated on which task, and either a ``plan`` (which rows make the split) with a
``parse`` (row -> ``Item``) or a ``generate`` for benchmarks made rather than read. A row that
cannot become an item raises ``_BadRow`` and is kept as a ``Skipped`` with its reason.

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("organism", split="test", n_per_task=1, tasks=["Count"]).skipped
    []
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interp.items import Item
from interp.plugins import Registry

#: Splits every benchmark accepts (``"train"`` and ``"val"`` are the same selection split).
SPLITS = ("train", "val", "test", "all")
_DATA_HINT = "pip install 'interp[data]'"
_LOCAL_FORMATS = "a parquet file, a directory of parquet files, a JSONL file or an image folder"


@dataclass(frozen=True)
class Skipped:
    """A source row that did not become an item.

    Attributes:
        ref: where the row is (``"row 12 (idx 345)"``).
        reason: what was wrong with it.
        row: its 0-based row number in the source, when it has one.
    """

    ref: str
    reason: str
    row: int | None = None



def _skip_note(skipped: Sequence[Skipped], show: int = 3) -> str:
    n = len(skipped)
    shown = "; ".join(f"{s.ref}: {s.reason}" for s in skipped[:show])
    more = f"; and {n - show} more" if n > show else ""
    return " ".join(f"{n} row{'s' if n != 1 else ''} skipped: {shown}{more}".split())


class _BadRow(Exception):
    """A row that cannot become an item (the message says why)."""


# ---------------------------------------------------------------- sources


@dataclass
class _Table:
    """Rows of a source, read lazily: whole columns for splitting, single rows for items."""

    columns: list[str]
    n_rows: int
    column: Callable[[str], list[Any]]
    row: Callable[[int], dict[str, Any]]
    base_dir: Path | None
    where: str



@dataclass(frozen=True)
class _Ctx:
    spec: BenchmarkSpec
    split: str
    options: Mapping[str, Any]
    base_dir: Path | None


@dataclass(frozen=True)
class BenchmarkSpec:
    """A registered benchmark: where it lives, its fields, tasks, options and row parser.

    Attributes:
        name: what ``load_benchmark`` takes.
        tasks: its tasks, in order.
        options: the options ``load_benchmark`` accepts, with their defaults.
        concept_tasks: concept -> the tasks a vector of that concept is evaluated on (the paper
            pairs spatial relations with Relation/Depth/Distance and counting with Count).
        hub, config, hub_split: where a read benchmark lives on the Hugging Face hub.
        required, image_fields, list_image_fields, aliases: the fields a row needs and how they
            are named.
        parse, plan: a read benchmark's row parser and split plan.
        generate: a generated benchmark's item maker ``(split, tasks, limit, options) -> items``;
            a generated benchmark with a ``start`` option makes fresh items from any index
            (replication sets).
        generator: what generates it, for ``Benchmark.source``.
    """

    name: str
    tasks: tuple[str, ...]
    options: Mapping[str, Any]
    concept_tasks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hub: str | None = None
    config: str | None = None
    hub_split: str | None = None
    required: tuple[str, ...] = ()
    image_fields: tuple[str, ...] = ()
    list_image_fields: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    parse: _Parse | None = None
    plan: _Plan | None = None
    generate: _Generate | None = None
    generator: str = ""

    @property
    def makes_fresh_items(self) -> bool:
        """Whether new items can be drawn from any start index (a generated benchmark with ``start``)."""
        return self.generate is not None and "start" in self.options


# parse(row, row number, ctx) -> Item; plan(table, split, tasks, options) -> (rows per task,
# rows skipped before parsing); generate(split, tasks, limit, options) -> items
_Parse = Callable[[dict[str, Any], int, _Ctx], Item]
_Plan = Callable[
    [_Table, str, Sequence[str], Mapping[str, Any]], tuple[dict[str, list[int]], list[Skipped]]
]
_Generate = Callable[[str, Sequence[str], int | None, Mapping[str, Any]], list[Item]]


BENCHMARKS: Registry[BenchmarkSpec] = Registry("benchmark")


def register_benchmark(spec: BenchmarkSpec) -> None:
    """Make ``spec`` loadable by its name (``load_benchmark``); a name already taken is refused.

    Example:
        >>> register_benchmark(BenchmarkSpec("mine", ("Count",), {}, generate=make_items))  # doctest: +SKIP
    """
    if not isinstance(spec, BenchmarkSpec):
        raise ValueError(f"expected a BenchmarkSpec, got {type(spec).__name__}")
    unknown = sorted({t for tasks in spec.concept_tasks.values() for t in tasks} - set(spec.tasks))
    if unknown:
        raise ValueError(f"benchmark {spec.name!r} pairs concepts with tasks it does not have: {unknown}")
    BENCHMARKS.register(spec.name, spec)


__all__ = ["BENCHMARKS", "SPLITS", "BenchmarkSpec", "Skipped", "register_benchmark"]
