"""Regenerate the figures on the docs site's findings pages from a reduced demo run per organism.

One command writes every figure under ``docs/assets/findings/<model>/`` (PNG through kaleido,
which needs Chromium) and, beside them, ``settings.txt``: the command (less ``--work``/``--assets``: where files
went on the machine that ran it, no part of how to rebuild them), the demo's settings, the
wall time and thread count, which the pages include, so each page says what produced its figures.
The demo runs into ``--work`` (``outputs/docs_demo/<model>``; kept, so a rerun reuses its results
store) through ``interp.demo.run_demo`` with the settings below; the figures are drawn here from the
demo's own tables with ``interp.figures`` (train grid for accuracy curves, test table for the
gains and the method table, the analyses' tables for variance share and modality gap). It also
draws the attribution page's figure (gradient x activation on organism test items) into
``docs/assets/findings/attribution/``.

Usage:
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/docs_figures.py [--models organism-llava organism]
        [--n-train 24] [--n-test 60] [--n-random 5] [--overwrite]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets" / "findings"
MODELS = ("organism-llava", "organism")


def figures_of(report: Any, tables: Path) -> dict[str, Any]:
    """The figures the findings pages show, by file stem, from a demo report and its tables folder."""
    import pandas as pd

    from interp import figures

    out: dict[str, Any] = {}
    standard = figures.sweep_figures({"grid": report.grid, "table": report.table})
    out["gains"] = standard["gains"]
    out["method_table"] = standard["method_table"]
    curves = sorted(k for k in standard if k.startswith("accuracy_"))
    for stem in curves:
        out[stem] = standard[stem]
    share = tables / "variance_share.csv"
    if share.is_file():
        out["variance_share"] = figures.variance_share_curves(pd.read_csv(share))
    gap = tables / "modality_gap.csv"
    if gap.is_file():
        out["modality_gap"] = figures.modality_gap_curves(pd.read_csv(gap))
    return out


#: Options that say where files go on the machine that ran it, not what made the figures: left out of
#: the command the pages show (a temporary --work folder is no part of how to rebuild them).
PATH_OPTIONS = ("--work", "--assets")


def shown_command(argv: list[str]) -> str:
    """The command the pages name: this script with ``argv`` less the path options.

    Example:
        >>> shown_command(["--work", "/tmp/demo-timed", "--n-test", "100", "--assets=/tmp/a"])
        'python scripts/docs_figures.py --n-test 100'
    """
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in PATH_OPTIONS:
            skip = True
            continue
        if arg.split("=", 1)[0] in PATH_OPTIONS:
            continue
        kept.append(arg)
    return ("python scripts/docs_figures.py " + shlex.join(kept)).strip()


def settings_page(model: str, settings: dict[str, Any], command: str, seconds: float, threads: int,
                  stems: list[str]) -> str:
    """The markdown the findings pages include under a figure set: what produced it."""
    shown = ", ".join(f"`{k}={v!r}`" for k, v in settings.items())
    return (
        f"Figures of `{model}` made by `{command}` (the demo, by default with the settings of `interp demo`: "
        f"`interp.demo.run_demo(model={model!r}, {', '.join(f'{k}={v!r}' for k, v in settings.items())})`, "
        f"then `interp.figures` on its tables); {seconds:.0f} s wall on {threads} torch thread(s) (a rerun into a "
        f"--work folder that holds an earlier run's results store reuses its rows). "
        f"Settings: {shown}. Files: {', '.join(f'`{s}.png`' for s in stems)}.\n"
    )


def attribution_figures(n_items: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """Gradient x activation on held-out organism Count items, by layer and token kind (the
    attribution page's figure), and the settings that made it."""
    import interp
    from interp import figures
    from interp.analysis.attribution import gradient_x_activation
    from interp.items import as_items
    from interp.organism.scenes import make_split

    mllm = interp.load_mllm("organism")
    items = as_items(make_split("test", n_items, tasks=["Count"], seed=seed))
    table = gradient_x_activation(mllm, items)
    fig = figures.attribution_heatmap(
        table, by="kind", title=f"Gradient x activation on {len(items)} test Count items (organism)")
    return {"attribution_kind": fig}, {"n_items": n_items, "split": "test", "task": "Count", "seed": seed}


def main(argv: list[str] | None = None) -> int:
    from interp.demo import DemoConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    # The demo's own defaults, so the site shows what `make demo` finds.
    parser.add_argument("--n-train", type=int, default=DemoConfig.n_train, help="train items per task (the grid)")
    parser.add_argument("--n-test", type=int, default=DemoConfig.n_test, help="test items per task (the table)")
    parser.add_argument("--n-random", type=int, default=DemoConfig.n_random, help="random directions per chosen cell")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "docs_demo")
    parser.add_argument("--assets", type=Path, default=ASSETS)
    parser.add_argument("--overwrite", action="store_true", help="replace a demo report of other settings in --work")
    parser.add_argument("--attribution-items", type=int, default=24, help="test Count items for the attribution figure")
    parser.add_argument("--no-attribution", dest="attribution", action="store_false",
                        help="skip the attribution figure (docs/findings_cast_lora.md)")
    args = parser.parse_args(argv)

    import torch

    from interp import figures
    from interp.demo import run_demo

    threads = torch.get_num_threads()
    command = shown_command(sys.argv[1:] if argv is None else list(argv))
    if args.attribution:
        start = time.perf_counter()
        figs, used = attribution_figures(args.attribution_items)
        target = args.assets / "attribution"
        target.mkdir(parents=True, exist_ok=True)
        figures.save_all(list(figs.values()), [target / f"{stem}.png" for stem in figs], scale=1.5)
        (target / "settings.txt").write_text(
            f"Figure made by `{command.strip()}`: `interp.analysis.attribution.gradient_x_activation` on the "
            f"organism ({', '.join(f'`{k}={v!r}`' for k, v in used.items())}), drawn with "
            f"`interp.figures.attribution_heatmap(table, by=\"kind\")`; {time.perf_counter() - start:.0f} s wall "
            f"on {threads} torch thread(s).\n")
        print(f"attribution: {len(figs)} figure in {target.relative_to(ROOT)}", flush=True)
    for model in args.models:
        settings = {"n_train": args.n_train, "n_test": args.n_test, "n_random": args.n_random,
                    "strengths": tuple(DemoConfig.strengths), "selectors": tuple(DemoConfig.selectors)}
        start = time.perf_counter()
        report = run_demo(model=model, out=str(args.work / model), figures=False, overwrite=args.overwrite,
                                 **settings)
        seconds = time.perf_counter() - start
        figs = figures_of(report, report.out / "tables")
        target = args.assets / model
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.png"):
            old.unlink()
        figures.save_all(list(figs.values()), [target / f"{stem}.png" for stem in figs], scale=1.5)
        (target / "settings.txt").write_text(settings_page(model, settings, command.strip(), seconds, threads, list(figs)))
        print(f"{model}: {len(figs)} figures in {target.relative_to(ROOT)} ({seconds:.0f} s demo)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
