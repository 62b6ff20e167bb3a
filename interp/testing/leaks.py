"""Checks that an operation left nothing behind on a model: hooks, patched forwards, weights.

``nothing_left(module)`` wraps an operation and fails if, once it is over (returned or raised),
the module has a hook, an instance ``forward`` or a parameter or buffer that differs from before.
``fail_on_call(module, n)`` makes the n-th call of a submodule raise ``InjectedFailure``, to
check that an operation interrupted half-way cleans up too.

Example:
    >>> with pytest.raises(InjectedFailure), nothing_left(mllm.module):      # doctest: +SKIP
    ...     with fail_on_call(mllm.torch_layers[2]):
    ...         steered_logits(mllm, inputs, add(v, 1, 4.0))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


class InjectedFailure(RuntimeError):
    """The failure ``fail_on_call`` raises inside a module's forward."""


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer, to check later that nothing was changed."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same_weights(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    """Whether ``module``'s parameters and buffers are bitwise equal to a ``snapshot``."""
    return not changed_weights(before, module)


def changed_weights(before: dict[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    """Names of the parameters and buffers that differ from a ``snapshot`` (added or removed too)."""
    after = module.state_dict()
    names = sorted(set(before) ^ set(after))
    names += [k for k in before if k in after and not _bitwise_equal(before[k], after[k])]
    return names


def _bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


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
            ("backward_pre_hook", m._backward_pre_hooks),
            ("state_dict_hook", m._state_dict_hooks),
        ):
            for h in hooks.values():
                if getattr(h, "__name__", "") != "output_capturing_hook":
                    state.add((name, kind, id(h)))
        if "forward" in m.__dict__:
            state.add((name, "forward", id(m.__dict__["forward"])))
    for kind, hooks in (
        ("global_forward_hook", torch.nn.modules.module._global_forward_hooks),
        ("global_forward_pre_hook", torch.nn.modules.module._global_forward_pre_hooks),
    ):
        for h in hooks.values():
            state.add(("", kind, id(h)))
    return state


@contextlib.contextmanager
def nothing_left(*modules: torch.nn.Module) -> Iterator[None]:
    """Fail (AssertionError) if the body leaves a hook, a patched forward or changed weights.

    The check runs when the body returns and when it raises; a leak is reported in place of
    the body's exception, naming what was left.

    Example:
        >>> with nothing_left(mllm.module):   # doctest: +SKIP
        ...     steered_logits(mllm, inputs, steers)
    """
    before = [(hook_state(m), snapshot(m)) for m in modules]
    try:
        yield
    finally:
        for m, (hooks, weights) in zip(modules, before):
            extra, gone = hook_state(m) - hooks, hooks - hook_state(m)
            changed = changed_weights(weights, m)
            if extra or gone or changed:
                raise AssertionError(
                    f"{type(m).__name__} was left changed: hooks or forwards added {sorted(extra)}, "
                    f"removed {sorted(gone)}; parameters or buffers changed {changed[:10]}"
                )


@contextlib.contextmanager
def fail_on_call(module: Any, n: int = 1, message: str = "injected failure") -> Iterator[list[int]]:
    """Make the ``n``-th forward call of ``module`` (a torch module) raise ``InjectedFailure``.

    Yields a one-element list counting the calls so far. The hook that raises is removed on
    exit, so it never counts as a leak of the operation under test.

    Example:
        >>> with fail_on_call(mllm.torch_layers[2], n=2):   # doctest: +SKIP
        ...     steered_generate(mllm, inputs, steers)       # raises in the second decode step
    """
    calls = [0]

    def hook(mod: torch.nn.Module, args: Any) -> None:
        calls[0] += 1
        if calls[0] == n:
            raise InjectedFailure(f"{message} (call {n} of {type(mod).__name__})")

    handle = module.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()
