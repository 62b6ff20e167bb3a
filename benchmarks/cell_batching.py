"""Cells batched together: the sweep with several cells stacked per forward vs one cell at a time.

``sweep(..., cells_per_forward=k)`` stacks up to ``k`` cells of one layer (other strengths,
selectors, vectors) along the batch dimension and runs the layers above that layer once on the
stack (``BasePass.steered_stacked``); ``cells_per_forward=1`` runs them one at a time. The ways
score the same train items on the same grid (absolute strengths: no calibration pass, so the
time is the cells' and the base pass's) in interleaved rounds; the figure is scored cells x
items per second, and each stacked way's rows are compared with one-at-a-time's (same
predictions, largest probability difference).

On a CPU a forward of k x batch rows does the FLOPs of k forwards of one batch (the matmuls are
already large enough to keep the cores busy), so stacking saves only the fixed cost per forward
(Python, module calls): much on a tiny model, little or nothing on a large one. On a GPU, where
a small batch leaves most of the device idle, it is where the throughput is
(``benchmarks/gpu_check.py`` holds it to >= 3x there). No target on the CPU.

Usage:
    python benchmarks/cell_batching.py [--models organism pg270m] [--threads 1] [--rounds N] [--quick]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

STACKS = (1, 4, 8)


def grid_of(mllm: Any, name: str, quick: bool) -> dict[str, Any]:
    """The swept grid and items: small on the random ~270M model (a slow forward on a CPU)."""
    n = mllm.n_layers
    if common.is_random(name) or quick:
        layers = [n // 3, (2 * n) // 3] if n > 2 else [0]
        return {"layers": layers, "strengths": [1.0, 2.0], "selectors": ["image", "text"], "n_per_task": 1,
                "batch_size": 2}
    return {"layers": list(range(min(3, n))), "strengths": [0.5, 1.0, 2.0, 4.0], "selectors": ["image", "text"],
            "n_per_task": 4, "batch_size": 8}


def compare(mllm: Any, vec: Any, items: Sequence[Any], grid: dict[str, Any], stacks: Sequence[int],
            rounds: int) -> dict[str, Any]:
    """Time ``sweep`` at each ``cells_per_forward`` in ``stacks`` (interleaved rounds) and compare
    each stacked way's rows with the first way's. Used by ``gpu_check.py`` too."""
    import numpy as np

    from interp.evaluation import sweep

    kwargs = dict(vectors={"v": vec}, layers=grid["layers"], strengths=grid["strengths"],
                  selectors=grid["selectors"], train=list(items), test=None, relative=False, n_random=0,
                  prompt_baseline=False, batch_size=grid["batch_size"], progress=False)
    alpha = 4.0 / max(float(vec.at(grid["layers"][0]).norm()), 1e-6)  # |alpha v| ~ 4-16: a visible push
    kwargs["strengths"] = [s * alpha for s in grid["strengths"]]

    def way(k: int) -> Any:
        return lambda: sweep(mllm, cells_per_forward=k, **kwargs)

    ways = {f"{k} per forward" if k > 1 else "one at a time": way(k) for k in stacks}
    way(stacks[0])()  # warm-up
    times, results = common.interleaved(ways, rounds, warmup=False)
    n_cells = len(grid["layers"]) * len(grid["strengths"]) * len(grid["selectors"])
    scored = n_cells * len(items)
    cols = ["condition", "vector", "layer", "selector", "strength", "item_id"]
    first = next(iter(ways))
    ref = results[first].rows.sort_values(cols).reset_index(drop=True)
    out: dict[str, Any] = {"n_cells": n_cells, "n_items": len(items), "scored": scored, "ways": {}}
    for label in ways:
        rows = results[label].rows.sort_values(cols).reset_index(drop=True)
        med = common.median(times[label])
        out["ways"][label] = {
            "median_s": med, "cells_items_per_s": scored / med,
            "same_predictions": bool(len(rows) == len(ref) and (rows["pred"] == ref["pred"]).all()),
            "max_abs_p_diff": float(np.abs(rows["p_correct"].to_numpy() - ref["p_correct"].to_numpy()).max()),
        }
    base = out["ways"][first]["cells_items_per_s"]
    for w in out["ways"].values():
        w["speedup"] = w["cells_items_per_s"] / base
    return out


def print_comparison(out: dict[str, Any]) -> None:
    rows = [[label, w["median_s"], w["cells_items_per_s"], f"{w['speedup']:.2f}x", w["same_predictions"],
             f"{w['max_abs_p_diff']:.1e}"] for label, w in out["ways"].items()]
    print(common.table(["way", "median s", "cells x items / s", "vs one at a time", "same predictions",
                        "max |p diff|"], rows))


def run_model(name: str, args: Any) -> dict[str, Any]:
    mllm = common.load_mllm(name)
    vec = common.steering_vector(mllm, name)
    grid = grid_of(mllm, name, args.quick)
    items = common.organism_items("val", grid["n_per_task"], tasks=["Count", "Relation"])
    rounds = args.rounds or (1 if args.quick else 2 if common.is_random(name) else 5)
    print(f"\n{common.describe_model(mllm, name)}")
    print(f"grid: layers {grid['layers']} x strengths {grid['strengths']} (x a fixed alpha) x selectors "
          f"{grid['selectors']}; {len(items)} items, batch {grid['batch_size']}; {rounds} interleaved rounds")
    out = compare(mllm, vec, items, grid, STACKS, rounds)
    print_comparison(out)
    print("on a CPU a stacked forward does the FLOPs of its cells one at a time: what stacking saves here is the "
          "fixed cost per forward (Python, module calls), large on a small model, small on a large one")
    return {"grid": grid, "rounds": rounds, **out}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_benchmark("cell_batching", __doc__, {}, run_model, argv)


if __name__ == "__main__":
    common.main_guard(main)
