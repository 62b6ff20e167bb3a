"""Tests for interp.evaluation.stats: intervals, McNemar against scipy, Holm by hand, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from interp.stats import (
    Estimate,
    PairedComparison,
    RandomControl,
    accuracy,
    bonferroni,
    holm,
    mcnemar_exact,
    paired_difference,
    random_control,
    selection_note,
)

N_BOOT = 2000


def _correctness(n: int, p: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(int)


# --- McNemar ---------------------------------------------------------------------------------


def test_mcnemar_matches_scipy_binomtest_on_every_small_table() -> None:
    for n in range(1, 61):
        for a_only in range(n + 1):
            expected = binomtest(a_only, n, 0.5).pvalue
            assert mcnemar_exact(a_only, n - a_only) == pytest.approx(expected, rel=1e-12), (
                a_only,
                n - a_only,
            )


@pytest.mark.parametrize(
    ("a_only", "b_only"),
    [
        (0, 1),
        (0, 150),
        (75, 75),
        (74, 76),
        (60, 90),
        (4990, 5010),  # exact integer path, near the middle
        (10_000, 9_000),  # float path, tiny p
        (9_800, 10_200),
        (100_000, 99_000),
        (500_000, 499_000),
        (1_000_000, 1_000_001),  # odd n, the middle: p = 1
        (10_000_000, 10_000_002),  # the neighbour is within scipy's 1e-7 tolerance: p = 1
        (10_000_000, 10_000_003),  # just outside the tolerance
        (3, 60_000),  # underflows to 0 in both
    ],
)
def test_mcnemar_matches_scipy_binomtest_on_large_and_edge_tables(a_only: int, b_only: int) -> None:
    expected = binomtest(a_only, a_only + b_only, 0.5).pvalue
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected, rel=1e-11, abs=1e-300)
    assert mcnemar_exact(b_only, a_only) == mcnemar_exact(a_only, b_only)


def test_mcnemar_by_hand() -> None:
    # 9 vs 1: both tails of Binomial(10, 1/2) beyond 1, i.e. 2 * (1 + 10) / 2**10.
    assert mcnemar_exact(9, 1) == 22 / 1024
    assert mcnemar_exact(3, 0) == 2 / 8
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(np.int64(5), np.int64(5)) == 1.0


@pytest.mark.parametrize(
    ("a_only", "b_only", "match"),
    [
        (-1, 3, r"a_only must be a count \(a non-negative integer\), got -1"),
        (2, -4, r"b_only must be a count \(a non-negative integer\), got -4"),
        (1.5, 3, r"a_only must be a count \(a non-negative integer\), got 1.5"),
        (2, True, r"b_only must be a count \(a non-negative integer\), got True"),
    ],
)
def test_mcnemar_refuses_non_counts(a_only, b_only, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mcnemar_exact(a_only, b_only)


# --- accuracy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1])
def test_accuracy_interval_of_a_constant_vector_is_a_point(value: int) -> None:
    est = accuracy([value] * 40, n_boot=N_BOOT)
    assert est.value == est.low == est.high == value
    assert est.n == 40


def test_accuracy_by_hand() -> None:
    # Bootstrap means of [1, 1, 0, 1] follow Binomial(4, 3/4) / 4: P(0) = 1/256, P(1/4) = 12/256,
    # so the 2.5% quantile is 1/4; P(1) = 81/256 > 2.5%, so the 97.5% quantile is 1.
    est = accuracy([1, 1, 0, 1], n_boot=20_000)
    assert (est.value, est.low, est.high, est.n, est.level) == (0.75, 0.25, 1.0, 4, 0.95)


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_interval_contains_the_estimate(seed: int) -> None:
    x = _correctness(150, 0.2 + 0.15 * seed, seed)
    est = accuracy(x, n_boot=N_BOOT, seed=seed)
    assert est.value == x.mean()
    assert est.low < est.value < est.high


def test_accuracy_equals_a_bootstrap_over_item_indices() -> None:
    # Drawing the resample's count of correct items is the index bootstrap, not an approximation.
    x = _correctness(150, 0.67, seed=1)
    rng = np.random.default_rng(123)
    means = x[rng.integers(0, x.size, size=(20_000, x.size))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    est = accuracy(x, n_boot=20_000)
    assert est.low == pytest.approx(low, abs=2 / x.size)
    assert est.high == pytest.approx(high, abs=2 / x.size)
    # And both sit near the normal approximation's half-width 1.96 * sd.
    half = 1.96 * np.sqrt(x.mean() * (1 - x.mean()) / x.size)
    assert (est.high - est.low) / 2 == pytest.approx(half, rel=0.15)


def test_accuracy_is_deterministic_given_the_seed() -> None:
    x = _correctness(150, 0.6, seed=2)
    assert accuracy(x, n_boot=N_BOOT, seed=7) == accuracy(x, n_boot=N_BOOT, seed=7)
    draws = {(e.low, e.high) for e in (accuracy(x, n_boot=N_BOOT, seed=s) for s in range(10))}
    assert len(draws) > 1


def test_accuracy_wider_level_gives_wider_interval() -> None:
    x = _correctness(150, 0.6, seed=3)
    widths = [
        (e.high - e.low) for e in (accuracy(x, level=lv, n_boot=N_BOOT) for lv in (0.5, 0.9, 0.99))
    ]
    assert widths[0] < widths[1] < widths[2]


def test_accuracy_accepts_bools_floats_and_arrays_alike() -> None:
    ints = [1, 0, 1, 1, 0]
    expected = accuracy(ints, n_boot=N_BOOT)
    for same in ([bool(v) for v in ints], [float(v) for v in ints], np.array(ints, dtype=bool)):
        assert accuracy(same, n_boot=N_BOOT) == expected


def test_estimate_is_frozen_and_gives_a_dataframe_row() -> None:
    est = accuracy([1, 0, 1], n_boot=N_BOOT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        est.value = 0.0  # type: ignore[misc]
    row = est.to_dict()
    assert list(row) == ["value", "low", "high", "n", "level"]
    assert all(type(v) in (float, int) for v in row.values())
    frame = pd.DataFrame([row, accuracy([1, 1, 1], n_boot=N_BOOT).to_dict()])
    assert frame["value"].tolist() == [pytest.approx(2 / 3), 1.0]
    assert isinstance(est, Estimate)


@pytest.mark.parametrize(
    ("correct", "match"),
    [
        ([], r"correct is empty: need at least one value"),
        ([1, 0, 2], r"correct must hold 0/1 or bool per item, got 2 at index 2"),
        ([1, 0.5], r"correct must hold 0/1 or bool per item, got 0.5 at index 1"),
        ([1, float("nan")], r"correct must hold 0/1 or bool per item, got nan at index 1"),
        (["1", "0"], r"correct must hold 0/1 or bool per item, got values of dtype <U1"),
        ("1010", r"correct must be a sequence or 1-D array, got a string"),
        ([[1, 0], [0, 1]], r"correct must be a sequence or 1-D array, got shape \(2, 2\)"),
        (1, r"correct must be a sequence or 1-D array, got shape \(\)"),
    ],
)
def test_accuracy_refuses_bad_correctness(correct, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        accuracy(correct, n_boot=N_BOOT)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"level": 0.0}, r"level must be a confidence level in \(0, 1\), got 0.0"),
        ({"level": 1.0}, r"level must be a confidence level in \(0, 1\), got 1.0"),
        ({"level": 95}, r"level must be a confidence level in \(0, 1\), got 95"),
        ({"n_boot": 99}, r"n_boot must be an integer of at least 100 resamples, got 99"),
        ({"n_boot": 1000.0}, r"n_boot must be an integer of at least 100 resamples, got 1000.0"),
    ],
)
def test_accuracy_refuses_bad_level_and_n_boot(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        accuracy([1, 0, 1], **kwargs)


# --- paired difference ---------------------------------------------------------------------------


def test_paired_difference_of_identical_vectors_is_zero_with_p_one() -> None:
    x = _correctness(150, 0.7, seed=4)
    c = paired_difference(x, x, n_boot=N_BOOT)
    assert (c.diff, c.low, c.high, c.a_only, c.b_only, c.p_value) == (0.0, 0.0, 0.0, 0, 0, 1.0)
    assert c.n == 150


def test_paired_difference_by_hand() -> None:
    # a_only = 2, b_only = 0 of 4 items: bootstrap diffs are Binomial(4, 1/2) / 4, with
    # P(0) = P(1) = 1/16 > 2.5%, so the 95% interval is [0, 1]; McNemar p = 2 * (1/2)**2.
    c = paired_difference([1, 1, 1, 0], [1, 0, 0, 0], n_boot=20_000)
    assert (c.diff, c.low, c.high, c.n, c.a_only, c.b_only) == (0.5, 0.0, 1.0, 4, 2, 0)
    assert c.p_value == 0.5


def test_paired_difference_counts_and_p_value_agree_with_the_table() -> None:
    a = _correctness(150, 0.6, seed=5)
    b = _correctness(150, 0.5, seed=6)
    c = paired_difference(a, b, n_boot=N_BOOT)
    assert c.a_only == int(((a == 1) & (b == 0)).sum())
    assert c.b_only == int(((a == 0) & (b == 1)).sum())
    assert c.diff == pytest.approx(a.mean() - b.mean())
    assert c.p_value == pytest.approx(binomtest(c.a_only, c.a_only + c.b_only).pvalue, rel=1e-12)
    assert c.low < c.diff < c.high


def test_paired_difference_equals_a_paired_bootstrap_over_item_indices() -> None:
    # b differs from a on a few items only: a paired bootstrap gives a narrow interval, much
    # narrower than resampling a and b independently would.
    a = _correctness(150, 0.6, seed=7)
    b = a.copy()
    b[np.flatnonzero(a == 1)[:9]] = 0
    b[np.flatnonzero(a == 0)[:2]] = 1
    rng = np.random.default_rng(321)
    idx = rng.integers(0, a.size, size=(20_000, a.size))
    diffs = a[idx].mean(axis=1) - b[idx].mean(axis=1)
    low, high = np.quantile(diffs, [0.025, 0.975])
    c = paired_difference(a, b, n_boot=20_000)
    assert (c.a_only, c.b_only) == (9, 2)
    assert c.low == pytest.approx(low, abs=2 / a.size)
    assert c.high == pytest.approx(high, abs=2 / a.size)
    unpaired = np.sqrt(a.mean() * (1 - a.mean()) / a.size + b.mean() * (1 - b.mean()) / b.size)
    assert c.high - c.low < 2 * 1.96 * unpaired / 2


def test_paired_difference_is_deterministic_and_wider_at_higher_level() -> None:
    a = _correctness(150, 0.6, seed=8)
    b = _correctness(150, 0.55, seed=9)
    assert paired_difference(a, b, n_boot=N_BOOT, seed=3) == paired_difference(
        a, b, n_boot=N_BOOT, seed=3
    )
    assert paired_difference(a, b, n_boot=N_BOOT, seed=3) != paired_difference(
        a, b, n_boot=N_BOOT, seed=4
    )
    widths = [
        c.high - c.low
        for c in (paired_difference(a, b, level=lv, n_boot=N_BOOT) for lv in (0.5, 0.9, 0.99))
    ]
    assert widths[0] < widths[1] < widths[2]


def test_paired_comparison_gives_a_dataframe_row() -> None:
    c = paired_difference([1, 0, 1, 1], [0, 0, 1, 0], n_boot=N_BOOT)
    row = c.to_dict()
    assert list(row) == ["diff", "low", "high", "n", "a_only", "b_only", "p_value", "level"]
    assert pd.DataFrame([row]).loc[0, "a_only"] == 2
    assert isinstance(c, PairedComparison)


@pytest.mark.parametrize(
    ("a", "b", "kwargs", "match"),
    [
        (
            [1, 0, 1],
            [1, 0],
            {},
            r"a and b must hold one value per item of the same items: got 3 and 2 values",
        ),
        ([], [], {}, r"a is empty: need at least one value"),
        ([1, 0], [1, 3], {}, r"b must hold 0/1 or bool per item, got 3 at index 1"),
        ([1, 0], [1, 0], {"level": -0.1}, r"level must be a confidence level in \(0, 1\)"),
        ([1, 0], [1, 0], {"n_boot": 10}, r"n_boot must be an integer of at least 100"),
    ],
)
def test_paired_difference_refuses_bad_input(a, b, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        paired_difference(a, b, **kwargs)


# --- random control ------------------------------------------------------------------------------


def test_random_control_by_hand() -> None:
    # One of four random gains reaches 0.05: p = (1 + 1) / (1 + 4). The 95% quantile of
    # [-0.02, 0, 0.01, 0.06] interpolates 85% of the way from 0.01 to 0.06: 0.0525 > 0.05.
    rc = random_control(0.05, [0.0, 0.01, -0.02, 0.06])
    assert rc.p_value == pytest.approx(0.4)
    assert rc.mean_random == pytest.approx(0.0125)
    assert rc.quantile_value == pytest.approx(0.0525)
    assert (rc.observed, rc.n_random, rc.beats_quantile) == (0.05, 4, False)
    assert random_control(0.05, [0.0, 0.01, -0.02, 0.06], quantile=0.5).beats_quantile


def test_random_control_ties_count_against_the_observed_gain() -> None:
    assert random_control(0.02, [0.02, 0.0, 0.0]).p_value == pytest.approx(2 / 4)
    assert random_control(0.03, [0.02, 0.0, 0.0]).p_value == pytest.approx(1 / 4)


def test_random_control_p_value_is_never_zero_and_at_most_one() -> None:
    gains = np.random.default_rng(0).normal(0, 0.01, size=99)
    best = random_control(1.0, gains)
    assert best.p_value == pytest.approx(1 / 100)
    assert best.beats_quantile
    worst = random_control(-1.0, gains)
    assert worst.p_value == 1.0
    assert not worst.beats_quantile
    single = random_control(0.1, [0.0])
    assert (single.p_value, single.n_random, single.beats_quantile) == (0.5, 1, True)
    assert isinstance(single, RandomControl)
    assert list(single.to_dict()) == [
        "observed",
        "n_random",
        "mean_random",
        "quantile_value",
        "p_value",
        "beats_quantile",
    ]


@pytest.mark.parametrize(
    ("observed", "gains", "kwargs", "match"),
    [
        (0.1, [], {}, r"random_gains is empty: need at least one value"),
        (0.1, [0.0, float("nan")], {}, r"random_gains must be finite, got nan at index 1"),
        (0.1, [True, False], {}, r"random_gains must hold real numbers, got values of dtype bool"),
        (float("inf"), [0.0], {}, r"observed_gain must be finite, got inf"),
        ("0.1", [0.0], {}, r"observed_gain must be a number, got '0.1'"),
        (0.1, [0.0], {"quantile": 0.0}, r"quantile must be in \(0, 1\], got 0.0"),
        (0.1, [0.0], {"quantile": 95}, r"quantile must be in \(0, 1\], got 95"),
    ],
)
def test_random_control_refuses_bad_input(observed, gains, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        random_control(observed, gains, **kwargs)


# --- multiple testing ----------------------------------------------------------------------------


def _holm_reference(p: list[float]) -> list[float]:
    """Holm's step-down written out: the i-th smallest p times (m - i), never below the previous."""
    m = len(p)
    ranked = sorted(range(m), key=lambda i: (p[i], i))
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(ranked):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_holm_by_hand() -> None:
    # Sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> kept at 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([0.2]) == [0.2]


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_the_written_out_step_down(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=12) ** 2
    p[3] = p[7]  # a tie
    p[0] = 0.9
    adjusted = holm(p)
    assert adjusted == pytest.approx(_holm_reference(p.tolist()))
    order = np.argsort(p)
    assert np.all(np.diff(np.asarray(adjusted)[order]) >= 0)  # monotone in the raw p
    assert all(a >= r for a, r in zip(adjusted, p))
    assert all(h <= b for h, b in zip(adjusted, bonferroni(p)))
    assert max(adjusted) <= 1.0


def test_bonferroni_by_hand() -> None:
    assert bonferroni([0.01, 0.2]) == pytest.approx([0.02, 0.4])
    assert bonferroni([0.01, 0.2], m=10) == pytest.approx([0.1, 1.0])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: holm([]), r"p_values is empty: need at least one value"),
        (lambda: holm([0.1, 1.2]), r"p_values must lie in \[0, 1\], got 1.2"),
        (lambda: holm([0.1, float("nan")]), r"p_values must be finite, got nan at index 1"),
        (lambda: bonferroni([-0.1]), r"p_values must lie in \[0, 1\], got -0.1"),
        (
            lambda: bonferroni([0.1, 0.2, 0.3], m=2),
            r"m must be an integer at least the number of p-values \(3\), got 2",
        ),
        (
            lambda: bonferroni([0.1], m=2.5),
            r"m must be an integer at least the number of p-values \(1\), got 2.5",
        ),
    ],
)
def test_corrections_refuse_bad_input(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


# --- selection note ------------------------------------------------------------------------------


def test_selection_note_names_the_cells_and_both_splits() -> None:
    note = selection_note(120, 240, 150)
    assert note == (
        "The cell was chosen as the best of 120 cells on 240 train items; the figures are from "
        "the 150 held-out test items, which played no part in the choice."
    )
    assert selection_note(1, 1, 1) == (
        "The cell was the only one tried on 1 train item; the figures are from the 1 held-out test "
        "item, which played no part in the choice."
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 240, 150), r"n_cells must be a positive integer, got 0"),
        ((10, 24.5, 150), r"n_items_train must be a positive integer, got 24.5"),
        ((10, 240, -1), r"n_items_test must be a positive integer, got -1"),
    ],
)
def test_selection_note_refuses_non_positive_counts(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        selection_note(*args)
