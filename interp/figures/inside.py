"""Figures of the analyses in ``interp.analysis``: curves per layer and maps over the image patch
grid (layer x position heatmaps and cosine matrices are in ``interp.figures.heatmaps``). No model is run: every factory takes the tidy table an analysis returned.

- ``alignment_curves`` (``vector_alignment``), ``variance_share_curves`` (``variance_share``),
  ``modality_gap_curves`` (``modality_gap``; the gap of Liang et al. 2022) and
  ``isomorphic_curves`` (``IsomorphicResult.similarity``): one value per layer;
- ``patch_map``, with ``projection_map`` (``projection``) and ``logit_lens_map`` (``logit_lens``
  top-1 tokens or ``word_ranks``; nostalgebraist 2020): a value per image patch, rows x cols;

Example:
    >>> from interp.figures import projection_map, patching_heatmap      # doctest: +SKIP
    >>> projection_map(projection(mllm, v, items, layers=[1])).show()     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.analysis import IsomorphicResult
    from interp.types import DataFrame, Figure

from interp.figures import style


def _facets(table: Any, column: str | None) -> list[Any]:
    return style.ordered(table[column]) if column and column in table.columns else [None]


def _subplots(make_subplots: Any, titles: list[str], *, shared_y: bool = True, spacing: float = 0.06) -> Any:
    return make_subplots(rows=1, cols=len(titles), subplot_titles=titles, shared_yaxes=shared_y,
                         horizontal_spacing=spacing)


# -- curves per layer ------------------------------------------------------------------------------
def alignment_curves(
    table: DataFrame, *, value: str = "mean_cos", vector: str | None = None, title: str | None = None
) -> Figure:
    """Cosine between a textual vector and the activations, per layer and token kind.

    Args:
        table: ``interp.analysis.vector_alignment`` output (``layer``, ``kind``, ``mean_cos``,
            ``std_cos``, ``cos_of_mean``); with a ``vector`` column, one panel per vector.
        value: ``"mean_cos"`` (mean over tokens, band +- one standard deviation) or
            ``"cos_of_mean"`` (cosine with the kind's mean activation).
        vector: keep only this vector's rows.

    Returns:
        A Figure with one line per token kind (named by the kind) in each panel.

    Example:
        >>> alignment_curves(vector_alignment(mllm, v, items))   # doctest: +SKIP
    """
    if value not in ("mean_cos", "cos_of_mean"):
        raise ValueError(f"value must be 'mean_cos' or 'cos_of_mean', got {value!r}")
    table = style.require(table, ["layer", "kind", value], "a vector_alignment() table")
    table = style.select_rows(table, {"vector": vector})
    go, make_subplots = style.plotly_modules()
    panels = _facets(table, "vector")
    fig = _subplots(make_subplots, [str(p) if p is not None else "" for p in panels])
    kinds = style.ordered(table["kind"], style.SELECTOR_ORDER)
    shown: set[str] = set()
    for i, p in enumerate(panels, start=1):
        sub = table if p is None else table[table["vector"] == p]
        for k in kinds:
            line = sub[sub["kind"] == k].sort_values("layer")
            if line.empty:
                continue
            color = style.SELECTOR_COLORS.get(k, style.PALETTE[kinds.index(k) % len(style.PALETTE)])
            y = line[value].to_numpy(float)
            if value == "mean_cos" and "std_cos" in line.columns:
                sd = np.nan_to_num(line["std_cos"].to_numpy(float))
                for t in style.band(go, line["layer"], y - sd, y + sd, color, f"{k} ± 1 sd", legendgroup=k):
                    fig.add_trace(t, row=1, col=i)
            fig.add_trace(go.Scatter(x=line["layer"], y=y, mode="lines+markers", name=str(k), legendgroup=k,
                                     showlegend=k not in shown, line=dict(color=color, width=2)), row=1, col=i)
            shown.add(k)
        fig.add_hline(y=0, line=dict(color="#999999", width=1), row=1, col=i)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="cosine with vector" if value == "mean_cos" else "cosine of mean with vector", row=1, col=1)
    return style.finish(fig, title=title or "Textual vector vs activations", width=160 + 300 * len(panels), height=420)


def variance_share_curves(
    table: DataFrame, *, facet: str = "kind", title: str | None = None
) -> Figure:
    """Variance of the tokens along each vector, relative to a random direction's, per layer.

    The y value is ``share / uniform`` (``share x d_model``): 1 is what a random direction
    captures on average; the grey band is the random directions' mean +- 2 sd on the same scale,
    its lower edge clipped at 0 (a variance share cannot be negative; the y axis starts at 0).

    Args:
        table: ``interp.analysis.variance_share`` output (``layer``, ``kind``, ``share``,
            ``random_mean``, ``random_std``, ``uniform``); with a ``vector`` column (as the
            demo writes it) one line per vector.
        facet: the column split into panels (``"kind"``; None: one panel).

    Returns:
        A Figure with one line per vector (named by it, or ``"vector"``), a ``"random directions"``
        band and a ``"random (expected)"`` line at 1 in each panel.

    Example:
        >>> variance_share_curves(variance_share(mllm, v, items, kinds=["image", "text"]))   # doctest: +SKIP
    """
    table = style.require(table, ["layer", "share", "random_mean", "random_std", "uniform"], "a variance_share() table")
    go, make_subplots = style.plotly_modules()
    panels = _facets(table, facet)
    fig = _subplots(make_subplots, [f"{p} tokens" if facet == "kind" else str(p) for p in panels] if panels != [None] else [""])
    vectors = style.ordered(table["vector"]) if "vector" in table.columns else [None]
    methods = None
    if "vector" in table.columns and "method" in table.columns:
        per = table.drop_duplicates("vector").set_index("vector")["method"]
        if per.nunique() == len(per):
            methods = per
    colors = style.color_map(vectors) if methods is None else {v: style.color_map(list(methods), "method")[methods[v]] for v in vectors}
    shown: set[str] = set()
    for i, p in enumerate(panels, start=1):
        sub = table if p is None else table[table[facet] == p]
        rnd = sub.groupby("layer", sort=True)[["random_mean", "random_std", "uniform"]].mean()
        mid = (rnd["random_mean"] / rnd["uniform"]).to_numpy(float)
        sd = (rnd["random_std"] / rnd["uniform"]).to_numpy(float)
        color = style.CONDITION_COLORS["random"]
        # a share of variance cannot be negative: the band's lower edge stops at 0
        for t in style.band(go, rnd.index, np.clip(mid - 2 * sd, 0.0, None), mid + 2 * sd, color, "random directions",
                      legendgroup="random"):
            fig.add_trace(t, row=1, col=i)
        fig.add_trace(go.Scatter(x=list(rnd.index), y=[1.0] * len(rnd), mode="lines", name="random (expected)",
                                 legendgroup="random", showlegend="random" not in shown,
                                 line=dict(color=color, dash="dot", width=1.5)), row=1, col=i)
        shown.add("random")
        for v in vectors:
            line = (sub if v is None else sub[sub["vector"] == v]).sort_values("layer")
            if line.empty:
                continue
            name = "vector" if v is None else str(v)
            fig.add_trace(go.Scatter(
                x=line["layer"], y=(line["share"] / line["uniform"]).to_numpy(float), mode="lines+markers",
                name=name, legendgroup=name, showlegend=name not in shown, line=dict(color=colors[v], width=2),
                customdata=line["share"].to_numpy(float),
                hovertemplate=name + "<br>layer %{x}: %{y:.2f} x random (share %{customdata:.4f})<extra></extra>",
            ), row=1, col=i)
            shown.add(name)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="variance along vector / random", row=1, col=1)
    fig.update_yaxes(rangemode="nonnegative")
    return style.finish(fig, title=title or "Variance share along textual vectors", width=200 + 320 * len(panels), height=420)


def modality_gap_curves(table: DataFrame, *, title: str | None = None) -> Figure:
    """The modality gap per layer: image vs text tokens (cosine and CKA; distance and norms).

    Args:
        table: ``interp.analysis.modality_gap`` output (``layer``, ``cosine``, ``cka``,
            ``distance``, ``norm_image``, ``norm_text``).

    Returns:
        A Figure with two panels: ``"cosine of means"`` and ``"CKA"`` lines; ``"distance"``,
        ``"|mean image|"`` and ``"|mean text|"`` lines.

    Example:
        >>> modality_gap_curves(modality_gap(mllm, items))   # doctest: +SKIP
    """
    table = style.require(table, ["layer", "cosine", "cka", "distance", "norm_image", "norm_text"], "a modality_gap() table")
    go, make_subplots = style.plotly_modules()
    t = table.sort_values("layer")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["similarity", "distance and norms"], horizontal_spacing=0.12)
    lines = [
        (1, "cosine", "cosine of means", style.CONDITION_COLORS["steered"], "solid"),
        (1, "cka", "CKA", style.SELECTOR_COLORS["both"], "dash"),
        (2, "distance", "distance", style.CONDITION_COLORS["unsteered"], "solid"),
        (2, "norm_image", "|mean image|", style.SELECTOR_COLORS["image"], "dot"),
        (2, "norm_text", "|mean text|", style.SELECTOR_COLORS["text"], "dot"),
    ]
    for col, key, name, color, dash in lines:
        fig.add_trace(go.Scatter(x=t["layer"], y=t[key].to_numpy(float), mode="lines+markers", name=name,
                                 line=dict(color=color, dash=dash, width=2)), row=1, col=col)
    fig.update_xaxes(title_text="layer", dtick=1)
    fig.update_yaxes(title_text="image vs text tokens", row=1, col=1)
    fig.update_yaxes(title_text="euclidean", row=1, col=2)
    return style.finish(fig, title=title or "Modality gap", width=860, height=420)


def isomorphic_curves(
    similarity: DataFrame | IsomorphicResult, *, n: int | None = None, title: str | None = None
) -> Figure:
    """Per layer, how close the same scene's image run and text runs are (``isomorphic``).

    Pairs of runs whose curves are the same (a frozen language model gives the MLLM's text run
    and the backbone's text run identical states) are drawn as one line named by every pair it
    stands for, so that no legend entry's line is hidden under another's.

    Args:
        similarity: ``IsomorphicResult.similarity`` (``layer``, ``a``, ``b``, ``cos_mean``,
            ``cos_std``, ``cka``) or the ``IsomorphicResult`` itself.
        n: the number of scenes the curves are over, for the title (default: the result's
            items when an ``IsomorphicResult`` is given, or a table's ``n`` column).

    Returns:
        A Figure with two panels (mean cosine with a +- 1 sd band; CKA), one line per distinct
        curve, named ``"<a> vs <b>"`` (``" = "`` between pairs that coincide); the title gives n.

    Example:
        >>> isomorphic_curves(isomorphic(mllm, items, backbone=backbone))   # doctest: +SKIP
    """
    if n is None and hasattr(similarity, "items") and hasattr(similarity, "similarity"):
        items = similarity.items
        n = int(items["item"].nunique()) if items is not None and "item" in items else None
    if hasattr(similarity, "similarity"):
        similarity = similarity.similarity
    table = style.require(similarity, ["layer", "a", "b", "cos_mean", "cka"], "IsomorphicResult.similarity")
    if n is None and "n" in table.columns:
        n = int(table["n"].max())
    go, make_subplots = style.plotly_modules()
    fig = make_subplots(rows=1, cols=2, subplot_titles=["cosine of last-token states", "CKA"], horizontal_spacing=0.12)
    curves: list[tuple[list[str], Any]] = []  # (the pairs' names, their rows): coinciding pairs share one curve
    for a, b in dict.fromkeys(zip(table["a"], table["b"])):
        line = table[(table["a"] == a) & (table["b"] == b)].sort_values("layer")
        same = next((c for c in curves if _same_curve(c[1], line)), None)
        if same is None:
            curves.append(([f"{a} vs {b}"], line))
        else:
            same[0].append(f"{a} vs {b}")
    names = [" = ".join(pairs) for pairs, _ in curves]
    colors = style.color_map(names)
    for name, (_, line) in zip(names, curves):
        y = line["cos_mean"].to_numpy(float)
        if "cos_std" in line.columns:
            sd = np.nan_to_num(line["cos_std"].to_numpy(float))
            for t in style.band(go, line["layer"], y - sd, y + sd, colors[name], f"{name} ± 1 sd", legendgroup=name):
                fig.add_trace(t, row=1, col=1)
        fig.add_trace(go.Scatter(x=line["layer"], y=y, mode="lines+markers", name=name, legendgroup=name,
                                 line=dict(color=colors[name], width=2)), row=1, col=1)
        fig.add_trace(go.Scatter(x=line["layer"], y=line["cka"].to_numpy(float), mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=False, line=dict(color=colors[name], width=2, dash="dash")),
                      row=1, col=2)
    fig.update_xaxes(title_text="layer", dtick=1)
    head = title or "Image vs text renderings of the same scene"
    if n is not None and title is None:
        head += f" · n = {n} scenes"
    # the legend sits under the panels, one entry per row: a long joined name never runs over another
    fig.update_layout(legend=dict(orientation="v", x=0, xanchor="left", y=-0.22, yanchor="top"))
    height = 420 + 22 * len(names)
    style.finish(fig, title=None, width=880, height=height, margin=dict(b=90 + 22 * len(names)))
    style.fit_title(fig, head, 880)
    return fig


def _same_curve(a: Any, b: Any) -> bool:
    """Two pairs' rows draw the same curve: the same layers and equal cosines and CKA (to 1e-9)."""
    if list(a["layer"]) != list(b["layer"]):
        return False
    return all(np.allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True)
               for c in ("cos_mean", "cka"))


# -- maps over the image patch grid ----------------------------------------------------------------
def _with_patches(table: Any, grid: tuple[int, int] | None) -> Any:
    """The image rows of ``table`` with ``patch_row``/``patch_col``: as given, or from ``grid``
    and the order of each item's image positions (image tokens are the patch grid, row-major)."""
    if "kind" in table.columns:
        table = table[table["kind"] == "image"]
        if table.empty:
            raise ValueError("the table has no image-token rows (kind == 'image'): nothing to map on the patch grid")
    if {"patch_row", "patch_col"} <= set(table.columns):
        table = table[table["patch_row"] >= 0]
        if table.empty:
            raise ValueError("no image token of the table has a patch cell (patch_row is -1 everywhere)")
        return table
    if grid is None:
        raise ValueError("the table has no patch_row/patch_col columns: pass grid=(rows, cols) "
                         "(interp.analysis.image_grid(mllm)) to place image tokens on the patch grid")
    rows, cols = (int(g) for g in grid)
    if rows < 1 or cols < 1:
        raise ValueError(f"grid must be two positive ints (rows, cols), got {grid!r}")
    style.require(table, ["item", "position"], "a table with item and position columns")
    keys = [c for c in ("item", "corrupt", "pair", "layer", "word", "rank") if c in table.columns]
    t = table.sort_values([*keys, "position"]).copy()
    patch = t.groupby(keys, sort=False).cumcount().to_numpy()
    t["patch"] = patch
    t["patch_row"] = (patch % (rows * cols)) // cols
    t["patch_col"] = patch % cols
    return t


def patch_map(
    table: DataFrame,
    *,
    value: str,
    layers: Sequence[int] | int | None = None,
    item: str | None = None,
    text: str | None = None,
    grid: tuple[int, int] | None = None,
    colorscale: str | None = None,
    zmid: float | None = None,
    title: str | None = None,
) -> Figure:
    """A value over the image patch grid (rows x cols), one panel per layer, averaged over items.

    Position tables from ``interp.analysis`` carry ``patch_row``/``patch_col`` (see
    ``position_frame``); tables without them (e.g. ``gradient_x_activation``) are placed with
    ``grid=(rows, cols)`` from the order of each item's image positions.

    Args:
        table: one row per (item, image position, layer) with ``value``; ``kind`` (only
            ``"image"`` rows are used) and ``layer`` are used when present.
        value: the column to map (``"projection"``, ``"prob"``, ``"attribution"``, ...).
        layers: the layers to draw (default: all in the table).
        item: one item's map instead of the mean over items.
        text: a column written on each patch (the most frequent value across items).
        grid: ``(rows, cols)`` of the patch grid, for tables without patch columns.
        colorscale, zmid: the colour scale (default: diverging around ``zmid`` when given,
            else sequential).

    Returns:
        A Figure with one ``Heatmap`` per layer (named ``"L<layer>"``), row 0 at the top.

    Example:
        >>> patch_map(gxa_table, value="attribution", grid=image_grid(mllm), zmid=0)   # doctest: +SKIP
    """
    table = style.require(table, [value], f"a table with a {value!r} column")
    table = _with_patches(table, grid)
    table = style.select_rows(table, {"item": item})
    if layers is not None and "layer" in table.columns:
        wanted = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
        missing = [la for la in wanted if la not in set(table["layer"])]
        if missing:
            raise ValueError(f"layers {missing} are not in the table (it has layers {style.ordered(table['layer'])})")
        table = table[table["layer"].isin(wanted)]
    go, make_subplots = style.plotly_modules()
    panels = _facets(table, "layer")
    n_rows = int(table["patch_row"].max()) + 1
    n_cols = int(table["patch_col"].max()) + 1
    fig = _subplots(make_subplots, [style.value_label("layer", p) if p is not None else "" for p in panels],
                    shared_y=True, spacing=0.03)
    all_z = []
    for i, p in enumerate(panels, start=1):
        sub = table if p is None else table[table["layer"] == p]
        z = np.full((n_rows, n_cols), np.nan)
        mean = sub.groupby(["patch_row", "patch_col"])[value].mean()
        for (r, c), v in mean.items():
            z[int(r), int(c)] = v
        labels = None
        if text is not None:
            style.require(sub, [text], f"a table with a {text!r} column")
            labels = np.full((n_rows, n_cols), "", dtype=object)
            modes = sub.groupby(["patch_row", "patch_col"])[text].agg(lambda s: s.astype(str).mode().iloc[0])
            for (r, c), t in modes.items():
                labels[int(r), int(c)] = t
        all_z.append(z)
        fig.add_trace(go.Heatmap(
            z=z, x=list(range(n_cols)), y=list(range(n_rows)), coloraxis="coloraxis",
            name=style.value_label("layer", p) if p is not None else value, xgap=1, ygap=1,
            text=labels.tolist() if labels is not None else None,
            texttemplate="%{text}" if labels is not None else None, textfont=dict(size=12),
            hovertemplate="row %{y}, col %{x}<br>" + value + ": %{z:.3g}<extra></extra>",
        ), row=1, col=i)
    fig.update_xaxes(title_text="patch column", dtick=1, showgrid=False, constrain="domain")
    fig.update_yaxes(autorange="reversed", dtick=1, showgrid=False, constrain="domain")
    fig.update_yaxes(title_text="patch row", row=1, col=1)
    for i in range(1, len(panels) + 1):
        fig.update_yaxes(scaleanchor=f"x{'' if i == 1 else i}", row=1, col=i)
    values = np.concatenate([z.ravel() for z in all_z])
    axis: dict[str, Any] = dict(colorbar=dict(title=dict(text=value)))
    if zmid is not None:
        half = style.symmetric_range(values - zmid)
        axis.update(colorscale=colorscale or style.DIVERGING, cmid=zmid, cmin=zmid - half, cmax=zmid + half)
    else:
        axis.update(colorscale=colorscale or style.SEQUENTIAL)
    fig.update_layout(coloraxis=axis)
    what = f"item {item}" if item is not None else "mean over items"
    side = max(180, min(320, 40 * n_cols))
    return style.finish(fig, title=title or f"{value} over the image patches ({what})",
                  width=160 + (side + 30) * len(panels), height=side + 170)


def projection_map(
    table: DataFrame, *, layers: Sequence[int] | int | None = None, item: str | None = None,
    value: str = "projection", title: str | None = None,
) -> Figure:
    """Where on the image a vector lights up: ``interp.analysis.projection`` over the patch grid.

    Args:
        table: a ``projection()`` table.
        value: ``"projection"`` (h . v/|v|), ``"cosine"`` or ``"norm"``.

    Example:
        >>> projection_map(projection(mllm, v, items, layers=[0, 1]))   # doctest: +SKIP
    """
    if value not in ("projection", "cosine", "norm"):
        raise ValueError(f"value must be 'projection', 'cosine' or 'norm', got {value!r}")
    style.require(table, ["layer", "kind", "patch_row", "patch_col", value], "a projection() table")
    return patch_map(table, value=value, layers=layers, item=item, zmid=None if value == "norm" else 0.0,
                     title=title or f"Projection on the vector ({value}) over the image patches")


def logit_lens_map(
    table: DataFrame, *, layers: Sequence[int] | int | None = None, item: str | None = None,
    word: str | None = None, value: str = "prob", title: str | None = None,
) -> Figure:
    """What each image patch "says" under the logit lens, per layer.

    A ``logit_lens`` table gives each patch's top-1 token (written on the patch, the most
    frequent one across items) coloured by its probability; a ``word_ranks`` table gives one
    word's ``prob`` (or ``rank``, or ``logit``) per patch (``word=`` picks it when there are several).

    Example:
        >>> logit_lens_map(logit_lens(mllm, items[:1], kinds=["image"], top_k=1))   # doctest: +SKIP
        >>> logit_lens_map(word_ranks(mllm, items, ["red", "blue"]), word="red")   # doctest: +SKIP
    """
    table = style.require(table, ["layer", "kind", "patch_row", "patch_col", value],
                    "a logit_lens() or word_ranks() table")
    if "pred_token" in table.columns:
        if "rank" in table.columns:
            table = table[table["rank"] == 1]
        return patch_map(table, value=value, layers=layers, item=item, text="pred_token",
                         title=title or f"Logit lens: top token per image patch ({value})")
    if "word" not in table.columns:
        raise ValueError("expected a logit_lens() table (pred_token column) or a word_ranks() table (word column)")
    words = style.ordered(table["word"])
    if word is None and len(words) > 1:
        raise ValueError(f"the table ranks several words {words}: pick one with word=")
    table = style.select_rows(table, {"word": word})
    w = word or words[0]
    return patch_map(table, value=value, layers=layers, item=item,
                     colorscale=style.SEQUENTIAL + ("_r" if value == "rank" else ""),
                     title=title or f"Logit lens: {value} of {w!r} per image patch")


__all__ = [
    "alignment_curves",
    "isomorphic_curves",
    "logit_lens_map",
    "modality_gap_curves",
    "patch_map",
    "projection_map",
    "variance_share_curves",
]
