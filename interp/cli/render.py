"""How the commands print: DataFrames, a sweep's test table and a saved vector as rich tables.

Tables go to ``console`` (stdout) at their natural width when stdout is a file or pipe; cells are
formatted by ``fmt`` (3 significant decimals, ``-`` for NaN, escapes in strings made visible).

Example:
    >>> show_frame(pd.DataFrame({"layer": [0], "share": [0.25]}), title="summary")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

import interp
from interp.cli._app import console
from interp.formatting import flag, interval, missing, point_label, points


def print_table(table: Table) -> None:
    """Print a table at its natural width when the output is a file or pipe (rich assumes 80 columns)."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=max(console.width, 400)).print(table)


def fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.{digits}g}" if abs(value) >= 1000 or (value != 0 and abs(value) < 1e-3) else f"{value:.{digits}f}"
    if hasattr(value, "item") and not isinstance(value, str):
        return fmt(value.item(), digits)
    return str(value).encode("unicode_escape").decode("ascii") if isinstance(value, str) else str(value)


def show_frame(df: Any, title: str | None = None, *, max_rows: int = 40, note: str | None = None) -> None:
    """Print a DataFrame as a rich table (the first ``max_rows`` rows)."""
    import pandas as pd

    table = Table(title=title, title_justify="left")
    for column in df.columns:
        numeric = pd.api.types.is_numeric_dtype(df[column]) and not pd.api.types.is_bool_dtype(df[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in df.head(max_rows).itertuples(index=False):
        table.add_row(*(escape(fmt(x)) for x in row))
    print_table(table)
    if len(df) > max_rows:
        console.print(f"({len(df) - max_rows} more rows{' in ' + escape(note) if note else ''})", soft_wrap=True)


def show_result_table(table: Any) -> None:
    """A sweep's test table: the chosen cell per vector, task and selector, gains in points."""
    if table is None or len(table) == 0:
        console.print("(no test results)")
        return
    out = Table(title="Chosen on train, reported on test (gains in points, paired bootstrap 95% CI)",
                title_justify="left")
    head = ["vector", "task", "selector", "cell", "n", "unsteered", "steered", "gain [95% CI]", "p", "p (Holm)"]
    has_prompt, has_random = "prompt_accuracy" in table, "random_q95_gain" in table
    has_rep, has_spec = "rep_gain" in table, "specific" in table
    has_mde, has_prior, has_cost = "mde" in table, "prior_gain" in table, "transfer_gain" in table
    head += ["mde"] * has_mde + ["prompting"] * has_prompt + ["random q95", "above random"] * has_random
    head += ["prior shift", "beats prior"] * has_prior
    head += ["replicated gain [95% CI] (n)", "rep p (Holm)", "rep mde", "replicated"] * has_rep
    head += ["beats flipped", "beats other concepts", "specific"] * has_spec
    head += ["transfer cost [95% CI]"] * has_cost
    for name in head:
        out.add_column(name, justify="left" if name in ("vector", "task", "selector", "cell") else "right")
    for _, r in table.iterrows():
        cells = [
            str(r["vector"]), str(r["task"]), str(r["selector"]), point_label(r["layer"], r["strength"]),
            str(int(r["n_test"])) if "n_test" in r else "-", f"{r['unsteered_accuracy']:.3f}", f"{r['accuracy']:.3f}", interval(r["gain"], r["gain_low"], r["gain_high"]),
            f"{r['p_value']:.3g}", f"{r['p_holm']:.3g}",
        ]
        if has_mde:
            cells.append(_points1(r["mde"]))
        if has_prompt:
            cells.append(fmt(float(r["prompt_accuracy"])))
        if has_random:
            above = r["above_random"] if "above_random" in r else r.get("beats_random")
            cells += [points(r["random_q95_gain"]), flag(above)]
        if has_prior:
            cells += [points(r["prior_gain"]), flag(r.get("beats_prior"))]
        if has_rep:
            rep = not missing(r["rep_gain"])
            cells += [
                f"{interval(r['rep_gain'], r['rep_gain_low'], r['rep_gain_high'])} ({int(r['n_rep'])})" if rep else "-",
                f"{r['rep_p_holm']:.3g}" if rep else "-", _points1(r.get("rep_mde")) if rep else "-",
                flag(r["replicated"]) if rep else "-",
            ]
        if has_spec:
            cells += [flag(r["beats_flipped"]), flag(r["beats_other_concepts"]), flag(r["specific"])]
        if has_cost:
            cells.append(interval(r["transfer_gain"], r["transfer_gain_low"], r["transfer_gain_high"]))
        out.add_row(*(escape(c) for c in cells))
    print_table(out)


def _points1(value: Any) -> str:
    """A gain (a fraction) in points with one decimal; '-' when missing, 'too few items' when no gain is detectable."""
    if missing(value):
        return "-"
    return "too few items" if value == float("inf") else f"{100 * float(value):.1f}"


def show_vector(vector: interp.SteeringVector, out: Path) -> None:
    """What ``interp extract`` saved: the vector's provenance, and per layer its norm and recorded scalars."""
    meta = vector.meta
    from interp.vectors import PAIR_METHODS

    learned = bool(meta.params.get("learned"))
    unit = "pairs" if meta.method in PAIR_METHODS else "items" if learned else "sentences"
    console.print(
        f"[bold]{escape(meta.method)}[/] vector for [bold]{escape(meta.concept)}[/] from "
        f"{escape(meta.source_model)} ({meta.corpus_size} {unit}, d_model {meta.d_model}), "
        f"saved to {escape(str(out))}",
        soft_wrap=True,
    )
    if learned:
        x = meta.extra
        console.print(
            f"trained at layer {meta.params.get('layer')} on {escape(str(meta.params.get('tokens')))} tokens: "
            f"{x.get('n_train')} train / {x.get('n_val')} validation items, best step {x.get('best_step')} of "
            f"{x.get('steps_run')}{' (stopped early)' if x.get('stopped_early') else ''}; validation accuracy "
            f"{fmt(x.get('val_accuracy_unsteered'))} unsteered -> {fmt(x.get('val_accuracy'))}, norm "
            f"{fmt(x.get('vector_norm'))} (bound {fmt(x.get('norm_bound'))})",
            soft_wrap=True,
        )
    table = Table()
    table.add_column("layer", justify="right")
    table.add_column("norm", justify="right")
    # Per-layer scalars a method records (probe: held-out accuracies) become columns.
    per_layer = {
        key: value
        for key, value in meta.extra.items()
        if isinstance(value, dict)
        and value
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value.values())
    }
    for key in per_layer:
        table.add_column(key.replace("_", " "), justify="right")
    norms = vector.norms()
    for layer in vector.layers:
        cells = [f"{per_layer[key][str(layer)]:.3f}" if str(layer) in per_layer[key] else "-" for key in per_layer]
        table.add_row(str(layer), f"{norms[layer]:.4g}", *cells)
    console.print(table)


__all__ = ["fmt", "points", "print_table", "show_frame", "show_result_table", "show_vector"]
