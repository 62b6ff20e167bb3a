"""What a dtype can hold: the largest edit of the residual stream that can still be computed, and the
advice when a steered run overflows.

Every norm layer squares the residual stream (RMSNorm / LayerNorm in float32 or wider), so an edit
whose size ``|alpha * v|`` reaches the square root of the largest number of that dtype (about
1.8e19 for float32 and bfloat16) turns the next norm's output into zeros or NaN. A float16 model
also holds no element beyond 65504. Steering (``interp.steering.validate``) and the sweep's cells
refuse such edits before anything runs, with the same words.

Example:
    >>> round(edit_size_limit(torch.float32) / 1e19, 2)
    1.84
    >>> edit_too_large(torch.float16, torch.tensor([70000.0], dtype=torch.float64), "|value|") is not None
    True
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def edit_size_limit(dtype: torch.dtype) -> float:
    """Largest ``|edit|`` whose square the norm layers can still hold (see the module docstring)."""
    compute = torch.promote_types(dtype, torch.float32) if dtype.is_floating_point else torch.float32
    return math.sqrt(torch.finfo(compute).max)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def overflow_advice(dtype: torch.dtype, smaller: str = "a smaller strength") -> str:
    """The advice for an edit or a run the model's dtype cannot hold."""
    if dtype == torch.float16:
        return (
            f"use {smaller}, or load the model in bfloat16 or float32 (float16 holds numbers up "
            "to 65504 only)"
        )
    return f"use {smaller}"


def edit_too_large(dtype: torch.dtype, edit: Tensor, what: str) -> str | None:
    """Why an edit (float64 values) cannot be computed in ``dtype``, or None when it can."""
    if not dtype.is_floating_point:
        return None
    size, largest = float(edit.norm()), float(edit.abs().max())
    limit = edit_size_limit(dtype)
    top = torch.finfo(dtype).max
    if size >= limit:
        return (
            f"{what} = {size:.3g} is too large to compute in {dtype_name(dtype)}: an edit must stay "
            f"below {limit:.3g}"
        )
    if largest > top:
        return (
            f"{what} has an element of size {largest:.3g}, beyond the largest "
            f"{dtype_name(dtype)} number ({top:.5g}): the edited hidden states would be inf"
        )
    return None


__all__ = ["dtype_name", "edit_size_limit", "edit_too_large", "overflow_advice"]
