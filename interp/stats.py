"""Statistics for steering evaluations: bootstrap intervals, paired tests, random controls.

The textual steering paper (arXiv 2505.14071) reports accuracies on 150 test items with no
interval; one item there is 0.67 points. ``interp`` reports, for every figure:

- ``accuracy``: the mean of per-item 0/1 correctness with a percentile bootstrap interval
  (Efron & Tibshirani 1993).
- ``paired_difference``: steered minus unsteered on the same items, with a paired bootstrap
  interval and the exact McNemar test (McNemar 1947) on the discordant items.
- ``random_control``: where a steering gain sits among the gains of random directions of the
  same norm, with the permutation p-value ``(1 + #(random >= observed)) / (1 + n)`` of Phipson
  & Smyth (2010), which is never 0.
- ``holm`` / ``bonferroni``: family-wise corrections when several cells or tasks are tested
  (Holm 1979).
- ``wilson``: the Wilson score interval of a proportion from counts (Wilson 1927), for the
  accuracy figures' bands.
- ``selection_note``: the sentence that says a cell was chosen on train and reported on test.

Every function takes plain sequences or numpy arrays and is deterministic given ``seed``; the
exact binomial test and the Wilson interval are scipy's (``scipy.stats.binomtest``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from jaxtyping import Shaped
from numpy.typing import ArrayLike

Correctness = Sequence[bool] | Sequence[int] | Sequence[float] | Shaped[np.ndarray, " n_items"]
"""Per-item correctness: one 0/1 (or bool) value per item."""



@dataclass(frozen=True)
class Estimate:
    """An accuracy with its bootstrap interval.

    Attributes:
        value: the mean correctness.
        low, high: the percentile bootstrap interval at ``level``.
        n: number of items.
        level: the interval's confidence level.
    """

    value: float
    low: float
    high: float
    n: int
    level: float

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (one DataFrame row)."""
        return asdict(self)


@dataclass(frozen=True)
class PairedComparison:
    """Accuracy of ``a`` minus accuracy of ``b`` on the same items.

    Attributes:
        diff: ``mean(a) - mean(b)``.
        low, high: the paired bootstrap interval of ``diff`` at ``level``.
        n: number of items.
        a_only: items ``a`` gets right and ``b`` wrong.
        b_only: items ``b`` gets right and ``a`` wrong.
        p_value: two-sided exact McNemar test on ``a_only`` vs ``b_only``.
        level: the interval's confidence level.
    """

    diff: float
    low: float
    high: float
    n: int
    a_only: int
    b_only: int
    p_value: float
    level: float

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (one DataFrame row)."""
        return asdict(self)


@dataclass(frozen=True)
class RandomControl:
    """Where an observed steering gain sits among random directions' gains.

    Attributes:
        observed: the steering vector's gain.
        n_random: number of random directions.
        mean_random: mean of their gains.
        quantile_value: the random gains' ``quantile`` quantile.
        p_value: ``(1 + #(random >= observed)) / (1 + n_random)``.
        beats_quantile: ``observed > quantile_value``.
    """

    observed: float
    n_random: int
    mean_random: float
    quantile_value: float
    p_value: float
    beats_quantile: bool

    def to_dict(self) -> dict[str, float | int | bool]:
        """The fields as a plain dict (one DataFrame row)."""
        return asdict(self)


def accuracy(
    correct: Correctness, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> Estimate:
    """Mean correctness with a percentile bootstrap interval.

    Resampling n items with replacement draws Binomial(n, mean) correct ones, so the
    bootstrap draws that count directly: the same bootstrap without an ``n_boot x n`` index
    matrix.

    Args:
        correct: one 0/1 (or bool) value per item.
        level: confidence level of the interval, in (0, 1).
        n_boot: bootstrap resamples (at least 100).
        seed: seed of the resampling.

    Example:
        >>> accuracy([1, 1, 0, 1], n_boot=2000).value
        0.75
    """
    x = as_correctness(correct, "correct")
    check_level(level)
    check_n_boot(n_boot)
    n = x.size
    k = int(x.sum())
    rng = np.random.default_rng(seed)
    means = rng.binomial(n, k / n, size=n_boot) / n
    low, high = _percentile_interval(means, level)
    return Estimate(value=k / n, low=low, high=high, n=n, level=float(level))


def paired_difference(
    a: Correctness,
    b: Correctness,
    *,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> PairedComparison:
    """``mean(a) - mean(b)`` on the same items, with a paired bootstrap interval and McNemar's p.

    The bootstrap resamples items (the same items for ``a`` and ``b``). A resample of n items
    draws the four kinds of item (both right, only ``a``, only ``b``, neither) in multinomial
    proportions, and only the ``a``-only and ``b``-only counts move the difference, so those
    counts are drawn directly.

    Args:
        a, b: per-item 0/1 correctness of two conditions on the same items, in the same order.
        level: confidence level of the interval, in (0, 1).
        n_boot: bootstrap resamples (at least 100).
        seed: seed of the resampling.

    Example:
        >>> c = paired_difference([1, 1, 1, 0], [1, 0, 0, 0], n_boot=2000)
        >>> c.diff, c.a_only, c.b_only
        (0.5, 2, 0)
    """
    x = as_correctness(a, "a")
    y = as_correctness(b, "b")
    if x.size != y.size:
        raise ValueError(
            f"a and b must hold one value per item of the same items: got {x.size} and {y.size} values"
        )
    check_level(level)
    check_n_boot(n_boot)
    n = x.size
    a_only = int(np.sum((x == 1) & (y == 0)))
    b_only = int(np.sum((x == 0) & (y == 1)))
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, [a_only / n, b_only / n, (n - a_only - b_only) / n], size=n_boot)
    diffs = (counts[:, 0] - counts[:, 1]) / n
    low, high = _percentile_interval(diffs, level)
    return PairedComparison(
        diff=(a_only - b_only) / n,
        low=low,
        high=high,
        n=n,
        a_only=a_only,
        b_only=b_only,
        p_value=mcnemar_exact(a_only, b_only),
        level=float(level),
    )


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of ``a_only`` in ``a_only + b_only`` at 1/2.

    Computed by ``scipy.stats.binomtest(a_only, a_only + b_only, 0.5).pvalue``: the probability
    of every outcome at most as likely as the observed one, capped at 1. With no discordant pairs
    the p-value is 1.

    Example:
        >>> mcnemar_exact(9, 1)
        0.021484375
    """
    for name, value in (("a_only", a_only), ("b_only", b_only)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be a count (a non-negative integer), got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be a count (a non-negative integer), got {value}")
    from scipy.stats import binomtest

    n = int(a_only) + int(b_only)
    if n == 0:
        return 1.0
    return float(binomtest(int(a_only), n, 0.5).pvalue)


def random_control(
    observed_gain: float,
    random_gains: Sequence[float] | Shaped[np.ndarray, " n_random"],
    *,
    quantile: float = 0.95,
) -> RandomControl:
    """Place a steering gain among the gains of random directions of the same norm.

    Args:
        observed_gain: the steering vector's gain at a cell (e.g. accuracy points over unsteered).
        random_gains: gains of random directions of the same norm at the same cell.
        quantile: the quantile of the random gains the observed one must exceed, in (0, 1].

    Example:
        >>> random_control(0.05, [0.0, 0.01, -0.02, 0.06]).p_value
        0.4
    """
    if isinstance(observed_gain, bool) or not isinstance(observed_gain, int | float | np.number):
        raise ValueError(f"observed_gain must be a number, got {observed_gain!r}")
    if not math.isfinite(float(observed_gain)):
        raise ValueError(f"observed_gain must be finite, got {observed_gain}")
    gains = _as_numbers(random_gains, "random_gains")
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    observed = float(observed_gain)
    n = gains.size
    q = float(np.quantile(gains, quantile))
    return RandomControl(
        observed=observed,
        n_random=n,
        mean_random=float(gains.mean()),
        quantile_value=q,
        p_value=(1 + int(np.sum(gains >= observed))) / (1 + n),
        beats_quantile=observed > q,
    )


def holm(p_values: Sequence[float] | Shaped[np.ndarray, " m"]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order.

    The i-th smallest p (1-based) becomes ``max over j <= i of min(1, (m - j + 1) * p_(j))``, so
    the adjusted values keep the order of the raw ones and never exceed 1.

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    p = _as_p_values(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return [float(v) for v in adjusted]


def bonferroni(
    p_values: Sequence[float] | Shaped[np.ndarray, " m"], m: int | None = None
) -> list[float]:
    """Bonferroni adjusted p-values ``min(1, m * p)``, in input order.

    Args:
        p_values: the raw p-values.
        m: the number of tests in the family (default: ``len(p_values)``); give it when only
            some of the family's p-values are passed.

    Example:
        >>> bonferroni([0.01, 0.2], m=10)
        [0.1, 1.0]
    """
    p = _as_p_values(p_values)
    if m is None:
        m = p.size
    elif isinstance(m, bool) or not isinstance(m, int | np.integer) or m < p.size:
        raise ValueError(
            f"m must be an integer at least the number of p-values ({p.size}), got {m!r}"
        )
    return [float(v) for v in np.minimum(1.0, int(m) * p)]


def selection_note(n_cells: int, n_items_train: int, n_items_test: int) -> str:
    """The sentence that says how a reported cell was chosen.

    Example:
        >>> selection_note(120, 240, 150)
        'The cell was chosen as the best of 120 cells on 240 train items; the figures are from the 150 held-out test items, which played no part in the choice.'
    """
    for name, value in (
        ("n_cells", n_cells),
        ("n_items_train", n_items_train),
        ("n_items_test", n_items_test),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    train = f"{n_items_train} train item" + ("" if n_items_train == 1 else "s")
    test = f"{n_items_test} held-out test item" + ("" if n_items_test == 1 else "s")
    chosen = (
        f"was the only one tried on {train}"
        if n_cells == 1
        else f"was chosen as the best of {n_cells} cells on {train}"
    )
    return (
        f"The cell {chosen}; the figures are from the {test}, which played no part in the choice."
    )


def as_correctness(values: Correctness, name: str) -> np.ndarray:
    """Per-item correctness as a 1-d int array of 0/1, or a ValueError naming ``name`` and the
    first value that is not 0/1 or bool.

    Example:
        >>> as_correctness([True, False, 1], "steered").tolist()
        [1, 0, 1]
    """
    arr = _as_1d(values, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold 0/1 or bool per item, got values of dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name} must hold 0/1 or bool per item, got {arr[i].item()!r} at index {i}"
        )
    return arr.astype(np.int64)


def _as_numbers(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = _as_1d(values, name)
    if (
        arr.dtype == bool
        or not np.issubdtype(arr.dtype, np.number)
        or np.issubdtype(arr.dtype, np.complexfloating)
    ):
        raise ValueError(f"{name} must hold real numbers, got values of dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        i = int(np.argmax(~np.isfinite(arr)))
        raise ValueError(f"{name} must be finite, got {arr[i]} at index {i}")
    return arr


def _as_p_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    p = _as_numbers(values, "p_values")
    if ((p < 0) | (p > 1)).any():
        raise ValueError(f"p_values must lie in [0, 1], got {p[(p < 0) | (p > 1)][0]}")
    return p


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, str | bytes):
        raise ValueError(f"{name} must be a sequence or 1-D array, got a string")
    try:
        arr = np.asarray(values)
    except ValueError as e:  # ragged nesting
        raise ValueError(f"{name} must be a sequence or 1-D array: {e}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a sequence or 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: need at least one value")
    return arr


def check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1) (or not a number) with a ValueError."""
    if (
        isinstance(level, bool)
        or not isinstance(level, int | float | np.number)
        or not 0 < level < 1
    ):
        raise ValueError(f"level must be a confidence level in (0, 1), got {level!r}")


def check_n_boot(n_boot: int) -> None:
    """Refuse a bootstrap size that is not an integer of at least 100 with a ValueError."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer of at least 100 resamples, got {n_boot!r}")


def _percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return float(low), float(high)


def wilson(n_correct: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion ``n_correct / n`` (arrays), as ``(low, high)``.

    Computed from counts (the sweep's grid carries ``n`` and ``n_correct``; the accuracy figures
    draw these bands); the sweep's test table has bootstrap intervals of its own.

    Example:
        >>> low, high = wilson([8], [10])
        >>> round(float(low[0]), 3), round(float(high[0]), 3)
        (0.49, 0.943)
    """
    from scipy.stats import binomtest

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    k, m = np.broadcast_arrays(np.asarray(n_correct, dtype=float), np.asarray(n, dtype=float))
    if np.any(m <= 0) or np.any(k < 0) or np.any(k > m):
        raise ValueError("Wilson intervals need 0 <= n_correct <= n and n > 0 on every row")
    if np.any(k % 1) or np.any(m % 1):
        raise ValueError("Wilson intervals are computed from counts: n_correct and n must be whole numbers")
    low, high = np.empty_like(k), np.empty_like(k)
    for idx in np.ndindex(k.shape):
        ci = binomtest(int(k[idx]), int(m[idx])).proportion_ci(confidence_level=level, method="wilson")
        low[idx], high[idx] = ci.low, ci.high
    return low, high
