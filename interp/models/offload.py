"""What accelerate's dispatch hooks say about a module: its execution device and offloaded weights.

A ``device_map`` that offloads modules (to the CPU or to disk) leaves their weights as empty meta
tensors on the module; the values live in the weights map of the accelerate hook that loads them
at each forward. ``TracedModel.device``, ``named_weights`` and ``offloaded`` read them from here.

Example:
    >>> execution_device(mllm.module.get_input_embeddings())   # doctest: +SKIP
    device(type='cuda', index=0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


def _hooks(module: torch.nn.Module) -> list[Any]:
    hook = getattr(module, "_hf_hook", None)
    if hook is None:
        return []
    return list(getattr(hook, "hooks", [hook]))


def weights_map(module: torch.nn.Module) -> Any:
    for hook in _hooks(module):
        if getattr(hook, "offload", False) and getattr(hook, "weights_map", None) is not None:
            return hook.weights_map
    return None


def execution_device(module: torch.nn.Module) -> torch.device | None:
    """The device accelerate runs ``module`` on (None when no dispatch hook says)."""
    for hook in _hooks(module):
        place = getattr(hook, "execution_device", None)
        if place is not None:
            return torch.device("cuda", place) if isinstance(place, int) else torch.device(place)
    return None


def offloaded_value(modules: Mapping[str, torch.nn.Module], name: str, p: Tensor) -> Tensor:
    """The values of parameter ``name`` (meta on the module) from the nearest hook's weights map."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, -1, -1):
        owner = modules.get(".".join(parts[:cut]))
        wmap = weights_map(owner) if owner is not None else None
        if wmap is not None:
            try:
                return torch.as_tensor(wmap[".".join(parts[cut:])])
            except KeyError:
                continue
    return p


__all__ = ["execution_device", "offloaded_value", "weights_map"]
