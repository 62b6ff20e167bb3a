"""How a result's numbers are written for a reader: gains in points, intervals, flags, cells.

Every table, report, verdict, card and figure label of ``interp`` writes results the same way,
and this module is where that way is kept:

- a gain (a fraction of items) is written as signed points: ``+2.0`` is two points;
- an interval follows its estimate in brackets: ``+2.0 [+1.3, +2.7]``;
- a value that was not measured (``None`` or NaN) is written ``-``, never ``nan``;
- a flag is ``yes`` / ``no``, or ``-`` where it was not measured;
- a chosen cell is its layer and signed strength: ``L2 @ +1``.

Example:
    >>> interval(0.02, 0.013, 0.027), flag(float("nan")), point_label(2, 1.0)
    ('+2.0 [+1.3, +2.7]', '-', 'L2 @ +1')
"""

from __future__ import annotations

import math
from typing import Any


def missing(x: Any) -> bool:
    """True for a value that was not measured: ``None``, NaN or pandas' ``NA``.

    Example:
        >>> missing(None), missing(float("nan")), missing(0.0)
        (True, True, False)
    """
    if x is None:
        return True
    try:
        return bool(x != x)  # NaN, of any float type, is the one value unequal to itself
    except TypeError:  # pandas' NA, whose comparisons have no truth value
        return True
    except ValueError:  # an array: a value, not a missing one
        return False


def finite(x: Any) -> bool:
    """True for a real number that is not NaN or infinite.

    Example:
        >>> finite(0.5), finite(float("inf")), finite(None), finite("x")
        (True, False, False, False)
    """
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def points(x: Any, digits: int = 1) -> str:
    """A gain (a fraction) as signed points; ``-`` where it was not measured.

    Example:
        >>> points(0.0275), points(0.0275, digits=2), points(None)
        ('+2.8', '+2.75', '-')
    """
    return "-" if missing(x) else f"{100 * float(x):+.{digits}f}"


def interval(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """An estimate in points with its interval after it; ``-`` where the estimate was not measured.

    Example:
        >>> interval(0.02, 0.013, 0.027), interval(float("nan"), 0.0, 0.0)
        ('+2.0 [+1.3, +2.7]', '-')
    """
    if missing(value):
        return "-"
    return f"{points(value, digits)} [{points(low, digits)}, {points(high, digits)}]"


def interval_of(row: Any, column: str, digits: int = 1) -> str:
    """``interval`` of a table row's ``column`` with its ``column_low`` and ``column_high``.

    ``row`` is anything with ``.get`` (a pandas row, a dict, a JSON record); a column it lacks
    counts as not measured.

    Example:
        >>> interval_of({"gain": 0.02, "gain_low": 0.013, "gain_high": 0.027}, "gain")
        '+2.0 [+1.3, +2.7]'
    """
    return interval(row.get(column), row.get(f"{column}_low"), row.get(f"{column}_high"), digits)


def flag(x: Any) -> str:
    """A yes/no result: ``yes``, ``no``, or ``-`` where it was not measured (None or NaN).

    Example:
        >>> flag(True), flag(0.0), flag(None)
        ('yes', 'no', '-')
    """
    return "-" if missing(x) else ("yes" if bool(x) else "no")


def point_label(layer: Any, strength: Any) -> str:
    """A chosen cell as the paper writes it: the layer and the signed strength.

    Example:
        >>> point_label(0, -0.5), point_label(2, 1)
        ('L0 @ -0.5', 'L2 @ +1')
    """
    return f"L{int(layer)} @ {float(strength):+g}"


__all__ = ["finite", "flag", "interval", "interval_of", "missing", "point_label", "points"]
