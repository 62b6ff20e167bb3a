"""Checks that an operation left nothing behind on a model: hooks, patched forwards, weights.

Example:
    >>> before = hook_state(model), snapshot(model)      # doctest: +SKIP
    >>> ...                                               # doctest: +SKIP
    >>> assert hook_state(model) == before[0]             # doctest: +SKIP
"""

from __future__ import annotations

import torch


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer, to check later that nothing was changed."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    """Whether ``module``'s parameters and buffers are bitwise equal to a ``snapshot``."""
    after = module.state_dict()
    return before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def hook_state(module: torch.nn.Module) -> set[tuple[str, str, int]]:
    """Every hook and instance-level ``forward`` in ``module``, to compare before and after a call.

    transformers installs ``output_capturing_hook`` on some submodules at the first forward
    pass by itself, so those are left out; nnsight wraps ``forward`` once, at load time, so a
    call must leave those wrappers exactly as they were.
    """
    state = set()
    for name, m in module.named_modules():
        for kind, hooks in (
            ("forward_hook", m._forward_hooks),
            ("forward_pre_hook", m._forward_pre_hooks),
            ("backward_hook", m._backward_hooks),
        ):
            for h in hooks.values():
                if getattr(h, "__name__", "") != "output_capturing_hook":
                    state.add((name, kind, id(h)))
        if "forward" in m.__dict__:
            state.add((name, "forward", id(m.__dict__["forward"])))
    return state
