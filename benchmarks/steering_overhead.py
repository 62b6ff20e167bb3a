"""Steering overhead: steered forward / plain forward, measured side by side in one run.

Three ways to run the same batch are timed in interleaved rounds (the machine is noisy, so the
rounds alternate and medians are compared):

- ``hf``: the plain HF forward, no nnsight;
- ``trace``: an nnsight trace that reads the logits only;
- ``steered``: the same trace with ``add`` steering at one layer on image tokens
  (``interp.steered_logits``).

The target is steered / plain <= 1.05. ``steered/trace`` is the cost of the edit itself;
``steered/hf`` adds nnsight's per-trace overhead, which is fixed per call, so it matters only for
models as small as the organism.

Usage:
    python benchmarks/steering_overhead.py [--batch 16] [--rounds 15] [--model organism|<dir>]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="organism")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    import interp
    from interp import organism
    from interp.organism.scenes import make_split

    mllm = interp.load_mllm(args.model)
    items = make_split("test", args.batch, tasks=["Count"])
    inputs = mllm.encode([organism.format_prompt(it) for it in items], [it["image"] for it in items])
    v = torch.randn(mllm.d_model)
    steer = [interp.add(v, mllm.n_layers // 2, 2.0, "image")]

    def hf() -> None:
        with torch.no_grad():
            mllm.module(**inputs)

    def trace() -> None:
        interp.steered_logits(mllm, inputs, [])

    def steered() -> None:
        interp.steered_logits(mllm, inputs, steer)

    runs = {"hf": hf, "trace": trace, "steered": steered}
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    n_params = sum(p.numel() for p in mllm.module.parameters())
    print(f"model {args.model} ({n_params / 1e6:.2f}M params), batch {args.batch} x {inputs['input_ids'].shape[1]} tokens, {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    for k, t in med.items():
        print(f"  {k:8s} median {t * 1e3:8.2f} ms")
    print(f"steered/trace = {med['steered'] / med['trace']:.3f}   (target <= 1.05)")
    print(f"steered/hf    = {med['steered'] / med['hf']:.3f}   (includes nnsight's fixed per-trace cost)")
    print(f"trace/hf      = {med['trace'] / med['hf']:.3f}")


if __name__ == "__main__":
    main()
