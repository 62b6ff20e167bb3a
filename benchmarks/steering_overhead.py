"""Steering overhead: interp's steered forward vs a plain forward vs a hand-written torch hook.

Four ways run the same batch in interleaved rounds (medians compared; only ratios count):

- ``plain``: the HF forward, no hook, no nnsight (``mllm.module(**inputs)``);
- ``hook``: the same forward with a hand-written torch forward hook adding ``alpha * v`` on the
  image tokens of the middle decoder layer (the reference way's edit);
- ``trace``: interp's unsteered forward (``interp.steered_logits(mllm, inputs, [])``): nnsight's
  fixed per-trace cost;
- ``steered``: interp's steered forward with the same edit (``interp.add(v, layer, alpha, "image")``).

Target (arXiv 2505.14071's steering, done by interp): steered / plain <= 1.05. ``steered/trace``
is the edit itself; ``trace/plain`` is nnsight's per-trace cost, fixed per call, so it weighs
only on models as small as the organism. The steered logits must equal the hooked ones.

Usage:
    python benchmarks/steering_overhead.py [--models organism pg270m] [--threads 1] [--rounds N] [--quick|--full]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET = 1.05


def settings(name: str, args: Any) -> dict[str, int]:
    """Batch and rounds: organism 16 x 15 rounds; the ~270M model 1 x 3 (each forward takes seconds)."""
    if args.quick:
        return {"batch": 4, "rounds": args.rounds or 3}
    if common.is_random(name):
        return {"batch": 4 if args.full else 1, "rounds": args.rounds or (5 if args.full else 3)}
    return {"batch": 16, "rounds": args.rounds or 15}


def run_model(name: str, args: Any) -> dict[str, Any]:
    import torch

    import interp
    from interp.answers import encode_items

    mllm = common.load_mllm(name)
    cfg = settings(name, args)
    items = common.organism_items("test", cfg["batch"], tasks=["Count"])
    inputs = encode_items(mllm, items)
    layer = mllm.n_layers // 2
    g = torch.Generator().manual_seed(0)
    v = torch.randn(mllm.d_model, generator=g)
    alpha = 2.0
    steer = [interp.add(v, layer, alpha, "image")]

    def plain() -> Any:
        with torch.no_grad():
            return mllm.module(**inputs).logits

    def hook() -> Any:
        with common.reference_hook(mllm, v, layer, alpha, mllm.mask("image", inputs)), torch.no_grad():
            return mllm.module(**inputs).logits

    def trace() -> Any:
        return interp.steered_logits(mllm, inputs, [])

    def steered() -> Any:
        return interp.steered_logits(mllm, inputs, steer)

    print(f"\n{common.describe_model(mllm, name)}")
    print(f"batch {cfg['batch']} x {inputs['input_ids'].shape[1]} tokens, add at layer {layer} on image tokens, "
          f"{cfg['rounds']} interleaved rounds after one warm-up")
    times, out = common.interleaved(
        {"plain": plain, "hook": hook, "trace": trace, "steered": steered}, cfg["rounds"]
    )
    med = {k: common.median(t) for k, t in times.items()}
    diff = float((out["steered"].float() - out["hook"].float()).abs().max())
    moved = float((out["hook"].float() - out["plain"].float()).abs().max())
    ratios = {
        "steered/plain": med["steered"] / med["plain"],
        "steered/hook": med["steered"] / med["hook"],
        "hook/plain": med["hook"] / med["plain"],
        "trace/plain": med["trace"] / med["plain"],
        "steered/trace": med["steered"] / med["trace"],
    }
    print(common.table(["way", "median ms", "/ plain"], [[k, t * 1e3, t / med["plain"]] for k, t in med.items()]))
    passed = ratios["steered/plain"] <= TARGET
    print(f"steered/plain = {ratios['steered/plain']:.3f} (target <= {TARGET}): {'PASS' if passed else 'MISS'}; "
          f"steered/hook = {ratios['steered/hook']:.3f}; nnsight's per-trace cost trace/plain = {ratios['trace/plain']:.3f}; "
          f"the edit itself steered/trace = {ratios['steered/trace']:.3f}")
    print(f"steered vs hooked logits: max |diff| = {diff:.2e} (the edit moved the logits by up to {moved:.2e})")
    return {
        "batch": cfg["batch"], "tokens": int(inputs["input_ids"].shape[1]), "rounds": cfg["rounds"],
        "layer": layer, "params": common.n_params(mllm), "median_s": med, "ratios": ratios,
        "target": TARGET, "pass": passed, "max_abs_diff_steered_vs_hook": diff, "edit_effect": moved,
        "same_logits": diff <= 1e-4 * max(1.0, moved),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_benchmark("steering_overhead", __doc__, {"steered/plain": TARGET}, run_model, argv)


if __name__ == "__main__":
    common.main_guard(main)
