"""LoRA pairs beside textual steering vectors: do an adapter's writes and reads point where the vectors do?

Each pair ``(b_i, a_i)`` of ``lora_pairs`` (``interp.analysis.lora``, where the correspondence
with conditional steering is laid out) *writes* along ``b_i`` and *reads* along ``a_i``.
``compare_directions`` gives the cosine of every write and read with textual vectors at the
stream layer it writes to or reads from, against isotropic random directions; ``span_angles``
gives the principal angles (Björck & Golub 1973) between the span of a module's writes (or
reads) and a set of vectors; ``lora_summary`` reads a ``compare_directions`` table at a glance.

Example:
    >>> pairs = lora_pairs("runs/count-lora")                               # doctest: +SKIP
    >>> lora_summary(compare_directions(pairs, {"counting": counting_vector}))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.lora import LoraPairs, _layer_of
from interp.vectors.vector import SteeringVector


def _vectors(vectors: SteeringVector | Mapping[str, SteeringVector]) -> dict[str, SteeringVector]:
    if isinstance(vectors, SteeringVector):
        return {vectors.meta.concept: vectors}
    if isinstance(vectors, Mapping) and vectors and all(isinstance(v, SteeringVector) for v in vectors.values()):
        return dict(vectors)
    raise ValueError("vectors must be a SteeringVector or a non-empty {name: SteeringVector} mapping")


def _directions(pairs: LoraPairs, module: str, side: str) -> Tensor:
    """``(r, d)`` directions of one side: writes ``b_i`` or reads ``a_i``."""
    return pairs.writes[module].T if side == "write" else pairs.reads[module]


def _stream_layer(layer: int, side: str) -> int:
    # a write of layer l lands in the stream after layer l; a read of layer l reads the stream
    # before it, the output of layer l - 1
    return layer if side == "write" else layer - 1


def compare_directions(
    pairs: LoraPairs,
    vectors: SteeringVector | Mapping[str, SteeringVector],
    *,
    sides: Sequence[str] = ("write", "read"),
    n_random: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Cosine of every write ``b_i`` and read ``a_i`` with textual vectors, against random directions.

    A write of a layer-``l`` module is compared with the vector at layer ``l`` (the stream it
    writes to), a read with the vector at layer ``l - 1`` (the stream it reads, through the
    layer's norm); pairs whose side is not ``d_model``-sized (q/k/v writes, down_proj reads) or
    whose stream layer the vector lacks are left out.

    Returns:
        One row per (module, rank index, side, vector): ``module``, ``layer``, ``kind``,
        ``side``, ``rank_index``, ``vector``, ``vector_layer``, ``cosine``, ``abs_cosine``,
        ``random_abs_mean`` and ``random_abs_q95`` (|cosine| of ``n_random`` isotropic random
        directions with the same vector), ``gain`` (the pair's ``tau |b_i| |a_i|``).

    Example:
        >>> df = compare_directions(pairs, {"counting": v})              # doctest: +SKIP
        >>> df.groupby(["kind", "side"]).abs_cosine.max()               # doctest: +SKIP
    """
    named = _vectors(vectors)
    bad = [s for s in sides if s not in ("write", "read")]
    if bad or not sides:
        raise ValueError(f"sides must be 'write' and/or 'read', got {list(sides)!r}")
    gen = torch.Generator().manual_seed(seed)
    baselines: dict[tuple[str, int], tuple[float, float]] = {}
    rows = []
    for module in pairs.modules:
        layer = _layer_of(module)
        sub = pairs.table[pairs.table.module == module]
        for side in sides:
            dirs = _directions(pairs, module, side)
            for name, vec in named.items():
                vl = _stream_layer(layer, side)
                if dirs.shape[1] != vec.d_model or vl not in vec.layers:
                    continue
                v = vec.at(vl).float()
                cos = (dirs @ v) / (dirs.norm(dim=1).clamp_min(1e-12) * v.norm())
                if (name, vl) not in baselines:
                    rnd = torch.randn(n_random, v.shape[0], generator=gen)
                    rc = ((rnd @ v) / (rnd.norm(dim=1) * v.norm())).abs()
                    baselines[(name, vl)] = (float(rc.mean()), float(rc.quantile(0.95)))
                mean, q95 = baselines[(name, vl)]
                for i in range(dirs.shape[0]):
                    rows.append({
                        "module": module, "layer": layer, "kind": module.rsplit(".", 1)[-1], "side": side,
                        "rank_index": i, "vector": name, "vector_layer": vl, "cosine": float(cos[i]),
                        "abs_cosine": abs(float(cos[i])), "random_abs_mean": mean, "random_abs_q95": q95,
                        "gain": float(sub.gain.iloc[i]),
                    })
    if not rows:
        raise ValueError(
            "no write or read direction has the vectors' size at a layer they cover: "
            f"vectors have d_model {sorted({v.d_model for v in named.values()})}"
        )
    return pd.DataFrame(rows)


def principal_angles(a: Float[Tensor, "d k"], b: Float[Tensor, "d m"]) -> Float[Tensor, " n"]:
    """Principal angles (degrees, ascending) between the column spans of ``a`` and ``b``.

    Björck & Golub 1973: the singular values of ``Q_a^T Q_b`` are the cosines of the angles.

    Example:
        >>> principal_angles(torch.eye(3)[:, :2], torch.eye(3)[:, 1:]).round()
        tensor([ 0., 90.])
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (d, k) and (d, m) with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(s)).float()


def span_angles(
    pairs: LoraPairs,
    vectors: Mapping[str, SteeringVector],
    *,
    side: Literal["write", "read"] = "write",
    n_random: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Principal angles between the span of each module's writes (or reads) and a set of vectors.

    At each module, the set is the vectors' directions at the stream layer of ``side`` (see
    ``compare_directions``). The baseline is the mean angle, index by index, between the same
    set and ``n_random`` random subspaces of the module's rank.

    Returns:
        One row per (module, angle index): ``module``, ``layer``, ``kind``, ``side``,
        ``index``, ``angle``, ``random_angle``, ``rank``, ``n_vectors``.

    Example:
        >>> span_angles(pairs, {"counting": v1, "spatial": v2}).query("index == 0")   # doctest: +SKIP
    """
    named = _vectors(vectors)
    if side not in ("write", "read"):
        raise ValueError(f"side must be 'write' or 'read', got {side!r}")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for module in pairs.modules:
        layer = _layer_of(module)
        dirs = _directions(pairs, module, side)
        vl = _stream_layer(layer, side)
        cols = [v.at(vl).float() for v in named.values() if vl in v.layers and v.d_model == dirs.shape[1]]
        if not cols:
            continue
        span = torch.stack(cols, dim=1)
        angles = principal_angles(dirs.T, span)
        rnd = torch.stack([
            principal_angles(torch.randn(dirs.shape[1], dirs.shape[0], generator=gen), span) for _ in range(n_random)
        ]).mean(0)
        for i, (ang, ra) in enumerate(zip(angles.tolist(), rnd.tolist())):
            rows.append({
                "module": module, "layer": layer, "kind": module.rsplit(".", 1)[-1], "side": side, "index": i,
                "angle": ang, "random_angle": ra, "rank": int(dirs.shape[0]), "n_vectors": len(cols),
            })
    if not rows:
        raise ValueError(f"no module's {side} directions have the vectors' size at a layer they cover")
    return pd.DataFrame(rows)


def lora_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The largest cosine per (vector, kind, side) of a ``compare_directions`` table, beside
    the random directions' 95th percentile. No model is run.

    Columns: ``vector``, ``kind``, ``side``, ``n`` (pairs), ``max_abs_cosine``,
    ``random_abs_q95`` (mean over the pairs).

    Example:
        >>> lora_summary(compare_directions(lora_pairs("adapter"), v))   # doctest: +SKIP
    """
    return table.groupby(["vector", "kind", "side"], sort=True).agg(
        n=("cosine", "size"), max_abs_cosine=("abs_cosine", "max"), random_abs_q95=("random_abs_q95", "mean")
    ).reset_index()


__all__ = ["compare_directions", "lora_summary", "principal_angles", "span_angles"]
