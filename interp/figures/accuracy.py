"""Accuracy figures: accuracy against strength or layer over the sweep's grid, and out-of-distribution bars.

- ``accuracy_curves``: accuracy against strength (or layer) with Wilson CI bands, from the grid;
- ``ood_bars``: out-of-distribution benchmarks as grouped bars (unsteered, prompting, steered,
  random directions).

Inputs are ``SweepResult.grid`` (train: one row per cell) and ``SweepResult.table`` rows of each
benchmark's sweep; no model is run. The sweep's gains grid and method table are in
``interp.figures.results``.

Example:
    >>> from interp.figures import accuracy_curves, ood_bars                # doctest: +SKIP
    >>> accuracy_curves(res.grid, vector="meanshift/counting", task="Count")  # doctest: +SKIP
    >>> ood_bars(ood, selector="image")                                     # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.types import DataFrame, Figure

from interp.figures import style
from interp.stats import wilson

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
    grid = style.require(grid, ["accuracy", "n", "n_correct", x, "unsteered_accuracy"],
                   "SweepResult.grid (accuracy, n, n_correct, layer, strength, unsteered_accuracy)")
    if x not in ("strength", "layer"):
        raise ValueError(f"x must be 'strength' or 'layer', got {x!r}")
    dims = [d for d in (x, color, facet_col, facet_row) if d is not None]
    if len(set(dims)) != len(dims):
        raise ValueError(f"x, color, facet_col and facet_row must be different columns, got {dims}")
    style.require(grid, dims, "SweepResult.grid")
    split = style.table_split(grid, split, "train")
    filters = {"vector": vector, "method": method, "concept": concept, "task": task, "selector": selector}
    unsteered = grid[grid["condition"] == "unsteered"] if "condition" in grid.columns else grid.iloc[:0]
    rows = style.select_rows(style.steered_rows(grid), filters)
    dup = rows.duplicated(dims, keep=False)
    if dup.any():
        free = [c for c in _CURVE_KEYS if c in rows.columns and c not in dims and rows[c].nunique() > 1]
        choices = ", ".join(f"{c} {style.ordered(rows[c])}" for c in free)
        raise ValueError(f"several grid rows per point of ({', '.join(dims)}): filter or facet by {free} ({choices})")
    go, make_subplots = style.plotly_modules()
    col_values = style.ordered(rows[facet_col], style.SELECTOR_ORDER) if facet_col else [None]
    row_values = style.ordered(rows[facet_row], style.METHOD_ORDER) if facet_row else [None]
    colors = style.ordered(rows[color], style.SELECTOR_ORDER if color == "selector" else style.METHOD_ORDER)
    palette = style.color_map(colors, color)
    titles = []
    for r in row_values:
        for c in col_values:
            parts = [style.value_label(facet_row, r) if facet_row else "", style.value_label(facet_col, c) if facet_col else ""]
            titles.append(" · ".join(p for p in parts if p))
    fig = make_subplots(rows=len(row_values), cols=len(col_values), subplot_titles=titles,
                        shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.03,
                        vertical_spacing=0.08 if len(row_values) > 1 else 0.1)
    shown: set[str] = set()
    x_all = style.ordered(rows[x])
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
                name = style.value_label(color, value)
                low, high = wilson(line["n_correct"], line["n"], level)
                xs = line[x].tolist()
                for trace in style.band(go, xs, 100 * low, 100 * high, palette[value], f"{name} {level:.0%} CI",
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
        n = style.n_label(rows["n"], f"{split} items per point")
        title += f" · {n}" if n else ""
    return style.finish(fig, title=title, width=180 + 230 * len(col_values), height=150 + 230 * len(row_values))


def _unsteered_line(go: Any, fig: Any, panel: Any, unsteered: Any, task: Any, xs: list[Any],
                    level: float, ri: int, ci: int, shown: set[str]) -> None:
    acc = float(panel["unsteered_accuracy"].iloc[0])
    xr = [min(xs), max(xs)]
    base = unsteered[unsteered["task"] == task] if "task" in unsteered.columns else unsteered.iloc[:0]
    color = style.CONDITION_COLORS["unsteered"]
    if len(base) == 1:
        low, high = wilson(base["n_correct"], base["n"], level)
        for trace in style.band(go, xr, [100 * low[0]] * 2, [100 * high[0]] * 2, color,
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
        if per.nunique() == len(per) and all(m in style.METHOD_COLORS for m in per):
            return {v: style.METHOD_COLORS[per[v]] for v in vectors}
    return {v: style.STEERED_SHADES[i % len(style.STEERED_SHADES)] for i, v in enumerate(vectors)}


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
    table = style.require(table, needed, "an OOD table: SweepResult.table rows plus a 'benchmark' column")
    table = style.select_rows(table, {"selector": selector, "vector": vector})
    go, _ = style.plotly_modules()
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
    vectors = style.ordered(table["vector"])
    first = table.drop_duplicates("_group").set_index("_group").loc[groups]
    scale = 100.0
    gain_mode = value == "gain"
    if not gain_mode:
        fig = go.Figure(go.Bar(x=groups, y=scale * first["unsteered_accuracy"].to_numpy(float), name="unsteered",
                               marker_color=style.CONDITION_COLORS["unsteered"]))
    else:
        fig = go.Figure()
    if "prompt_accuracy" in table.columns and table["prompt_accuracy"].notna().any():
        prompt = table.dropna(subset=["prompt_accuracy"]).drop_duplicates("_group").set_index("_group")
        prompt = prompt.reindex(groups)
        y = prompt["prompt_accuracy"] - (prompt["unsteered_accuracy"] if gain_mode else 0)
        fig.add_trace(go.Bar(x=groups, y=scale * y.to_numpy(float), name="prompting",
                             marker_color=style.CONDITION_COLORS["prompt"]))
    steered_colors = _steered_colors(table, vectors)
    for vec in vectors:
        sub = table[table["vector"] == vec].set_index("_group").reindex(groups)
        col, low, high = ("gain", "gain_low", "gain_high") if gain_mode else ("accuracy", "accuracy_low", "accuracy_high")
        error = None
        if low in sub.columns and high in sub.columns:
            error = dict(type="data", symmetric=False, array=scale * (sub[high] - sub[col]).to_numpy(float),
                         arrayminus=scale * (sub[col] - sub[low]).to_numpy(float), thickness=1.2, width=4)
        color = style.CONDITION_COLORS["steered"] if len(vectors) == 1 else steered_colors[vec]
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
                                 marker_color=style.CONDITION_COLORS["random"], error_y=error))
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05)
    fig.update_xaxes(title_text="benchmark", showgrid=False)
    fig.update_yaxes(title_text="gain over unsteered (points)" if gain_mode else "accuracy (%)")
    if gain_mode:
        fig.add_hline(y=0, line=dict(color=style.CONDITION_COLORS["unsteered"], width=1))
    if title is None:
        title = "Out-of-distribution " + ("gains" if gain_mode else "accuracy")
    return style.finish(fig, title=title, width=max(520, 160 + 170 * len(groups)), height=440)


__all__ = ["OOD_COLUMNS", "accuracy_curves", "ood_bars"]
