"""The paper's protocol on the shipped organism: every method x each task's concept x all layers x a
strength grid (both signs) x image/text/both, chosen on train, reported on held-out test items with
CIs, McNemar p-values, the prompting baseline and random directions of the same norm.

Train items come from the organism's val scenes (the MLLM never trained on them), test items from
its test scenes. Results go to a resumable SQLite store; the tables are written beside it.

Run: ``python scripts/organism_protocol.py`` (``--help`` for the grid; about 20 minutes on one
thread; a rerun reuses every finished row).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

from interp.organism.benchmark import CONCEPT_TASKS as ORGANISM_CONCEPT_TASKS
from interp.organism.prompting import HINTS as ORGANISM_HINTS

#: Which organism task each concept is evaluated on (the paper's pairing of taxonomies and tasks);
#: the prompting hints (ORGANISM_HINTS) are in the organism's own words, as English would be <unk>.
CONCEPT_TASKS = {c: list(t) for c, t in ORGANISM_CONCEPT_TASKS.items()}
METHODS = ("meanshift", "probe", "sae", "diffmean")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/organism_protocol", help="output directory")
    parser.add_argument("--model", default="organism", help="MLLM (organism, organism-llava or a directory)")
    parser.add_argument("--n-train", type=int, default=240, help="train (val-scene) items per task")
    parser.add_argument("--n-test", type=int, default=300, help="test items per task")
    parser.add_argument("--strengths", type=float, nargs="+", default=[-4, -2, -1, -0.5, -0.25, 0.25, 0.5, 1, 2, 4],
                        help="relative strengths (x the mean residual norm of the selected tokens)")
    parser.add_argument("--selectors", nargs="+", default=["image", "text", "both"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--concepts", nargs="+", default=list(CONCEPT_TASKS))
    parser.add_argument("--n-random", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--publish", action="store_true",
                        help="also write the chosen-cell table to the first organism's data directory "
                             "(interp/organism/data/steering_table.csv), where the LLaVA organism's card reads it")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.simplefilter("ignore")
    import torch

    import interp
    from interp.evaluation import sweep
    from interp.items import from_record
    from interp.organism.scenes import make_split
    from interp.prompts import MC_PREFIX

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    mllm = interp.load_mllm(args.model)
    backbone = interp.load_text_backbone(mllm=args.model)
    layers = list(range(mllm.n_layers))
    vectors, targets = {}, {}
    for concept in args.concepts:
        for method in args.methods:
            name = f"{method}/{concept}"
            vectors[name] = interp.compute(backbone, concept, method, source="organism", layers=layers)
            targets[name] = CONCEPT_TASKS[concept]
    tasks = sorted({t for c in args.concepts for t in CONCEPT_TASKS[c]})
    train = [from_record(d) for d in make_split("val", args.n_train, tasks=tasks)]
    test = [from_record(d) for d in make_split("test", args.n_test, tasks=tasks)]
    print(f"{len(vectors)} vectors, {len(layers)} layers x {len(args.strengths)} strengths x "
          f"{len(args.selectors)} selectors; {len(train)} train / {len(test)} test items; "
          f"torch threads {torch.get_num_threads()}", flush=True)
    res = sweep(
        mllm, vectors, layers, args.strengths, args.selectors, train, test, store=out / "results.sqlite",
        targets=targets, n_random=args.n_random, batch_size=args.batch_size, progress=True,
        prompt_baseline={c: ORGANISM_HINTS[c] + MC_PREFIX for c in args.concepts},
    )
    res.grid.to_csv(out / "grid.csv", index=False)
    res.table.to_csv(out / "table.csv", index=False)
    if args.publish:
        if args.model != "organism":
            raise SystemExit("--publish writes the first organism's table: use it with --model organism")
        from interp import organism

        res.table.to_csv(organism.DATA_DIR / "steering_table.csv", index=False)
    (out / "table.md").write_text(res.to_markdown() + "\n")
    (out / "config.json").write_text(json.dumps(res.config, indent=2) + "\n")
    print(res.to_markdown())
    grid = res.grid[res.grid["condition"] == "steered"]
    print(f"\ncells with a train gain > 0: {(grid['gain'] > 0).mean():.3f} of {len(grid)}")
    print(f"done in {time.perf_counter() - start:.0f} s; tables in {out}")


if __name__ == "__main__":
    main()
