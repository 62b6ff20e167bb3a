"""interp.formatting: the one way tables, reports, verdicts, cards and figure labels write results."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest

import interp.formatting as formatting
from interp.formatting import finite, flag, interval, interval_of, missing, point_label, points


def test_the_module_examples_hold():
    result = doctest.testmod(formatting)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("x", [None, float("nan"), np.float32("nan"), np.float64("nan"), pd.NA])
def test_a_value_not_measured_is_written_as_a_dash(x):
    assert missing(x)
    assert points(x) == "-"
    assert flag(x) == "-"
    assert interval(x, 0.0, 0.1) == "-"


@pytest.mark.parametrize("x", [0.0, 0, False, np.float32(0.25), "text", math.inf])
def test_a_measured_value_is_not_missing(x):
    assert not missing(x)


def test_points_are_signed_hundredths_with_the_digits_asked():
    assert points(0.02) == "+2.0"
    assert points(-0.0125, digits=2) == "-1.25"
    assert points(np.float32(0.5)) == "+50.0"
    assert points(math.inf) == "+inf"  # unbounded is not unmeasured


def test_an_interval_follows_its_estimate_and_reads_a_row_by_its_column_names():
    row = pd.Series({"rep_gain": 0.031, "rep_gain_low": -0.004, "rep_gain_high": 0.066})
    assert interval_of(row, "rep_gain") == "+3.1 [-0.4, +6.6]"
    assert interval_of(row.to_dict(), "rep_gain", digits=2) == "+3.10 [-0.40, +6.60]"
    assert interval_of({}, "rep_gain") == "-"  # a record without the column did not measure it
    assert interval(0.01, None, 0.02) == "+1.0 [-, +2.0]"


def test_flags_and_cells():
    assert [flag(x) for x in (True, np.bool_(False), 1.0, 0)] == ["yes", "no", "yes", "no"]
    assert point_label(np.int64(3), np.float64(-0.25)) == "L3 @ -0.25"
    assert point_label(0, 2) == "L0 @ +2"
    assert [finite(x) for x in (1, "2.5", float("nan"), None, "x")] == [True, True, False, False, False]


@pytest.mark.parametrize("x", [None, float("nan"), np.float32("nan"), pd.NA, False, 0.0])
def test_a_flag_not_measured_or_false_does_not_hold(x):
    # evaluation.tables.measured reads "not measured" as formatting.missing does: a float32 NaN
    # once counted as a flag that holds, and pandas' NA raised
    from interp.evaluation.tables import measured

    assert not measured(x)
    assert measured(True) and measured(np.bool_(True)) and measured(1.0)
