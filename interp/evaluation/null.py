"""The pipeline-level null: the whole protocol run with random vectors in place of the textual ones.

Every control of a sweep guards one step (random directions at the chosen cell, Holm over the
replicated cells, a replication set no choice has seen). Whether the steps together keep their
promise is a property of the whole pipeline: run choose -> test -> replicate with vectors that
carry no concept (random directions with the textual vectors' norms, layer by layer, under the
same names, so targets, strengths and hints are the same) many times, and count how often it
claims a replicated gain. That share is the protocol's false-claim rate; it should be at most
the 5% its tests are run at.

Example:
    >>> from interp.vectors import SteeringVector
    >>> import torch
    >>> v = SteeringVector.from_tensors({0: torch.ones(4) * 3}, concept="counting")
    >>> float(null_vectors({"meanshift/counting": v}, seed=0)["meanshift/counting"].at(0).norm())
    6.0
    >>> false_claim_rate([False] * 19 + [True]).rate
    0.05
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from interp.evaluation.tables import claimed_rows


@dataclass(frozen=True)
class FalseClaimRate:
    """How often the null pipeline claimed a replicated gain: ``claims`` of ``runs``, the rate and
    its exact (Clopper-Pearson) 95% interval."""

    claims: int
    runs: int
    rate: float
    low: float
    high: float

    def __str__(self) -> str:
        return (f"{self.claims} of {self.runs} null pipelines claimed a replicated gain: {100 * self.rate:.0f}% "
                f"[{100 * self.low:.0f}%, {100 * self.high:.0f}%]")


def null_vectors(vectors: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Random directions in place of ``vectors``: the same names, concepts, layers and per-layer
    norms (so relative strengths give the same edit sizes), drawn from one generator seeded
    ``seed``; method ``"null"``, provenance the original's (they are built for the same model).
    """
    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name in sorted(vectors):
        v = vectors[name]
        tensors = {}
        for layer in v.layers:
            d = v.at(layer)
            r = torch.randn(d.shape[0], generator=g, dtype=torch.float64)
            tensors[layer] = (r / r.norm() * float(d.float().norm())).to(d.dtype)
        meta = v.meta
        out[name] = SteeringVector.from_tensors(
            tensors, method="null", concept=meta.concept, source_model=meta.source_model, n_layers=meta.n_layers,
            d_model=meta.d_model, source_fingerprint=meta.source_fingerprint,
            params={"null_of": meta.method, "seed": int(seed)},
        )
    return out


def claims_a_gain(table: Any) -> bool:
    """Whether a sweep's table claims a replicated gain (a row ``replicated`` with ``rep_gain`` > 0:
    the demo's "helps" verdict)."""
    return bool(len(claimed_rows(table)))


def false_claim_rate(claims: Sequence[bool], level: float = 0.95) -> FalseClaimRate:
    """The share of null pipelines that claimed a gain, with its exact binomial interval."""
    from scipy.stats import beta

    runs = len(claims)
    if runs == 0:
        raise ValueError("no null pipeline runs to count")
    k = int(sum(bool(c) for c in claims))
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, runs - k + 1))
    high = 1.0 if k == runs else float(beta.ppf(1 - a, k + 1, runs - k))
    return FalseClaimRate(k, runs, k / runs, low, high)


__all__ = ["FalseClaimRate", "claims_a_gain", "false_claim_rate", "null_vectors"]
