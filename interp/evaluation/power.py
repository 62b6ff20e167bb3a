"""Statistical power of the sweep's paired test: the smallest gain a negative verdict rules out.

The sweep compares steered with unsteered correctness on the same items by the exact McNemar
test (McNemar 1947): conditional on the D items whose correctness differs between the two
conditions (the discordant items), the number b of them that steering gets right is
Binomial(D, 1/2) when steering changes nothing, and ``interp.stats.mcnemar_exact`` gives the
two-sided exact binomial p-value (the exact conditional test, of which the chi-squared
statistic in McNemar's paper is the large-sample approximation; Agresti, *Categorical Data
Analysis*, 2002, ch. 10). A verdict is only as strong as the gain the test could have seen, so a
negative one says "no gain of at least X points (80% power)", X being the *minimal detectable
effect* (MDE) computed here.

Model: n paired items, each discordant with probability ``discordance`` (d), and a true gain
``gain`` (g) = P(steered right, unsteered wrong) - P(unsteered right, steered wrong). So
D ~ Binomial(n, d) and, given D, b ~ Binomial(D, (d + g) / (2d)). A detection is a rejection
at level ``alpha / comparisons`` (p < level, the rule the controls apply to Holm's p) with more
discordant items won by steering (b > D - b). Power is summed exactly over D (log-space weights)
and over b (the binomial survival function above each D's rejection threshold, the same
p-value formula as ``mcnemar_exact``).

Multiplicity is Bonferroni's level ``alpha / comparisons``. The sweep applies Holm (1979), which
rejects every hypothesis Bonferroni rejects and possibly more, so these figures are a
conservative planning bound: the real test is at least this powerful.

- ``detection_power``: the probability of detecting a true gain.
- ``minimal_detectable_effect``: the smallest gain detected with the target power.
- ``items_needed``: the smallest number of items from which a gain is detected with it.
- ``discordance_rate`` / ``assumed_discordance``: the discordance to plan with, observed or assumed.
- ``no_gain_note``: the sentence a negative verdict states.

Example:
    >>> round(minimal_detectable_effect(300, 0.06, comparisons=8), 4)
    0.0497
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from jaxtyping import Shaped
from scipy.stats import binom, norm

from interp.args import as_float, as_int
from interp.stats import Correctness, as_correctness

MAX_ITEMS = 1_000_000
"""The largest number of items the power functions take (their cost grows with it)."""

Conditions = Correctness | Sequence[Correctness] | Shaped[np.ndarray, "n_conditions n_items"]
"""One condition's per-item correctness, or several (one row per condition) on the same items."""

_TAIL = 1e-40  # probability mass of D left out of each sum, on either side
_TRIM = 1e-45  # pmf entries dropped at the ends of the scan in items_needed
_GAIN_TOL = 1e-7  # the minimal detectable effect's bisection stops within this (a fraction)
_THRESHOLDS: dict[float, np.ndarray] = {}  # level -> c[D] for D = 0, 1, ..., grown on demand
_MAX_LEVELS = 32


def detection_power(
    n: int,
    gain: float,
    discordance: float,
    *,
    alpha: float = 0.05,
    comparisons: int = 1,
) -> float:
    """The probability that the paired test finds a true gain on ``n`` items.

    Exact: the chance that the two-sided exact McNemar test at level ``alpha / comparisons``
    rejects *and* steering wins more discordant items than it loses, when each item is
    discordant with probability ``discordance`` and the true gain is ``gain``. With
    ``gain = 0`` this is the one-sided false-positive rate, below ``alpha / (2 * comparisons)``;
    with ``discordance = 0`` no item can differ and the power is 0.

    Args:
        n: paired items (1 to ``MAX_ITEMS``).
        gain: the true gain as a fraction (0.03 is 3 points), in ``[-discordance, discordance]``.
        discordance: probability that an item's correctness differs between the conditions.
        alpha: the family-wise level, in (0, 1).
        comparisons: tests in the family; the level is ``alpha / comparisons`` (Bonferroni, a
            conservative stand-in for the Holm correction the sweep applies).

    Example:
        >>> round(detection_power(300, 0.04, 0.06), 3)
        0.79
        >>> detection_power(300, 0.04, 0.06, comparisons=8) < detection_power(300, 0.04, 0.06)
        True
    """
    n = _check_n(n, "n")
    d = _check_rate(discordance, "discordance")
    g = _check_gain(gain, d)
    level = _level(alpha, comparisons)
    if d == 0.0:
        return 0.0
    start, weights = _d_weights(n, d)
    return _power(weights, _tail_at(start, weights.size, level, _win_share(g, d)))


def minimal_detectable_effect(
    n: int,
    discordance: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> float:
    """The smallest true gain that ``n`` items detect with probability ``power``.

    Power grows with the gain at every number of discordant items (b's distribution moves up
    with its success probability), so the MDE is found by bisection, to within 1e-7 (0.00001
    points), from above: ``detection_power`` at the returned gain is at least ``power``.

    Args:
        n: paired items (1 to ``MAX_ITEMS``).
        discordance: probability that an item's correctness differs between the conditions
            (``discordance_rate``, ``assumed_discordance``).
        alpha: the family-wise level, in (0, 1).
        power: the target power, in (0, 1).
        comparisons: tests in the family (level ``alpha / comparisons``).

    Returns:
        The gain as a fraction in ``[0, discordance]`` (100 x it in points). ``math.inf`` when
        even the largest gain possible (``gain = discordance``: every discordant item won by
        steering) falls short of ``power``: too few items, or too few discordant ones, for any
        gain to be seen; always so when ``discordance`` is 0.

    Example:
        >>> mde = minimal_detectable_effect(300, 0.06, comparisons=8)
        >>> round(100 * mde, 2), detection_power(300, mde, 0.06, comparisons=8) >= 0.8
        (4.97, True)
        >>> minimal_detectable_effect(10, 0.05)
        inf
    """
    n = _check_n(n, "n")
    d = _check_rate(discordance, "discordance")
    level = _level(alpha, comparisons)
    target = _check_power(power)
    if d == 0.0:
        return math.inf
    start, weights = _d_weights(n, d)

    def power_at(g: float) -> float:
        return _power(weights, _tail_at(start, weights.size, level, _win_share(g, d)))

    return _smallest_gain(power_at, target, d)


def detectable_gain(
    n: int,
    churn: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> float:
    """The smallest gain ``n`` items detect when steering adds right answers on top of a churn.

    ``minimal_detectable_effect`` holds the discordance fixed, so a gain can never exceed it: at
    the small discordance random directions show on an easy task (0.01), 300 items "detect no
    gain at all". A steering vector that helps does not keep the churn fixed; it turns extra wrong
    answers right. Here the discordance is ``churn + gain`` (the churn ``churn``, split evenly
    between won and lost items, plus the gain, all won): the planning model the sweep's
    negatives state. Found by bisection on ``gain`` in ``[0, 1 - churn]``.

    Args:
        n: paired items.
        churn: the discordance without a gain (random directions of the same norm against
            unsteered: ``discordance_rate``).
        alpha, power, comparisons: as ``minimal_detectable_effect``.

    Returns:
        The gain as a fraction; ``math.inf`` when not even ``1 - churn`` is detected.

    Example:
        >>> math.isinf(minimal_detectable_effect(300, 0.01, comparisons=2))
        True
        >>> round(100 * detectable_gain(300, 0.01, comparisons=2), 1)
        3.9
    """
    n = _check_n(n, "n")
    c = _check_rate(churn, "churn")
    target = _check_power(power)

    def power_at(g: float) -> float:
        return detection_power(n, g, min(1.0, c + g), alpha=alpha, comparisons=comparisons)

    return _smallest_gain(power_at, target, 1.0 - c)


def items_needed(
    gain: float,
    discordance: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
    max_n: int = 100_000,
) -> int | float:
    """The smallest number of items from which a true ``gain`` is detected with ``power``.

    An exact test's power is not monotone in n: rejection thresholds move in whole items, so
    the power saws. With a random number of discordant items the saw is smoothed away unless
    nearly every item is discordant, but it is there in principle, so this returns the smallest
    n such that the power is at least ``power`` at n *and at every larger n up to* ``max_n``.
    Found exactly: an upper and a lower monotone envelope of the power bracket that n, and every
    n between them is computed.

    Args:
        gain: the true gain as a fraction, in ``(0, discordance]``.
        discordance: probability that an item's correctness differs between the conditions.
        alpha: the family-wise level, in (0, 1).
        power: the target power, in (0, 1).
        comparisons: tests in the family (level ``alpha / comparisons``).
        max_n: the largest n considered (1 to ``MAX_ITEMS``).

    Returns:
        That n, or ``math.inf`` when the power at ``max_n`` is below ``power``.

    Example:
        >>> items_needed(0.02, 0.05)
        1035
        >>> items_needed(0.02, 0.05, comparisons=8)
        1638
        >>> items_needed(0.02, 0.05, max_n=500)
        inf
    """
    d = _check_rate(discordance, "discordance")
    g = _check_gain(gain, d)
    if g <= 0:
        raise ValueError(
            f"gain must be positive to be detected, got {gain!r}: items_needed asks how many items "
            "a test needs to see a gain"
        )
    level = _level(alpha, comparisons)
    target = _check_power(power)
    max_n = _check_n(max_n, "max_n")
    # h[D]: the probability of a detection given D discordant items, for every D that any
    # n <= max_n can reach (beyond top lies less than _TAIL of the mass).
    top = max_n if d == 1.0 else _d_band(max_n, d)[1]
    h = _tail_at(0, top + 1, level, _win_share(g, d))
    h_up = np.maximum.accumulate(h)  # nondecreasing, >= h: its power bounds every n's from above
    h_env = np.minimum.accumulate(h[::-1])[::-1]  # nondecreasing, <= h on 0..top: from below

    def power_at(m: int, curve: np.ndarray) -> float:
        start, weights = _d_weights(m, d)
        return _power(weights, curve[start : start + weights.size])

    if power_at(max_n, h) < target:
        return math.inf
    # Bin(m + 1, d) lies above Bin(m, d), so the envelopes' powers grow with m.
    n_up = _first(lambda m: power_at(m, h_up) >= target, max_n)  # every m < n_up falls short
    def env_ok(m: int) -> bool:
        return power_at(m, h_env) >= target

    n_env = _first(env_ok, max_n) if env_ok(max_n) else max_n  # every m >= n_env reaches it
    # Scan n_up - 1 .. n_env - 1 exactly, moving D's distribution one item at a time.
    m = n_up - 1
    start, weights = _d_weights(m, d) if m > 0 else (0, np.ones(1))
    last_short = m
    for m in range(n_up, n_env):
        nxt = np.empty(weights.size + 1)
        nxt[:-1] = weights * (1 - d)
        nxt[-1] = 0.0
        nxt[1:] += weights * d
        keep = np.flatnonzero(nxt >= _TRIM)
        start, weights = start + keep[0], nxt[keep[0] : keep[-1] + 1]
        weights = weights[: max(0, top + 1 - start)]
        if _power(weights, h[start : start + weights.size]) < target:
            last_short = m
    return last_short + 1


def discordance_rate(a: Conditions, b: Correctness) -> float:
    """The share of items whose correctness differs between two conditions on the same items.

    The discordance to plan with is best observed on the items the verdict is about, without
    the tested cell's own outcome: the random-direction cells' correctness at that cell against
    the unsteered model's (random directions of the same norm move as many answers as a
    steering vector that carries nothing). Pass them as ``a``, one row per cell: the mean of
    the rows' rates is returned. Without any paired data, ``assumed_discordance``.

    Args:
        a: per-item 0/1 correctness of one condition, or of several (one row each).
        b: per-item 0/1 correctness of the other condition (e.g. unsteered), same items, same order.

    Example:
        >>> discordance_rate([1, 1, 0, 0], [1, 0, 0, 1])
        0.5
        >>> discordance_rate([[1, 1, 0, 0], [1, 0, 0, 0]], [1, 0, 0, 0])
        0.125
    """
    y = as_correctness(b, "b")
    if isinstance(a, str | bytes):
        raise ValueError("a must be per-item correctness (a sequence or array), got a string")
    try:
        arr = np.asarray(a)
        ragged = False
    except ValueError:  # rows of different lengths
        arr, ragged = np.asarray(a, dtype=object), True
    if arr.ndim == 2 and not ragged:
        rows = [as_correctness(row, f"a[{i}]") for i, row in enumerate(arr)]
        if not rows:
            raise ValueError("a holds no conditions: give at least one row of per-item correctness")
    elif arr.ndim == 1 and not ragged:
        rows = [as_correctness(arr, "a")]
    else:
        got = "rows of different lengths" if ragged else f"shape {arr.shape}"
        raise ValueError(
            "a must be one condition's per-item correctness (1-D) or several of the same length "
            f"(2-D, one row per condition), got {got}"
        )
    for i, x in enumerate(rows):
        if x.size != y.size:
            what = "a" if len(rows) == 1 and arr.ndim == 1 else f"a[{i}]"
            raise ValueError(
                f"{what} and b must hold one value per item of the same items: got {x.size} and {y.size} values"
            )
    return float(np.mean([np.mean(x != y) for x in rows]))


def assumed_discordance(accuracy: float) -> float:
    """A conservative discordance to plan with when nothing paired is observed: ``2p(1 - p)``.

    ``p`` is the unsteered accuracy. This is the discordance if steered and unsteered errors
    were independent. Steering edits the same model a little, so its errors agree with the
    unsteered model's far more than that and the observed discordance is usually much lower
    (``discordance_rate`` on the random-direction cells measures it). A larger discordance
    makes every gain harder to see, so an MDE planned with this is too large rather than too
    small, as long as steering does not anti-correlate the errors (the most any pair can reach
    is ``2 min(p, 1 - p)``).

    Example:
        >>> assumed_discordance(0.8)
        0.32
    """
    p = _check_rate(accuracy, "accuracy")
    return round(2 * p * (1 - p), 15)


def no_gain_note(
    n: int,
    discordance: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> str:
    """The sentence a negative verdict states: the gain the test would have seen.

    The MDE is rounded *up* to a tenth of a point, so the gain named is always detectable.

    Example:
        >>> no_gain_note(300, 0.06, comparisons=8)
        'no gain of at least 5.0 points (80% power)'
        >>> no_gain_note(20, 0.05)
        'no gain could be detected: even a gain of 5.0 points (every discordant item won by steering) has less than 80% power on 20 items'
    """
    mde = minimal_detectable_effect(
        n, discordance, alpha=alpha, power=power, comparisons=comparisons
    )
    pct = f"{100 * float(power):g}%"
    if math.isinf(mde):
        return (
            f"no gain could be detected: even a gain of {100 * float(discordance):.1f} points "
            f"(every discordant item won by steering) has less than {pct} power on {n} items"
        )
    points = math.ceil(round(1000 * mde, 6)) / 10
    return f"no gain of at least {points:.1f} points ({pct} power)"


def _power(weights: np.ndarray, tail: np.ndarray) -> float:
    return float(min(1.0, max(0.0, np.dot(weights, tail))))


def _smallest_gain(power_at: Callable[[float], float], target: float, high: float) -> float:
    """The smallest gain in ``[0, high]`` whose power reaches ``target``, by bisection from above
    (within ``_GAIN_TOL``); ``math.inf`` when even ``high`` falls short."""
    if high <= 0 or power_at(high) < target:
        return math.inf
    if power_at(0.0) >= target:
        return 0.0
    low = 0.0
    while high - low > _GAIN_TOL:
        mid = (low + high) / 2
        if power_at(mid) >= target:
            high = mid
        else:
            low = mid
    return high


def _first(ok: Callable[[int], bool], max_n: int) -> int:
    """The smallest m in 1..max_n with ``ok(m)``, for ``ok`` monotone and ``ok(max_n)`` true."""
    low, high = 0, max_n  # ok(high); not ok(low) (or low == 0)
    while high - low > 1:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid
    return high


def _d_weights(n: int, d: float) -> tuple[int, np.ndarray]:
    """``(start, w)``: ``w[i] = P(D = start + i)`` for D ~ Binomial(n, d), tails of ``_TAIL`` left out.

    The band is Bernstein's: ``P(|D - nd| >= t) <= 2 exp(-t^2 / (2 nd(1 - d) + 2t / 3))``.
    """
    if d == 1.0:
        return n, np.ones(1)
    low, high = _d_band(n, d)
    return low, np.exp(binom.logpmf(np.arange(low, high + 1), n, d))


def _d_band(n: int, d: float) -> tuple[int, int]:
    log_tail = math.log(2 / _TAIL)
    t = log_tail / 3 + math.sqrt(log_tail**2 / 9 + 2 * n * d * (1 - d) * log_tail)
    return max(0, math.floor(n * d - t)), min(n, math.ceil(n * d + t))


def _win_share(g: float, d: float) -> float:
    """P(steering wins a discordant item) = (d + g) / (2d)."""
    return min(1.0, max(0.0, (d + g) / (2 * d)))


def _tail_at(start: int, size: int, level: float, q: float) -> np.ndarray:
    """P(b >= c_D | D) for D = start, ..., start + size - 1, with b ~ Binomial(D, q)."""
    counts = np.arange(start, start + size)
    c = _thresholds(level, start, start + size)
    return binom.sf(c - 1, counts, q)


def _mcnemar_p(b: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``mcnemar_exact(b, D - b)`` for ``b > D / 2``, vectorised.

    ``mcnemar_exact`` is ``scipy.stats.binomtest(b, D, 0.5)``; for b above the mode its
    two-sided p-value is ``cdf(D - b) + sf(b - 1)`` (the outcomes at most as likely as b are
    those at or beyond it on either side, the distribution being symmetric), capped at 1: the
    same formula, term for term.
    """
    return np.minimum(1.0, binom.cdf(counts - b, counts, 0.5) + binom.sf(b - 1, counts, 0.5))


def _thresholds(level: float, start: int, stop: int) -> np.ndarray:
    """``c[D]`` for D = start..stop - 1: the fewest discordant wins out of D that reject at ``level``.

    ``D + 1`` where no outcome rejects. Kept per level (0 marks a D not yet computed).
    """
    have = _THRESHOLDS.get(level)
    if have is None or have.size < stop:
        if have is None and len(_THRESHOLDS) >= _MAX_LEVELS:
            _THRESHOLDS.pop(next(iter(_THRESHOLDS)))
        grown = np.zeros(stop if have is None else max(stop, have.size * 3 // 2), dtype=np.int64)
        if have is not None:
            grown[: have.size] = have
        _THRESHOLDS[level] = have = grown
    out = have[start:stop]
    missing = np.flatnonzero(out == 0)
    if missing.size:
        out[missing] = _compute_thresholds(start + missing, level)
    return out


def _compute_thresholds(counts: np.ndarray, level: float) -> np.ndarray:
    # The p-value falls as b rises above D / 2: start from the normal approximation (exact for
    # most D) and step until b rejects (p < level) and b - 1 does not, by mcnemar_exact's formula.
    above = counts // 2 + 1  # the smallest b > D / 2
    guess = np.ceil(counts / 2 + norm.isf(level / 2) * np.sqrt(counts) / 2 + 0.5)
    c = np.clip(guess, above, counts + 1).astype(np.int64)
    active = np.ones(c.size, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        ci, di = c[idx], counts[idx]
        down = ci - 1 >= above[idx]
        down[down] = _mcnemar_p(ci[down] - 1, di[down]) < level
        up = ~down & (ci <= di)
        up[up] = _mcnemar_p(ci[up], di[up]) >= level
        c[idx] += up.astype(np.int64) - down.astype(np.int64)
        active[idx] = up | down
    return c


def _check_n(value: object, what: str) -> int:
    n = as_int(value, what, minimum=1)
    if n > MAX_ITEMS:
        raise ValueError(f"{what} must be at most {MAX_ITEMS:,} items, got {n:,}")
    return n


def _check_rate(value: object, what: str) -> float:
    x = as_float(value, what)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{what} must be a rate in [0, 1], got {value!r}")
    return x


def _check_gain(value: object, d: float) -> float:
    g = as_float(value, "gain")
    if abs(g) > d and abs(g) - d <= 1e-12:  # 0.1 - 0.04 for a discordance of 0.06
        g = math.copysign(d, g)
    if abs(g) > d:
        raise ValueError(
            f"gain must lie in [-discordance, discordance] = [{-d:g}, {d:g}], got {value!r}: a gain "
            "is the share of items steering wins minus the share it loses, which sum to the "
            "discordance (a gain is a fraction: 0.03 is 3 points)"
        )
    return g


def _check_power(value: object) -> float:
    p = as_float(value, "power")
    if not 0.0 < p < 1.0:
        raise ValueError(f"power must be a probability in (0, 1) (0.8 for 80%), got {value!r}")
    return p


def _level(alpha: object, comparisons: object) -> float:
    a = as_float(alpha, "alpha")
    if not 0.0 < a < 1.0:
        raise ValueError(f"alpha must be a level in (0, 1) (0.05 for 5%), got {alpha!r}")
    m = as_int(comparisons, "comparisons", minimum=1)
    return a / m


__all__ = [
    "MAX_ITEMS",
    "assumed_discordance",
    "detectable_gain",
    "detection_power",
    "discordance_rate",
    "items_needed",
    "minimal_detectable_effect",
    "no_gain_note",
]
