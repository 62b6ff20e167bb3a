"""Successive halving against the full grid: how often each finds a planted cell, and what it costs.

A group of cells as the demo sweeps them (4 layers x 4 strengths = 16 live cells per vector, task
and token set) on paired items: the unsteered model is right with probability ``--base``; every cell
changes an item's correctness with probability ``--discordance`` (half to right, half to wrong), and
one planted cell wins ``--gain`` more of those changes. Each rule chooses one cell; the benchmark
counts how often it is the planted one and the item x cell evaluations it spent:

- the paper's one-shot rule on the old demo's 48 items per task (16 x 48 evaluations);
- the one-shot rule on the whole pool (16 x pool: the full grid at the same final n);
- successive halving (``interp.evaluation.halving``, the demo's rule) from 48 to the pool.

It simulates answers, so it runs in seconds on any machine; the rule it runs is the library's own
``choose_by_halving``. The chosen cell's win rate is what the demo's power depends on: a cell
never chosen is never replicated.

Run:
    python benchmarks/adaptive_choosing.py --runs 400
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=400)
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--pool", type=int, default=432)
    ap.add_argument("--first", type=int, default=48)
    ap.add_argument("--base", type=float, default=0.95)
    ap.add_argument("--discordance", type=float, default=0.06)
    ap.add_argument("--gains", type=float, nargs="+", default=[0.02, 0.03, 0.05])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    from interp.evaluation.cells import Cell
    from interp.evaluation.halving import Halving, choose_by_halving
    from interp.items import Item

    torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}; {args.runs} runs per gain; {args.cells} cells, pool {args.pool}, "
          f"base accuracy {args.base}, discordance {args.discordance}")
    rng = np.random.default_rng(args.seed)
    items = [Item(id=f"i{k}", images=[], question="q", choices=("a", "b"), answer=0, task="T") for k in range(args.pool)]
    cells = [Cell("steered", "v", "m", "c", layer=k // 4, selector="image", strength=[-1.0, -0.5, 0.5, 1.0][k % 4],
                  alpha=1.0, tasks=("T",), key=f"c{k}") for k in range(args.cells)]
    unsteered = Cell("unsteered", tasks=("T",), key="u")
    halving = Halving(first=args.first)

    def one_shot(answers: dict[str, np.ndarray], n: int) -> str:
        base = answers["u"][:n].sum()
        best = max(cells, key=lambda c: (answers[c.key][:n].sum() - base, -abs(c.strength), -c.layer, c.strength > 0))
        return best.key

    rows = []
    started = time.perf_counter()
    for gain in args.gains:
        wins = {"one-shot, 48 items": 0, f"one-shot, {args.pool} items": 0, "successive halving": 0}
        spent = 0
        for _ in range(args.runs):
            planted = f"c{int(rng.integers(args.cells))}"
            base = rng.random(args.pool) < args.base
            answers = {"u": base}
            for c in cells:
                g = gain if c.key == planted else 0.0
                # paired: P(unsteered wrong, steered right) = (d + g) / 2, P(right, wrong) = (d - g) / 2
                fixes = rng.random(args.pool) < (args.discordance + g) / 2 / (1 - args.base)
                breaks = rng.random(args.pool) < (args.discordance - g) / 2 / args.base
                answers[c.key] = np.where(base, ~breaks, fixes)

            def grid_of(cs, its, answers=answers):
                idx = [int(it.id[1:]) for it in its]
                base_n = int(answers["u"][idx].sum())
                return pd.DataFrame([{"cell": c.key, "task": "T", "condition": c.condition, "vector": c.vector,
                                      "selector": c.selector, "layer": c.layer, "strength": c.strength, "n": len(idx),
                                      "n_correct": int(answers[c.key][idx].sum()),
                                      "gain": (int(answers[c.key][idx].sum()) - base_n) / len(idx)} for c in cs])

            grid, schedule = choose_by_halving(cells, unsteered, items, halving, lambda *a: None, grid_of)
            chosen = grid[grid["finalist"]]["cell"].iloc[0]
            spent += sum(r["new_evaluations"] for r in schedule)
            wins["successive halving"] += chosen == planted
            wins["one-shot, 48 items"] += one_shot(answers, 48) == planted
            wins[f"one-shot, {args.pool} items"] += one_shot(answers, args.pool) == planted
        costs = {"one-shot, 48 items": args.cells * 48, f"one-shot, {args.pool} items": args.cells * args.pool,
                 "successive halving": spent / args.runs}
        for rule, w in wins.items():
            rows.append({"gain (points)": 100 * gain, "rule": rule, "finds the planted cell": w / args.runs,
                         "evaluations": costs[rule], "vs full grid": costs[rule] / (args.cells * args.pool)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
