"""Alignment: how a textual vector sits in the MLLM's residual stream, token kind by token kind.

Textual steering (arXiv 2505.14071) adds a direction found on the text-only backbone to an MLLM's
image tokens; whether that can work depends on geometry. This module measures it:

- ``vector_alignment``: cosine between a vector and the activations at each layer, split by token
  kind (image, text, last), per token (mean and spread) and with the kind's mean activation;
- ``vector_similarity``: pairwise cosines between several vectors (methods, layers, concepts);
- ``modality_gap``: mean image-token vs mean text-token activation per layer (cosine, euclidean
  distance) and linear CKA (Kornblith et al. 2019) between the two sets; the modality gap itself
  is from Liang et al. 2022 ("Mind the Gap");
- ``variance_share``: the share of the tokens' variance along the vector vs along random unit
  directions (1/d_model expected for a random direction in an isotropic cloud).

Example:
    >>> df = vector_alignment(mllm, v, items, layers=[0, 1])   # doctest: +SKIP
    >>> df.pivot(index="layer", columns="kind", values="mean_cos")   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.common import (
    TOKEN_KINDS,
    check_kinds,
    cosine,
    direction_at,
    iter_encoded,
    kind_masks,
    linear_cka,
    trace_residuals,
    vector_layers,
)
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM
from interp.steering import VectorLike

if TYPE_CHECKING:
    from interp.vectors.vector import SteeringVector


def _tokens_by_kind(
    mllm: MLLM, items: Sequence[Item], layers: list[int], kinds: Sequence[str], batch_size: int, progress: bool,
    description: str,
) -> Iterator[tuple[int, str, Float[Tensor, "n d_model"]]]:
    """Batch by batch, ``(layer, kind, tokens)``: the residual stream at ``layer`` on the batch's
    tokens of ``kind`` (what ``vector_alignment`` and ``variance_share`` stream over)."""
    for _, inputs in iter_encoded(mllm, items, batch_size=batch_size, progress_bar=progress, description=description):
        acts, _ = trace_residuals(mllm, inputs, layers, logits=False)
        masks = kind_masks(mllm, inputs, kinds)
        for layer, h in acts.items():
            for k, m in masks.items():
                yield layer, k, h[m.cpu()]


def vector_alignment(
    mllm: MLLM,
    vector: VectorLike,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    kinds: Sequence[str] = TOKEN_KINDS,
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """Cosine between ``vector`` and the MLLM's activations per layer and token kind.

    Args:
        mllm: the model.
        vector: a ``SteeringVector`` (its direction at each layer) or a ``(d_model,)`` tensor
            (the same direction at every layer).
        items: the items whose prompts (with images) are run.
        layers: layers to measure (default: the vector's layers, or all for a tensor).
        kinds: token selectors to split by.
        allow_transfer: take a ``SteeringVector`` built on another model than ``mllm`` and its text
            backbone (a deliberate transfer experiment; ``interp.boundary``).

    Returns:
        One row per (layer, kind): ``layer``, ``kind``, ``n_tokens``, ``mean_cos``, ``std_cos``,
        ``min_cos``, ``max_cos`` (over the per-token cosines), ``cos_of_mean`` (cosine of the
        vector with the kind's mean activation), ``mean_norm`` (mean activation norm).

    Example:
        >>> vector_alignment(mllm, v, items, layers=[1])   # doctest: +SKIP
    """
    items = as_items(items)
    kinds = check_kinds(kinds)
    check_batch_size(batch_size)
    layer_list = vector_layers(mllm, vector, layers)
    dirs = {layer: direction_at(mllm, vector, layer, allow_transfer=allow_transfer) for layer in layer_list}
    cos: dict[tuple[int, str], list[Tensor]] = {(la, k): [] for la in layer_list for k in kinds}
    sums: dict[tuple[int, str], Tensor] = {}
    norms: dict[tuple[int, str], list[Tensor]] = {key: [] for key in cos}
    for layer, k, picked in _tokens_by_kind(mllm, items, layer_list, kinds, batch_size, progress, "alignment"):
        cos[(layer, k)].append(cosine(picked, dirs[layer].expand_as(picked)))
        norms[(layer, k)].append(picked.double().norm(dim=-1))
        total = picked.double().sum(0)
        sums[(layer, k)] = sums[(layer, k)] + total if (layer, k) in sums else total
    rows = []
    for (layer, k), parts in cos.items():
        c = torch.cat(parts)
        n = int(c.numel())
        mean = sums[(layer, k)] / n if n else None
        rows.append(
            {
                "layer": layer,
                "kind": k,
                "n_tokens": n,
                "mean_cos": float(c.mean()) if n else math.nan,
                "std_cos": float(c.std()) if n > 1 else math.nan,
                "min_cos": float(c.min()) if n else math.nan,
                "max_cos": float(c.max()) if n else math.nan,
                "cos_of_mean": float(cosine(mean, dirs[layer])) if mean is not None else math.nan,
                "mean_norm": float(torch.cat(norms[(layer, k)]).mean()) if n else math.nan,
            }
        )
    return pd.DataFrame(rows)


def vector_similarity(
    vectors: Sequence[SteeringVector] | Mapping[str, SteeringVector], *, layers: Iterable[int] | None = None
) -> pd.DataFrame:
    """Pairwise cosines between every (vector, layer) pair of several ``SteeringVector``s.

    Args:
        vectors: a list of ``SteeringVector`` (named ``concept/method``, numbered if repeated)
            or a ``{name: SteeringVector}`` mapping.
        layers: keep only these layers of each vector (default: all of each vector's layers).

    Returns:
        A long table, one row per ordered pair (both orders and the diagonal, ready to pivot
        into a heatmap): ``a``, ``layer_a``, ``method_a``, ``concept_a``, ``b``, ``layer_b``,
        ``method_b``, ``concept_b``, ``cosine``.

    Example:
        >>> vector_similarity({"ms": v_meanshift, "probe": v_probe})   # doctest: +SKIP
    """
    named = _named_vectors(vectors)
    keep = None if layers is None else set(layers)
    entries = []
    d_model = None
    for name, v in named.items():
        if not hasattr(v, "at") or not hasattr(v, "layers"):
            raise ValueError(f"vector {name!r} is a {type(v).__name__}: expected a SteeringVector")
        if d_model is None:
            d_model = v.d_model
        elif v.d_model != d_model:
            raise ValueError(f"vector {name!r} has d_model {v.d_model} but the first has {d_model}")
        chosen = [la for la in v.layers if keep is None or la in keep]
        for la in chosen:
            entries.append((name, la, v.meta.method, v.meta.concept, v.at(la).detach().double().cpu()))
    if not entries:
        raise ValueError(f"none of the vectors has any of the layers {sorted(keep or [])}")
    stack = torch.stack([e[4] for e in entries])
    sims = cosine(stack.unsqueeze(1), stack.unsqueeze(0))
    rows = []
    for i, (na, la, ma, ca, _) in enumerate(entries):
        for j, (nb, lb, mb, cb, _) in enumerate(entries):
            rows.append(
                {
                    "a": na, "layer_a": la, "method_a": ma, "concept_a": ca,
                    "b": nb, "layer_b": lb, "method_b": mb, "concept_b": cb,
                    "cosine": float(sims[i, j]),
                }
            )
    return pd.DataFrame(rows)


def _named_vectors(vectors: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(vectors, Mapping):
        named = {str(k): v for k, v in vectors.items()}
    else:
        named = {}
        for v in vectors:
            base = f"{v.meta.concept}/{v.meta.method}" if hasattr(v, "meta") else type(v).__name__
            name, i = base, 2
            while name in named:
                name, i = f"{base}#{i}", i + 1
            named[name] = v
    if not named:
        raise ValueError("no vectors given: expected a list or mapping of SteeringVectors")
    return named


def modality_gap(
    mllm: MLLM,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """The modality gap per layer: image-token vs text-token activations.

    Means are over all tokens of each kind (``"image"`` and ``"text"`` selectors) of all items.
    CKA has to compare paired rows, and an item has many more text than image tokens (or the
    reverse), so it is taken on the two sets' per-item means: row ``i`` of X is item ``i``'s mean
    image-token activation, row ``i`` of Y its mean text-token activation. It says whether items
    that differ in their image-token representation differ the same way in their text-token
    representation (NaN with fewer than 2 items).

    Returns:
        One row per layer: ``layer``, ``n_items``, ``n_image``, ``n_text`` (token counts),
        ``cosine`` (of the two means), ``distance`` (euclidean, between the means),
        ``norm_image``, ``norm_text`` (norms of the means), ``cka`` (linear CKA on per-item means).

    Example:
        >>> modality_gap(mllm, items)[["layer", "cosine", "cka"]]   # doctest: +SKIP
    """
    items = as_items(items)
    check_batch_size(batch_size)
    layer_list = vector_layers(mllm, None, layers)
    per_item: dict[tuple[int, str], list[Tensor]] = {(la, k): [] for la in layer_list for k in ("image", "text")}
    sums: dict[tuple[int, str], Tensor] = {}
    counts = {"image": 0, "text": 0}
    for _, inputs in iter_encoded(
        mllm, items, batch_size=batch_size, progress_bar=progress, description="modality gap"
    ):
        masks = kind_masks(mllm, inputs, ("image", "text"))
        empty = [k for k, m in masks.items() if not bool(m.any(dim=1).all())]
        if empty:
            raise ValueError(f"the modality gap needs image and text tokens in every item; some have no {empty[0]} token")
        acts, _ = trace_residuals(mllm, inputs, layer_list, logits=False)
        for k, m in masks.items():
            m = m.cpu()
            counts[k] += int(m.sum())
            for layer, h in acts.items():
                hd = h.double() * m.unsqueeze(-1)
                s = hd.sum(1)
                per_item[(layer, k)].append(s / m.sum(1, keepdim=True))
                sums[(layer, k)] = sums[(layer, k)] + s.sum(0) if (layer, k) in sums else s.sum(0)
    rows = []
    for layer in layer_list:
        mi = sums[(layer, "image")] / counts["image"]
        mt = sums[(layer, "text")] / counts["text"]
        xi = torch.cat(per_item[(layer, "image")])
        xt = torch.cat(per_item[(layer, "text")])
        rows.append(
            {
                "layer": layer,
                "n_items": len(items),
                "n_image": counts["image"],
                "n_text": counts["text"],
                "cosine": float(cosine(mi, mt)),
                "distance": float((mi - mt).norm()),
                "norm_image": float(mi.norm()),
                "norm_text": float(mt.norm()),
                "cka": _safe_cka(xi, xt),
            }
        )
    return pd.DataFrame(rows)


def _safe_cka(x: Tensor, y: Tensor) -> float:
    if x.shape[0] < 2:
        return math.nan
    try:
        return linear_cka(x, y)
    except ValueError:
        return math.nan


def variance_share(
    mllm: MLLM,
    vector: VectorLike,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    kinds: Sequence[str] = ("image",),
    n_random: int = 64,
    seed: int = 0,
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """Share of the tokens' variance along ``vector`` vs along random unit directions.

    For unit ``u`` and tokens ``h`` of a kind, share(u) = Var(h . u) / sum_i Var(h_i): the
    fraction of the total variance that lies along ``u``. A random direction takes 1/d_model
    on average (exactly, in expectation over directions); a direction the tokens vary along
    takes much more. Streams sums of projections, so memory does not grow with the items.
    ``allow_transfer`` takes a ``SteeringVector`` built on another model (``interp.boundary``).

    Returns:
        One row per (layer, kind): ``layer``, ``kind``, ``n_tokens``, ``share`` (the vector's),
        ``random_mean``, ``random_std`` (over ``n_random`` seeded random directions),
        ``uniform`` (1/d_model), ``ratio`` (share x d_model: 1 = like a random direction).

    Example:
        >>> variance_share(mllm, v, items)[["layer", "share", "uniform"]]   # doctest: +SKIP
    """
    items = as_items(items)
    kinds = check_kinds(kinds)
    check_batch_size(batch_size)
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 1:
        raise ValueError(f"n_random must be a positive int, got {n_random!r}")
    layer_list = vector_layers(mllm, vector, layers)
    gen = torch.Generator().manual_seed(seed)
    rand = torch.randn(mllm.d_model, n_random, generator=gen, dtype=torch.float64)
    rand = rand / rand.norm(dim=0, keepdim=True)
    basis = {}
    for layer in layer_list:
        u = direction_at(mllm, vector, layer, allow_transfer=allow_transfer).double()
        if float(u.norm()) == 0.0:
            raise ValueError(f"the vector is zero at layer {layer}: it has no direction")
        basis[layer] = torch.cat([(u / u.norm()).unsqueeze(1), rand], dim=1)
    acc: dict[tuple[int, str], dict[str, Any]] = {}
    for layer, k, tokens in _tokens_by_kind(mllm, items, layer_list, kinds, batch_size, progress, "variance share"):
        x = tokens.double()
        proj = x @ basis[layer]
        a = acc.setdefault((layer, k), {"n": 0, "s": 0.0, "sq": 0.0, "p": 0.0, "p2": 0.0})
        a["n"] += x.shape[0]
        a["s"] = a["s"] + x.sum(0)
        a["sq"] += float((x * x).sum())
        a["p"] = a["p"] + proj.sum(0)
        a["p2"] = a["p2"] + (proj * proj).sum(0)
    rows = []
    for (layer, k), a in sorted(acc.items()):
        n = a["n"]
        if n < 2:
            share = random_mean = random_std = math.nan
        else:
            mean = a["s"] / n
            total = a["sq"] / n - float(mean @ mean)
            var = a["p2"] / n - (a["p"] / n) ** 2
            shares = var / total
            share = float(shares[0])
            random_mean, random_std = float(shares[1:].mean()), float(shares[1:].std()) if n_random > 1 else 0.0
        rows.append(
            {
                "layer": layer,
                "kind": k,
                "n_tokens": n,
                "share": share,
                "random_mean": random_mean,
                "random_std": random_std,
                "uniform": 1.0 / mllm.d_model,
                "ratio": share * mllm.d_model,
            }
        )
    return pd.DataFrame(rows)


def alignment_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of a ``vector_alignment`` table to read at a glance. No model is run.

    Columns: ``vector`` (when the table has one, as ``interp analyze alignment`` adds),
    ``layer``, ``kind``, ``n_tokens``, ``mean_cos``, ``cos_of_mean``.

    Example:
        >>> alignment_summary(vector_alignment(mllm, v, items))   # doctest: +SKIP
    """
    return table[[*_vector_column(table), "layer", "kind", "n_tokens", "mean_cos", "cos_of_mean"]]


def variance_share_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of a ``variance_share`` table to read at a glance. No model is run.

    Columns: ``vector`` (when the table has one), ``layer``, ``kind``, ``share``,
    ``random_mean``, ``uniform``, ``ratio``.

    Example:
        >>> variance_share_summary(variance_share(mllm, v, items))   # doctest: +SKIP
    """
    return table[[*_vector_column(table), "layer", "kind", "share", "random_mean", "uniform", "ratio"]]


def modality_gap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of a ``modality_gap`` table to read at a glance. No model is run.

    Columns: ``layer``, ``n_items``, ``cosine``, ``distance``, ``cka``.

    Example:
        >>> modality_gap_summary(modality_gap(mllm, items))   # doctest: +SKIP
    """
    return table[["layer", "n_items", "cosine", "distance", "cka"]]


def _vector_column(table: pd.DataFrame) -> list[str]:
    return ["vector"] if "vector" in table.columns else []


__all__ = [
    "alignment_summary",
    "modality_gap",
    "modality_gap_summary",
    "variance_share",
    "variance_share_summary",
    "vector_alignment",
    "vector_similarity",
]
