"""Adaptive choosing on the train side: successive halving over a sweep's cells.

Choosing the best of many cells on a few train items picks noise: at a baseline of 0.95 a paired
gain on 48 items has a standard error near 3 points, so a true gain of 2 points is rarely the
best. Scoring every cell on enough items to see it costs the whole grid times that many items.
Successive halving (Jamieson & Talwalkar 2016; Li et al. 2018, "Hyperband") spends the items
where they decide something: every live cell is scored on a first batch of train items, the best
share of each (vector, task, selector) group goes on to a larger batch, and so on until one cell
is left per group and the pool is spent (two stay to the last round, whose whole-pool n decides). Each round's items extend the last round's (the
pool's first ``n`` items of each task), so a cell's rows from earlier rounds are reused and its
gain is always measured on the same items as its competitors'.

The rule is fixed here, before any result: ``first`` items per task, keep ``keep`` (one third)
of each group, grow the items ``growth`` (3x) per round; ties keep the smaller |strength|, then the
lower layer, as the sweep's one-shot rule does. Test and replication items never take part.

The pool: on a benchmark that makes items (the organisms') the caller draws as many train scenes
as the last round needs (fresh scenes each round, in effect); on a fixed benchmark it is the
train split, whose budget the rounds divide. ``interp.evaluation.power.items_needed`` sizes it
for a target gain.

Example:
    >>> Halving(first=48).rounds(400)
    [48, 144, 400]
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from interp.evaluation.cells import Cell
from interp.evaluation.tables import GROUP_COLUMNS, ranked_cells
from interp.items import Item


@dataclass(frozen=True)
class Halving:
    """Successive halving's schedule.

    Attributes:
        first: train items per task every live cell is scored on in the first round.
        keep: the share of each group's cells that go on to the next round (at least one).
        growth: each round's items per task are the last round's times this (the last round
            takes the whole pool).
    """

    first: int = 48
    keep: float = 1 / 3
    growth: float = 3.0

    def __post_init__(self) -> None:
        if isinstance(self.first, bool) or not isinstance(self.first, int) or self.first < 1:
            raise ValueError(f"Halving.first must be a positive int (train items per task), got {self.first!r}")
        if not (isinstance(self.keep, int | float) and 0 < float(self.keep) < 1):
            raise ValueError(f"Halving.keep must be a share in (0, 1), got {self.keep!r}")
        if not (isinstance(self.growth, int | float) and float(self.growth) > 1 and math.isfinite(self.growth)):
            raise ValueError(f"Halving.growth must be a number > 1, got {self.growth!r}")

    def rounds(self, pool: int) -> list[int]:
        """Items per task in each round, for a pool of ``pool`` items per task.

        Example:
            >>> Halving(first=10, growth=2).rounds(35)
            [10, 20, 35]
        """
        sizes = [min(self.first, pool)]
        while sizes[-1] < pool:
            sizes.append(min(pool, math.ceil(sizes[-1] * self.growth)))
        return sizes

    def survivors(self, k: int) -> int:
        """How many of a group's ``k`` cells go on to the next round: the ``keep`` share, but at
        least two while there are two, so the group's last choice is made on the whole pool.

        Example:
            >>> [Halving().survivors(k) for k in (1, 2, 3, 20)]
            [1, 2, 2, 7]
        """
        return min(k, max(2, math.ceil(k * float(self.keep) - 1e-9)))


def _prefix(by_task: dict[str, list[Item]], n: int, tasks: set[str]) -> list[Item]:
    return [it for task in sorted(tasks) for it in by_task.get(task, [])[:n]]


def choose_by_halving(
    cells: Sequence[Cell],
    unsteered: Cell,
    items: Sequence[Item],
    halving: Halving,
    score: Callable[[list[Item], list[Cell], int], None],
    grid_of: Callable[[list[Cell], list[Item]], Any],
) -> tuple[Any, list[dict[str, Any]]]:
    """Run successive halving over the steered ``cells`` on the train pool ``items``.

    Args:
        cells: the live steered cells (each scores the items of its ``tasks``).
        unsteered: the unsteered cell (scored on every round's items: the gains' reference).
        items: the train pool (each task's items in the order they are to be used).
        halving: the schedule.
        score: ``score(items, cells, round)`` scores the cells on the items (rows already in the
            store are reused).
        grid_of: ``grid_of(cells, items)`` -> the sweep's grid rows (per cell and task: ``n``,
            ``n_correct``, ``gain`` ...) of those cells on those items.

    Returns:
        The grid (each steered cell and task at the last round it was scored in, with
        ``rounds``: how many rounds it took part in, and ``finalist``: it is its group's last
        survivor or was still in when the pool ran out) and the schedule: one record per round
        (``round``, ``n_per_task``, ``cells``: live (cell, task) pairs, ``new_evaluations``:
        item x cell scores the round added).
    """
    import pandas as pd

    by_task: dict[str, list[Item]] = {}
    for it in items:
        by_task.setdefault(it.task, []).append(it)
    pool = min(len(v) for v in by_task.values()) if by_task else 0
    alive: dict[str, set[str]] = {c.key: set(c.tasks) & set(by_task) for c in cells}
    by_key = {c.key: c for c in cells}
    last: dict[tuple[str, str], Any] = {}
    rounds_in: dict[tuple[str, str], int] = {}
    finalists: set[tuple[str, str]] = set()
    schedule: list[dict[str, Any]] = []
    previous = 0
    sizes = halving.rounds(pool)
    for r, n in enumerate(sizes, start=1):
        live = [replace(by_key[k], tasks=tuple(sorted(ts))) for k, ts in alive.items() if ts]
        if not live:
            break
        tasks = {t for c in live for t in c.tasks}
        round_items = _prefix(by_task, n, tasks)
        score(round_items, [replace(unsteered, tasks=tuple(sorted(tasks))), *live], r)
        grid = grid_of([unsteered, *live], round_items)
        grid = grid[grid["condition"] == "steered"]
        pairs = sum(len(c.tasks) for c in live)
        schedule.append({"round": r, "n_per_task": n, "cells": pairs, "new_evaluations": pairs * (n - previous)})
        previous = n
        for _, row in grid.iterrows():
            last[(row["cell"], row["task"])] = row
            rounds_in[(row["cell"], row["task"])] = r
        for _, g in ranked_cells(grid).groupby(list(GROUP_COLUMNS), sort=False):
            task = str(g["task"].iloc[0])
            k = 1 if r == len(sizes) else halving.survivors(len(g))
            for cell in g["cell"].iloc[k:]:
                alive[cell].discard(task)
            if k == 1:  # the group is decided: its last cell needs no more items
                alive[g["cell"].iloc[0]].discard(task)
                finalists.add((g["cell"].iloc[0], task))
    rows = [{**row.to_dict(), "rounds": rounds_in[key], "finalist": key in finalists} for key, row in last.items()]
    return pd.DataFrame(rows), schedule


def schedule_note(halving: Halving, schedule: list[dict[str, Any]], full: int) -> str:
    """The schedule as the JSON note a sweep stores with its results (``ResultStore.note``)."""
    spent = sum(r["new_evaluations"] for r in schedule)
    return json.dumps({"halving": asdict(halving), "rounds": schedule, "evaluations": spent,
                       "full_grid_evaluations": full}, sort_keys=True)


__all__ = ["Halving", "choose_by_halving", "schedule_note"]
