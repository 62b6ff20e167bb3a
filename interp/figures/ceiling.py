"""The ceiling figure: per chosen cell, the test gain of the textual, native and learned vectors.

``ceiling_bars`` draws ``interp.evaluation.ceiling``'s table (textual and learned gains at each
chosen cell, with their paired 95% intervals) as horizontal grouped bars, one group per chosen
cell, with the native vector's gain at the same cell beside them when
``interp.evaluation.compare_native``'s table is given, and the textual / learned fraction with its
interval under each cell's label. No model is run.

Example:
    >>> ceil = ceiling(mllm, res, vs, train, test)                       # doctest: +SKIP
    >>> nat = compare_native(mllm, vs, natives, test, cells=res)          # doctest: +SKIP
    >>> ceiling_bars(ceil, native=nat).show()                             # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interp.figures import style
from interp.formatting import finite, point_label

if TYPE_CHECKING:
    from interp.types import DataFrame, Figure

#: Columns of ``interp.evaluation.ceiling``'s table that ``ceiling_bars`` reads.
CEILING_FIGURE_COLUMNS = ("vector", "task", "selector", "layer", "strength", "n_test",
                          "textual_gain", "textual_gain_low", "textual_gain_high",
                          "learned_gain", "learned_gain_low", "learned_gain_high")
#: Columns of ``compare_native``'s table that ``ceiling_bars`` reads (its scored rows).
NATIVE_FIGURE_COLUMNS = ("textual", "native", "task", "selector", "layer", "strength",
                         "native_gain", "native_gain_low", "native_gain_high")
#: One colour per comparator: the textual vector is "steered" blue as in every figure.
COMPARATOR_COLORS = {"textual": style.CONDITION_COLORS["steered"], "native": "#009E73", "learned": "#332288"}
#: The keys a native row is matched to a ceiling row on.
_MATCH = ("task", "selector", "layer", "strength")


def _fraction_text(row: Any) -> str:
    if "textual_fraction" not in row:
        return ""
    value = row["textual_fraction"]
    if not finite(value):
        if "every test item" in str(row.get("textual_fraction_reason", "")):
            return "textual/learned: - (unsteered right on every test item)"
        return "textual/learned: - (learned gain <= 0)"
    low, high = row.get("textual_fraction_low"), row.get("textual_fraction_high")
    if finite(low) and finite(high):
        return f"textual/learned {value:.2f} [{low:.2f}, {high:.2f}]"
    return f"textual/learned {value:.2f} [unbounded]"


def _native_rows(native: Any, table: Any) -> Any:
    """The native row matching each ceiling row (NaN where none), in the table's order."""
    nat = style.require(native, NATIVE_FIGURE_COLUMNS, "compare_native's table (rows scored at cells)")
    nat = nat.dropna(subset=["native_gain"])
    if nat.empty:
        raise ValueError("the native table has no scored cell (every native_gain is NaN): pass compare_native(..., cells=)")
    nat = nat.rename(columns={"textual": "vector"})
    if nat.duplicated(["vector", *_MATCH]).any():
        raise ValueError("the native table has several rows per textual vector and cell: filter it to one native method")
    cols = ["vector", *_MATCH, "native", "native_gain", "native_gain_low", "native_gain_high"]
    keyed = table[["vector", *_MATCH]].astype({"layer": int, "strength": float})
    return keyed.merge(nat[cols].astype({"layer": int, "strength": float}), on=["vector", *_MATCH], how="left")


def ceiling_bars(
    table: DataFrame,
    native: DataFrame | None = None,
    *,
    selector: str | None = None,
    task: str | None = None,
    title: str | None = None,
) -> Figure:
    """Per chosen cell: the test gain of the textual vector, its native partner and the learned vector, with CIs.

    Args:
        table: ``interp.evaluation.ceiling``'s table.
        native: ``interp.evaluation.compare_native``'s table at the same cells (optional); each
            textual vector's row at a cell is matched on vector, task, selector, layer and strength.
        selector, task: keep the rows with these values.
        title: the figure's title (default says what is drawn).

    Returns:
        A Figure with ``Bar`` traces ``"textual"``, ``"native"`` (when given) and ``"learned"``:
        gains in points, error bars the paired 95% CIs, one row per chosen cell labelled
        ``vector · task · L@strength selector`` with the textual / learned fraction under it.

    Example:
        >>> ceiling_bars(ceil, native=nat, selector="image")   # doctest: +SKIP
    """
    table = style.require(table, CEILING_FIGURE_COLUMNS, "interp.evaluation.ceiling's table")
    table = style.select_rows(table, {"selector": selector, "task": task}).reset_index(drop=True)
    go, _ = style.plotly_modules()
    labels = [
        f"{r['vector']} · {r['task']} · {point_label(r['layer'], r['strength'])} {r['selector']}"
        + (f"<br><span style='font-size:11px'>{_fraction_text(r)}</span>" if _fraction_text(r) else "")
        for _, r in table.iterrows()
    ]
    series: list[tuple[str, Any, str]] = [("textual", table, "textual_gain")]
    if native is not None:
        series.append(("native", _native_rows(native, table), "native_gain"))
    series.append(("learned", table, "learned_gain"))
    fig = go.Figure()
    scale = 100.0
    for name, rows, col in series:
        mid = rows[col].to_numpy(float)
        low, high = rows[f"{col}_low"].to_numpy(float), rows[f"{col}_high"].to_numpy(float)
        fig.add_trace(go.Bar(
            y=labels, x=scale * mid, name=name, orientation="h", marker_color=COMPARATOR_COLORS[name],
            error_x=dict(type="data", symmetric=False, array=scale * (high - mid), arrayminus=scale * (mid - low),
                         thickness=1.2, width=3),
            hovertemplate=f"{name}: %{{x:+.1f}} points<extra></extra>",
        ))
    fig.update_layout(barmode="group", bargap=0.3, bargroupgap=0.05, legend=dict(traceorder="normal"))
    fig.update_xaxes(title_text="test gain over unsteered (points), 95% paired CI", zeroline=False)
    fig.update_yaxes(autorange="reversed", showgrid=False)
    fig.add_vline(x=0, line=dict(color=style.CONDITION_COLORS["unsteered"], width=1))
    parts = [style.n_label(table["n_test"], "test items per task")]
    if "n_train" in table.columns:
        parts.append("learned on " + style.n_label(table["n_train"], "train items per task").removeprefix("n = "))
    subtitle = " · ".join(p for p in parts if p)
    if title is None:
        who = "textual, native and learned" if native is not None else "textual and learned"
        title = f"Test gain at each chosen cell: {who} vectors"
    per_row = 24 * len(series) + 22
    return style.finish(fig, title=title, subtitle=subtitle, width=900, height=170 + per_row * len(table))


__all__ = ["CEILING_FIGURE_COLUMNS", "COMPARATOR_COLORS", "NATIVE_FIGURE_COLUMNS", "ceiling_bars"]
