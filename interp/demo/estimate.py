"""How long the demo's sweep and controls should take, from one timed batch of the shared pass.

Example:
    >>> minutes(5400)
    '90 min'
"""

from __future__ import annotations

import time
from typing import Any

from interp.demo.config import DemoConfig


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def estimate_seconds(cfg: DemoConfig, mllm: Any, train: list[Any], vectors: dict[str, Any], targets: dict[str, Any],
              layers: list[int], n_rep: int) -> float:
    """Seconds the sweep and its controls should take, from one timed batch of the shared pass.

    Times, on one batch of train items, the base pass (the vision tower and the decoder once,
    ``interp.evaluation.cells.BasePass``) and one steered cell at each live layer (only the layers
    above it run); then counts the batches and cells of the train grid, the test cells (chosen
    cells, random directions, the prompting baseline: a full pass) and the replication with its
    controls. Rough: batch shapes vary and the machine may be shared, so the run also says how
    long it took.
    """
    import math

    import torch

    from interp.answers import encode_items
    from interp.evaluation.cells import BasePass
    from interp.evaluation.sweep import dead_cell
    from interp.steering import add

    if not train:
        return 0.0
    n = mllm.n_layers
    live = [(x, s) for x in layers for s in cfg.selectors if not dead_cell(n, x, s)]
    batch = train[: cfg.batch_size]
    inputs = encode_items(mllm, batch)
    kept = sorted({x for x, _ in live})
    BasePass(mllm, inputs, kept)  # warm-up
    t0 = time.perf_counter()
    bp = BasePass(mllm, inputs, kept)
    scale = cfg.batch_size / len(batch)
    t_base = (time.perf_counter() - t0) * scale
    direction = torch.ones(mllm.d_model, dtype=mllm.dtype)
    took = []
    for x, s in live:
        t0 = time.perf_counter()
        bp.steered(add(direction, x, 1e-3, s))
        took.append((time.perf_counter() - t0) * scale)
    t_cell = sum(took) / max(len(took), 1)
    tasks = sorted({t for ts in targets.values() for t in ts})
    per_task = {t: sum(t in targets[v] for v in vectors) for t in tasks}
    batches = lambda k: math.ceil(k / cfg.batch_size)  # noqa: E731
    seconds = 0.0
    for nv in per_task.values():
        seconds += batches(cfg.n_train) * (t_base + nv * len(live) * len(cfg.strengths) * t_cell)
        seconds += batches(cfg.n_test) * (2 * t_base + nv * len(cfg.selectors) * (1 + cfg.n_random) * t_cell)
    rows = sum(per_task.values()) * len(cfg.selectors)
    top = rows if cfg.replicate_top is None else min(cfg.replicate_top, rows)
    if n_rep:
        n_concepts = len({v.meta.concept for v in vectors.values()})
        controls = cfg.n_random + (n_concepts if cfg.specificity else 0)
        seconds += batches(n_rep) * (min(top, len(tasks)) * t_base + top * (1 + controls) * t_cell)
    return seconds


__all__ = ["estimate_seconds", "minutes"]
