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

# On a small shared CPU, two intra-op threads make small forward passes many times slower than one
# (measured 25x on the patching tests); the suite runs its models on one thread.
torch.set_num_threads(1)


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
