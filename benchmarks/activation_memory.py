"""Peak memory of streaming MeanShift against corpus size, each size in a fresh process.

The cross-check of ``extraction.py``'s in-process measurement: here nothing a previous corpus
freed can be reused, because every corpus size runs in its own subprocess. Each child loads the
text backbone, runs MeanShift on one sentence (the weights are memory-mapped and only become
resident when first read: without this the first run's peak would count the whole model), resets
the peak (``common.peak_memory``: freed heap returned to the OS, resident high-water mark reset;
CUDA peak stats on a GPU), computes MeanShift at every layer once and reports the peak above the
loaded model. Streaming statistics (float64 sums per batch, arXiv
2505.14071's MeanShift) keep that peak flat: the target is largest / smallest corpus <= 1.2.

Usage:
    python benchmarks/activation_memory.py [--models organism pg270m] [--threads 1] [--quick|--full]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

TARGET_FLAT = 1.2
BATCH_SIZE = 16

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import common
common.quiet()
import torch
torch.set_num_threads(int(sys.argv[4]))
import interp
from interp.concepts import corpus_from_examples, load_corpus
name, n = sys.argv[2], int(sys.argv[3])
backbone = common.load_backbone(name)
base = load_corpus("counting", source="default" if common.is_random(name) else "organism")
examples = [(e.sentence, e.anchor) for e in base.examples]
corpus = corpus_from_examples("counting", (examples * (n // len(examples) + 1))[:n])
interp.compute(backbone, corpus_from_examples("counting", examples[:1]), "meanshift")
with common.peak_memory() as mem:
    start = time.perf_counter()
    interp.compute(backbone, corpus, "meanshift", batch_size=int(sys.argv[5]))
    seconds = time.perf_counter() - start
print(json.dumps({"n": n, "peak_mib": mem["peak_mib"], "seconds": seconds}))
"""


def sizes(name: str, args: Any) -> list[int]:
    if args.quick:
        return [BATCH_SIZE, 4 * BATCH_SIZE]
    if common.is_random(name):
        return [BATCH_SIZE, 4 * BATCH_SIZE, 16 * BATCH_SIZE] if args.full else [BATCH_SIZE, 4 * BATCH_SIZE]
    return [60, 240, 960]


def run_model(name: str, args: Any) -> dict[str, Any]:
    if common.is_random(name):
        common.pg270m_text_dir()  # build once here, not in every child
    rows = []
    for n in sizes(name, args):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(Path(__file__).resolve().parent), name, str(n), str(args.threads), str(BATCH_SIZE)],
            capture_output=True, text=True, env=os.environ,
        )
        if out.returncode != 0:
            raise RuntimeError(f"the child for {name} at {n} sentences failed:\n{out.stderr[-3000:]}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{name} text backbone, MeanShift at every layer, batch {BATCH_SIZE}, one fresh process per corpus size")
    print(common.table(["sentences", "peak MiB above loaded", "seconds"], [[r["n"], r["peak_mib"], r["seconds"]] for r in rows]))
    ratio = rows[-1]["peak_mib"] / rows[0]["peak_mib"]
    print(f"peak largest / smallest corpus ({rows[-1]['n']} / {rows[0]['n']} sentences) = {ratio:.3f} "
          f"(target <= {TARGET_FLAT}): {common.verdict(ratio, TARGET_FLAT, at_most=True)}")
    return {"sizes": [r["n"] for r in rows], "peak_mib": [r["peak_mib"] for r in rows],
            "seconds": [r["seconds"] for r in rows], "peak_ratio": ratio, "pass": ratio <= TARGET_FLAT}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return common.run_benchmark("activation_memory", __doc__, {"peak_ratio": TARGET_FLAT}, run_model, argv)


if __name__ == "__main__":
    common.main_guard(main)
