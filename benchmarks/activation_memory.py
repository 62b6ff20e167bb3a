"""Peak memory of streaming activation statistics against corpus size.

Each corpus size runs in a fresh subprocess that computes a MeanShift vector at every layer of a
text backbone and reports its peak resident memory (``ru_maxrss``) above the memory it had
after loading the model. Peaks for a 16x larger corpus should be flat (ratio ~1).

Usage:
    python benchmarks/activation_memory.py [--sizes 44 176 704] [--model organism]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, warnings
os.environ["HF_HUB_OFFLINE"] = "1"
warnings.simplefilter("ignore")
import interp
from interp.concepts import corpus_from_examples, load_corpus
model, n = sys.argv[1], int(sys.argv[2])
backbone = interp.load_text_backbone(mllm=model) if model == "organism" else interp.load_text_backbone(model)
source = "organism" if model == "organism" else "default"
base = load_corpus("counting", source=source)
examples = [(e.sentence, e.anchor) for e in base.examples]
corpus = corpus_from_examples("counting", (examples * (n // len(examples) + 1))[:n])
interp.compute(backbone, corpus, "meanshift", batch_size=16)  # warm-up: one pass of everything
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
interp.compute(backbone, corpus, "meanshift", batch_size=16)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "peak_kib": after, "growth_kib": after - before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[44, 176, 704])
    parser.add_argument("--model", default="organism")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, "-c", CHILD, args.model, str(n)], capture_output=True, text=True, env=os.environ)
        if out.returncode != 0:
            sys.exit(out.stderr)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    for r in rows:
        print(f"corpus {r['n']:6d} sentences: peak RSS {r['peak_kib'] / 1024:8.1f} MiB, growth during the second pass {r['growth_kib'] / 1024:6.1f} MiB")
    print(f"peak ratio largest/smallest corpus ({args.sizes[-1]}/{args.sizes[0]} sentences): {rows[-1]['peak_kib'] / rows[0]['peak_kib']:.3f}")


if __name__ == "__main__":
    main()
