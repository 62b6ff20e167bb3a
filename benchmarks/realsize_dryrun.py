"""A real-size dry run: PaliGemma 2 3B at 224 px (random weights, bf16) through the user's code path.

The model has the exact shape of ``google/paligemma2-3b-pt-224`` (its published ``config.json``,
no download): a SigLIP So400m vision tower (1152-d, 27 layers, MLP 4304, 16 heads, patch 14 at
224 px: 256 image tokens, no pooling head), a linear projector to 2304, and Gemma 2 2B (2304-d,
26 layers, MLP 9216, 8 query heads and 4 KV heads of 256, sliding window 4096 on every other
layer, logit soft-capping 50/30, vocabulary 257216). Weights are random (``torch.manual_seed(0)``)
in bfloat16. The tokenizer is the tiny PaliGemma one of ``interp.testing`` (a byte-level BPE of
about 1600 entries, trained on the fly, with the 1152 ``<loc>``/``<seg>`` tokens the processor
adds); the config keeps the real vocabulary of 257216, so the embedding and output head hold
the real 593M parameters. Only the special-token ids differ from the real checkpoint.

The text backbone for extraction is saved from the very same weights (the MLLM's language model
and head as a ``Gemma2ForCausalLM``): what PaliGemma 2 pairs with (Gemma 2 2B) in shape, and a
backbone whose vectors the MLLM accepts by provenance (same config, same weights).

Phases, each in a fresh process (``--phase``), so each one's resident high-water mark is its own:

1. ``build`` (once, cached under ``$INTERP_BENCH_CACHE``): build, save both checkpoints.
2. ``extract``: ``interp.load_text_backbone(dir, dtype=torch.bfloat16)``, then
   ``interp.compute(backbone, corpus, "meanshift")`` on the first sentences of the default
   "counting" corpus (every layer), the vector saved for phase 3.
3. ``sweep``: ``interp.load_mllm(dir, dtype=torch.bfloat16)``, then ``interp.evaluation.sweep``
   with that vector: 2 layers x 2 strengths x 2 selectors on a few organism items (train and
   test), a few random directions, the prompting baseline; once more with cells stacked
   (``cells_per_forward``), whose rows must equal the first run's.

Memory: the peak is the process's resident high-water mark (``VmHWM`` of /proc/self/status,
reset with ``/proc/self/clear_refs`` after loading, so a phase's peak is the most the process
held while the phase ran: weights, Python, torch and the work), over the bytes of the loaded
model's parameters and buffers ("the weights' own size"). Target: at most 1.3x in extraction
and in the sweep. Loading's own peak is printed too (not judged).

Usage:
    python benchmarks/realsize_dryrun.py [--threads 1] [--items 2] [--sentences 16] [--tiny]

``--tiny`` runs the same code on a small model of the same structure (a check of the script,
seconds; its figures mean nothing). Peak memory needs about 1.3x 6 GB free; the build, 12 GB
of disk (both checkpoints) and about a minute per phase and 3B model load.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET = 1.3

#: google/paligemma2-3b-pt-224 config.json (text_config, vision_config), as published.
TEXT_3B = {
    "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
    "num_key_value_heads": 4, "head_dim": 256, "query_pre_attn_scalar": 256, "sliding_window": 4096,
    "max_position_embeddings": 8192, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
    "hidden_activation": "gelu_pytorch_tanh", "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "vocab_size": 257216, "num_image_tokens": 256,
}
VISION_3B = {
    "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16,
    "image_size": 224, "patch_size": 14, "vision_use_head": False, "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
}
#: The same structure at toy size (``--tiny``): a check of the script, not a measurement.
TEXT_TINY = {**TEXT_3B, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
             "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "query_pre_attn_scalar": 32,
             "vocab_size": 4096}
VISION_TINY = {**VISION_3B, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
               "num_attention_heads": 2}
SEED = 0


def _configs(tiny: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    return (TEXT_TINY, VISION_TINY) if tiny else (TEXT_3B, VISION_3B)


def model_dirs(tiny: bool) -> tuple[Path, Path]:
    """(MLLM dir, text backbone dir) in the benchmark cache."""
    import hashlib

    text, vision = _configs(tiny)
    tag = hashlib.sha256(json.dumps({"t": text, "v": vision, "s": SEED}, sort_keys=True).encode()).hexdigest()[:10]
    root = common.cache_root() / f"paligemma2-{'tiny' if tiny else '3b'}-224-{tag}"
    return root / "mllm", root / "text"


def build(tiny: bool, device: str = "cpu") -> None:
    """Build and save both checkpoints (random bf16 weights; the backbone shares the MLLM's).

    ``device``: where the random weights are drawn (``"cuda"`` is much faster); saved either way.
    """
    import torch
    from transformers import (
        Gemma2Config,
        Gemma2ForCausalLM,
        PaliGemmaForConditionalGeneration,
    )

    from interp.models.compat import quiet_progress

    mllm_dir, text_dir = model_dirs(tiny)
    if (mllm_dir / ".done").exists() and (text_dir / ".done").exists():
        print(f"cached: {mllm_dir.parent}")
        return
    text_cfg, vision_cfg = _configs(tiny)
    config, processor = common.paligemma_parts(text_cfg, vision_cfg, vocab_size=text_cfg["vocab_size"])
    tok = processor.tokenizer

    start = time.perf_counter()
    torch.manual_seed(SEED)
    with torch.device(device):
        model = PaliGemmaForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"built {n_params / 1e9:.3f}B parameters in bf16 in {time.perf_counter() - start:.0f} s")
    mllm_dir.mkdir(parents=True, exist_ok=True)
    with quiet_progress():
        model.save_pretrained(mllm_dir)
    processor.save_pretrained(mllm_dir)
    (mllm_dir / ".done").write_text("ok\n")

    # The backbone: the same language model and head tensors, saved as a Gemma2ForCausalLM.
    tcfg = config.text_config.to_dict()
    tcfg.pop("model_type", None)
    with torch.device("meta"):
        lm = Gemma2ForCausalLM(Gemma2Config(**tcfg))
    lm.model = model.model.language_model
    lm.lm_head = model.lm_head
    lm = lm.to(torch.bfloat16).eval()
    lm.config.dtype = torch.bfloat16
    text_dir.mkdir(parents=True, exist_ok=True)
    with quiet_progress():
        lm.save_pretrained(text_dir)
    tok.save_pretrained(text_dir)
    (text_dir / ".done").write_text("ok\n")
    print(f"saved {mllm_dir.parent} in {time.perf_counter() - start:.0f} s")


def _kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> None:
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def weights_bytes(module: Any) -> int:
    """Bytes of the module's parameters and buffers (tied tensors counted once)."""
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total


def _loaded(load: Any) -> tuple[Any, dict[str, float]]:
    """Load a model, returning it and the memory figures of loading."""
    base = _kib("VmRSS")
    start = time.perf_counter()
    model = load()
    seconds = time.perf_counter() - start
    return model, {"rss_before_load_mib": base / 1024, "load_peak_mib": _kib("VmHWM") / 1024,
                   "rss_after_load_mib": _kib("VmRSS") / 1024, "load_s": seconds}


def phase_extract(args: Any) -> dict[str, Any]:
    import torch

    import interp
    from interp.concepts import corpus_from_examples, load_corpus

    _, text_dir = model_dirs(args.tiny)
    backbone, mem = _loaded(lambda: interp.load_text_backbone(str(text_dir), dtype=torch.bfloat16))
    wb = weights_bytes(backbone.module)
    base = load_corpus("counting")
    corpus = corpus_from_examples("counting", [(e.sentence, e.anchor) for e in base.examples[: args.sentences]])
    _reset_peak()
    start = time.perf_counter()
    vec = interp.compute(backbone, corpus, "meanshift", batch_size=8)
    seconds = time.perf_counter() - start
    peak = _kib("VmHWM") / 1024
    vec.save(args.vector_dir, overwrite=True)
    return {"phase": "extract", "model": str(text_dir), "dtype": str(backbone.module.dtype),
            "params": sum(p.numel() for p in backbone.module.parameters()), "weights_mib": wb / 2**20,
            **mem, "peak_mib": peak, "seconds": seconds, "items": len(corpus.examples),
            "s_per_item": seconds / len(corpus.examples), "ratio": peak * 2**20 / wb}


def phase_sweep(args: Any) -> dict[str, Any]:
    import torch

    import interp
    from interp.evaluation import sweep
    from interp.vectors import SteeringVector

    mllm_dir, _ = model_dirs(args.tiny)
    mllm, mem = _loaded(lambda: interp.load_mllm(str(mllm_dir), dtype=torch.bfloat16))
    wb = weights_bytes(mllm.module)
    n = mllm.n_layers
    vec = SteeringVector.load(args.vector_dir, model=mllm)
    layers = [n // 3, (2 * n) // 3]
    train = common.organism_items("val", args.items, tasks=["Count", "Relation"])
    test = common.organism_items("test", args.items, tasks=["Count", "Relation"])
    kwargs: dict[str, Any] = dict(
        vectors={"meanshift/counting": vec}, layers=layers, strengths=[2.0, 8.0], selectors=["image", "text"],
        train=train, test=test, n_random=args.n_random, n_calibration=len(train), batch_size=len(train),
        progress=False,
    )
    out: dict[str, Any] = {"phase": "sweep", "model": str(mllm_dir), "dtype": str(mllm.dtype),
                           "params": sum(p.numel() for p in mllm.module.parameters()), "weights_mib": wb / 2**20,
                           **mem, "grid": {"layers": layers, "strengths": [2.0, 8.0], "selectors": ["image", "text"]},
                           "n_train": len(train), "n_test": len(test), "n_random": args.n_random}
    runs: dict[str, Any] = {}
    ways = [("one cell at a time", {})]
    if args.cells_per_forward > 1:
        ways.append((f"{args.cells_per_forward} cells per forward", {"cells_per_forward": args.cells_per_forward}))
    for label, extra in ways:
        _reset_peak()
        start = time.perf_counter()
        try:
            res = sweep(mllm, **kwargs, **extra)
        except TypeError as err:  # a library without cell batching
            print(f"{label}: not available ({err})")
            continue
        seconds = time.perf_counter() - start
        peak = _kib("VmHWM") / 1024
        n_scored = len(res.rows)
        runs[label] = {"peak_mib": peak, "seconds": seconds, "rows": n_scored,
                       "items": len(train) + len(test), "s_per_item": seconds / (len(train) + len(test)),
                       "s_per_row": seconds / n_scored, "ratio": peak * 2**20 / wb, "_rows": res.rows}
    if len(runs) == 2:
        a, b = (r.pop("_rows") for r in runs.values())
        cols = ["cell", "item_id", "split"]
        a, b = a.sort_values(cols).reset_index(drop=True), b.sort_values(cols).reset_index(drop=True)
        import numpy as np

        out["stacked_same_predictions"] = bool((a["pred"] == b["pred"]).all())
        out["stacked_max_abs_p_diff"] = max(float(np.abs(np.array(json.loads(x)) - np.array(json.loads(y))).max())
                                            for x, y in zip(a["probs"], b["probs"]))
    for r in runs.values():
        r.pop("_rows", None)
    out["runs"] = runs
    return out


def _run_phase(phase: str, argv: list[str]) -> dict[str, Any]:
    """Run one phase in a fresh process; its last output line is its JSON."""
    cmd = [sys.executable, __file__, "--phase", phase, *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    sys.stdout.write("".join(f"  [{phase}] {line}\n" for line in proc.stdout.splitlines()[:-1]))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.argparse.ArgumentParser(description=__doc__, formatter_class=common.argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--tiny", action="store_true", help="the same code on a toy model of the same structure")
    p.add_argument("--items", type=int, default=2, help="train and test items per task (2 tasks; default 2)")
    p.add_argument("--sentences", type=int, default=16, help="corpus sentences for extraction (default 16)")
    p.add_argument("--n-random", type=int, default=2, help="random directions per chosen cell (default 2)")
    p.add_argument("--cells-per-forward", type=int, default=4,
                   help="also run the sweep with this many cells stacked per forward (1: skip; default 4)")
    p.add_argument("--phase", choices=["build", "extract", "sweep"], default=None, help=common.argparse.SUPPRESS)
    p.add_argument("--vector-dir", default=None, help=common.argparse.SUPPRESS)
    args = p.parse_args(argv)
    common.quiet()
    if args.phase is not None:
        import torch

        torch.set_num_threads(args.threads)
        result: dict[str, Any] = {"built": True}
        if args.phase == "build":
            build(args.tiny)
        elif args.phase == "extract":
            result = phase_extract(args)
        else:
            result = phase_sweep(args)
        common.emit(result)
        return result

    threads = common.set_threads(args.threads)
    passthrough = ["--threads", str(threads), "--items", str(args.items), "--sentences", str(args.sentences),
                   "--n-random", str(args.n_random), "--cells-per-forward", str(args.cells_per_forward)]
    if args.tiny:
        passthrough.append("--tiny")
    vector_dir = model_dirs(args.tiny)[0].parent / "vector"
    passthrough += ["--vector-dir", str(vector_dir)]
    start = time.perf_counter()
    _run_phase("build", passthrough)
    built_s = time.perf_counter() - start
    ex = _run_phase("extract", passthrough)
    sw = _run_phase("sweep", passthrough)
    size = "toy model of the same structure (--tiny): figures mean nothing" if args.tiny else "PaliGemma 2 3B @224 shape"
    print(f"\n{size}; bf16; random weights; build/cache check {built_s:.0f} s")
    print(f"weights: MLLM {sw['params'] / 1e9:.3f}B parameters = {sw['weights_mib']:.0f} MiB; text backbone "
          f"{ex['params'] / 1e9:.3f}B = {ex['weights_mib']:.0f} MiB")
    rows = [["load text backbone", ex["weights_mib"], ex["load_peak_mib"], ex["load_peak_mib"] / ex["weights_mib"], ex["load_s"], "", "(not judged)"],
            [f"extraction ({ex['items']} sentences)", ex["weights_mib"], ex["peak_mib"], ex["ratio"], ex["seconds"],
             f"{ex['s_per_item']:.3g} s/sentence", common.verdict(ex["ratio"], TARGET, at_most=True)],
            ["load MLLM", sw["weights_mib"], sw["load_peak_mib"], sw["load_peak_mib"] / sw["weights_mib"], sw["load_s"], "", "(not judged)"]]
    for label, r in sw["runs"].items():
        rows.append([f"sweep, {label} ({r['rows']} rows)", sw["weights_mib"], r["peak_mib"], r["ratio"], r["seconds"],
                     f"{r['s_per_item']:.3g} s/item, {r['s_per_row']:.3g} s/row", common.verdict(r["ratio"], TARGET, at_most=True)])
    print(common.table(["phase", "weights MiB", "peak RSS MiB", "peak / weights", "s", "per item", f"<= {TARGET}"], rows))
    print(f"sweep: {sw['n_train']} train + {sw['n_test']} test items, grid {sw['grid']}, n_random {sw['n_random']}; "
          "a row is one (item, cell) score")
    if "stacked_same_predictions" in sw:
        print(f"stacked vs one at a time: same predictions {sw['stacked_same_predictions']}, "
              f"max |p diff| {sw['stacked_max_abs_p_diff']:.2e}")
    result = {"benchmark": "realsize_dryrun", "env": common.environment(threads), "target": TARGET,
              "tiny": args.tiny, "extract": ex, "sweep": sw}
    common.emit(result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
