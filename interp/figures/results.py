"""Figures of steering results: the sweep's tables drawn as the paper draws them (arXiv 2505.14071).

- ``gains_grid``: task x concept grid of the best gains, each cell labelled with its chosen
  ``layer @ strength`` (one panel per selector);
- ``method_table``: method x selector accuracies beside the unsteered and prompting rows;
- ``accuracy_curves``: accuracy against strength (or layer) with Wilson CI bands, from the grid;
- ``ood_bars``: out-of-distribution benchmarks as grouped bars (unsteered, prompting, steered,
  random directions).

Inputs are ``SweepResult.table`` (test: one row per vector x task x selector) and
``SweepResult.grid`` (train: one row per cell); no model is run.

Example:
    >>> from interp.figures import gains_grid, accuracy_curves          # doctest: +SKIP
    >>> gains_grid(res.table).show()                                     # doctest: +SKIP
    >>> accuracy_curves(res.grid, vector="meanshift/counting", task="Count")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.types import DataFrame, Figure

from interp.figures.style import (
    CONDITION_COLORS,
    DIVERGING,
    METHOD_COLORS,
    METHOD_ORDER,
    MIN_GAIN_SPAN,
    MISSING_COLOR,
    SELECTOR_ORDER,
    STEERED_SHADES,
    band,
    color_map,
    faded_cells,
    finish,
    finite,
    gain_range,
    legend_swatch,
    missing_cells,
    n_label,
    ordered,
    plotly_modules,
    point_label,
    require,
    select_rows,
    table_split,
    value_label,
)
from interp.stats import wilson

#: Columns of ``SweepResult.table`` the result figures read.
TABLE_COLUMNS = ("vector", "method", "concept", "task", "selector", "layer", "strength", "accuracy",
                 "unsteered_accuracy", "gain")
#: Columns of ``SweepResult.grid`` the result figures read.
GRID_COLUMNS = ("vector", "method", "concept", "task", "layer", "selector", "strength", "n",
                "n_correct", "accuracy", "unsteered_accuracy", "gain")


def _steered(table: Any) -> Any:
    """Steered rows (a grid also holds the unsteered cell)."""
    if "condition" in table.columns:
        table = table[table["condition"] == "steered"]
        if table.empty:
            raise ValueError("the grid has no steered cells: expected SweepResult.grid with condition 'steered' rows")
    return table


def best_cells(table: DataFrame, keys: Sequence[str], *, by: str = "gain") -> DataFrame:
    """One row per ``keys``: the best ``by`` (``"gain"``; ``"train_gain"`` picks a test table's
    rows on the gain they had on train), ties to the smaller |strength|, then the lower layer,
    then the positive sign (the sweep's choice rule, applied to any table).

    Example:
        >>> best_cells(res.grid, ["vector", "task", "selector"])   # doctest: +SKIP
    """
    if by not in table.columns:
        raise ValueError(f"cannot pick the best cells by {by!r}: the table has no {by!r} column")
    t = table.assign(_abs=table["strength"].abs(), _neg=table["strength"] < 0)
    t = t.sort_values([*keys, by, "_abs", "layer", "_neg"],
                      ascending=[True] * len(keys) + [False, True, True, True], kind="mergesort")
    return t.groupby(list(keys), sort=False).head(1).drop(columns=["_abs", "_neg"])


def _pick_on(table: Any, split: str, pick: str | None) -> tuple[str, str]:
    """``(column, split)`` that picks the best of several vectors filling one cell: the train gain
    whenever the table has it (a test table's ``train_gain``, or a train table's own ``gain``);
    the table's own gain on another split only when asked (``pick=split``) or nothing else is there."""
    if pick is None:
        pick = "train" if split == "train" or "train_gain" in table.columns else split
    if pick == split:
        return "gain", split
    if pick == "train" and "train_gain" in table.columns:
        return "train_gain", "train"
    raise ValueError(f"pick must be 'train' (needs a train_gain column) or the table's own split {split!r}, got {pick!r}")


def _who(table: Any, keys: list[str]) -> str | None:
    """The column naming the winner of a cell several vectors fill: ``method`` when it tells the
    vectors apart, else ``vector``; None when every cell has one vector."""
    if "vector" not in table.columns:
        return None
    cells = table.groupby(keys)
    if cells["vector"].nunique().max() <= 1:
        return None
    if "method" in table.columns and (cells["method"].nunique() == cells["vector"].nunique()).all():
        return "method"
    return "vector"


def _significance(row: Any, alpha: float | None) -> str:
    if alpha is None:
        return ""
    for col in ("p_holm", "p_value"):
        if col in row and finite(row[col]):
            return "*" if float(row[col]) < alpha else ""
    return ""


# -- gains grid ------------------------------------------------------------------------------------
def _gains_title(split: str, picked: str, several: bool, n: str) -> tuple[str, str]:
    """The gains grid's title and subtitle: the split, where the cell was chosen, how the method
    was picked among several, and n."""
    what = f"{split.capitalize()} gain over unsteered (points)"
    if split != "train":
        what += ", at the cell chosen on train"
    notes = []
    if several:
        notes.append(f"best method per cell picked on {picked}" + (" (a selected maximum)" if picked == split != "train" else ""))
    if n:
        notes.append(n)
    notes.append(f"colour scale at least ±{MIN_GAIN_SPAN:g} points")
    return what, " · ".join(notes)


def gains_grid(
    table: DataFrame,
    *,
    rows: str = "task",
    columns: str = "concept",
    facet: str = "selector",
    method: str | None = None,
    star: float | None = 0.05,
    split: str | None = None,
    pick: str | None = None,
    title: str | None = None,
) -> Figure:
    """Task x concept grid of the best gain per cell, labelled ``"L2 @ +1"``, one panel per selector.

    From ``SweepResult.table`` the values are the test gains of the chosen cells; from
    ``SweepResult.grid`` (it has a ``condition`` column) the train gains of the cells the
    sweep's rule chooses. Where several vectors fill one cell, one is shown and its method (its
    vector, where two share a method) named under the label: the one with the best *train* gain
    (a test table's ``train_gain``), so the test value shown is not a maximum over methods;
    only a table without ``train_gain`` picks on its own gain, and the title says so.

    The colour scale is symmetric and fixed at ``±max(MIN_GAIN_SPAN, largest |gain|)`` points
    (``MIN_GAIN_SPAN`` = 10): one item out of 24 (4.2 points) is under half the colour, not the
    full dark red. Cells whose 95% CI of the gain (``gain_low``..``gain_high``) includes 0 are
    faded by a white overlay named ``"CI includes 0"``; grey cells (a ``"not evaluated"`` heatmap)
    are pairs no vector was evaluated on. Both have a legend entry. The title says the split and
    the number of items per cell (``n_test`` or ``n``), which the hover text also gives per cell.

    Args:
        table: ``SweepResult.table`` or ``SweepResult.grid``.
        rows, columns, facet: table columns for the heatmap's rows, columns and panels.
        method: keep only this method's vectors.
        star: mark gains whose ``p_holm`` (else ``p_value``) is below this with ``*`` (None: no marks).
        split: the split the gains are from, for the title (None: the table's ``split`` column,
            else ``"train"`` for a grid and ``"test"`` for a table).
        pick: the split whose gain picks among vectors filling one cell (None: train when the
            table has it).
        title: the title (None: one naming the split, the pick and n).

    Returns:
        A Figure with one ``Heatmap`` per panel (named by the panel's value), gains in points,
        plus a grey ``"not evaluated"`` heatmap in panels with empty cells and a ``"CI includes 0"``
        overlay where cells' intervals include 0.

    Example:
        >>> fig = gains_grid(res.table)     # doctest: +SKIP
        >>> fig.data[0].text[0][0]          # doctest: +SKIP
        '+3.3*<br>L2 @ +1'
    """
    table = require(table, ["gain", "layer", "strength", rows, columns, facet],
                    "SweepResult.table or SweepResult.grid (gain, layer, strength, task, concept, selector)")
    split = table_split(table, split, "train" if "n_correct" in table.columns else "test")
    table = select_rows(_steered(table), {"method": method})
    by, picked = _pick_on(table, split, pick)
    go, make_subplots = plotly_modules()
    best = best_cells(table, [facet, rows, columns], by=by)
    who = _who(table, [facet, rows, columns])
    n_col = "n_test" if "n_test" in best.columns else "n" if "n" in best.columns else None
    has_ci = {"gain_low", "gain_high"} <= set(best.columns)
    panels = ordered(best[facet], SELECTOR_ORDER)
    row_values = ordered(best[rows])
    col_values = ordered(best[columns])
    zmax = gain_range(100 * best["gain"].to_numpy(float))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[value_label(facet, p) for p in panels],
                        shared_yaxes=True, horizontal_spacing=0.04)
    any_holes = any_faded = False
    for i, panel in enumerate(panels, start=1):
        sub = best[best[facet] == panel].set_index([rows, columns])
        z: list[list[float | None]] = []
        text: list[list[str]] = []
        hover: list[list[str]] = []
        faded: list[list[bool]] = []
        for r in row_values:
            zr: list[float | None] = []
            tr: list[str] = []
            hr: list[str] = []
            fr: list[bool] = []
            for c in col_values:
                if (r, c) not in sub.index:
                    zr.append(None)
                    tr.append("")
                    hr.append("not evaluated")
                    fr.append(False)
                    continue
                rec = sub.loc[(r, c)]
                gain = 100 * float(rec["gain"])
                label = f"{gain:+.1f}{_significance(rec, star)}<br>{point_label(rec['layer'], rec['strength'])}"
                if who is not None:
                    label += f"<br>{rec[who]}"
                info = [f"{split} gain: {gain:+.1f} points"]
                ci_zero = False
                if has_ci and finite(rec["gain_low"]) and finite(rec["gain_high"]):
                    lo, hi = 100 * float(rec["gain_low"]), 100 * float(rec["gain_high"])
                    ci_zero = lo <= 0 <= hi
                    info.append(f"95% CI [{lo:+.1f}, {hi:+.1f}]" + (" includes 0" if ci_zero else ""))
                if n_col is not None and finite(rec[n_col]):
                    info.append(f"n = {int(rec[n_col])} {split} items")
                if by == "train_gain" and finite(rec["train_gain"]):
                    info.append(f"train gain {100 * float(rec['train_gain']):+.1f} (picks the cell and method)")
                info.append(point_label(rec["layer"], rec["strength"]) + (f" {rec[who]}" if who is not None else ""))
                zr.append(gain)
                tr.append(label)
                hr.append("<br>".join(info))
                fr.append(ci_zero)
            z.append(zr)
            text.append(tr)
            hover.append(hr)
            faded.append(fr)
        xs, ys = [str(c) for c in col_values], [str(r) for r in row_values]
        fig.add_trace(go.Heatmap(
            z=z, x=xs, y=ys, text=text, texttemplate="%{text}", textfont=dict(size=12), coloraxis="coloraxis", name=str(panel),
            xgap=2, ygap=2, customdata=hover,
            hovertemplate=f"{rows}: %{{y}}<br>{columns}: %{{x}}<br>%{{customdata}}<extra>{panel}</extra>",
        ), row=1, col=i)
        fade = faded_cells(go, faded, xs, ys, "CI includes 0")
        if fade is not None:
            fig.add_trace(fade, row=1, col=i)
            any_faded = True
        holes = missing_cells(go, z, xs, ys)
        if holes is not None:
            fig.add_trace(holes, row=1, col=i)
            any_holes = True
        fig.update_xaxes(title_text=columns, row=1, col=i, showgrid=False)
    if any_faded:
        fig.add_trace(legend_swatch(go, "faded: 95% CI of the gain includes 0", "#F4F4F4"))
    if any_holes:
        fig.add_trace(legend_swatch(go, "grey: not evaluated (no vector for this pair)", MISSING_COLOR))
    fig.update_yaxes(title_text=rows, row=1, col=1)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_layout(coloraxis=dict(colorscale=DIVERGING, cmid=0, cmin=-zmax, cmax=zmax,
                                     colorbar=dict(title=dict(text=f"{split} gain<br>(points)"))),
                      showlegend=any_faded or any_holes,
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.3, yanchor="top"))
    subtitle = None
    if title is None:
        title, subtitle = _gains_title(split, picked, who is not None,
                                       n_label(best[n_col], f"{split} items per cell") if n_col else "")
    width = 160 + len(panels) * max(220, (140 if who == "vector" else 110) * len(col_values))
    height = 250 + 70 * len(row_values)
    return finish(fig, title=title, subtitle=subtitle, width=max(width, 720), height=max(height, 400),
                  margin=dict(t=100, b=130))


# -- method x selector table ----------------------------------------------------------------------
def method_table(
    table: DataFrame,
    *,
    concept: str | None = None,
    star: float | None = 0.05,
    split: str | None = None,
    title: str | None = None,
) -> Figure:
    """Method x selector accuracies on test, under the unsteered and prompting rows, one panel per task.

    Cells show the accuracy in percent and, for prompting and methods, the gain over unsteered
    in points; colour is that gain (unsteered is 0), on a symmetric scale of at least
    ``±MIN_GAIN_SPAN`` (10) points. Where several vectors of one method were evaluated on a task
    (several concepts), the one with the best *train* gain (``train_gain``; the table's own gain
    when it has none) is shown. Prompting rows come from ``prompt_accuracy`` (one per concept
    when a task has several). Each panel's title gives its n (``n_test``); grey cells (legend
    entry) were not evaluated.

    Args:
        table: ``SweepResult.table``.
        concept: keep only this concept's vectors.
        star: mark gains whose ``p_holm`` (else ``p_value``) is below this with ``*``.
        split: the split the accuracies are from (None: the ``split`` column, else ``"test"``).
        title: the title (None: one naming the split).

    Returns:
        A Figure with one ``Heatmap`` per task (named by the task), plus a grey ``"not evaluated"``
        heatmap where a panel has empty cells; rows top to bottom: ``unsteered``, ``prompting``
        (or ``prompting: <concept>``), then the methods.

    Example:
        >>> method_table(res.table).show()   # doctest: +SKIP
    """
    table = require(table, ["method", "task", "selector", "accuracy", "unsteered_accuracy", "gain",
                            "layer", "strength"], "SweepResult.table")
    split = table_split(table, split, "test")
    table = select_rows(_steered(table), {"concept": concept})
    by = "train_gain" if "train_gain" in table.columns and split != "train" else "gain"
    go, make_subplots = plotly_modules()
    tasks = ordered(table["task"])
    selectors = ordered(table["selector"], SELECTOR_ORDER)
    methods = ordered(table["method"], METHOD_ORDER)
    has_prompt = "prompt_accuracy" in table.columns and table["prompt_accuracy"].notna().any()
    prompts: dict[Any, dict[str, float]] = {}
    if has_prompt:
        key = "concept" if "concept" in table.columns else "method"
        for task in tasks:
            sub = table[(table["task"] == task) & table["prompt_accuracy"].notna()]
            prompts[task] = {str(k): float(v) for k, v in sub.groupby(key, sort=True)["prompt_accuracy"].first().items()}
    several_prompts = any(len(p) > 1 for p in prompts.values())
    prompt_rows = sorted({c for p in prompts.values() for c in p}) if several_prompts else (["prompting"] if prompts else [])
    labels = ["unsteered", *[f"prompting: {c}" if several_prompts else c for c in prompt_rows], *map(str, methods)]
    def panel_title(task: Any) -> str:
        n = n_label(table.loc[table["task"] == task, "n_test"], "") if "n_test" in table.columns else ""
        return f"{task} ({n.strip()})" if n else str(task)

    fig = make_subplots(rows=1, cols=len(tasks), subplot_titles=[panel_title(t) for t in tasks],
                        shared_yaxes=True, horizontal_spacing=0.04)
    zs: list[float] = []
    any_holes = False
    for i, task in enumerate(tasks, start=1):
        sub = table[table["task"] == task]
        best = best_cells(sub, ["method", "selector"], by=by).set_index(["method", "selector"])
        base = float(sub["unsteered_accuracy"].iloc[0])
        z: list[list[float | None]] = [[0.0] * len(selectors)]
        text = [[f"{100 * base:.1f}"] * len(selectors)]
        for c in prompt_rows:
            found = prompts[task].get(c) if several_prompts else next(iter(prompts[task].values()), None)
            if found is None:
                z.append([None] * len(selectors))
                text.append([""] * len(selectors))
                continue
            z.append([100 * (found - base)] * len(selectors))
            text.append([f"{100 * found:.1f}<br>{100 * (found - base):+.1f}"] * len(selectors))
        for m in methods:
            zr: list[float | None] = []
            tr = []
            for s in selectors:
                if (m, s) not in best.index:
                    zr.append(None)
                    tr.append("")
                    continue
                rec = best.loc[(m, s)]
                zr.append(100 * float(rec["gain"]))
                tr.append(f"{100 * float(rec['accuracy']):.1f}<br>{100 * float(rec['gain']):+.1f}"
                          f"{_significance(rec, star)}<br>{point_label(rec['layer'], rec['strength'])}")
            z.append(zr)
            text.append(tr)
        zs += [v for r in z for v in r if v is not None]
        xs = [str(s) for s in selectors]
        fig.add_trace(go.Heatmap(
            z=z, x=xs, y=labels, text=text, texttemplate="%{text}", textfont=dict(size=12),
            coloraxis="coloraxis", name=str(task), xgap=2, ygap=2,
            hovertemplate="%{y}, %{x}<br>%{text}<br>" + panel_title(task) + f" {split}<extra>" + str(task) + "</extra>",
        ), row=1, col=i)
        holes = missing_cells(go, z, xs, labels)
        if holes is not None:
            fig.add_trace(holes, row=1, col=i)
            any_holes = True
        fig.update_xaxes(title_text="selector", row=1, col=i, showgrid=False)
    if any_holes:
        fig.add_trace(legend_swatch(go, "grey: not evaluated", MISSING_COLOR))
    n_rows = len(labels)
    zmax = gain_range(zs)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_layout(coloraxis=dict(colorscale=DIVERGING, cmid=0, cmin=-zmax, cmax=zmax,
                                     colorbar=dict(title=dict(text=f"{split} gain<br>(points)"))),
                      showlegend=any_holes, legend=dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top"))
    if title is None:
        title = f"{split.capitalize()} accuracy (%) by method and selector"
        if "n_test" in table.columns:
            title += f" · {n_label(table['n_test'], split + ' items per task')}"
    width = 200 + len(tasks) * max(260, 90 * len(selectors))
    return finish(fig, title=title, width=width, height=max(380, 230 + 62 * n_rows), margin=dict(b=120))


# -- accuracy curves -------------------------------------------------------------------------------
_CURVE_KEYS = ("layer", "strength", "selector", "vector", "method", "concept", "task")


def accuracy_curves(
    grid: DataFrame,
    *,
    x: str = "strength",
    color: str = "selector",
    facet_col: str | None = "layer",
    facet_row: str | None = None,
    vector: str | None = None,
    method: str | None = None,
    concept: str | None = None,
    task: str | None = None,
    selector: str | None = None,
    level: float = 0.95,
    split: str | None = None,
    title: str | None = None,
) -> Figure:
    """Accuracy against strength (or layer) with Wilson CI bands, from ``SweepResult.grid`` (train).

    The title and the y axis name the split the grid is from (``split``; a grid is the train
    items, so ``"train"`` unless a ``split`` column or argument says otherwise) and the number of
    items per point (the cells' ``n``), which the hover text also gives per point.

    Bands are Wilson score intervals computed here from each cell's ``n`` and ``n_correct``.
    Each panel also shows the unsteered accuracy (dashed grey, with its band when the grid
    holds the unsteered cell) when the panel covers one task. Every point must be one grid row:
    filter (``vector=``, ``task=``, ...) or facet until it is.

    Args:
        grid: ``SweepResult.grid``.
        x: ``"strength"`` or ``"layer"``.
        color: the column drawn as separate lines (``"selector"``, ``"layer"``, ``"method"``, ...).
        facet_col, facet_row: columns split into panels (None: no split).
        vector, method, concept, task, selector: keep rows with these values.
        level: the intervals' coverage.
        split: the split the grid's items are from (None: the ``split`` column, else ``"train"``).
        title: the title (None: one naming the split, the filters and n per point).

    Returns:
        A Figure: per panel and colour value a line (named by the value, e.g. ``"image"`` or
        ``"L1"``) and its band; per panel an ``"unsteered"`` line.

    Example:
        >>> accuracy_curves(res.grid, vector="meanshift/counting", task="Count")   # doctest: +SKIP
    """
    grid = require(grid, ["accuracy", "n", "n_correct", x, "unsteered_accuracy"],
                   "SweepResult.grid (accuracy, n, n_correct, layer, strength, unsteered_accuracy)")
    if x not in ("strength", "layer"):
        raise ValueError(f"x must be 'strength' or 'layer', got {x!r}")
    dims = [d for d in (x, color, facet_col, facet_row) if d is not None]
    if len(set(dims)) != len(dims):
        raise ValueError(f"x, color, facet_col and facet_row must be different columns, got {dims}")
    require(grid, dims, "SweepResult.grid")
    split = table_split(grid, split, "train")
    filters = {"vector": vector, "method": method, "concept": concept, "task": task, "selector": selector}
    unsteered = grid[grid["condition"] == "unsteered"] if "condition" in grid.columns else grid.iloc[:0]
    rows = select_rows(_steered(grid), filters)
    dup = rows.duplicated(dims, keep=False)
    if dup.any():
        free = [c for c in _CURVE_KEYS if c in rows.columns and c not in dims and rows[c].nunique() > 1]
        choices = ", ".join(f"{c} {ordered(rows[c])}" for c in free)
        raise ValueError(f"several grid rows per point of ({', '.join(dims)}): filter or facet by {free} ({choices})")
    go, make_subplots = plotly_modules()
    col_values = ordered(rows[facet_col], SELECTOR_ORDER) if facet_col else [None]
    row_values = ordered(rows[facet_row], METHOD_ORDER) if facet_row else [None]
    colors = ordered(rows[color], SELECTOR_ORDER if color == "selector" else METHOD_ORDER)
    palette = color_map(colors, color)
    titles = []
    for r in row_values:
        for c in col_values:
            parts = [value_label(facet_row, r) if facet_row else "", value_label(facet_col, c) if facet_col else ""]
            titles.append(" · ".join(p for p in parts if p))
    fig = make_subplots(rows=len(row_values), cols=len(col_values), subplot_titles=titles,
                        shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=0.08 if len(row_values) > 1 else 0.1)
    shown: set[str] = set()
    x_all = ordered(rows[x])
    for ri, r in enumerate(row_values, start=1):
        for ci, c in enumerate(col_values, start=1):
            panel = rows
            if facet_row:
                panel = panel[panel[facet_row] == r]
            if facet_col:
                panel = panel[panel[facet_col] == c]
            for value in colors:
                line = panel[panel[color] == value].sort_values(x)
                if line.empty:
                    continue
                name = value_label(color, value)
                low, high = wilson(line["n_correct"], line["n"], level)
                xs = line[x].tolist()
                for trace in band(go, xs, 100 * low, 100 * high, palette[value], f"{name} {level:.0%} CI",
                                  legendgroup=name):
                    fig.add_trace(trace, row=ri, col=ci)
                fig.add_trace(go.Scatter(
                    x=xs, y=100 * line["accuracy"].to_numpy(float), mode="lines+markers", name=name,
                    legendgroup=name, showlegend=name not in shown, line=dict(color=palette[value], width=2),
                    marker=dict(size=6), customdata=np.stack([line["n_correct"], line["n"]], axis=1),
                    hovertemplate=f"{name}<br>{x}: %{{x}}<br>accuracy: %{{y:.1f}}% (%{{customdata[0]}}/%{{customdata[1]}})<extra></extra>",
                ), row=ri, col=ci)
                shown.add(name)
            tasks = panel["task"].unique() if "task" in panel.columns else []
            if len(tasks) == 1 and len(panel):
                _unsteered_line(go, fig, panel, unsteered, tasks[0], x_all, level, ri, ci, shown)
    fig.update_xaxes(title_text=x, row=len(row_values))
    for ri in range(1, len(row_values) + 1):
        fig.update_yaxes(title_text=f"{split} accuracy (%)", row=ri, col=1)
    fig.update_yaxes(range=[-3, 103])
    if x == "layer":
        fig.update_xaxes(dtick=1)
    if title is None:
        what = [f"{k} {v}" for k, v in filters.items() if v is not None]
        title = f"{split.capitalize()} accuracy by {x}" + (f" ({', '.join(what)})" if what else "")
        n = n_label(rows["n"], f"{split} items per point")
        title += f" · {n}" if n else ""
    return finish(fig, title=title, width=180 + 230 * len(col_values), height=150 + 230 * len(row_values))


def _unsteered_line(go: Any, fig: Any, panel: Any, unsteered: Any, task: Any, xs: list[Any],
                    level: float, ri: int, ci: int, shown: set[str]) -> None:
    acc = float(panel["unsteered_accuracy"].iloc[0])
    xr = [min(xs), max(xs)]
    base = unsteered[unsteered["task"] == task] if "task" in unsteered.columns else unsteered.iloc[:0]
    color = CONDITION_COLORS["unsteered"]
    if len(base) == 1:
        low, high = wilson(base["n_correct"], base["n"], level)
        for trace in band(go, xr, [100 * low[0]] * 2, [100 * high[0]] * 2, color,
                          f"unsteered {level:.0%} CI", legendgroup="unsteered", opacity=0.12):
            fig.add_trace(trace, row=ri, col=ci)
    fig.add_trace(go.Scatter(
        x=xr, y=[100 * acc] * 2, mode="lines", name="unsteered", legendgroup="unsteered",
        showlegend="unsteered" not in shown, line=dict(color=color, dash="dash", width=1.5),
        hovertemplate=f"unsteered: {100 * acc:.1f}%<extra></extra>",
    ), row=ri, col=ci)
    shown.add("unsteered")


def _steered_colors(table: Any, vectors: list[Any]) -> dict[Any, str]:
    """Method colours when each vector has its own method, else shades of the steered blue."""
    if "method" in table.columns:
        per = table.drop_duplicates("vector").set_index("vector")["method"]
        if per.nunique() == len(per) and all(m in METHOD_COLORS for m in per):
            return {v: METHOD_COLORS[per[v]] for v in vectors}
    return {v: STEERED_SHADES[i % len(STEERED_SHADES)] for i, v in enumerate(vectors)}


# -- out-of-distribution bars ----------------------------------------------------------------------
#: Columns ``ood_bars`` needs: ``SweepResult.table``'s plus the benchmark each row was tested on.
OOD_COLUMNS = ("benchmark", "vector", "accuracy", "unsteered_accuracy")


def ood_bars(
    table: DataFrame,
    *,
    value: str = "accuracy",
    selector: str | None = None,
    vector: str | None = None,
    title: str | None = None,
) -> Figure:
    """Out-of-distribution results as grouped bars per benchmark: unsteered, prompting, steered, random.

    Expected columns: ``benchmark``, ``vector``, ``accuracy``, ``unsteered_accuracy`` (needed);
    ``accuracy_low``/``accuracy_high``, ``gain``/``gain_low``/``gain_high`` (error bars),
    ``prompt_accuracy`` (prompting bar), ``random_mean_gain``/``random_q95_gain`` (random
    directions: the mean, with a bar up to the 95th percentile), ``task``, ``selector``. That
    is ``SweepResult.table`` of each benchmark's sweep with a ``benchmark`` column added, e.g.
    ``pd.concat([r.table.assign(benchmark=name) for name, r in results.items()])``. A benchmark
    with several tasks gets one group per task. Prompting is one bar per group (the first
    concept's, where several concepts share a group).

    Args:
        value: ``"accuracy"`` (in %) or ``"gain"`` (over unsteered, in points).
        selector, vector: keep rows with these values (each group needs one row per vector).

    Returns:
        A Figure of ``Bar`` traces named ``"unsteered"``, ``"prompting"``, then each vector
        (``"steered"`` when there is one), then ``"random"`` (``"random: <vector>"`` for several).

    Example:
        >>> ood = pd.concat([whatsup.table.assign(benchmark="What'sUp A"),
        ...                  clevr.table.assign(benchmark="CLEVR count")])   # doctest: +SKIP
        >>> ood_bars(ood, selector="image")                                 # doctest: +SKIP
    """
    if value not in ("accuracy", "gain"):
        raise ValueError(f"value must be 'accuracy' or 'gain', got {value!r}")
    needed = list(OOD_COLUMNS) + (["gain"] if value == "gain" else [])
    table = require(table, needed, "an OOD table: SweepResult.table rows plus a 'benchmark' column")
    table = select_rows(table, {"selector": selector, "vector": vector})
    go, _ = plotly_modules()
    several_tasks = "task" in table.columns and table.groupby("benchmark")["task"].nunique().max() > 1
    table = table.assign(_group=[
        f"{b}<br>{t}" if several_tasks else str(b)
        for b, t in zip(table["benchmark"], table["task"] if "task" in table.columns else table["benchmark"])
    ])
    dup = table.duplicated(["_group", "vector"], keep=False)
    if dup.any():
        extra = [c for c in ("selector", "task") if c in table.columns and table[c].nunique() > 1]
        raise ValueError(f"several rows per benchmark and vector: filter with selector= or vector= (they differ in {extra or 'other columns'})")
    groups = list(dict.fromkeys(table["_group"]))
    vectors = ordered(table["vector"])
    first = table.drop_duplicates("_group").set_index("_group").loc[groups]
    scale = 100.0
    gain_mode = value == "gain"
    if not gain_mode:
        fig = go.Figure(go.Bar(x=groups, y=scale * first["unsteered_accuracy"].to_numpy(float), name="unsteered",
                               marker_color=CONDITION_COLORS["unsteered"]))
    else:
        fig = go.Figure()
    if "prompt_accuracy" in table.columns and table["prompt_accuracy"].notna().any():
        prompt = table.dropna(subset=["prompt_accuracy"]).drop_duplicates("_group").set_index("_group")
        prompt = prompt.reindex(groups)
        y = prompt["prompt_accuracy"] - (prompt["unsteered_accuracy"] if gain_mode else 0)
        fig.add_trace(go.Bar(x=groups, y=scale * y.to_numpy(float), name="prompting",
                             marker_color=CONDITION_COLORS["prompt"]))
    steered_colors = _steered_colors(table, vectors)
    for vec in vectors:
        sub = table[table["vector"] == vec].set_index("_group").reindex(groups)
        col, low, high = ("gain", "gain_low", "gain_high") if gain_mode else ("accuracy", "accuracy_low", "accuracy_high")
        error = None
        if low in sub.columns and high in sub.columns:
            error = dict(type="data", symmetric=False, array=scale * (sub[high] - sub[col]).to_numpy(float),
                         arrayminus=scale * (sub[col] - sub[low]).to_numpy(float), thickness=1.2, width=4)
        color = CONDITION_COLORS["steered"] if len(vectors) == 1 else steered_colors[vec]
        fig.add_trace(go.Bar(x=groups, y=scale * sub[col].to_numpy(float), name="steered" if len(vectors) == 1 else str(vec),
                             marker_color=color, error_y=error))
    if "random_mean_gain" in table.columns and table["random_mean_gain"].notna().any():
        for vec in vectors:
            sub = table[table["vector"] == vec].set_index("_group").reindex(groups)
            mean = sub["random_mean_gain"] + (0 if gain_mode else sub["unsteered_accuracy"])
            error = None
            if "random_q95_gain" in sub.columns:
                error = dict(type="data", symmetric=False, array=scale * (sub["random_q95_gain"] - sub["random_mean_gain"]).to_numpy(float),
                             arrayminus=np.zeros(len(groups)), thickness=1.2, width=4)
            fig.add_trace(go.Bar(x=groups, y=scale * mean.to_numpy(float), name="random" if len(vectors) == 1 else f"random: {vec}",
                                 marker_color=CONDITION_COLORS["random"], error_y=error))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_xaxes(title_text="benchmark", showgrid=False)
    fig.update_yaxes(title_text="gain over unsteered (points)" if gain_mode else "accuracy (%)")
    if gain_mode:
        fig.add_hline(y=0, line=dict(color=CONDITION_COLORS["unsteered"], width=1))
    if title is None:
        title = "Out-of-distribution " + ("gains" if gain_mode else "accuracy")
    return finish(fig, title=title, width=max(520, 160 + 170 * len(groups)), height=440)


__all__ = ["GRID_COLUMNS", "OOD_COLUMNS", "TABLE_COLUMNS", "accuracy_curves", "best_cells", "gains_grid",
           "method_table", "ood_bars"]
