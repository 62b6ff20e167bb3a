"""What every benchmark shares: the splits, skipped rows, the lazy row table and the registry.

A benchmark is a ``_Spec`` registered in ``_SPECS`` (one module per data set builds its spec;
the package registers them in order): where it lives on the hub, the fields it needs, its tasks
and options, and either a ``plan`` (which rows make the split) with a ``parse`` (row -> ``Item``)
or a ``generate`` for benchmarks made rather than read. A row that cannot become an item raises
``_BadRow`` and is kept as a ``Skipped`` with its reason.

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

from interp.evaluation.items import Item

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
    spec: _Spec
    split: str
    options: Mapping[str, Any]
    base_dir: Path | None


@dataclass(frozen=True)
class _Spec:
    """A registered benchmark: where it lives, its fields, tasks, options and row parser."""

    name: str
    tasks: tuple[str, ...]
    options: Mapping[str, Any]
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


# parse(row, row number, ctx) -> Item; plan(table, split, tasks, options) -> (rows per task,
# rows skipped before parsing); generate(split, tasks, limit, options) -> items
_Parse = Callable[[dict[str, Any], int, _Ctx], Item]
_Plan = Callable[
    [_Table, str, Sequence[str], Mapping[str, Any]], tuple[dict[str, list[int]], list[Skipped]]
]
_Generate = Callable[[str, Sequence[str], int | None, Mapping[str, Any]], list[Item]]


_SPECS: dict[str, _Spec] = {}


def _register(spec: _Spec) -> None:
    if spec.name in _SPECS:
        raise ValueError(f"benchmark {spec.name!r} is already registered")
    _SPECS[spec.name] = spec


__all__ = ["SPLITS", "Skipped"]
