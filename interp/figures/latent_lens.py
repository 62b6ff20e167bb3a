"""Figures of ``interp.analysis.latent_lens`` tables (LatentLens: Krojer et al. 2026, arXiv
2602.00462). No model is run: every factory takes the table ``latent_lens`` returned; plotly is
imported when a figure is built.

- ``latent_lens_map``: each image patch's nearest contextual text token, written on the patch
  and coloured by its cosine, one panel per layer (beside ``logit_lens_map``);
- ``latent_lens_layers``: which bank layer the nearest neighbours come from, per query layer
  (the paper's observation that visual tokens match text representations of other layers).

Example:
    >>> from interp.figures.latent_lens import latent_lens_map                 # doctest: +SKIP
    >>> latent_lens_map(latent_lens(mllm, items[:1], bank, kinds=["image"])).show()   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from interp.figures.inside import patch_map
from interp.figures.style import SEQUENTIAL, finish, ordered, plotly_modules, require

if TYPE_CHECKING:
    from interp.types import DataFrame, Figure

_NEEDS = ["layer", "rank", "neighbor_token", "similarity"]


def latent_lens_map(
    table: DataFrame, *, layers: Sequence[int] | int | None = None, item: str | None = None,
    title: str | None = None,
) -> Figure:
    """What each image patch is closest to under LatentLens, per layer.

    The top-1 neighbour token of each patch (the most frequent across items) is written on it,
    coloured by the mean top-1 cosine.

    Example:
        >>> latent_lens_map(latent_lens(mllm, items[:1], bank, layers=[0, 2], kinds=["image"]))  # doctest: +SKIP
    """
    table = require(table, [*_NEEDS, "kind", "patch_row", "patch_col"], "a latent_lens() table")
    table = table[table["rank"] == 1]
    return patch_map(table, value="similarity", layers=layers, item=item, text="neighbor_token",
                     title=title or "LatentLens: nearest contextual text token per image patch (cosine)")


def latent_lens_layers(table: DataFrame, *, kind: str | None = "image", title: str | None = None) -> Figure:
    """Share of top-1 neighbours drawn from each bank layer (x), per query layer (y).

    Args:
        table: a ``latent_lens()`` table.
        kind: keep only this token kind (``None``: all rows).

    Example:
        >>> latent_lens_layers(latent_lens(mllm, items, bank, kinds=["image"]))   # doctest: +SKIP
    """
    table = require(table, [*_NEEDS, "bank_layer"], "a latent_lens() table")
    if kind is not None and "kind" in table.columns:
        table = table[table["kind"] == kind]
        if table.empty:
            raise ValueError(f"the table has no rows of kind {kind!r}")
    top = table[table["rank"] == 1]
    layers = ordered(top["layer"])
    bank_layers = ordered(top["bank_layer"])
    share = top.groupby("layer")["bank_layer"].value_counts(normalize=True)
    z = np.zeros((len(layers), len(bank_layers)))
    for (la, bl), v in share.items():
        z[layers.index(la), bank_layers.index(bl)] = v
    go, _ = plotly_modules()
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(b) for b in bank_layers], y=[str(la) for la in layers], colorscale=SEQUENTIAL,
        zmin=0, zmax=1, xgap=1, ygap=1, colorbar=dict(title=dict(text="share")),
        hovertemplate="query layer %{y}, bank layer %{x}<br>share of top-1: %{z:.2f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="bank layer of the nearest text token", type="category", showgrid=False)
    fig.update_yaxes(title_text="query layer", type="category", autorange="reversed", showgrid=False)
    what = f" ({kind} tokens)" if kind is not None else ""
    return finish(fig, title=title or f"LatentLens: where the nearest text tokens come from{what}",
                  width=max(420, 200 + 60 * len(bank_layers)), height=max(300, 160 + 40 * len(layers)))


__all__ = ["latent_lens_layers", "latent_lens_map"]
