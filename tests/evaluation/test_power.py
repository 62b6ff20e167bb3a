"""Tests for interp.evaluation.power: exact power against simulation, MDE and items_needed, errors."""

from __future__ import annotations

import doctest
import math
from functools import cache

import numpy as np
import pytest

from interp.evaluation import power as power_module
from interp.evaluation.power import (
    MAX_ITEMS,
    assumed_discordance,
    detectable_gain,
    detection_power,
    discordance_rate,
    items_needed,
    minimal_detectable_effect,
    no_gain_note,
)
from interp.stats import mcnemar_exact


@cache
def _p(a_only: int, b_only: int) -> float:
    return mcnemar_exact(a_only, b_only)


def _simulated_power(
    n: int, gain: float, discordance: float, *, accuracy: float, alpha: float, comparisons: int,
    reps: int, seed: int,
) -> float:
    """Draw paired correctness vectors and count how often McNemar finds steering ahead."""
    a_only, b_only = (discordance + gain) / 2, (discordance - gain) / 2
    # kinds: both right, steered only, unsteered only, both wrong
    probs = [accuracy - b_only, a_only, b_only, 1 - accuracy - a_only]
    kinds = np.random.default_rng(seed).choice(4, size=(reps, n), p=probs)
    steered = (kinds == 0) | (kinds == 1)
    unsteered = (kinds == 0) | (kinds == 2)
    hits = 0
    for a, b in zip(steered, unsteered):
        wins, losses = int(np.sum(a & ~b)), int(np.sum(~a & b))
        hits += wins > losses and _p(wins, losses) < alpha / comparisons
    return hits / reps


# --- the rejection region is mcnemar_exact's ------------------------------------------------


@pytest.mark.parametrize("level", [0.05, 0.05 / 8, 0.001])
def test_thresholds_are_the_boundary_of_mcnemar_exact_rejections(level):
    c = power_module._thresholds(level, 0, 151)
    for d in range(151):
        if c[d] <= d:
            assert c[d] > d - c[d] and mcnemar_exact(int(c[d]), int(d - c[d])) < level, d
        if c[d] - 1 > d - c[d] + 1:
            assert mcnemar_exact(int(c[d] - 1), int(d - c[d] + 1)) >= level, d


def test_thresholds_match_every_outcome_of_small_tables_and_a_tie_does_not_reject():
    level = mcnemar_exact(9, 1)  # a p-value hit exactly: p < level is the rule, so 9 of 10 does not reject
    c = power_module._thresholds(level, 0, 31)
    for d in range(31):
        for b in range(d + 1):
            expected = b > d - b and mcnemar_exact(b, d - b) < level
            assert (b >= c[d]) == expected, (d, b)
    assert c[10] == 10


# --- exact power against simulation ---------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "gain", "discordance", "accuracy", "comparisons"),
    [
        (120, 0.08, 0.2, 0.6, 1),
        (300, 0.04, 0.06, 0.7, 8),
        (80, 0.0, 0.3, 0.5, 1),
        (200, -0.02, 0.1, 0.8, 2),
    ],
)
def test_detection_power_agrees_with_simulated_mcnemar_tests(n, gain, discordance, accuracy, comparisons):
    reps = 4000
    exact = detection_power(n, gain, discordance, comparisons=comparisons)
    simulated = _simulated_power(
        n, gain, discordance, accuracy=accuracy, alpha=0.05, comparisons=comparisons, reps=reps, seed=n
    )
    se = math.sqrt(exact * (1 - exact) / reps)
    assert abs(simulated - exact) <= 4 * se + 1 / reps, (simulated, exact)


def test_detection_power_is_the_double_sum_over_discordant_items_and_wins():
    from scipy.stats import binom

    n, gain, d, level = 40, 0.1, 0.3, 0.05 / 2
    q = (d + gain) / (2 * d)
    brute = sum(
        binom.pmf(k, n, d) * binom.pmf(b, k, q)
        for k in range(n + 1)
        for b in range(k + 1)
        if b > k - b and _p(b, k - b) < level
    )
    assert detection_power(n, gain, d, comparisons=2) == pytest.approx(brute, rel=1e-10)


def test_power_grows_with_the_gain_and_reaches_the_chance_of_enough_discordant_items():
    d, n = 0.1, 150
    powers = [detection_power(n, g, d) for g in np.linspace(-d, d, 41)]
    assert np.all(np.diff(powers) >= -1e-12)
    # every discordant item won by steering: detected once D is large enough to reject at all
    from scipy.stats import binom

    d_min = next(k for k in range(1, n) if mcnemar_exact(k, 0) < 0.05)
    assert detection_power(n, d, d) == pytest.approx(binom.sf(d_min - 1, n, d), rel=1e-9)


def test_a_gain_equal_to_the_discordance_up_to_float_error_is_taken():
    assert detection_power(300, 0.1 - 0.04, 0.06) == detection_power(300, 0.06, 0.06)
    assert detection_power(300, -(0.1 - 0.04), 0.06) == 0.0


def test_no_gain_is_found_at_most_half_the_level_of_the_time():
    for n, d, m in [(50, 0.3, 1), (300, 0.06, 8), (1000, 0.5, 3), (7, 1.0, 1)]:
        assert detection_power(n, 0.0, d, comparisons=m) <= 0.05 / m / 2
    assert detection_power(100, 0.0, 0.0) == 0.0


# --- minimal detectable effect ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "discordance", "kwargs"),
    [
        (150, 0.1, {}),
        (300, 0.06, {"comparisons": 8}),
        (1000, 0.2, {"alpha": 0.01, "power": 0.9, "comparisons": 3}),
    ],
)
def test_mde_is_the_smallest_gain_reaching_the_power(n, discordance, kwargs):
    target = kwargs.get("power", 0.8)
    forwarded = {k: v for k, v in kwargs.items() if k != "power"}
    mde = minimal_detectable_effect(n, discordance, **kwargs)
    assert 0 < mde <= discordance
    assert detection_power(n, mde, discordance, **forwarded) >= target
    assert detection_power(n, mde - 1e-6, discordance, **forwarded) < target


def test_mde_rises_with_comparisons_and_falls_with_items():
    by_m = [minimal_detectable_effect(300, 0.06, comparisons=m) for m in (1, 2, 8, 40)]
    assert by_m == sorted(by_m) and len(set(by_m)) == 4
    by_n = [minimal_detectable_effect(n, 0.06) for n in (150, 300, 1200, 5000)]
    assert by_n == sorted(by_n, reverse=True) and len(set(by_n)) == 4


def test_mde_is_infinite_when_no_gain_can_be_seen():
    assert minimal_detectable_effect(10, 0.05) == math.inf  # about one discordant item
    assert minimal_detectable_effect(1000, 0.0) == math.inf
    assert detection_power(10, 0.05, 0.05) < 0.8


# --- items needed ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gain", "discordance", "comparisons"), [(0.02, 0.05, 1), (0.03, 0.06, 8), (0.1, 0.3, 2)]
)
def test_items_needed_agrees_with_the_mde(gain, discordance, comparisons):
    n = items_needed(gain, discordance, comparisons=comparisons)
    assert isinstance(n, int)
    assert minimal_detectable_effect(n, discordance, comparisons=comparisons) <= gain + 1e-7
    assert minimal_detectable_effect(n - 1, discordance, comparisons=comparisons) > gain


def test_items_needed_is_where_the_sawing_power_stays_above_the_target():
    # Every item discordant: D = n, and the exact test's power saws as n grows.
    max_n = 150
    powers = np.array([detection_power(m, 0.3, 1.0) for m in range(1, max_n + 1)])
    first = int(np.argmax(powers >= 0.8)) + 1
    stays = 1 + max(m for m in range(1, max_n + 1) if powers[m - 1] < 0.8)
    assert first < stays  # the saw dips below the target after first reaching it
    assert items_needed(0.3, 1.0, max_n=max_n) == stays


def test_items_needed_is_infinite_past_max_n():
    assert items_needed(0.02, 0.05, max_n=500) == math.inf
    assert detection_power(500, 0.02, 0.05) < 0.8


# --- discordance ------------------------------------------------------------------------------


def test_discordance_rate_of_one_or_several_conditions():
    assert discordance_rate([1, 1, 0, 0], [1, 0, 0, 1]) == 0.5
    assert discordance_rate(np.array([True, False]), [1, 0]) == 0.0
    randoms = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert discordance_rate(randoms, [1, 0, 0, 0]) == pytest.approx((0.25 + 0 + 0.25) / 3)


def test_assumed_discordance_is_that_of_independent_errors():
    assert assumed_discordance(0.5) == 0.5
    assert assumed_discordance(0.9) == pytest.approx(0.18)
    assert assumed_discordance(1.0) == 0.0
    rng = np.random.default_rng(0)
    a, b = rng.random(200_000) < 0.7, rng.random(200_000) < 0.7
    assert discordance_rate(a, b) == pytest.approx(assumed_discordance(0.7), abs=0.01)


# --- the verdict's sentence --------------------------------------------------------------------


def test_no_gain_note_names_a_detectable_gain():
    note = no_gain_note(1200, 0.06, comparisons=8)
    points = float(note.split("at least ")[1].split(" points")[0])
    assert note == f"no gain of at least {points:.1f} points (80% power)"
    mde = minimal_detectable_effect(1200, 0.06, comparisons=8)
    assert 100 * mde <= points < 100 * mde + 0.1
    assert detection_power(1200, points / 100, 0.06, comparisons=8) >= 0.8
    assert no_gain_note(300, 0.06, power=0.9).endswith("(90% power)")
    assert no_gain_note(20, 0.05).startswith("no gain could be detected")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: detection_power(0, 0.01, 0.05), r"n must be >= 1, got 0"),
        (lambda: detection_power(1.5, 0.01, 0.05), r"n must be an int"),
        (lambda: detection_power(True, 0.01, 0.05), r"n must be an int, got the bool"),
        (lambda: detection_power(MAX_ITEMS + 1, 0.01, 0.05), r"n must be at most 1,000,000 items"),
        (lambda: detection_power(100, 0.01, 1.5), r"discordance must be a rate in \[0, 1\], got 1.5"),
        (lambda: detection_power(100, 0.01, -0.1), r"discordance must be a rate in \[0, 1\]"),
        (lambda: detection_power(100, 0.1, 0.05), r"gain must lie in \[-discordance, discordance\]"),
        (lambda: detection_power(100, float("nan"), 0.05), r"gain must be a finite number"),
        (lambda: detection_power(100, 0.01, 0.05, alpha=1.0), r"alpha must be a level in \(0, 1\)"),
        (lambda: detection_power(100, 0.01, 0.05, alpha=0), r"alpha must be a level in \(0, 1\)"),
        (lambda: detection_power(100, 0.01, 0.05, comparisons=0), r"comparisons must be >= 1"),
        (lambda: minimal_detectable_effect(100, 0.05, power=80), r"power must be a probability in \(0, 1\)"),
        (lambda: minimal_detectable_effect(100, 0.05, power=1.0), r"power must be a probability"),
        (lambda: items_needed(0.0, 0.05), r"gain must be positive to be detected"),
        (lambda: items_needed(-0.01, 0.05), r"gain must be positive"),
        (lambda: items_needed(0.01, 0.05, max_n=0), r"max_n must be >= 1"),
        (lambda: items_needed(3, 0.05), r"gain must lie in .*a gain is a fraction: 0.03 is 3 points"),
        (lambda: discordance_rate([1, 0, 1], [1, 0]), r"a and b must hold one value per item .* 3 and 2"),
        (lambda: discordance_rate([[1, 0], [1, 0]], [1, 0, 1]), r"a\[0\] and b must hold one value"),
        (lambda: discordance_rate([[1, 0], [1]], [1, 0]), r"rows of different lengths"),
        (lambda: discordance_rate([1, 2], [1, 0]), r"a must hold 0/1 or bool per item, got 2 at index 1"),
        (lambda: discordance_rate("10", [1, 0]), r"a must be per-item correctness"),
        (lambda: discordance_rate(np.zeros((0, 3)), [1, 0, 1]), r"a holds no conditions"),
        (lambda: discordance_rate([1, 0], []), r"b is empty"),
        (lambda: assumed_discordance(1.2), r"accuracy must be a rate in \[0, 1\], got 1.2"),
    ],
)
def test_bad_input_is_refused_with_what_was_expected(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_detectable_gain_adds_steerings_wins_to_the_churn():
    # a churn too small for any fixed-discordance gain still leaves a detectable gain once wins add to it
    assert math.isinf(minimal_detectable_effect(300, 0.01, comparisons=2))
    g = detectable_gain(300, 0.01, comparisons=2)
    assert detection_power(300, g, 0.01 + g, comparisons=2) >= 0.8
    assert detection_power(300, g - 1e-4, 0.01 + g - 1e-4, comparisons=2) < 0.8
    # the planning model itself, simulated: churn split evenly, the gain all won
    simulated = _simulated_power(300, g, 0.01 + g, accuracy=0.95, alpha=0.05, comparisons=2, reps=2000, seed=5)
    assert abs(simulated - detection_power(300, g, 0.01 + g, comparisons=2)) < 4 * math.sqrt(0.8 * 0.2 / 2000)
    assert detectable_gain(1200, 0.01, comparisons=2) < g  # more items, a smaller detectable gain
    assert math.isinf(detectable_gain(3, 0.0))


def test_docstring_examples_run():
    result = doctest.testmod(power_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
