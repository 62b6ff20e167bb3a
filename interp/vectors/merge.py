"""Merging several concepts and layers into one intervention.

The paper steers one concept at one layer and leaves combining them open. Here a merge is a
per-layer weighted sum of vectors; with ``orthogonalize=True`` each vector first loses its
components along the vectors before it at that layer (Gram-Schmidt in the given order), so two
correlated concepts do not add the shared direction twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import torch

from interp.args import as_bool, as_float
from interp.vectors.vector import SteeringVector, VectorMeta, check_same_source


def merge(
    vectors: Sequence[SteeringVector],
    weights: Sequence[float] | None = None,
    *,
    orthogonalize: bool = False,
    name: str | None = None,
    allow_transfer: bool = False,
) -> SteeringVector:
    """One vector over the union of the inputs' layers: ``sum_i w_i v_i`` at each layer.

    Vectors built on different models are refused: their directions live in different spaces.
    ``allow_transfer=True`` merges them anyway (a transfer experiment); the result's source is
    then ``"mixed"`` and it steers only with ``allow_transfer=True`` too.

    Example:
        >>> a = SteeringVector.from_tensors({0: torch.tensor([1.0, 0.0])}, concept="a")
        >>> b = SteeringVector.from_tensors({0: torch.tensor([1.0, 1.0]), 1: torch.tensor([0.0, 2.0])}, concept="b")
        >>> merge([a, b], orthogonalize=True).at(0).tolist()
        [1.0, 1.0]
    """
    vectors = list(vectors)
    if not vectors:
        raise ValueError("merge needs at least one vector")
    if weights is None:
        weights = [1.0] * len(vectors)
    if len(weights) != len(vectors):
        raise ValueError(f"got {len(weights)} weights for {len(vectors)} vectors")
    weights = [as_float(w, f"weight {i} of merge") for i, w in enumerate(weights)]
    allow_transfer = as_bool(allow_transfer, "allow_transfer")
    orthogonalize = as_bool(orthogonalize, "orthogonalize")
    d = vectors[0].d_model
    for v in vectors[1:]:
        if v.d_model != d:
            raise ValueError(f"cannot merge vectors of d_model {d} and {v.d_model}")
    check_same_source(vectors, "merge", allow_transfer=allow_transfer)
    sources = {v.meta.source_model for v in vectors}
    fingerprints = {json.dumps(dict(v.meta.source_fingerprint), sort_keys=True) for v in vectors}
    layers = sorted({layer for v in vectors for layer in v.layers})
    tensors = {}
    for layer in layers:
        basis: list[torch.Tensor] = []
        total = torch.zeros(d, dtype=torch.float64)
        for v, w in zip(vectors, weights):
            if layer not in v.tensors:
                continue
            t = v.at(layer).double()
            if orthogonalize:
                for b in basis:
                    t = t - (t @ b) * b
                if float(t.norm()) > 1e-12:
                    basis.append(t / t.norm())
            total += float(w) * t
        tensors[layer] = total.float()
    meta = VectorMeta(
        method="merge",
        concept=name or "+".join(v.meta.concept for v in vectors),
        source_model=sources.pop() if len(sources) == 1 else "mixed",
        source_fingerprint=json.loads(fingerprints.pop()) if len(fingerprints) == 1 else {},
        d_model=d,
        n_layers=vectors[0].meta.n_layers,
        params={
            "weights": [float(w) for w in weights],
            "orthogonalize": orthogonalize,
            "terms": [v.meta.to_json() for v in vectors],
        },
    )
    return SteeringVector(tensors, meta)
