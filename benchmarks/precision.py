"""Half precision: the same sweep in float32, bfloat16 and float16, side by side, on both organisms.

Each organism (``organism``, the PaliGemma one; ``organism-llava``) is loaded once per dtype
(``interp.load_mllm(name, dtype=...)``) and runs the same sweep (its MeanShift "counting" vector
computed once in float32 on its text backbone; layers x relative strengths x selectors on train,
the chosen cells, random directions and the prompting baseline on test). Against float32 it
reports:

- the largest difference of any option probability over every scored (item, cell) row, rows
  matched by (condition, layer, selector, strength, seed, item), and the kind of cell where it
  is (the JSON line has the maximum per kind: unsteered, steered, random, prompt);
- the largest difference of the answer-position logits, on the answer options and over the whole
  vocabulary, on the train grid with float32's strengths (``BasePass``, the sweep's own path):
  the forward's own precision, without the slightly different calibration norms;
- whether any chosen cell (per task and selector) changed, and how many predictions changed;
- each dtype's sweep time over float32's (one run each; on a CPU without bf16/fp16 kernels half
  precision is slower, which is not what it is for).

Two more measurements say where bfloat16's difference comes from:

- a row ``bf16 weights, fp32 math``: the float32 model with every weight rounded to bfloat16
  and everything computed in float32. This is the floor of any computation on bfloat16
  weights: what the weights' own rounding moves, before one activation is rounded;
- a column ``... head in fp32``: the option logits of the same bfloat16 forward with the final
  norm and the output head computed in float32 from the last layer's bfloat16 output. If the
  rounding of the logits themselves were the cause, this column would be near 0.

Targets (issue 22): the same chosen cells as float32, option probabilities within 0.02.
float16 runs on this CPU (torch computes it), so it is measured too.

Usage:
    python benchmarks/precision.py [--models organism organism-llava] [--threads 1] [--quick|--full]
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_PROB = 0.02
MODELS = ("organism", "organism-llava")
DTYPES = ("float32", "bfloat16", "float16")
#: float32 arithmetic on weights rounded to bfloat16: the floor of any bfloat16-weight computation.
ROUNDED = "bf16 weights, fp32 math"
KEY = ["condition", "vector", "layer", "selector", "strength", "seed", "item_id"]


def plan(args: Any) -> dict[str, Any]:
    if args.quick:
        return dict(layers=[1, 2], strengths=[1.0, 4.0], selectors=["image"], n_per_task=2, n_random=1)
    n = 10 if args.full else 6
    return dict(layers=[0, 1, 2, 3], strengths=[0.25, 0.5, 1.0, 2.0, 4.0], selectors=["image", "text", "both"],
                n_per_task=n, n_random=3)


def _load(name: str, dtype: str) -> Any:
    import warnings

    import interp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype != ROUNDED:
            return interp.load_mllm(name, dtype=dtype)
        return common.round_weights_to_bf16(interp.load_mllm(name, dtype="float32"))


@contextlib.contextmanager
def _head_in_fp32(mllm: Any) -> Iterator[None]:
    """``mllm.unembed`` with the final norm and the head in float32 (a copy of each, upcast)."""
    import copy

    import torch

    norm = copy.deepcopy(mllm.final_norm).float()
    weight = mllm.lm_head.weight.detach().float()
    cap = getattr(mllm.text_config, "final_logit_softcapping", None)

    def unembed(h: Any, *, normed: bool = False) -> Any:
        x = h.float() if normed else norm(h.float())
        logits = torch.nn.functional.linear(x, weight)
        return torch.tanh(logits / cap) * cap if cap else logits

    mllm.unembed = unembed
    try:
        yield
    finally:
        del mllm.unembed


def _vector(name: str) -> Any:
    import warnings

    import interp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = interp.load_text_backbone(mllm=name)
        return interp.compute(backbone, "counting", "meanshift", source="organism")


def _prob_diffs(a: Any, b: Any) -> tuple[dict[str, float], int, int, int]:
    """Per condition, max |p - p_fp32| over every option of the rows both runs scored; rows
    matched, rows only one run scored (those of a chosen cell that changed), predictions changed."""
    import numpy as np

    m = a.merge(b, on=KEY, suffixes=("", "_ref"))
    d = [float(np.abs(np.array(json.loads(p)) - np.array(json.loads(q))).max()) for p, q in zip(m["probs"], m["probs_ref"])]
    m = m.assign(d=d)
    by = {str(k): float(v) for k, v in m.groupby("condition")["d"].max().items()}
    unmatched = len(a) + len(b) - 2 * len(m)
    return by, len(m), unmatched, int((m["pred"] != m["pred_ref"]).sum())


def _correct(res: Any, task: str, selector: str, cell: tuple[int, float] | None) -> int | None:
    """Train answers correct at ``cell`` (layer, strength) in a sweep's grid (None if absent)."""
    if cell is None:
        return None
    g = res.grid
    hit = g[(g["condition"] == "steered") & (g["task"] == task) & (g["selector"] == selector)
            & (g["layer"] == cell[0]) & (g["strength"] == cell[1])]
    return int(hit["n_correct"].iloc[0]) if len(hit) else None


def _chosen(res: Any) -> dict[tuple[str, str], tuple[int, float]]:
    from interp.evaluation.sweep import _choose

    g = res.grid[res.grid["condition"] == "steered"]
    return {(r["task"], r["selector"]): (int(r["layer"]), float(r["strength"])) for _, r in _choose(g).iterrows()}


def _grid_logits(mllm: Any, items: list[Any], vec: Any, cells: list[tuple[int, str, float]], batch: int) -> Any:
    """Answer-position logits (float32) of each (layer, selector, alpha) cell, the unsteered
    model first (its logits from ``unembed`` of the last layer's output, like every cell's)."""
    import torch

    from interp.answers import encode_items
    from interp.evaluation.cells import BasePass
    from interp.steering import add

    out: list[Any] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        for task in sorted({it.task for it in chunk}):
            group = [it for it in chunk if it.task == task]
            last = mllm.n_layers - 1
            bp = BasePass(mllm, encode_items(mllm, group), sorted({c[0] for c in cells} | {last}))
            unsteered = bp.run_from(last, bp.outputs[last])
            per = [unsteered] + [bp.steered(add(vec.at(layer), layer, alpha, sel)) for layer, sel, alpha in cells]
            out.append(torch.stack([p.float() for p in per]))
    return out


def _by_item(logits: list[Any]) -> Any:
    """``_grid_logits``'s per-group ``(cells, items, vocab)`` tensors as one ``(items, cells, vocab)``."""
    import torch

    return torch.cat([t.transpose(0, 1) for t in logits])


def _option_diff(a_rows: Any, b_rows: Any, order: list[Any], ids_of: dict[str, Any]) -> float:
    """Max |a - b| over every item's option logits, rows ``(items, cells, vocab)`` in ``order``."""
    return max(float((a_rows[i][:, list(ids_of[it.id])] - b_rows[i][:, list(ids_of[it.id])]).abs().max())
               for i, it in enumerate(order))


def run_model(name: str, args: Any) -> dict[str, Any]:

    from interp.answers import option_token_ids
    from interp.evaluation.sweep import sweep

    p = plan(args)
    train = common.organism_items("val", p["n_per_task"], ["Count", "Relation"])
    test = common.organism_items("test", p["n_per_task"], ["Count", "Relation"])
    vec = _vector(name)
    sweep_args = dict(
        vectors={"counting": vec}, layers=p["layers"], strengths=p["strengths"], selectors=p["selectors"],
        train=train, test=test, n_random=p["n_random"], batch_size=8, progress=False,
    )
    print(f"\n{name}: {len(p['layers'])} layers x {len(p['strengths'])} strengths x {len(p['selectors'])} "
          f"selectors, {len(train)} train / {len(test)} test items, {p['n_random']} random directions per chosen cell")
    results: dict[str, Any] = {}
    for dtype in (*DTYPES, ROUNDED):
        mllm = _load(name, dtype)
        start = time.perf_counter()
        res = sweep(mllm, **sweep_args)
        seconds = time.perf_counter() - start
        results[dtype] = {"mllm": mllm, "res": res, "s": seconds}
        print(f"  {dtype}: sweep {seconds:.1f} s ({mllm.dtype})")

    ref = results["float32"]
    ref_res = ref["res"]
    grid = ref_res.grid[ref_res.grid["condition"] == "steered"].drop_duplicates(["layer", "selector", "strength"])
    if "skipped" in grid:  # structurally dead cells (no alpha): the sweep never runs them
        grid = grid[~grid["skipped"].astype(bool)]
    cells = [(int(r["layer"]), str(r["selector"]), float(r["alpha"])) for _, r in grid.iterrows()]
    option_ids = [option_token_ids(ref["mllm"].tokenizer, it) for it in train]
    ref_logits = _grid_logits(ref["mllm"], train, vec, cells, 8)
    ref_chosen = _chosen(ref_res)

    rows, record = [], {}
    for dtype in (*DTYPES[1:], ROUNDED):
        r = results[dtype]
        by_condition, n_rows, unmatched, preds_changed = _prob_diffs(r["res"].rows, ref_res.rows)
        prob_diff = max(by_condition.values())
        worst = max(by_condition, key=lambda k: by_condition[k])
        logits = _grid_logits(r["mllm"], train, vec, cells, 8)
        all_diff = max(float((a - b).abs().max()) for a, b in zip(logits, ref_logits))
        # Option logits: items in the order _grid_logits visits them (per chunk, per task).
        order = [it for start in range(0, len(train), 8) for task in sorted({x.task for x in train[start:start + 8]})
                 for it in train[start:start + 8] if it.task == task]
        ids_of = {it.id: ids for it, ids in zip(train, option_ids)}
        a_rows, b_rows = _by_item(logits), _by_item(ref_logits)
        opt_diff = _option_diff(a_rows, b_rows, order, ids_of)
        head32_diff = None
        if dtype in DTYPES:
            with _head_in_fp32(r["mllm"]):
                logits32 = _grid_logits(r["mllm"], train, vec, cells, 8)
            head32_diff = _option_diff(_by_item(logits32), b_rows, order, ids_of)
        chosen = _chosen(r["res"])
        changed = sorted(k for k in ref_chosen if chosen.get(k) != ref_chosen[k])
        # A changed choice: fp32's train answers correct at fp32's cell and at this dtype's cell.
        flips = {f"{t}/{sel}": {"fp32_cell": list(ref_chosen[t, sel]), "cell": list(chosen[t, sel]),
                                "fp32_correct_at_fp32_cell": _correct(ref_res, t, sel, ref_chosen[t, sel]),
                                "fp32_correct_at_cell": _correct(ref_res, t, sel, chosen.get((t, sel)))}
                 for t, sel in changed}
        ok = not changed and prob_diff <= TARGET_PROB
        rows.append([dtype, r["s"], r["s"] / ref["s"], prob_diff, worst, opt_diff,
                     "-" if head32_diff is None else head32_diff, all_diff,
                     f"{len(changed)} of {len(ref_chosen)}", f"{preds_changed} of {n_rows}",
                     ("floor " + ("within" if ok else "over") + " target") if dtype == ROUNDED else "PASS" if ok else "MISS"])
        record[dtype] = {
            "sweep_s": r["s"], "ratio_to_fp32": r["s"] / ref["s"], "max_option_prob_diff": prob_diff,
            "max_option_prob_diff_by_condition": by_condition,
            "max_option_logit_diff": opt_diff, "max_option_logit_diff_head_fp32": head32_diff,
            "max_logit_diff": all_diff, "chosen_changed": flips,
            "n_chosen": len(ref_chosen), "preds_changed": preds_changed, "n_rows": n_rows,
            "rows_of_changed_cells": unmatched, "pass": ok,
        }
        for cell, f in flips.items():
            print(f"  {dtype}: chosen cell of {cell} changed from (layer, strength) {tuple(f['fp32_cell'])} to "
                  f"{tuple(f['cell'])}; float32 answers {f['fp32_correct_at_fp32_cell']} vs "
                  f"{f['fp32_correct_at_cell']} train items correctly there")
    print(common.table(
        ["dtype", "sweep s", "/ fp32", "max |dp| option", "(in cell)", "max |dlogit| option",
         "... head in fp32", "max |dlogit| vocab",
         "chosen cells changed", "predictions changed", "verdict"], rows))
    print(f"  float32 sweep: {ref['s']:.1f} s; chosen cells (task, selector) -> (layer, strength): {ref_chosen}")
    return {"grid": {k: v for k, v in p.items()}, "float32_s": ref["s"], "dtypes": record,
            "chosen_fp32": {f"{k[0]}/{k[1]}": list(v) for k, v in ref_chosen.items()}}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = common.parser(__doc__).parse_args(argv)
    common.quiet()
    args.threads = common.set_threads(args.threads)
    models = list(args.models or MODELS)
    result = {
        "benchmark": "precision", "env": common.environment(args.threads),
        "target": {"max_option_prob_diff": TARGET_PROB, "chosen_cells_changed": 0},
        "models": {m: run_model(m, args) for m in models},
    }
    common.emit(result)
    return result


if __name__ == "__main__":
    common.main_guard(main)
