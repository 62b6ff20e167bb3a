"""Projection: how much of each token's activation lies along a vector, and where on the image.

The scalar projection ``h . v / |v|`` of the residual stream onto a direction is the basic read-out
of linear-representation work (e.g. Park et al. 2023, "The Linear Representation Hypothesis";
Zou et al. 2023, "Representation Engineering", which reads concepts by projection). For image
tokens it becomes a map over the patch grid (rows x cols): where in the picture does the textual
direction light up?

Example:
    >>> df = projection(mllm, v, items, layers=[1])   # doctest: +SKIP
    >>> patch_grid(df, layer=1)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import torch

from interp.analysis.common import (
    POSITION_KINDS,
    check_kinds,
    cosine,
    direction_at,
    iter_encoded,
    position_frame,
    trace_residuals,
    vector_layers,
)
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM
from interp.steering import VectorLike


def projection(
    mllm: MLLM,
    vector: VectorLike,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    kinds: Sequence[str] = ("image", "text", "last"),
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """Component of the activations along ``vector`` at every selected position and layer.

    Args:
        mllm: the model.
        vector: a ``SteeringVector`` (its direction at each layer) or a ``(d_model,)`` tensor.
        items: the items to run (with their images).
        layers: default: the vector's layers (all layers for a tensor).
        kinds: which positions to keep (``"image"``, ``"text"``, ``"last"``, ``"special"``).
        allow_transfer: take a ``SteeringVector`` built on another model than ``mllm`` and its text
            backbone (a deliberate transfer experiment; ``interp.boundary``).

    Returns:
        One row per (item, position, layer): ``item``, ``task``, ``position`` (index among the
        row's real tokens), ``token``, ``kind``, ``patch``, ``patch_row``, ``patch_col`` (-1 off
        the image), ``layer``, ``projection`` (h . v/|v|), ``norm`` (|h|), ``cosine``.

    Example:
        >>> projection(mllm, v, items[:1], layers=[0], kinds=["image"])   # doctest: +SKIP
    """
    items = as_items(items)
    kinds = check_kinds(kinds, POSITION_KINDS)
    check_batch_size(batch_size)
    layer_list = vector_layers(mllm, vector, layers)
    units = {}
    for layer in layer_list:
        v = direction_at(mllm, vector, layer, allow_transfer=allow_transfer).double()
        if float(v.norm()) == 0.0:
            raise ValueError(f"the vector is zero at layer {layer}: it has no direction to project on")
        units[layer] = v / v.norm()
    frames = []
    for chunk, inputs in iter_encoded(
        mllm, items, batch_size=batch_size, progress_bar=progress, description="projection"
    ):
        acts, _ = trace_residuals(mllm, inputs, layer_list, logits=False)
        pos = position_frame(mllm, inputs, chunk)
        pos = pos[pos.kind.isin(kinds)].reset_index(drop=True)
        if pos.empty:
            continue
        task = {it.id: it.task for it in chunk}
        pos.insert(1, "task", pos.item.map(task))
        rows = torch.tensor(pos.row.tolist(), dtype=torch.long)
        cols = torch.tensor(pos.pos.tolist(), dtype=torch.long)
        base = pos[["item", "task", "position", "token", "kind", "patch", "patch_row", "patch_col"]]
        for layer, h in acts.items():
            x = h[rows, cols].double()
            frame = base.copy()
            frame["layer"] = layer
            frame["projection"] = (x @ units[layer]).tolist()
            frame["norm"] = x.norm(dim=-1).tolist()
            frame["cosine"] = cosine(x, units[layer].expand_as(x)).tolist()
            frames.append(frame)
    cols_out = [
        "item", "task", "position", "token", "kind", "patch", "patch_row", "patch_col",
        "layer", "projection", "norm", "cosine",
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols_out)


def patch_grid(
    table: pd.DataFrame, *, layer: int, value: str = "projection", item: str | None = None
) -> pd.DataFrame:
    """The image tokens of a ``projection`` table as a (rows x cols) grid of ``value``.

    Averages over items unless ``item`` names one. No model is run.

    Returns:
        A DataFrame indexed by ``patch_row`` with one column per ``patch_col``.

    Example:
        >>> patch_grid(projection(mllm, v, items, layers=[1]), layer=1)   # doctest: +SKIP
    """
    needed = {"layer", "kind", "patch_row", "patch_col", "item", value}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks columns {sorted(missing)}: expected a projection() table")
    sub = table[(table.kind == "image") & (table.layer == layer) & (table.patch_row >= 0)]
    if item is not None:
        sub = sub[sub.item == item]
    if sub.empty:
        what = f"item {item!r} at " if item is not None else ""
        raise ValueError(f"no image tokens for {what}layer {layer} in the table (layers: {sorted(table.layer.unique())})")
    return sub.pivot_table(index="patch_row", columns="patch_col", values=value, aggfunc="mean")


def projection_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean projection and cosine per (vector, layer, kind) of a ``projection`` table. No model is run.

    Columns: ``vector`` (when the table has one, as ``interp analyze projection`` adds),
    ``layer``, ``kind``, ``n`` (tokens), ``projection``, ``cosine``.

    Example:
        >>> projection_summary(projection(mllm, v, items, layers=[0]))   # doctest: +SKIP
    """
    keys = [*(["vector"] if "vector" in table.columns else []), "layer", "kind"]
    return table.groupby(keys, sort=True).agg(
        n=("projection", "size"), projection=("projection", "mean"), cosine=("cosine", "mean")
    ).reset_index()


__all__ = ["patch_grid", "projection", "projection_summary"]
