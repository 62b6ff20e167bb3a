"""Extraction: streaming MeanShift vs a plain ``output_hidden_states`` forward, memory and tokens/s.

MeanShift (arXiv 2505.14071: anchor-token mean minus other-token mean, every layer) is computed
by ``interp.compute(backbone, corpus, "meanshift")`` over a concept corpus and over 10x that
corpus; the floor it is held to is the plain HF forward over the same batches with
``output_hidden_states=True`` (tokenizing included in both). The four runs go in interleaved
rounds; each one's peak memory is measured above what was resident before it (the model loaded:
on the CPU, blocks of 128 KiB or more unmapped when freed, freed heap returned to the OS and the
resident high-water mark reset, see ``common.peak_memory``; on a GPU, the CUDA peak stats reset).

Targets: MeanShift's peak memory within 1.2x of the plain forward's and flat in corpus size (10x
corpus / corpus about 1); its throughput within 10% of the plain forward's (tokens/s ratio >= 0.9).

The plain forward runs under ``torch.no_grad()``, as a hand-written extraction would; interp's
reads run under ``torch.inference_mode()``, which skips autograd's per-op bookkeeping. So that the
mode's share of the ratio is in view, the same plain forward under ``inference_mode`` is timed too
("plain-inf") and meanshift's throughput over it is printed beside the target's ratio (not judged).

The judged way is ``compute``'s default read (``backend="auto"``: forward hooks on the local
weights). MeanShift read through nnsight traces (``backend="nnsight"``, the remote path) is
timed in the same rounds and its ratios printed (not judged), so nnsight's fixed per-trace cost
stays in view.

Models: the organism's text backbone (its concept corpus, 60 sentences); the Gemma 2 text model of
the ~270M random PaliGemma (768-d x 12 layers, random weights; the default corpus's first 16
sentences by default, all 44 with ``--full``).

Usage:
    python benchmarks/extraction.py [--models organism pg270m] [--threads 1] [--rounds N] [--quick|--full]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_MEMORY = 1.2
TARGET_THROUGHPUT = 0.9
BATCH_SIZE = 16
FACTOR = 10


def corpora(name: str, args: Any) -> tuple[Any, Any]:
    """(corpus, 10x corpus): the concept corpus (cut for the slow model and --quick) and it repeated."""
    from interp.concepts import corpus_from_examples, load_corpus

    base = load_corpus("counting", source="default" if common.is_random(name) else "organism")
    examples = [(e.sentence, e.anchor) for e in base.examples]
    if args.quick:
        examples = examples[:4]
    elif common.is_random(name) and not args.full:
        examples = examples[:BATCH_SIZE]
    return corpus_from_examples("counting", examples), corpus_from_examples("counting", examples * FACTOR)


def run_model(name: str, args: Any) -> dict[str, Any]:
    import time

    import torch

    import interp
    from interp.concepts import encode_corpus

    backbone = common.load_backbone(name)
    small, large = corpora(name, args)
    rounds = args.rounds or (1 if args.quick else 2 if common.is_random(name) else 5)

    def n_tokens(corpus: Any) -> int:
        return sum(int(b.attention_mask.sum()) for b in encode_corpus(backbone.tokenizer, corpus, batch_size=BATCH_SIZE))

    def plain_forward(mode: Any) -> Any:
        """The plain ``output_hidden_states`` forward over a corpus, under a grad mode."""

        def run(corpus: Any) -> None:
            device = backbone.device
            with mode():
                for b in encode_corpus(backbone.tokenizer, corpus, batch_size=BATCH_SIZE):
                    backbone.module(input_ids=b.input_ids.to(device), attention_mask=b.attention_mask.to(device),
                                    output_hidden_states=True)

        return run

    plain, plain_inf = plain_forward(torch.no_grad), plain_forward(torch.inference_mode)

    def meanshift(corpus: Any) -> Any:
        return interp.compute(backbone, corpus, "meanshift", batch_size=BATCH_SIZE)

    def meanshift_nnsight(corpus: Any) -> Any:
        return interp.compute(backbone, corpus, "meanshift", batch_size=BATCH_SIZE, backend="nnsight")

    runs = {}
    for size, corpus in (("x1", small), ("x10", large)):
        runs.update({f"plain {size}": (plain, corpus), f"meanshift {size}": (meanshift, corpus),
                     f"plain-inf {size}": (plain_inf, corpus), f"meanshift-nnsight {size}": (meanshift_nnsight, corpus)})
    tokens = {"x1": n_tokens(small), "x10": n_tokens(large)}
    resident = common._proc_kib("VmRSS") / 1024
    print(f"\n{name} text backbone: {type(backbone.module).__name__}, {common.n_params(backbone) / 1e6:.1f}M parameters, "
          f"{backbone.n_layers} layers, d_model {backbone.d_model}; resident after loading {resident:.0f} MiB")
    print(f"corpus 'counting': {len(small)} sentences ({tokens['x1']} tokens) and x{FACTOR} ({len(large)} sentences, "
          f"{tokens['x10']} tokens); batch {BATCH_SIZE}; all {backbone.n_layers} layers; {rounds} interleaved round(s) after a warm-up")
    common.exact_rss()  # before the warm-up: every run under the same allocator settings
    start = time.perf_counter()
    meanshift(small)  # warm-up
    meanshift_nnsight(small)
    plain(small)
    times: dict[str, list[float]] = {k: [] for k in runs}
    peaks: dict[str, list[float]] = {k: [] for k in runs}
    names = list(runs)
    for r in range(rounds):
        for i in range(len(names)):
            key = names[(r + i) % len(names)]
            fn, corpus = runs[key]
            with common.peak_memory() as mem:
                t0 = time.perf_counter()
                fn(corpus)
                times[key].append(time.perf_counter() - t0)
            peaks[key].append(mem["peak_mib"])
    wall = time.perf_counter() - start
    med_t = {k: common.median(t) for k, t in times.items()}
    med_m = {k: common.median(m) for k, m in peaks.items()}
    tps = {k: tokens[k.split()[1]] / t for k, t in med_t.items()}
    rows = [[k, tps[k], med_t[k], med_m[k]] for k in runs]
    print(common.table(["way", "tokens/s", "median s", "peak MiB above loaded"], rows))
    out: dict[str, Any] = {}
    for size in ("x1", "x10"):
        out[f"memory_ratio_{size}"] = med_m[f"meanshift {size}"] / med_m[f"plain {size}"]
        out[f"throughput_ratio_{size}"] = tps[f"meanshift {size}"] / tps[f"plain {size}"]
        out[f"throughput_over_plain_inference_mode_{size}"] = tps[f"meanshift {size}"] / tps[f"plain-inf {size}"]
        out[f"nnsight_throughput_ratio_{size}"] = tps[f"meanshift-nnsight {size}"] / tps[f"plain {size}"]
        out[f"nnsight_memory_ratio_{size}"] = med_m[f"meanshift-nnsight {size}"] / med_m[f"plain {size}"]
    out["meanshift_memory_x10/x1"] = med_m["meanshift x10"] / med_m["meanshift x1"]
    out["plain_memory_x10/x1"] = med_m["plain x10"] / med_m["plain x1"]
    worst_mem = max(out["memory_ratio_x1"], out["memory_ratio_x10"])
    worst_tp = min(out["throughput_ratio_x1"], out["throughput_ratio_x10"])
    print(f"meanshift / plain peak memory: x1 {out['memory_ratio_x1']:.2f}, x10 {out['memory_ratio_x10']:.2f} "
          f"(target <= {TARGET_MEMORY}): {common.verdict(worst_mem, TARGET_MEMORY, at_most=True)}; "
          f"meanshift peak x10 / x1 corpus = {out['meanshift_memory_x10/x1']:.2f} (flat ~1; plain: {out['plain_memory_x10/x1']:.2f})")
    print(f"meanshift / plain tokens/s: x1 {out['throughput_ratio_x1']:.2f}, x10 {out['throughput_ratio_x10']:.2f} "
          f"(target >= {TARGET_THROUGHPUT}): {common.verdict(worst_tp, TARGET_THROUGHPUT, at_most=False)}; "
          f"over the plain forward under inference_mode: x1 {out['throughput_over_plain_inference_mode_x1']:.2f}, "
          f"x10 {out['throughput_over_plain_inference_mode_x10']:.2f} (not judged)")
    print(f"meanshift through nnsight traces (backend='nnsight', the remote path) / plain: tokens/s x1 "
          f"{out['nnsight_throughput_ratio_x1']:.2f}, x10 {out['nnsight_throughput_ratio_x10']:.2f}; peak memory x1 "
          f"{out['nnsight_memory_ratio_x1']:.2f}, x10 {out['nnsight_memory_ratio_x10']:.2f} (not judged)")
    return {
        "params": common.n_params(backbone), "sentences": {"x1": len(small), "x10": len(large)}, "tokens": tokens,
        "rounds": rounds, "batch_size": BATCH_SIZE, "resident_mib_after_load": resident, "median_s": med_t,
        "tokens_per_s": tps, "peak_mib": med_m, "ratios": out, "wall_s": wall,
        "pass": {"memory": worst_mem <= TARGET_MEMORY, "throughput": worst_tp >= TARGET_THROUGHPUT},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_benchmark("extraction", __doc__, {"memory_ratio": TARGET_MEMORY, "throughput_ratio": TARGET_THROUGHPUT}, run_model, argv)


if __name__ == "__main__":
    common.main_guard(main)
