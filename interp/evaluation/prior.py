"""The answer-prior baseline: how much of a gain a constant push toward some options explains.

A steering edit can raise accuracy without reading the image at all: a model that over-answers
"A" gains whenever anything moves probability to "B". The cheapest model of such an edit is a
constant offset added to each option's log-probability, the same for every item of a task. This
module fits the best such offset on the unsteered model's train answers (the accuracy it reaches
there, exactly, by scanning each option's offset over the points where an answer flips) and
applies it, unchanged, to the items the steered cell is reported on. A steering gain that does
not beat the prior-shifted model on the same items is, as far as these items can tell, a change
of answer prior.

Example:
    >>> import numpy as np
    >>> probs = np.array([[0.6, 0.4], [0.55, 0.45], [0.3, 0.7], [0.9, 0.1]])
    >>> offsets = fit_prior_offset(probs, np.array([1, 1, 1, 0]))
    >>> prior_predictions(probs, offsets).tolist()
    [1, 1, 1, 0]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from interp.stats import paired_difference

if TYPE_CHECKING:
    from interp.evaluation.store import ResultStore
    from interp.types import DataFrame

#: Probabilities are stored rounded (7 decimals): a zero is read as this before the log.
FLOOR = 1e-12
#: Coordinate-ascent rounds over the options (each round scans every option's offset exactly).
ROUNDS = 10


def _log_probs(probs: Any) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must be (items, options) with at least 2 options, got shape {p.shape}")
    if not np.all(np.isfinite(p) | np.isnan(p)) or np.any(p < 0):
        raise ValueError("probs must be probabilities (finite, >= 0; NaN marks an option an item lacks)")
    return np.where(np.isnan(p), -np.inf, np.log(np.maximum(p, FLOOR)))


def _best_offset(scores: np.ndarray, answers: np.ndarray, option: int, offsets: np.ndarray) -> float:
    """The offset of ``option`` (the others fixed) with the most right answers, by an exact scan
    of the points where an item's answer flips; among equally good offsets, the nearest 0."""
    k = scores.shape[1]
    rest_idx = np.delete(np.arange(k), option)
    rest = np.delete(scores + offsets, option, axis=1)
    flip = rest.max(axis=1) - scores[:, option]  # ``option`` wins item i iff its offset > flip_i
    won = answers == option  # right when it wins
    lost = (rest_idx[rest.argmax(axis=1)] == answers) & ~won  # right when it loses
    finite = np.unique(flip[np.isfinite(flip)])
    candidates = np.concatenate([[0.0], (finite[1:] + finite[:-1]) / 2, finite[:1] - 1.0, finite[-1:] + 1.0])
    below = np.sort(flip[won])
    above = np.sort(flip[lost])
    right = np.searchsorted(below, candidates, side="left") + (above.size - np.searchsorted(above, candidates, side="left"))
    best = right.max()
    ties = candidates[right == best]
    return float(ties[np.lexsort((ties, np.abs(ties)))][0])


def _likelihood_offset(scores: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """The offsets of greatest likelihood (a convex fit: the intercepts of a multinomial logit
    with the log-probabilities as fixed scores), a second start for the accuracy search."""
    from scipy.optimize import minimize

    finite = np.where(np.isfinite(scores), scores, -1e9)
    onehot = np.eye(scores.shape[1])[answers]

    def loss(b: np.ndarray) -> tuple[float, np.ndarray]:
        z = finite + np.concatenate([[0.0], b])
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        nll = -float(np.log(np.maximum((p * onehot).sum(axis=1), 1e-300)).sum())
        return nll, (p - onehot).sum(axis=0)[1:]

    fit = minimize(loss, np.zeros(scores.shape[1] - 1), jac=True, method="L-BFGS-B",
                   bounds=[(-30.0, 30.0)] * (scores.shape[1] - 1))
    return np.concatenate([[0.0], np.round(fit.x, 9)])


def _ascend(scores: np.ndarray, answers: np.ndarray, start: np.ndarray) -> np.ndarray:
    offsets = start.copy()
    for _ in range(ROUNDS):
        before = offsets.copy()
        for option in range(1, scores.shape[1]):
            offsets[option] = _best_offset(scores, answers, option, offsets)
        if np.array_equal(before, offsets):
            break
    return offsets


def fit_prior_offset(probs: Any, answers: Sequence[int] | np.ndarray) -> np.ndarray:
    """The constant per-option log-probability offset with the best accuracy found on these items.

    Option 0's offset is 0 (only differences matter). With two options the fit is exact (one
    scan over the points where an answer flips). With more, coordinate ascent (each step such an
    exact scan) from two starts, no offset and the offsets of greatest likelihood, keeps the one
    that answers more items right (the best found, a lower bound on what a constant offset can
    do). Among offsets of equal accuracy the one nearest 0 wins, so a model whose prior is
    already best keeps offset 0.

    Args:
        probs: ``(items, options)`` option probabilities of the unsteered model (NaN: an option
            the item does not have).
        answers: the index of each item's right option.

    Example:
        >>> fit_prior_offset([[0.9, 0.1], [0.2, 0.8]], [0, 1]).tolist()
        [0.0, 0.0]
    """
    scores = _log_probs(probs)
    y = np.asarray(answers)
    if y.shape != (scores.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"answers must be one option index per item ({scores.shape[0]}), got {answers!r}")
    if y.size == 0:
        raise ValueError("no items to fit the answer prior on")
    if y.min() < 0 or y.max() >= scores.shape[1]:
        raise ValueError(f"answers must index the {scores.shape[1]} options, got values {sorted(set(y.tolist()))}")
    starts = [np.zeros(scores.shape[1])]
    if scores.shape[1] > 2:
        starts.append(_likelihood_offset(scores, y))
    fits = [_ascend(scores, y, start) for start in starts]
    right = [int(((scores + f).argmax(axis=1) == y).sum()) for f in fits]
    best = max(right)
    return min((f for f, r in zip(fits, right) if r == best), key=lambda f: float(np.abs(f).sum()))


def prior_predictions(probs: Any, offsets: np.ndarray) -> np.ndarray:
    """Each item's answer after adding ``offsets`` to its options' log-probabilities."""
    scores = _log_probs(probs)
    if len(offsets) != scores.shape[1]:
        raise ValueError(f"{len(offsets)} offsets for {scores.shape[1]} options")
    return np.asarray((scores + np.asarray(offsets)).argmax(axis=1))


def fit_priors(rows: DataFrame) -> dict[str, np.ndarray] | None:
    """Per task, ``fit_prior_offset`` on store rows of the unsteered model (None if there are none)."""
    if rows is None or not len(rows):
        return None
    return {str(task): fit_prior_offset(stored_probs(g), g["answer"].to_numpy(dtype=int))
            for task, g in rows.groupby("task")}


def prior_columns(db: ResultStore, base_key: str, steered_key: str, ids: Sequence[str],
                  offsets: np.ndarray | None, gain: Any, prefix: str = "") -> dict[str, Any]:
    """The answer-prior baseline's columns for one cell on ``ids``: the prior-shifted unsteered
    model's gain (``prior_gain`` with its paired interval), steering's gain over it
    (``gain_over_prior``, interval, ``p_over_prior``), ``beats_prior`` (that interval lies above
    0) and ``prior_share`` (the prior gain as a share of the steering gain, clipped to [0, 1];
    NaN when the steering gain is not positive). ``gain`` is the cell's gain (a number, or a
    ``paired_difference``). Empty when there is no offset for the task.
    """
    if offsets is None:
        return {}
    rows = db.rows([base_key]).drop_duplicates("item_id").set_index("item_id").reindex(list(ids))
    if rows["probs"].isna().any():
        raise ValueError(f"the answer prior needs the unsteered rows of every item; {int(rows['probs'].isna().sum())} are missing")
    probs = stored_probs(rows)
    width = max(probs.shape[1], len(offsets))
    probs = np.pad(probs, ((0, 0), (0, width - probs.shape[1])), constant_values=np.nan)
    shifted = prior_predictions(probs, np.pad(offsets, (0, width - len(offsets))))
    prior = (shifted == rows["answer"].to_numpy(dtype=int)).astype(float)
    base = rows["correct"].to_numpy(dtype=float)
    steered = db.correct(steered_key, ids)
    g = float(gain.diff if hasattr(gain, "diff") else gain)
    pg, over = paired_difference(prior, base), paired_difference(steered, prior)
    return {
        f"{prefix}prior_gain": pg.diff, f"{prefix}prior_gain_low": pg.low, f"{prefix}prior_gain_high": pg.high,
        f"{prefix}gain_over_prior": over.diff, f"{prefix}gain_over_prior_low": over.low,
        f"{prefix}gain_over_prior_high": over.high, f"{prefix}p_over_prior": over.p_value,
        f"{prefix}beats_prior": bool(over.low > 0),
        f"{prefix}prior_share": float(min(1.0, max(0.0, pg.diff / g))) if g > 0 else float("nan"),
    }


def stored_probs(rows: Any) -> np.ndarray:
    """The ``probs`` column of store rows (JSON lists) as ``(items, options)``, NaN-padded."""
    lists: list[list[float]] = []
    for p in rows["probs"]:
        if not (isinstance(p, str) and p.startswith("[")):
            raise ValueError("the answer prior needs option probabilities: these rows were scored by generation")
        lists.append(json.loads(p))
    width = max(len(x) for x in lists)
    return np.array([x + [float("nan")] * (width - len(x)) for x in lists], dtype=float)


__all__ = ["fit_prior_offset", "fit_priors", "prior_columns", "prior_predictions", "stored_probs"]
