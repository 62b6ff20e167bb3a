"""Figures of the sweep's result tables, drawn as the paper draws them (arXiv 2505.14071).

- ``gains_grid``: task x concept grid of the best gains, each cell labelled with its chosen
  ``layer @ strength`` (one panel per selector);
- ``method_table``: method x selector accuracies beside the unsteered and prompting rows;
- ``best_cells``: the sweep's choice rule applied to any table (the cells both figures show).

Inputs are ``SweepResult.table`` (test: one row per vector x task x selector) and
``SweepResult.grid`` (train: one row per cell); no model is run. Accuracy curves over the grid
and out-of-distribution bars are in ``interp.figures.accuracy``.

Example:
    >>> from interp.figures import gains_grid, method_table              # doctest: +SKIP
    >>> gains_grid(res.table).show()                                     # doctest: +SKIP
    >>> method_table(res.table).show()                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interp.types import DataFrame, Figure

from interp.figures import style
from interp.formatting import finite, point_label

#: Columns of ``SweepResult.table`` the result figures read.
TABLE_COLUMNS = ("vector", "method", "concept", "task", "selector", "layer", "strength", "accuracy",
                 "unsteered_accuracy", "gain")
#: Columns of ``SweepResult.grid`` the result figures read.
GRID_COLUMNS = ("vector", "method", "concept", "task", "layer", "selector", "strength", "n",
                "n_correct", "accuracy", "unsteered_accuracy", "gain")


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
    notes.append(f"colour scale at least ±{style.MIN_GAIN_SPAN:g} points")
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
    table = style.require(table, ["gain", "layer", "strength", rows, columns, facet],
                    "SweepResult.table or SweepResult.grid (gain, layer, strength, task, concept, selector)")
    split = style.table_split(table, split, "train" if "n_correct" in table.columns else "test")
    table = style.select_rows(style.steered_rows(table), {"method": method})
    by, picked = _pick_on(table, split, pick)
    go, make_subplots = style.plotly_modules()
    best = best_cells(table, [facet, rows, columns], by=by)
    who = _who(table, [facet, rows, columns])
    n_col = "n_test" if "n_test" in best.columns else "n" if "n" in best.columns else None
    has_ci = {"gain_low", "gain_high"} <= set(best.columns)
    panels = style.ordered(best[facet], style.SELECTOR_ORDER)
    row_values = style.ordered(best[rows])
    col_values = style.ordered(best[columns])
    zmax = style.gain_range(100 * best["gain"].to_numpy(float))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[style.value_label(facet, p) for p in panels],
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
        fade = style.faded_cells(go, faded, xs, ys, "CI includes 0")
        if fade is not None:
            fig.add_trace(fade, row=1, col=i)
            any_faded = True
        holes = style.missing_cells(go, z, xs, ys)
        if holes is not None:
            fig.add_trace(holes, row=1, col=i)
            any_holes = True
        fig.update_xaxes(title_text=columns, row=1, col=i, showgrid=False)
    if any_faded:
        fig.add_trace(style.legend_swatch(go, "faded: 95% CI of the gain includes 0", "#F4F4F4"))
    if any_holes:
        fig.add_trace(style.legend_swatch(go, "grey: not evaluated (no vector for this pair)", style.MISSING_COLOR))
    fig.update_yaxes(title_text=rows, row=1, col=1)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_layout(coloraxis=dict(colorscale=style.DIVERGING, cmid=0, cmin=-zmax, cmax=zmax,
                                     colorbar=dict(title=dict(text=f"{split} gain<br>(points)"))),
                      showlegend=any_faded or any_holes,
                      legend=dict(orientation="h", x=0, xanchor="left", y=-0.3, yanchor="top"))
    subtitle = None
    if title is None:
        title, subtitle = _gains_title(split, picked, who is not None,
                                       style.n_label(best[n_col], f"{split} items per cell") if n_col else "")
    width = 160 + len(panels) * max(220, (140 if who == "vector" else 110) * len(col_values))
    height = 250 + 70 * len(row_values)
    return style.finish(fig, title=title, subtitle=subtitle, width=max(width, 720), height=max(height, 400),
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
    table = style.require(table, ["method", "task", "selector", "accuracy", "unsteered_accuracy", "gain",
                            "layer", "strength"], "SweepResult.table")
    split = style.table_split(table, split, "test")
    table = style.select_rows(style.steered_rows(table), {"concept": concept})
    by = "train_gain" if "train_gain" in table.columns and split != "train" else "gain"
    go, make_subplots = style.plotly_modules()
    tasks = style.ordered(table["task"])
    selectors = style.ordered(table["selector"], style.SELECTOR_ORDER)
    methods = style.ordered(table["method"], style.METHOD_ORDER)
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
        n = style.n_label(table.loc[table["task"] == task, "n_test"], "") if "n_test" in table.columns else ""
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
        holes = style.missing_cells(go, z, xs, labels)
        if holes is not None:
            fig.add_trace(holes, row=1, col=i)
            any_holes = True
        fig.update_xaxes(title_text="selector", row=1, col=i, showgrid=False)
    if any_holes:
        fig.add_trace(style.legend_swatch(go, "grey: not evaluated", style.MISSING_COLOR))
    n_rows = len(labels)
    zmax = style.gain_range(zs)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.update_layout(coloraxis=dict(colorscale=style.DIVERGING, cmid=0, cmin=-zmax, cmax=zmax,
                                     colorbar=dict(title=dict(text=f"{split} gain<br>(points)"))),
                      showlegend=any_holes, legend=dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top"))
    if title is None:
        title = f"{split.capitalize()} accuracy (%) by method and selector"
        if "n_test" in table.columns:
            title += f" · {style.n_label(table['n_test'], split + ' items per task')}"
    width = 200 + len(tasks) * max(260, 90 * len(selectors))
    return style.finish(fig, title=title, width=width, height=max(380, 230 + 62 * n_rows), margin=dict(b=120))


__all__ = ["GRID_COLUMNS", "TABLE_COLUMNS", "best_cells", "gains_grid", "method_table"]
