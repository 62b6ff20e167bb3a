"""The GPU check: issue 22's benchmarks and equality checks in one run on CUDA (under 8 minutes).

Checks, in order (each one's figures printed as it ends; the JSON line at the end holds them all):

1. **Steering overhead** on the PaliGemma 2 3B-shaped model (random bf16 weights, the published
   config's shape; built by ``realsize_dryrun.build`` on the GPU and saved on first use, then
   loaded with ``interp.load_mllm(dir, dtype=torch.bfloat16, device_map="cuda")``): interp's
   steered forward (``interp.steered_logits`` with one ``add`` on the image tokens of the middle
   layer) over a plain HF forward of the same batch. Target <= 1.02.
2. **Scoring** on the same model: logit scoring (``interp.evaluation.score``) in items/s. Reported.
3. **The sweep with and without cell batching** on the same model (``cell_batching.compare``):
   cells x items per second with 8 cells stacked per forward over one at a time, and the rows
   compared. Target >= 3x with the same predictions.
4. **bf16 against float32** on both organisms: the same sweep (organism-built MeanShift vector,
   relative strengths) with the model loaded in float32 and in bfloat16; the cells chosen on train
   and the largest option-probability difference. Target: the same chosen cells, <= 0.02. It also
   reports the floor: float32 arithmetic on the weights rounded to bfloat16 (what the weights'
   rounding alone moves; ``benchmarks/precision.py`` explains it).
5. **The request count** of a sweep on ``interp.load_mllm("organism", remote="local")``: requests
   sent by the fast path and by the naive loop for the same grid (``TracedModel.requests``). Where
   this interp has no request counter or no remote sweep, the check says "not available".

Without a CUDA device the script refuses (exit 2) unless told ``--device cpu`` (same as
``--dry-run``): then the same code runs on the CPU at toy size (a structure-alike PaliGemma 2 of
a few MB, fewer items and rounds) to check the script, and no target is judged. Exit status 1
when an equality check fails or a check raises; 0 otherwise (a missed speed target is printed
as MISS, not an error).

Usage:
    python benchmarks/gpu_check.py                    # on a machine with CUDA
    python benchmarks/gpu_check.py --dry-run          # the same code on the CPU at toy size
    python benchmarks/gpu_check.py --only overhead sweep --out gpu_check.json
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cell_batching
import common
import realsize_dryrun

TARGET_OVERHEAD = 1.02
TARGET_STACKING = 3.0
TARGET_BF16_P = 0.02
CHECKS = ("overhead", "scoring", "sweep", "bf16", "remote")
#: The bf16 check's third model: float32 weights rounded to bfloat16, float32 arithmetic.
FLOOR = "bf16 weights, fp32 math"


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], Any], device: str) -> Callable[[], Any]:
    def run() -> Any:
        out = fn()
        _sync(device)
        return out
    return run


def load_3b(args: Any) -> Any:
    """The 3B-shaped model (toy size on the CPU), built on first use, loaded as a user would."""
    import warnings

    import torch

    import interp

    tiny = args.device == "cpu"
    start = time.perf_counter()
    realsize_dryrun.build(tiny, device=args.device)
    built = time.perf_counter() - start
    mllm_dir, _ = realsize_dryrun.model_dirs(tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mllm = interp.load_mllm(str(mllm_dir), dtype=torch.bfloat16,
                                device_map=None if tiny else args.device)
    print(f"model: {common.describe_model(mllm, 'PaliGemma 2 3B shape' if not tiny else 'toy PaliGemma 2 shape')}, "
          f"{mllm.dtype}, on {mllm.device}; build/cache {built:.0f} s, load {time.perf_counter() - start - built:.0f} s")
    return mllm


def random_vector(mllm: Any) -> Any:
    import torch

    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(0)
    return SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )


def check_overhead(mllm: Any, args: Any) -> dict[str, Any]:
    import torch

    import interp
    from interp.answers import encode_items

    items = common.organism_items("test", args.batch // 2, tasks=["Count", "Relation"])
    inputs = encode_items(mllm, items)
    layer = mllm.n_layers // 2
    v = torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(0))
    steer = [interp.add(v, layer, 2.0, "image")]

    def plain() -> Any:  # the full logits, as steered_logits's trace computes them, then the last row
        with torch.no_grad():
            return mllm.module(**inputs).logits[:, -1]

    def steered() -> Any:
        return interp.steered_logits(mllm, inputs, steer, last_only=True)

    times, _ = common.interleaved({"plain": _timed(plain, args.device), "steered": _timed(steered, args.device)},
                                  args.rounds)
    med = {k: common.median(t) for k, t in times.items()}
    ratio = med["steered"] / med["plain"]
    print(f"batch {len(items)} x {inputs['input_ids'].shape[1]} tokens, add at layer {layer} (image tokens), "
          f"{args.rounds} rounds")
    print(common.table(["way", "median ms"], [[k, t * 1e3] for k, t in med.items()]))
    print(f"steered / plain = {ratio:.3f} (target <= {TARGET_OVERHEAD}): {_verdict(args, ratio, TARGET_OVERHEAD, True)}")
    return {"median_s": med, "ratio": ratio, "target": TARGET_OVERHEAD, "batch": len(items),
            "tokens": int(inputs["input_ids"].shape[1])}


def check_scoring(mllm: Any, args: Any) -> dict[str, Any]:
    from interp.evaluation.scoring import score

    items = common.organism_items("test", args.items, tasks=["Count", "Relation"])
    score(mllm, items[: args.batch], batch_size=args.batch)  # warm-up
    _sync(args.device)
    start = time.perf_counter()
    rows = score(mllm, items, batch_size=args.batch)
    _sync(args.device)
    seconds = time.perf_counter() - start
    print(f"logit scoring: {len(rows)} items in {seconds:.2f} s = {len(rows) / seconds:.1f} items/s (batch {args.batch})")
    return {"items": len(rows), "seconds": seconds, "items_per_s": len(rows) / seconds, "batch": args.batch}


def check_sweep(mllm: Any, args: Any) -> dict[str, Any]:
    n = mllm.n_layers
    grid = {"layers": [n // 3, (2 * n) // 3], "strengths": [0.5, 1.0, 2.0, 4.0], "selectors": ["image", "text"],
            "batch_size": args.batch}
    items = common.organism_items("val", args.items // 2, tasks=["Count", "Relation"])
    out = cell_batching.compare(mllm, random_vector(mllm), items, grid, (1, 8), args.rounds)
    cell_batching.print_comparison(out)
    stacked = out["ways"]["8 per forward"]
    print(f"8 per forward / one at a time = {stacked['speedup']:.2f}x (target >= {TARGET_STACKING}): "
          f"{_verdict(args, stacked['speedup'], TARGET_STACKING, False)}; same predictions {stacked['same_predictions']}")
    out["equal"] = stacked["same_predictions"] and stacked["max_abs_p_diff"] <= 1e-2
    return out


def organism_vector(mllm: Any, name: str) -> Any:
    """A MeanShift "counting" vector from the organism's backbone, as plain tensors (no provenance:
    the same directions steer the float32 and the bfloat16 model)."""
    import interp
    from interp.vectors import SteeringVector

    try:
        backbone = interp.load_text_backbone(mllm=name)
        vec = interp.compute(backbone, "counting", "meanshift", source="organism")
    except (ValueError, OSError, KeyError) as err:
        print(f"{name}: no MeanShift vector ({err}); random directions instead")
        return random_vector(mllm)
    return SteeringVector.from_tensors({layer: vec.at(layer).float() for layer in vec.layers},
                                       method="meanshift", concept="counting", n_layers=mllm.n_layers)


def max_prob_diff(a: Any, b: Any) -> float:
    """Largest |difference| of any option probability between two row frames in the same order."""
    import json

    import numpy as np

    return max((float(np.abs(np.array(json.loads(x)) - np.array(json.loads(y))).max())
                for x, y in zip(a["probs"], b["probs"])), default=0.0)


def check_bf16(args: Any) -> dict[str, Any]:
    import warnings

    import torch

    import interp
    from interp.evaluation import sweep
    from interp.evaluation.sweep import _choose

    out: dict[str, Any] = {}
    for name in ("organism", "organism-llava"):
        results = {}
        vec = None
        for dtype in (torch.float32, torch.bfloat16, FLOOR):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mllm = interp.load_mllm(name, dtype=torch.float32 if dtype == FLOOR else dtype,
                                        device_map=None if args.device == "cpu" else args.device)
            if dtype == FLOOR:
                common.round_weights_to_bf16(mllm)
            vec = vec or organism_vector(mllm, name)
            n = mllm.n_layers
            res = sweep(mllm, {"v": vec}, layers=list(range(n)), strengths=[0.5, 1.0, 2.0, 4.0],
                        selectors=["image", "text", "both"],
                        train=common.organism_items("val", args.items // 2, tasks=["Count", "Relation"]),
                        n_random=0, prompt_baseline=False, batch_size=args.batch, progress=False)
            results[str(dtype).removeprefix("torch.")] = res
        cols = ["condition", "vector", "layer", "selector", "strength", "item_id"]
        a = results["float32"].rows.sort_values(cols).reset_index(drop=True)
        b = results["bfloat16"].rows.sort_values(cols).reset_index(drop=True)
        max_dp = max_prob_diff(a, b)
        floor_dp = max_prob_diff(a, results[FLOOR].rows.sort_values(cols).reset_index(drop=True))
        chosen = {}
        for k, res in results.items():
            if k == FLOOR:
                continue
            ch = _choose(res.grid[res.grid["condition"] == "steered"])
            chosen[k] = {f"{r.task}/{r.selector}": f"L{int(r.layer)}@{float(r.strength):g}" for r in ch.itertuples()}
        same = chosen["float32"] == chosen["bfloat16"]
        preds = float((a["pred"] != b["pred"]).mean())
        print(f"{name}: max |p diff| bf16 vs fp32 {max_dp:.4f} (target <= {TARGET_BF16_P}); predictions differ on "
              f"{100 * preds:.1f}% of rows; chosen cells {'the same' if same else 'DIFFERENT'}: fp32 {chosen['float32']}"
              + ("" if same else f", bf16 {chosen['bfloat16']}"))
        print(f"{name}: of which the weights' rounding alone (bf16 weights, float32 math): max |p diff| {floor_dp:.4f}")
        out[name] = {"max_abs_p_diff": max_dp, "floor_max_abs_p_diff": floor_dp, "same_chosen": same, "chosen": chosen, "share_preds_differ": preds,
                     "pass": same and max_dp <= TARGET_BF16_P}
    out["equal"] = all(v["pass"] for v in out.values() if isinstance(v, dict))
    return out


def check_remote(args: Any) -> dict[str, Any]:
    import warnings

    import interp
    from interp.evaluation import sweep

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mllm = interp.load_mllm("organism", remote="local")
    if not hasattr(mllm, "requests"):
        print("request count: not available (this interp's models have no request counter, TracedModel.requests)")
        return {"available": False, "reason": "no TracedModel.requests"}
    vec = random_vector(mllm)
    items = common.organism_items("val", 2, tasks=["Count", "Relation"])
    grid = dict(layers=[1, 2], strengths=[1.0, 2.0], selectors=["image", "text"])
    counts = {}
    for label, naive in (("fast", False), ("naive", True)):
        before = int(mllm.requests)
        try:
            sweep(mllm, {"v": vec}, **grid, train=items, n_random=0, prompt_baseline=False, relative=False,
                  batch_size=2, naive=naive, progress=False)
        except (ValueError, NotImplementedError, RuntimeError) as err:
            print(f"request count ({label} sweep): not available ({type(err).__name__}: {err})")
            return {"available": False, "reason": f"{label}: {err}"}
        counts[label] = int(mllm.requests) - before
    n_cells = 2 * 2 * 2 + 1
    batches = 2  # two tasks, one batch each
    print(f"remote='local' sweep of {n_cells} cells x {batches} batches: fast {counts['fast']} requests, naive "
          f"{counts['naive']} (cells x batches = {n_cells * batches})")
    return {"available": True, "requests": counts, "cells": n_cells, "batches": batches}


def _verdict(args: Any, value: float, target: float, at_most: bool) -> str:
    if args.device == "cpu":
        return "(CPU dry run: not judged)"
    return common.verdict(value, target, at_most=at_most)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="cuda (default when present) or cpu (the toy-size dry run)")
    p.add_argument("--dry-run", action="store_true", help="the same as --device cpu")
    p.add_argument("--only", nargs="+", choices=CHECKS, default=list(CHECKS), help="run only these checks")
    p.add_argument("--out", default=None, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    import torch

    if args.dry_run:
        args.device = "cpu"
    if args.device is None:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device is available (torch.cuda.is_available() is False): this script "
                  "measures GPU figures; run it where a GPU is, or check the script with --dry-run "
                  "(--device cpu, toy size, nothing judged)", file=sys.stderr)
            return 2
        args.device = "cuda"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu_check: --device {args.device} asked for, but no CUDA device is available", file=sys.stderr)
        return 2
    if args.device not in ("cpu",) and not args.device.startswith("cuda"):
        print(f"gpu_check: --device must be cuda, cuda:N or cpu, got {args.device!r}", file=sys.stderr)
        return 2
    common.quiet()
    threads = common.set_threads(1 if args.device == "cpu" else torch.get_num_threads())
    cpu = args.device == "cpu"
    args.rounds, args.items, args.batch = (1, 4, 2) if cpu else (10, 32, 8)
    print(f"gpu_check on {args.device}" + (" (dry run at toy size: figures mean nothing)" if cpu else
                                            f" ({torch.cuda.get_device_name(0)})"))
    start = time.perf_counter()
    result: dict[str, Any] = {"benchmark": "gpu_check", "env": common.environment(threads), "device": args.device,
                              "dry_run": cpu, "checks": {}}
    failed: list[str] = []
    mllm = None
    for check in args.only:
        print(f"\n== {check}")
        t0 = time.perf_counter()
        try:
            if check in ("overhead", "scoring", "sweep") and mllm is None:
                mllm = load_3b(args)
            fn = {"overhead": check_overhead, "scoring": check_scoring, "sweep": check_sweep}.get(check)
            out = fn(mllm, args) if fn is not None else {"bf16": check_bf16, "remote": check_remote}[check](args)
            if out.get("equal") is False:
                failed.append(f"{check}: results not equal")
        except Exception as err:  # a check that raises is reported, and the others still run
            traceback.print_exc()
            out = {"error": f"{type(err).__name__}: {err}"}
            failed.append(f"{check}: {type(err).__name__}: {err}")
        out["seconds"] = time.perf_counter() - t0
        result["checks"][check] = out
    result["seconds"] = time.perf_counter() - start
    result["failed"] = failed
    print(f"\ngpu_check: {result['seconds']:.0f} s in all; " + ("all checks ran, results equal" if not failed
                                                                 else f"FAILED: {failed}"))
    common.emit(result)
    if args.out:
        import json

        Path(args.out).write_text(json.dumps(common._plain(result), indent=1, sort_keys=True) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
