"""Requests a sweep sends to a remote model: the fast remote path vs the naive per-cell loop.

The same grid on the same train items, on the organism loaded with ``remote="local"`` (nnsight's
dry run of NDIF: every request is serialised as for the server and run here), three ways:

- ``remote fast``: ``sweep(...)`` on the remote model: per batch of items one nnsight session
  holding the base pass and every cell of the grid (``interp.evaluation.remote``), only the
  option logits coming back;
- ``remote fast, split``: the same with ``cells_per_request`` below the grid's size, to show what
  a grid that does not fit one request costs (``ceil(cells / cells_per_request)`` per batch);
- ``remote naive``: ``sweep(..., naive=True)``: one request per cell per batch (and one for the
  unsteered pass);
- ``local fast``: the local shared-work sweep (no requests), for the wall time.

Requests are counted by ``MLLM.requests`` (incremented where nnsight's remote backend sends a
trace or a session). Every way also sends ``ceil(n_calibration / batch)`` requests for the
residual norms of relative strengths; the table gives them apart. Target: one request per batch
for the whole grid. Wall times are medians over interleaved rounds; on NDIF each request also
waits in the queue, which ``remote="local"`` does not show, so the request count is the figure
that transfers.

Usage:
    python benchmarks/remote_requests.py [--threads 1] [--rounds N] [--quick]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_PER_BATCH = 1.0


def main(argv: list[str] | None = None) -> None:
    args = common.parser(__doc__).parse_args(argv)
    threads = common.set_threads(args.threads)

    import interp
    from interp.evaluation import load_benchmark, sweep

    if args.quick:
        layers, strengths, selectors, tasks, n_items, batch, split = [1, 2], [-1.0, 1.0], ["image"], ["Count"], 4, 4, 2
    else:
        layers, strengths, selectors, tasks, n_items, batch, split = (
            [0, 1, 2, 3], [-1.0, -0.5, 0.5, 1.0], ["image", "text", "both"], ["Count", "Relation"], 8, 8, 16)
    rounds = args.rounds or 1
    n_cal = batch  # one calibration batch
    train = [it for t in tasks for it in list(load_benchmark("organism", split="train", tasks=[t]))[:n_items]]
    n_batches = sum(math.ceil(n_items / batch) for _ in tasks)
    n_cells = len(layers) * len(strengths) * len(selectors)

    local = interp.load_mllm("organism")
    remote = interp.load_mllm("organism", remote="local")
    backbone = interp.load_text_backbone(mllm="organism")
    vector = interp.compute(backbone, "counting", "meanshift", source="organism", layers=layers)

    def one(model: Any, **kw: Any) -> tuple[Any, int]:
        before = getattr(model, "requests", 0)
        res = sweep(model, {"counting": vector}, layers, strengths, selectors, train=train, batch_size=batch,
                    n_calibration=n_cal, progress=False, **kw)
        return res, getattr(model, "requests", 0) - before

    ways = {
        "remote fast": lambda: one(remote),
        "remote fast, split": lambda: one(remote, cells_per_request=split),
        "remote naive": lambda: one(remote, naive=True),
        "local fast": lambda: one(local),
    }
    times, last = common.interleaved(ways, rounds=rounds)

    n_cal_requests = math.ceil(min(n_cal, len(train)) / batch)
    expected = {
        "remote fast": n_batches,
        "remote fast, split": n_batches * math.ceil(n_cells / split),
        "remote naive": n_batches * (1 + n_cells),
        "local fast": 0,
    }
    print(f"grid: {len(layers)} layers x {len(strengths)} strengths x {len(selectors)} selectors = {n_cells} cells "
          f"+ unsteered; {len(train)} train items in {n_batches} batches of {batch}; cells_per_request for the split "
          f"row: {split}; {rounds} interleaved round(s)")
    base = common.median(times["remote fast"])
    rows = []
    for name in ways:
        _, sent = last[name]
        grid = sent - (n_cal_requests if name != "local fast" else 0)
        rows.append([name, sent, grid, expected[name], grid / n_batches, common.median(times[name]),
                     common.median(times[name]) / base])
    print(common.table(["way", "requests", "grid requests", "expected", "per batch", "wall s", "wall / remote fast"], rows))

    fast_rows = last["remote fast"][0].grid.sort_values("cell").reset_index(drop=True)
    naive_rows = last["remote naive"][0].grid.sort_values("cell").reset_index(drop=True)
    local_rows = last["local fast"][0].grid.sort_values(["layer", "selector", "strength", "task"]).reset_index(drop=True)
    fast_by_cell = fast_rows.sort_values(["layer", "selector", "strength", "task"]).reset_index(drop=True)
    same_acc = fast_by_cell["accuracy"].round(12).tolist() == local_rows["accuracy"].round(12).tolist()
    same_naive = fast_rows["accuracy"].round(12).tolist() == naive_rows["accuracy"].round(12).tolist()
    per_batch = (last["remote fast"][1] - n_cal_requests) / n_batches
    print(f"remote fast: {per_batch:g} request(s) per batch for the whole grid (target {TARGET_PER_BATCH:g}: "
          f"{common.verdict(per_batch, TARGET_PER_BATCH, at_most=True)}); naive: "
          f"{(last['remote naive'][1] - n_cal_requests) / n_batches:g} per batch; plus {n_cal_requests} calibration "
          "request(s) for relative strengths in every remote way")
    print(f"same train accuracy per cell: remote fast vs local fast {same_acc}, remote fast vs remote naive {same_naive}")
    common.emit({
        "benchmark": "remote_requests", "env": common.environment(threads),
        "models": {"organism": {
            "n_cells": n_cells, "n_batches": n_batches, "calibration_requests": n_cal_requests,
            "requests": {name: last[name][1] for name in ways}, "expected_grid_requests": expected,
            "wall_s": {name: common.median(times[name]) for name in ways},
            "requests_per_batch_fast": per_batch, "target_per_batch": TARGET_PER_BATCH,
            "pass": per_batch <= TARGET_PER_BATCH, "same_as_local": same_acc, "same_as_naive": same_naive,
        }},
    })

if __name__ == "__main__":
    main()
