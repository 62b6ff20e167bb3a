"""``interp evaluate``: score benchmark items, optionally steered, with accuracy per task and a CI.

Example:
    $ interp evaluate --model organism --tasks Count Relation --n-items 50 --out runs/plain.csv
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

import interp
from interp.cli import _app as cli
from interp.cli import _inputs
from interp.cli.render import print_table
from interp.formatting import interval


class ScoreMethod(str, Enum):
    logits = "logits"
    generate = "generate"


EVALUATE_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp evaluate --model organism --benchmark organism --tasks Count Relation --n-items 50 --out runs/plain.csv\n\n"
    "  interp evaluate --vector vectors/counting --layer 1 --strength 4 --selector image --tasks Count --out runs/steered.csv"
)


@cli.app.command(cls=cli.multi_value("--tasks"), epilog=EVALUATE_EXAMPLE)
@cli.user_errors
def evaluate(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file: one row per item (and condition).")],
    model: cli.ModelOption = None,
    benchmark: cli.BenchmarkOption = None,
    benchmark_path: cli.BenchmarkPathOption = None,
    split: Annotated[str, typer.Option("--split", help="test, train, val or all.")] = "test",
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="Keep these tasks (default: all).")] = None,
    n_items: Annotated[int | None, typer.Option("--n-items", "-n", help="Items per task. Default: a generated benchmark 150, else all.")] = None,
    vector: Annotated[Path | None, typer.Option("--vector", "-v", help="Steer with this saved vector (needs --layer and --strength).")] = None,
    layer: Annotated[int | None, typer.Option("--layer", "-l", help="The steered layer.")] = None,
    strength: Annotated[float | None, typer.Option("--strength", "-s", help="alpha in h + alpha * v (the 'alpha' column of a sweep's table.csv), or relative with --relative.")] = None,
    selector: Annotated[cli.Selector, typer.Option("--selector", help="Which tokens are steered.")] = cli.Selector.image,
    relative: Annotated[bool, typer.Option("--relative", help="--strength is relative to the mean residual norm of the selected tokens (as the sweep's strengths).")] = False,
    method: Annotated[ScoreMethod, typer.Option("--method", help="logits: option logits, one prefill; generate: the paper's greedy generation and parser.")] = ScoreMethod.logits,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Instruction prefix replacing the paper's (a prompting baseline).")] = None,
    baseline: Annotated[bool, typer.Option("--baseline/--no-baseline", help="With --vector, also score unsteered and report the paired gain.")] = True,
    batch_size: cli.BatchSizeOption = 16,
    seed: cli.SeedOption = 0,
    dtype: cli.DTypeOption = cli.DType.auto,
    device_map: cli.DeviceMapOption = None,
    remote: cli.RemoteOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the CSV already at --out.")] = False,
    allow_transfer: cli.AllowTransferOption = False,
) -> None:
    """Score benchmark items, optionally steered, and print accuracy per task with a bootstrap CI."""
    import pandas as pd

    from interp.evaluation import residual_norms, score
    from interp.stats import accuracy, paired_difference
    from interp.vectors import SteeringVector

    _inputs.check_csv_out(out, overwrite)
    model = _inputs.resolve_model(model)
    benchmark = _inputs.resolve_benchmark(benchmark, model)
    steering = [x is not None for x in (vector, layer, strength)]
    if any(steering) and not all(steering):
        raise ValueError("steering needs --vector, --layer and --strength together")
    if relative and vector is None:
        raise ValueError("--relative needs --vector, --layer and --strength")
    v = SteeringVector.load(vector) if vector is not None else None
    if v is not None and layer not in v.layers:
        raise ValueError(f"{vector} has no direction at layer {layer} (it has {list(v.layers)})")
    items = _inputs.benchmark_items(benchmark, benchmark_path, split, tasks, _inputs.check_positive(n_items, "--n-items"), seed)
    if not len(items):
        raise ValueError(f"{benchmark}/{split} has no items for tasks {tasks}")
    mllm = _inputs.load_with_status(model, dtype, device_map, remote)
    kw: dict[str, Any] = {"method": method.value, "prefix": prefix, "batch_size": batch_size,
                          "progress": cli.err_console.is_terminal}
    frames = []
    if v is not None:
        assert layer is not None and strength is not None
        v.check_compatible(mllm, allow_transfer=allow_transfer)
        alpha = float(strength)
        if relative:
            norm = residual_norms(mllm, list(items)[:32], [layer], [selector.value], batch_size=batch_size)
            direction_norm = float(v.at(layer).norm())
            alpha = 0.0 if direction_norm == 0 else strength * norm[layer, selector.value] / direction_norm
        steer = interp.add(v, layer, alpha, selector.value)
        frames.append(score(mllm, items, steer, allow_transfer=allow_transfer, **kw).assign(condition="steered", layer=layer, alpha=alpha, selector=selector.value))
    if v is None or baseline:
        frames.append(score(mllm, items, **kw).assign(condition="unsteered"))
    table = pd.concat(frames, ignore_index=True)
    _inputs.write_csv(table, out, overwrite)

    summary = Table(title=f"{benchmark}/{split}, {method.value} scoring (95% bootstrap CI)", title_justify="left")
    for name in ["task", "n", *(["steered"] if v is not None else []), *(["unsteered"] if v is None or baseline else []),
                 *(["gain (points)", "p (McNemar)"] if v is not None and baseline else [])]:
        summary.add_column(name, justify="left" if name == "task" else "right")
    groups = [*sorted(table["task"].unique()), "all"]
    for task in groups:
        rows = table if task == "all" else table[table["task"] == task]
        by = {c: g.sort_values("item_id")["correct"].to_numpy(dtype=float) for c, g in rows.groupby("condition")}
        cells = [task, str(len(next(iter(by.values()))))]
        for cond in ("steered", "unsteered"):
            if cond in by:
                est = accuracy(by[cond], seed=seed)
                cells.append(f"{est.value:.3f} [{est.low:.3f}, {est.high:.3f}]")
        if "steered" in by and "unsteered" in by:
            diff = paired_difference(by["steered"], by["unsteered"], seed=seed)
            cells += [interval(diff.diff, diff.low, diff.high), f"{diff.p_value:.3g}"]
        summary.add_row(*(escape(c) for c in cells))
    print_table(summary)
    cli.console.print(f"{len(table)} rows written to {escape(str(out))}", soft_wrap=True)
