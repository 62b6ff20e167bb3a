"""The ceiling of one vector at the organisms' chosen cells: textual vs native vs learned (docs/findings_ceiling.md).

The rule, fixed before this script produced any result:

1. The cells: every chosen **image-token** cell of each organism's recorded sweep
   (``steering_table.csv``: 4 methods x 5 (concept, task) pairs; the sweep's own choice on 240 train
   items per task, val scenes 0..239, best train gain, ties to the smaller strength; reported on
   300 test items per task, test scenes 0..299). No cell is added or dropped by what follows.
2. The learned vector: one per distinct (task, layer) among those cells, ``learned_vector`` on that
   task's train items of the sweep (the first ``--n-train`` = 120 of its 240 val scenes per task,
   to keep the run near 20 minutes; never a test item), image tokens, norm bound ``--norm`` x the mean image-token residual norm (4: the largest
   |strength| of the sweep's grid, the budget the textual cell was chosen within), steps, step
   length and patience as given, split seed 0. Where the unsteered model is right on every test
   item of the task no vector can gain, and no vector is trained (``ceiling``'s default).
3. Reported on the sweep's own 300 test items per task: textual, learned (and, with ``--native``,
   the native partner from ``compare_native`` at the same cell and edit norm) gains over unsteered
   with paired bootstrap 95% CIs; textual / learned with its paired bootstrap CI (NaN where the
   learned gain is <= 0; unbounded where more than 2.5% of resamples have a learned gain <= 0).
   The cosine of each learned vector with every textual vector at its layer.

Writes ``docs/assets/findings/ceiling/``: a figure per organism (``<model>.png``), the tables the
page includes (``<model>.tables.txt``) and the full tables (``<model>.csv``,
``<model>.cosines.csv``); learned vectors and the results store go to ``--out`` (a rerun reuses
them).

Run (about 20 minutes of one core of a shared 2-core machine at the defaults):
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python scripts/findings_ceiling.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's interp, not an installed copy
sys.path.insert(0, str(ROOT / "scripts"))

MODELS = ("organism", "organism-llava")
ASSETS = ROOT / "docs" / "assets" / "findings" / "ceiling"
#: The sweeps' items (scripts/organism_protocol.py and scripts/train_organism_llava.py's defaults).
SWEEP_TRAIN, SWEEP_TEST = 240, 300


def _textual(model: str, backbone, layers):  # type: ignore[no-untyped-def]
    """The recorded sweep's textual vectors, recomputed as the sweep computed them."""
    import pandas as pd

    from interp.organism import parts

    data = parts.LLAVA_DATA_DIR if model == "organism-llava" else parts.DATA_DIR
    table = pd.read_csv(data / "steering_table.csv")
    names = sorted(set(table["vector"]))
    concepts = sorted({n.split("/")[1] for n in names})
    methods = sorted({n.split("/")[0] for n in names})
    if model == "organism-llava":
        import train_organism_llava as recipe

        vectors = recipe.textual_vectors(backbone, concepts, methods, layers, data / "sae")
    else:
        import interp

        vectors = {f"{m}/{c}": interp.compute(backbone, c, m, source="organism", layers=layers)
                   for c in concepts for m in methods}
    return table, vectors


def _check_alphas(mllm, cells, vectors, train) -> None:  # type: ignore[no-untyped-def]
    """The recomputed vectors must be the sweep's: its alpha = strength x norm / |v| must come back."""
    from interp.evaluation import residual_norms

    norms = residual_norms(mllm, train[:32], sorted({int(x) for x in cells["layer"]}), sorted(set(cells["selector"])))
    for c in cells.itertuples():
        expect = float(c.strength) * norms[int(c.layer), str(c.selector)] / float(vectors[c.vector].at(int(c.layer)).norm())
        if abs(expect - float(c.alpha)) > 1e-3 * max(1.0, abs(float(c.alpha))):
            raise RuntimeError(f"{c.vector} {c.task}: recomputed alpha {expect} differs from the sweep's {c.alpha}")


def _load_learned(folder: Path, mllm, settings: dict, train) -> dict:  # type: ignore[no-untyped-def]
    """Learned vectors a previous run saved with the same settings on the same train items (others
    are trained again)."""
    from interp.vectors import SteeringVector
    from interp.vectors.learned import items_digest

    kept = {}
    for d in sorted(folder.glob("*")) if folder.exists() else []:
        v = SteeringVector.load(d, model=mllm)
        task = str(v.meta.extra["tasks"][0])
        same_items = v.meta.corpus_hash == items_digest([it for it in train if it.task == task])
        if same_items and all(v.meta.params.get(k) == val for k, val in settings.items()):
            kept[(task, int(v.meta.params["layer"]), str(v.meta.params["tokens"]))] = v
    return kept


def _pts(mid: float, low: float, high: float) -> str:
    if mid != mid:
        return "-"
    return f"{100 * mid:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}]"


def _fraction(r) -> str:  # type: ignore[no-untyped-def]
    if r.textual_fraction != r.textual_fraction:
        return "- (ceiling at unsteered)" if "every test item" in str(r.textual_fraction_reason) else "- (learned <= 0)"
    if abs(r.textual_fraction_low) == float("inf"):
        return f"{r.textual_fraction:.2f} [unbounded]"
    return f"{r.textual_fraction:.2f} [{r.textual_fraction_low:.2f}, {r.textual_fraction_high:.2f}]"


def _tables(model: str, ceil, nat, cos, seconds: float, settings: dict) -> str:  # type: ignore[no-untyped-def]
    """The markdown the page includes for one organism."""
    import numpy as np

    lines = [f"Organism `{model}`: {len(ceil)} chosen image-token cells, {ceil['learned_key'].replace('', np.nan).nunique()} "
             f"learned vectors trained ({int(ceil['n_train'].max())} train items per task, split "
             f"{round((1 - settings['val_fraction']) * ceil['n_train'].max())}/{round(settings['val_fraction'] * ceil['n_train'].max())} "
             f"for early stopping), {int(ceil['n_test'].max())} test items per task; {seconds / 60:.1f} min.", ""]
    head = ["textual vector", "task", "cell", "unsteered", "textual gain [95% CI]"]
    if nat is not None:
        head.append("native gain [95% CI]")
    head += ["learned gain [95% CI]", "learned - textual [95% CI]", "textual / learned [95% CI]", "cos(learned, textual)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    natrows = None
    if nat is not None:
        natrows = nat.dropna(subset=["native_gain"]).set_index(["textual", "task", "selector", "layer"])
    for r in ceil.itertuples():
        cells = [r.vector, r.task, f"L{r.layer} @ {r.strength:+g}", f"{r.unsteered_accuracy:.3f}",
                 _pts(r.textual_gain, r.textual_gain_low, r.textual_gain_high)]
        if natrows is not None:
            key = (r.vector, r.task, r.selector, int(r.layer))
            n = natrows.loc[key] if key in natrows.index else None
            cells.append("-" if n is None else _pts(n["native_gain"], n["native_gain_low"], n["native_gain_high"]))
        cells += [_pts(r.learned_gain, r.learned_gain_low, r.learned_gain_high),
                  _pts(r.learned_minus_textual, r.learned_minus_textual_low, r.learned_minus_textual_high),
                  _fraction(r), "-" if r.learned_cosine != r.learned_cosine else f"{r.learned_cosine:+.2f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    trained = ceil[ceil["learned_key"] != ""].drop_duplicates("learned_key")
    if len(trained):
        lines += ["", "The learned vectors (one per task and layer; norm relative to the mean image-token residual "
                  "norm of the task's train items at that layer):", "",
                  "| learned at | test gain [95% CI] | norm (bound) | best step / steps run | val accuracy unsteered -> learned |",
                  "|---|---|---|---|---|"]
        for r in trained.itertuples():
            lines.append(f"| {r.learned_key} | {_pts(r.learned_gain, r.learned_gain_low, r.learned_gain_high)} | "
                         f"{r.learned_relative_norm:.2f} ({r.learned_norm_bound:g}) | {int(r.learned_best_step)} / {int(r.learned_steps_run)} | "
                         f"{r.learned_val_accuracy_unsteered:.3f} -> {r.learned_val_accuracy:.3f} |")
    if cos is not None and len(cos):
        lines += ["", "Cosine of each learned vector with the textual vectors at its layer (same concept: each "
                  "method; other concepts: the largest |cosine|):", ""]
        methods = sorted(set(cos["method"]))
        lines += ["| learned at | concept | " + " | ".join(methods) + " | other concepts, max abs |",
                  "|" + "---|" * (3 + len(methods))]
        concept_of = {t: c for t, c in zip(ceil["task"], ceil["concept"])}
        for (task, layer), g in cos.groupby(["task", "layer"]):
            concept = concept_of.get(task, "")
            same = g[g["concept"] == concept].set_index("method")["cosine"]
            other = g[g["concept"] != concept]["cosine"].abs()
            vals = [f"{same[m]:+.2f}" if m in same else "-" for m in methods]
            lines.append(f"| {task}/L{layer} | {concept} | " + " | ".join(vals) + f" | {other.max():.2f} |")
    return "\n".join(lines) + "\n"


def draw(model: str, ceil, nat, cos, seconds: float, settings: dict) -> None:  # type: ignore[no-untyped-def]
    """The page's tables and the figure for one organism, from its tables."""
    from interp import figures

    (ASSETS / f"{model}.tables.txt").write_text(_tables(model, ceil, nat, cos, seconds, settings))
    # Cells where unsteered is right on every test item (no vector can gain) are in the tables, not the figure.
    shown = ceil[ceil["unsteered_accuracy"] < 1.0]
    fig = figures.ceiling_bars(shown, native=nat, title=f"{model}: test gain at each chosen image-token cell "
                               "where the unsteered model errs")
    figures.save(fig, ASSETS / f"{model}.png")


def redraw() -> None:
    """Tables and figures again from the CSVs and run.json a run wrote (no model is run)."""
    import pandas as pd

    record = json.loads((ASSETS / "run.json").read_text())
    for m in record["models"]:
        model = m["model"]
        ceil = pd.read_csv(ASSETS / f"{model}.csv", keep_default_na=True).fillna({"learned_key": "", "textual_fraction_reason": ""})
        native = ASSETS / f"{model}.native.csv"
        nat = pd.read_csv(native) if native.exists() else None
        cos = pd.read_csv(ASSETS / f"{model}.cosines.csv")
        draw(model, ceil, nat, cos, float(m["seconds"]), record["settings"])


def run_model(model: str, args, settings: dict) -> dict:  # type: ignore[no-untyped-def]
    import pandas as pd

    import interp
    from interp.evaluation import ceiling, compare_native, learned_cosines
    from interp.items import from_record
    from interp.organism.scenes import make_split
    from interp.vectors import Training, native_vector, visual_contrast

    started = time.perf_counter()
    out = Path(args.out) / model
    out.mkdir(parents=True, exist_ok=True)
    mllm = interp.load_mllm(model)
    backbone = interp.load_text_backbone(mllm=model)
    layers = list(range(mllm.n_layers))
    table, vectors = _textual(model, backbone, layers)
    cells = table[table["selector"] == args.selector].reset_index(drop=True)
    tasks = sorted(set(table["task"]))
    sweep_train = [from_record(d) for d in make_split("val", SWEEP_TRAIN, tasks=tasks)]
    test = [from_record(d) for d in make_split("test", SWEEP_TEST, tasks=tasks)]
    _check_alphas(mllm, cells, vectors, sweep_train)
    train = [it for task in tasks for it in [x for x in sweep_train if x.task == task][: args.n_train]]
    kept = _load_learned(out / "learned", mllm, settings, train)
    print(f"{model}: {len(cells)} chosen {args.selector} cells, {len(train)} train / {len(test)} test items, "
          f"{len(kept)} learned vectors from a previous run", flush=True)
    ceil = ceiling(mllm, cells, vectors, train, test, learned=kept, store=out / "results.sqlite",
                   batch_size=args.batch_size, progress=True, training=Training(**settings))
    for (task, layer, sel), v in kept.items():
        v.save(out / "learned" / f"{task}-L{layer}-{sel}", overwrite=True)
    off = ceil[(ceil["textual_gain"] - ceil["test_gain"]).abs() > 1e-9]
    if len(off):
        raise RuntimeError(f"the textual gains differ from the recorded table's on {len(off)} cells: not its test items")
    nat = None
    if args.native:
        concepts = sorted({v.meta.concept for v in vectors.values()})
        natives = {}
        for concept in concepts:
            contrast = visual_contrast("organism", concept, n=args.contrast_n)
            for method in ("diffmean", "meanshift", "probe"):
                natives[f"native-{method}/{concept}"] = native_vector(mllm, contrast, method=method, layers=layers)
        nat = compare_native(mllm, vectors, natives, test, cells=cells, store=out / "results.sqlite", n_random=0,
                             batch_size=args.batch_size, progress=True)
    cos = learned_cosines(kept, vectors)
    seconds = time.perf_counter() - started
    ASSETS.mkdir(parents=True, exist_ok=True)
    ceil.to_csv(ASSETS / f"{model}.csv", index=False)
    cos.to_csv(ASSETS / f"{model}.cosines.csv", index=False)
    if nat is not None:
        nat = nat.dropna(subset=["native_gain"])
        nat.to_csv(ASSETS / f"{model}.native.csv", index=False)
    draw(model, ceil, nat, cos, seconds, settings)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    cols = ["vector", "task", "layer", "strength", "unsteered_accuracy", "textual_gain", "learned_gain",
            "learned_gain_low", "learned_gain_high", "textual_fraction", "textual_fraction_low",
            "textual_fraction_high", "learned_cosine"]
    print(ceil[cols].round(3).to_string(), flush=True)
    defined = ceil.dropna(subset=["textual_fraction"])
    return {"model": model, "seconds": round(seconds), "cells": len(ceil), "learned": len(kept),
            "defined_fractions": len(defined)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--selector", default="image", help="the chosen cells' token selector")
    ap.add_argument("--n-train", type=int, default=120, help="train items per task for the learned vector "
                    f"(the first of the sweep's {SWEEP_TRAIN}; 120 keeps the run near 20 minutes)")
    ap.add_argument("--norm", type=float, default=4.0, help="the learned vector's bound, relative")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.0625, help="step length in units of the bound (0.0625 x 4 = 0.25 "
                    "residual norms, learned_vector's default step at its default bound of 1)")
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--val-fraction", type=float, default=0.25)
    ap.add_argument("--native", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--contrast-n", type=int, default=64, help="val items per side of each native contrast")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "runs" / "ceiling"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--redraw", action="store_true", help="only redraw the tables and figures from the CSVs a run wrote")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    if args.redraw:
        redraw()
        return

    import torch

    torch.set_num_threads(args.threads)
    settings = {"norm": args.norm, "steps": args.steps, "lr": args.lr, "patience": args.patience,
                "val_fraction": args.val_fraction, "seed": 0}
    started = time.perf_counter()
    summary = [run_model(m, args, settings) for m in args.models]
    record = {"settings": settings, "n_train": args.n_train, "selector": args.selector, "native": args.native,
              "threads": torch.get_num_threads(), "minutes": round((time.perf_counter() - started) / 60, 1),
              "models": summary,
              "command": "HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python scripts/findings_ceiling.py "
                         + " ".join(sys.argv[1:] if argv is None else argv)}
    (ASSETS / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
