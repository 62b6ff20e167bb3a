"""How long the demo should take on one model: every stage's work counted, priced by a timed batch.

The count is exact where the protocol fixes it (successive halving's schedule shrinks each group by
a known rule, the test and control sets have known sizes); the price of a base pass and of one
more cell on a batch is timed on this machine, now, on a batch of the model's own train items
(after a warm-up, the median of three). The analyses, figures and learned-vector training are
priced in base passes by constants measured on the organisms (``ANALYSES_PASSES``,
``LEARNED_PASSES_PER_ITEM_STEP``). The report states the estimate beside the actual time.

Example:
    >>> minutes(5400)
    '90 min'
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from interp.demo.config import CEILING_ITEMS, CEILING_STEPS, DemoConfig

#: The analyses and figures of one model, in base passes of one batch (measured on both organisms).
ANALYSES_PASSES = 60
#: One learned-vector step on one item (a forward and a backward pass from the edited layer), in
#: base passes of one item; training runs at most ``CEILING_STEPS`` steps on ``CEILING_ITEMS``.
LEARNED_PASSES_PER_ITEM_STEP = 3.0


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


@dataclass
class Estimate:
    """Seconds per stage (``stages``) and in all (``total``)."""

    stages: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.stages.values())

    def describe(self) -> str:
        return ", ".join(f"{name} {minutes(s)}" for name, s in self.stages.items() if s >= 1)


def _halving_evaluations(k: int, pool: int, first: int | None) -> int:
    """Item x cell evaluations of one group of ``k`` cells over a pool of ``pool`` items."""
    from interp.evaluation.halving import Halving

    if not first:
        return k * pool
    h = Halving(first=first)
    spent, previous, alive = 0, 0, k
    sizes = h.rounds(pool)
    for r, n in enumerate(sizes):
        spent += alive * (n - previous)
        previous = n
        if alive == 1:
            break
        alive = 1 if r == len(sizes) - 1 else h.survivors(alive)
    return spent


def _timed(fn: Any) -> float:
    fn()  # warm-up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calibrate(mllm: Any, items: list[Any], layers: list[int], selectors: list[str], batch_size: int) -> tuple[float, float]:
    """Seconds per item of a base pass and of one more steered cell, timed on one batch."""
    import torch

    from interp.evaluation.cells import Cell, _keyed, run_cells
    from interp.evaluation.store import ResultStore
    from interp.tokens import dead_cell

    batch = items[:batch_size]
    live = [(x, s) for x in layers for s in selectors if not dead_cell(mllm.n_layers, x, s)] or [(0, "all")]
    direction = torch.ones(mllm.d_model, dtype=mllm.dtype) / math.sqrt(mllm.d_model)
    tasks = tuple(sorted({it.task for it in batch}))

    runs = itertools.count(1)

    def cells(n: int) -> list[Cell]:
        """The unsteered cell and ``n`` steered ones, keyed afresh on every call (nothing is reused)."""
        salt = f"calibration{next(runs)}"
        out = [_keyed(Cell("unsteered", tasks=tasks), salt)]
        for i in range(n):
            x, s = live[i % len(live)]
            out.append(_keyed(Cell("steered", "c", "m", "c", x, s, 1e-3, 1e-3, direction, tasks=tasks), salt))
        return out

    one = _timed(lambda: run_cells(mllm, batch, cells(1), ResultStore(":memory:"), split="c", batch_size=batch_size))
    many = _timed(lambda: run_cells(mllm, batch, cells(9), ResultStore(":memory:"), split="c", batch_size=batch_size))
    per_cell = max(many - one, 0.0) / 8
    return max(one - per_cell, 0.0) / len(batch), per_cell / len(batch)


def estimate_seconds(cfg: DemoConfig, mllm: Any, train: list[Any], vectors: dict[str, Any], targets: dict[str, Any],
                     layers: list[int], n_rep: int, n_library: int = 0) -> Estimate:
    """The demo's stages on one model, counted and priced (see the module's notes)."""
    from interp.tokens import dead_cell

    est = Estimate()
    if not train:
        return est
    t_base, t_cell = calibrate(mllm, train, layers, list(cfg.selectors), cfg.batch_size)
    tasks = sorted({t for ts in targets.values() for t in ts})
    pool = len(train) // max(len(tasks), 1)
    per_selector = {s: sum(not dead_cell(mllm.n_layers, x, s) for x in layers) * len(cfg.strengths) for s in cfg.selectors}
    groups = [(v, t, s) for v in vectors for t in targets[v] for s in cfg.selectors]
    train_evals = sum(_halving_evaluations(per_selector[s], pool, cfg.halving_first) for _, _, s in groups)
    est.stages["train"] = len(train) * t_base + train_evals * t_cell
    rows = len(groups)
    prompts = len({v.split("/")[-1] for v in vectors})
    est.stages["test"] = cfg.n_test * len(tasks) * (1 + prompts) * t_base + rows * cfg.n_test * (1 + cfg.n_random) * t_cell
    if n_rep:
        top = rows if cfg.replicate_top is None else min(cfg.replicate_top, rows)
        concepts = len({v.meta.concept for v in vectors.values()})
        controls = (1 + concepts - 1 + (n_library // max(len(cfg.methods), 1))) if cfg.specificity else 0
        rep = n_rep * top * (t_base + (1 + cfg.replicate_random) * t_cell)
        spec = n_rep * top * (t_base + controls * t_cell)
        cost = n_rep * (len(tasks) - 1) * top * (t_base + t_cell) if cfg.transfer else 0.0
        est.stages["replication and controls"] = rep + spec + cost
        if cfg.ceiling:
            est.stages["learned vectors"] = (top * min(pool, CEILING_ITEMS) * CEILING_STEPS * LEARNED_PASSES_PER_ITEM_STEP
                                             * t_base)
    if cfg.analyses:
        est.stages["analyses and figures"] = ANALYSES_PASSES * cfg.batch_size * t_base
    if cfg.null_runs:
        once = sum(v for k, v in est.stages.items() if k in ("train", "test", "replication and controls"))
        est.stages["null pipelines"] = cfg.null_runs * once
    return est


__all__ = ["ANALYSES_PASSES", "Estimate", "calibrate", "estimate_seconds", "minutes"]
