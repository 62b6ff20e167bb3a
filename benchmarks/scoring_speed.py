"""Multiple-choice scoring: interp's option-logit scoring vs the reference per-item generation.

The same items under the same steering are scored three ways, in interleaved rounds:

- ``interp logits``: ``interp.evaluation.score(mllm, items, steer)`` (option logits at the answer
  position, one prefill per batch of 16, head at the last position only);
- ``reference``: the paper's code path (arXiv 2505.14071): a torch forward hook on the layer,
  batch 1, greedy generation of up to 20 tokens stopping at EOS, the paper's parser;
- ``interp generate``: ``score(..., method="generate")``, interp's batched generate-and-parse
  (organism; on the random model only with ``--full``).

Reported per steering condition: items/s of each way (median over rounds), the speed-up of
interp's scoring over the reference (target >= 1.5x on the organism), and how often the two
pick the same option (target >= 95%), with the share of generated answers the parser could not
read. The conditions include strengths that push the model off-format: there a generated answer
is unreadable (counted wrong by the paper), while the option logits still name a letter, so
agreement is expected to drop; it is reported, not hidden.

On the random ~270M PaliGemma the reference generates 2 tokens per item (a random model never
emits EOS; 2 is what a model in format generates: a letter, then EOS), and agreement is
meaningless (garbage answers); both are reported anyway.

Usage:
    python benchmarks/scoring_speed.py [--models organism pg270m] [--threads 1] [--rounds N] [--quick|--full]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_SPEEDUP = 1.5
TARGET_AGREEMENT = 0.95
BATCH_SIZE = 16


def conditions(mllm: Any, name: str, quick: bool) -> list[tuple[str, int, float, str]]:
    """(label, layer, relative strength, selector); strength relative to the mean residual norm
    of the selected tokens at the layer (as the sweep's ``relative=True``)."""
    mid = mllm.n_layers // 2
    if quick:
        return [("unsteered", mid, 0.0, "image"), (f"last L{mid} x4 (off-format)", mid, 4.0, "last")]
    if common.is_random(name):
        return [("unsteered", mid, 0.0, "image"), (f"image L{mid} x1", mid, 1.0, "image")]
    return [
        ("unsteered", mid, 0.0, "image"),
        (f"image L{mid} x1", mid, 1.0, "image"),
        ("both L0 x4 (partly off-format)", 0, 4.0, "both"),
        (f"last L{mid} x4 (off-format)", mid, 4.0, "last"),
    ]


def settings(name: str, args: Any) -> dict[str, Any]:
    if args.quick:
        return {"n_per_task": 1, "rounds": args.rounds or 1, "generate": True}
    if common.is_random(name):
        return {"n_per_task": 2 if args.full else 1, "rounds": args.rounds or 2, "generate": bool(args.full)}
    return {"n_per_task": 20 if args.full else 10, "rounds": args.rounds or 5, "generate": True}


def ways(mllm: Any, items: list[Any], steers: list[Any], spec: Any, max_new: int, generate: bool) -> dict[str, Any]:
    """The scoring ways compared, as callables over the same items and steering."""
    from interp.evaluation.scoring import score

    runs = {
        "interp logits": lambda: score(mllm, items, steers, batch_size=BATCH_SIZE),
        "reference": lambda: [common.reference_answer(mllm, it, spec, max_new) for it in items],
    }
    if generate:
        runs["interp generate"] = lambda: score(
            mllm, items, steers, method="generate", batch_size=BATCH_SIZE, max_new_tokens=max_new
        )
    return runs


def run_model(name: str, args: Any) -> dict[str, Any]:
    from interp.evaluation.cells import residual_norms
    from interp.steering import add

    mllm = common.load_mllm(name)
    cfg = settings(name, args)
    tasks = ["Count", "Relation"] if (args.quick or common.is_random(name)) and not args.full else None
    items = common.organism_items("test", cfg["n_per_task"], tasks=tasks)
    vec = common.steering_vector(mllm, name)
    conds = conditions(mllm, name, args.quick)
    norms = residual_norms(mllm, items, sorted({c[1] for c in conds}), sorted({c[3] for c in conds}))
    max_new = common.reference_max_new_tokens(name)
    n = len(items)
    print(f"\n{common.describe_model(mllm, name)}")
    print(f"{n} organism test items ({', '.join(sorted({it.task for it in items}))}); interp scores in batches of "
          f"{BATCH_SIZE}; the reference generates at batch 1 up to {max_new} new tokens"
          + (" (random weights never emit EOS: 2 = a letter, then EOS)" if common.is_random(name) else ", stopping at EOS")
          + f"; {cfg['rounds']} interleaved round(s) per condition")
    rows, out = [], {}
    for label, layer, rel, sel in conds:
        d = vec.at(layer)
        alpha = rel * norms[layer, sel] / float(d.norm()) if rel else 0.0
        steers = [add(d, layer, alpha, sel)] if alpha else []
        spec = (d, layer, alpha, sel) if alpha else None

        runs = ways(mllm, items, steers, spec, max_new, cfg["generate"])
        times, res = common.interleaved(runs, cfg["rounds"], warmup=not common.is_random(name))
        med = {k: common.median(t) for k, t in times.items()}
        fast = list(res["interp logits"]["pred"])
        ref = [-1 if p is None else p for _, p in res["reference"]]
        parsed = [p is not None for _, p in res["reference"]]
        agree = sum(a == b for a, b in zip(fast, ref)) / n
        agree_parsed = (
            sum(a == b for a, b, ok in zip(fast, ref, parsed) if ok) / sum(parsed) if any(parsed) else float("nan")
        )
        acc_fast = sum(bool(c) for c in res["interp logits"]["correct"]) / n
        acc_ref = sum(p == it.answer for (_, p), it in zip(res["reference"], items)) / n
        speedup = med["reference"] / med["interp logits"]
        rec: dict[str, Any] = {
            "layer": layer, "selector": sel, "relative_strength": rel, "alpha": alpha,
            "median_s": med, "items_per_s": {k: n / t for k, t in med.items()}, "speedup": speedup,
            "agreement": agree, "agreement_where_parsed": agree_parsed, "unparsed": 1 - sum(parsed) / n,
            "accuracy_logits": acc_fast, "accuracy_reference": acc_ref,
            "reference_texts": [t for t, _ in res["reference"][:3]],
        }
        if "interp generate" in res:
            gen = list(res["interp generate"]["pred"])
            rec["generate_matches_reference"] = sum(a == b for a, b in zip(gen, ref)) / n
        out[label] = rec
        rows.append([
            label, n / med["interp logits"], n / med["reference"],
            n / med["interp generate"] if "interp generate" in med else "-", speedup,
            f"{100 * agree:.0f}%", f"{100 * agree_parsed:.0f}%" if any(parsed) else "-", f"{100 * rec['unparsed']:.0f}%",
            f"{acc_fast:.2f} / {acc_ref:.2f}", " | ".join(repr(t) for t, _ in res["reference"][:2]),
        ])
    print(common.table(
        ["condition", "logits it/s", "reference it/s", "generate it/s", "speed-up", "agree", "agree|parsed",
         "unparsed", "acc logits/ref", "reference says"], rows))
    on_format = [r for r in out.values() if r["unparsed"] == 0.0]
    speedups = [r["speedup"] for r in out.values()]
    min_agree = min((r["agreement"] for r in on_format), default=float("nan"))
    random = common.is_random(name)
    has_format = bool(on_format)
    summary = {
        "speedup_min": min(speedups), "speedup_median": common.median(speedups),
        "agreement_min_on_format": min_agree, "agreement_min": min(r["agreement"] for r in out.values()),
        "pass_speedup": None if random else min(speedups) >= TARGET_SPEEDUP,
        "pass_agreement": None if random or not has_format else min_agree >= TARGET_AGREEMENT,
    }
    verdict = "no target (random weights)" if random else common.verdict(summary["speedup_min"], TARGET_SPEEDUP, at_most=False)
    print(f"speed-up of interp's scoring over the reference: min {summary['speedup_min']:.2f}x, median "
          f"{summary['speedup_median']:.2f}x (target >= {TARGET_SPEEDUP}x on the organism): {verdict}")
    if has_format:
        verdict = "no target (random weights)" if random else common.verdict(min_agree, TARGET_AGREEMENT, at_most=False)
        print(f"agreement where every generated answer was readable: min {100 * min_agree:.0f}% "
              f"(target >= {100 * TARGET_AGREEMENT:.0f}%): {verdict}")
    else:
        print("agreement: no condition had every generated answer readable"
              + (" (random weights answer garbage: agreement carries no meaning)" if random else ""))
    return {"n_items": n, "rounds": cfg["rounds"], "batch_size": BATCH_SIZE, "reference_max_new_tokens": max_new,
            "params": common.n_params(mllm), "conditions": out, "summary": summary}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_benchmark("scoring_speed", __doc__, {"speedup": TARGET_SPEEDUP, "agreement": TARGET_AGREEMENT}, run_model, argv)


if __name__ == "__main__":
    common.main_guard(main)
