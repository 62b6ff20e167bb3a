"""Arguments users pass in: numbers and flags converted to plain Python values, or refused.

Numbers arrive as Python ints and floats, but also as numpy scalars (``np.int64(2)`` from
``np.arange``) and 0-d tensors (``torch.tensor(4.0)`` from a sweep grid): ``as_int`` and
``as_float`` accept all of those and return plain Python numbers, and refuse bools (``True`` is
an int to Python, never a layer or a strength to a user) and strings. ``as_bool`` takes only a
real bool: ``"False"`` is a truthy string, never a flag. The command line's ``--param key=value``
values are parsed by ``parse_value``.

Example:
    >>> import numpy as np
    >>> as_int(np.int64(2), "layer"), as_float(np.float32(0.5), "alpha")
    (2, 0.5)
"""

from __future__ import annotations

import json
import math
import numbers
import operator
from typing import Any


def _is_bool(value: Any) -> bool:
    if isinstance(value, bool) or type(value).__name__ == "bool_":  # numpy.bool_
        return True
    dtype = getattr(value, "dtype", None)
    return dtype is not None and str(dtype) in ("bool", "torch.bool")


def _is_scalar_tensor(value: Any) -> bool:
    return hasattr(value, "dim") and hasattr(value, "item") and value.dim() == 0


def as_int(value: Any, what: str, *, minimum: int | None = None) -> int:
    """``value`` as a Python int: ints, numpy integers and 0-d integer tensors; not bools.

    Raises:
        ValueError: naming ``what``, the value and what was expected.

    Example:
        >>> as_int(3, "top_k", minimum=1)
        3
    """
    if _is_bool(value):
        raise ValueError(f"{what} must be an int, got the bool {value!r}")
    if hasattr(value, "dim") and value.dim() != 0:
        raise ValueError(f"{what} must be one int, got a tensor of shape {tuple(value.shape)}")
    try:
        out = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an int, got {value!r} ({type(value).__name__})") from None
    if minimum is not None and out < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {out}")
    return out


def as_float(value: Any, what: str) -> float:
    """``value`` as a finite Python float: ints, floats, numpy scalars, 0-d tensors; not bools.

    Raises:
        ValueError: not a number, a bool, or NaN/inf.

    Example:
        >>> as_float(2, "alpha")
        2.0
    """
    if _is_bool(value):
        raise ValueError(f"{what} must be a finite number, got the bool {value!r}")
    if _is_scalar_tensor(value) and not value.dtype.is_complex:
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a finite number, got {value!r} ({type(value).__name__})")
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return out


def as_bool(value: Any, what: str) -> bool:
    """``value`` as a bool: ``True``/``False`` (or numpy bools); ``"no"`` or ``0`` is an error.

    Example:
        >>> as_bool(False, "above")
        False
    """
    if not _is_bool(value) or tuple(getattr(value, "shape", ())) != ():
        raise ValueError(f"{what} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def parse_value(raw: str) -> Any:
    """A command-line value: ``true``/``false``/``none`` in any case, JSON where it parses (``5``,
    ``0.5``, ``[1, 2]``, a quoted string), else the text itself.

    Example:
        >>> parse_value("5"), parse_value("True"), parse_value("none"), parse_value("organism")
        (5, True, None, 'organism')
    """
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


__all__ = ["as_bool", "as_float", "as_int", "parse_value"]
