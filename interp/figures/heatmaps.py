"""Heatmaps and matrices of the analyses: layer x position heatmaps and cosine matrices.

- ``patching_heatmap`` (``activation_patching``: Meng et al. 2022, Heimersheim & Nanda 2024) and
  ``attribution_heatmap`` (``gradient_x_activation`` / ``attribution_patching``): layer x group
  or layer x position;
- ``cosine_matrix``: any long table of cosines as a matrix (``vector_similarity``; LoRA write/read
  directions against textual vectors, ``lora_cosine_matrix``).

No model is run: every factory takes the tidy table an analysis returned.

Example:
    >>> from interp.figures import patching_heatmap                    # doctest: +SKIP
    >>> patching_heatmap(activation_patching(mllm, clean, corrupt)).show()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.analysis import PatchingResult
    from interp.types import DataFrame, Figure

from interp.figures import style


# -- layer x position heatmaps ---------------------------------------------------------------------
def _layer_heatmap(go: Any, table: Any, x: str, value: str, x_order: list[Any], *, name: str,
                   colorbar: str, title: str, hover: str = "", numeric: bool = False) -> Any:
    layers = style.ordered(table["layer"])
    z = np.full((len(layers), len(x_order)), np.nan)
    cells = table.set_index(["layer", x])[value]
    for (la, xv), v in cells.items():
        z[layers.index(la), x_order.index(xv)] = v
    half = style.symmetric_range(z.ravel())
    fig = go.Figure(go.Heatmap(
        z=z, x=list(x_order) if numeric else [str(v) for v in x_order], y=layers,
        colorscale=style.DIVERGING, zmid=0, zmin=-half, zmax=half,
        name=name, xgap=1, ygap=1, colorbar=dict(title=dict(text=colorbar)),
        hovertemplate=f"layer %{{y}}, {x} %{{x}}{hover}<br>{value}: %{{z:.3g}}<extra></extra>",
    ))
    fig.update_yaxes(title_text="layer", dtick=1, showgrid=False, autorange="reversed")
    fig.update_xaxes(title_text=x, showgrid=False, type="linear" if numeric else "category")
    width = max(480, min(1400, 200 + 28 * len(x_order)))
    return style.finish(fig, title=title, width=width, height=max(300, 160 + 40 * len(layers)))


def _label_positions(fig: Any, positions: list[Any], labels: dict[Any, str], limit: int = 40) -> None:
    """Name each position's tick by its token when there are few; else plain position numbers."""
    if len(positions) <= limit:
        fig.update_xaxes(tickvals=positions, ticktext=[labels.get(p, str(p)) for p in positions], tickangle=-60)


def _position_ticks(table: Any) -> tuple[list[Any], dict[Any, str]]:
    """Positions in order and a tick label for each (its token where all rows agree)."""
    positions = style.ordered(table["position"])
    labels: dict[Any, str] = {}
    label = "token" if "token" in table.columns else "kind" if "kind" in table.columns else None
    if label is not None:
        for pos, names in table.groupby("position")[label]:
            uniq = names.astype(str).unique()
            labels[pos] = f"{pos} {uniq[0]}" if len(uniq) == 1 else str(pos)
    return positions, labels


def patching_heatmap(result: PatchingResult | DataFrame, *, by: str = "group", title: str | None = None) -> Figure:
    """Activation patching's recovered fraction per layer and position group (or single position).

    Args:
        result: a ``PatchingResult`` (its ``summary()`` or ``position_summary()`` is drawn), or
            one of those tables (``layer``, ``group`` or ``position``, ``recovered``), or the
            raw ``groups`` / ``positions`` tables (averaged over pairs).
        by: ``"group"`` (layer x position group) or ``"position"`` (layer x single position).

    Returns:
        A Figure with one ``Heatmap`` named ``"recovered"``: 1 where the patch restores the clean
        answer's margin, 0 where it changes nothing.

    Example:
        >>> patching_heatmap(activation_patching(mllm, clean, corrupt), by="group")   # doctest: +SKIP
    """
    if by not in ("group", "position"):
        raise ValueError(f"by must be 'group' or 'position', got {by!r}")
    if hasattr(result, "summary"):
        result = result.summary() if by == "group" else result.position_summary()
    table = style.require(result, ["layer", by, "recovered"], f"a PatchingResult or its {'summary' if by == 'group' else 'position_summary'}() table")
    go, _ = style.plotly_modules()
    table = table.groupby(["layer", by], as_index=False).agg(
        recovered=("recovered", "mean"), **({"token": ("token", "first")} if "token" in table.columns else {}))
    if by == "group":
        x_order = style.ordered(table["group"], (*style.SELECTOR_ORDER, "image", "text", "last", "all"))
        fig = _layer_heatmap(go, table, "group", "recovered", x_order, name="recovered",
                             colorbar="recovered", title=title or "Activation patching: recovered fraction")
    else:
        positions, labels = _position_ticks(result)
        fig = _layer_heatmap(go, table, "position", "recovered", positions, name="recovered",
                             colorbar="recovered", title=title or "Activation patching per position", numeric=True)
        _label_positions(fig, positions, labels)
    return fig


def attribution_heatmap(
    table: DataFrame, *, by: str = "kind", value: str = "attribution", title: str | None = None
) -> Figure:
    """Attribution per layer and token kind (summed over the kind's positions) or per position.

    Each item's attributions are summed over the positions of a kind (``by="kind"``: how much
    the image tokens as a whole move the answer) or taken per position (``by="position"``:
    positions are indexes among an item's real tokens, so average items of one layout), then
    averaged over items.

    Args:
        table: ``gradient_x_activation`` or ``attribution_patching`` output (``item``, ``layer``,
            ``position``, ``kind``, ``attribution``; ``token`` labels positions).
        by: ``"kind"`` or ``"position"``.
        value: the column to draw.

    Returns:
        A Figure with one ``Heatmap`` named by ``value``.

    Example:
        >>> attribution_heatmap(gradient_x_activation(mllm, items), by="kind")   # doctest: +SKIP
    """
    if by not in ("kind", "position"):
        raise ValueError(f"by must be 'kind' or 'position', got {by!r}")
    table = style.require(table, ["item", "layer", by, value], "a gradient_x_activation() or attribution_patching() table")
    go, _ = style.plotly_modules()
    if by == "kind":
        per_item = table.groupby(["item", "layer", "kind"], as_index=False)[value].sum()
        cells = per_item.groupby(["layer", "kind"], as_index=False)[value].mean()
        x_order = style.ordered(cells["kind"], ("image", "text", "special", "last"))
        return _layer_heatmap(go, cells, "kind", value, x_order, name=value, colorbar=f"{value}<br>(sum over kind)",
                              title=title or f"{value.capitalize()} by layer and token kind")
    cells = table.groupby(["layer", "position"], as_index=False)[value].mean()
    positions, labels = _position_ticks(table)
    fig = _layer_heatmap(go, cells, "position", value, positions, name=value, colorbar=value,
                         title=title or f"{value.capitalize()} by layer and position", numeric=True)
    _label_positions(fig, positions, labels)
    return fig


# -- cosine matrices -------------------------------------------------------------------------------
def _label_of(table: Any, cols: Sequence[str]) -> list[str]:
    def one(col: str, v: Any) -> str:
        if "layer" in col:
            return style.value_label("layer", v)
        return f"r{int(v)}" if col == "rank_index" else str(v)

    parts = [[one(c, v) for v in table[c]] for c in cols]
    return [" ".join(p) for p in zip(*parts)]


def cosine_matrix(
    table: DataFrame,
    *,
    rows: str | Sequence[str] | None = None,
    columns: str | Sequence[str] | None = None,
    value: str = "cosine",
    zmax: float | None = 1.0,
    text: bool | None = None,
    title: str | None = None,
) -> Figure:
    """A matrix of cosines (or any signed similarity) from a long table, or a square DataFrame.

    Row and column labels join the named columns' values (layers as ``L2``). Defaults fit
    ``interp.analysis.vector_similarity`` (rows ``a``/``layer_a``, columns ``b``/``layer_b``).
    For the LoRA correspondence see ``lora_cosine_matrix``. A wide DataFrame of numbers is
    drawn as it is (index x columns).

    Args:
        rows, columns: column name(s) whose values label the matrix's rows and columns.
        value: the column holding the numbers.
        zmax: the colour range's half-width (None: the largest |value|).
        text: write values in the cells (default: when the matrix has at most 400 cells).

    Returns:
        A Figure with one ``Heatmap`` named by ``value``; several rows per cell are averaged.

    Example:
        >>> cosine_matrix(vector_similarity({"ms": v1, "probe": v2}))   # doctest: +SKIP
    """
    table = style.frame(table, "a long table of cosines or a square DataFrame")
    go, _ = style.plotly_modules()
    if rows is None and columns is None and value not in table.columns:
        numeric = table.select_dtypes("number")
        if numeric.shape[1] != table.shape[1]:
            raise ValueError(f"the table has no {value!r} column: pass rows=, columns= and value= for a long "
                             "table, or a DataFrame of numbers only for a matrix")
        row_labels = [str(i) for i in table.index]
        col_labels = [str(c) for c in table.columns]
        z = table.to_numpy(float)
    else:
        if rows is None and columns is None and {"a", "b"} <= set(table.columns):
            rows = ["a", "layer_a"] if "layer_a" in table.columns else ["a"]
            columns = ["b", "layer_b"] if "layer_b" in table.columns else ["b"]
        if rows is None or columns is None:
            raise ValueError("name the columns labelling the matrix: rows= and columns= (e.g. rows='a', columns='b')")
        rcols = [rows] if isinstance(rows, str) else list(rows)
        ccols = [columns] if isinstance(columns, str) else list(columns)
        table = style.require(table, [*rcols, *ccols, value], f"a long table with {rcols + ccols + [value]}")
        t = table.assign(_row=_label_of(table, rcols), _col=_label_of(table, ccols))
        row_labels = list(dict.fromkeys(t.sort_values(rcols, kind="mergesort")["_row"]))
        col_labels = list(dict.fromkeys(t.sort_values(ccols, kind="mergesort")["_col"]))
        cells = t.groupby(["_row", "_col"])[value].mean()
        z = np.full((len(row_labels), len(col_labels)), np.nan)
        for (r, c), v in cells.items():
            z[row_labels.index(r), col_labels.index(c)] = v
    half = float(zmax) if zmax is not None else style.symmetric_range(z.ravel())
    write = text if text is not None else z.size <= 400
    fig = go.Figure(go.Heatmap(
        z=z, x=col_labels, y=row_labels, colorscale=style.DIVERGING, zmid=0, zmin=-half, zmax=half, name=value,
        xgap=1, ygap=1, colorbar=dict(title=dict(text=value)),
        text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}")(z).tolist() if write else None,
        texttemplate="%{text}" if write else None, textfont=dict(size=11),
        hovertemplate="%{y}<br>%{x}<br>" + value + ": %{z:.3f}<extra></extra>",
    ))
    # The layout is budgeted from the labels, so that none overlaps another and the title is whole:
    # column labels wider than a cell are slanted (or upright when long), the margins hold the
    # longest labels and the colour bar, and the figure widens (or the title wraps) to hold the title.
    side = 42 if write else 18
    tick = 12
    col_w = max(style.text_width(c, tick) for c in col_labels)
    row_w = max(style.text_width(r, tick) for r in row_labels)
    angle = 0 if col_w <= side - 4 else (-45 if col_w <= 160 else -90)
    drop = {0: tick + 4, -45: 0.71 * (col_w + tick), -90: col_w}[angle]
    left = max(row_w + 24, 0.71 * col_w - side / 2 + 16 if angle == -45 else 0, 60)
    bar = 40 + max(style.text_width(value, 20), style.text_width("-0.5", tick))
    width = max(420, int(left + side * len(col_labels) + bar + 30))
    bottom = int(drop + 24)
    height = max(300, int(72 + side * len(row_labels) + bottom))
    fig.update_yaxes(autorange="reversed", showgrid=False, type="category", tickfont=dict(size=tick))
    fig.update_xaxes(showgrid=False, type="category", tickangle=angle, tickfont=dict(size=tick))
    style.finish(fig, title=None, width=width, height=height, margin=dict(l=int(left), r=int(bar + 30), t=72, b=bottom))
    wider = style.fit_title(fig, title or f"{value.capitalize()} matrix", width)
    fig.update_layout(margin=dict(r=int(wider - left - side * len(col_labels))))  # cells keep their size; the slack is at the right
    return fig


def lora_cosine_matrix(
    table: DataFrame, *, side: str | None = None, vector: str | None = None, title: str | None = None
) -> Figure:
    """LoRA write/read directions against textual vectors: one row per adapter pair, one column per vector.

    Built against ``interp.analysis.lora_directions.compare_directions`` as it stood uncommitted when this
    was written (``module``, ``layer``, ``kind``, ``side``, ``rank_index``, ``vector``,
    ``cosine``). Rows read ``"write L1 o_proj r0"``: side, the module's layer, its kind and the
    pair's rank index.

    Args:
        table: a ``compare_directions`` table.
        side, vector: keep only ``"write"`` or ``"read"`` pairs, or one vector.

    Example:
        >>> lora_cosine_matrix(compare_directions(pairs, {"counting": v}), side="write")   # doctest: +SKIP
    """
    table = style.require(table, ["layer", "kind", "rank_index", "vector", "cosine"], "a lora compare_directions() table")
    table = style.select_rows(table, {"side": side, "vector": vector})
    rows = [c for c in ("side", "layer", "kind", "rank_index") if c in table.columns]
    return cosine_matrix(table, rows=rows, columns="vector", value="cosine",
                         title=title or "LoRA directions vs textual vectors (cosine)")


__all__ = ["attribution_heatmap", "cosine_matrix", "lora_cosine_matrix", "patching_heatmap"]
