"""Shared fixtures: offline hub, a fixed seed, tiny random models of every supported family."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory per session holding the tiny checkpoints, built on first use."""
    return tmp_path_factory.mktemp("tiny")


_LOADED: dict[str, object] = {}


@pytest.fixture(scope="session")
def load_tiny(tiny_root: Path):
    """``load_tiny(family)`` -> an ``interp.MLLM`` over that family's tiny checkpoint (cached)."""
    from interp.models import load_mllm
    from interp.testing import tiny_mllm_dir

    def load(family: str):
        if family not in _LOADED:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _LOADED[family] = load_mllm(tiny_mllm_dir(family, tiny_root))
        return _LOADED[family]

    return load


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer, to check that nothing was changed."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


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
