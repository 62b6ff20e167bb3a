"""Fixtures for the analysis tests: the organism (model, backbone, items, a textual vector), tiny
PaliGemma items, and direct computations that do not go through interp or nnsight."""

from __future__ import annotations

import pytest
import torch

from interp.analysis.common import as_items
from interp.items import Item
from interp.testing import tiny_image


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The analyses run many small traces: on a shared CPU two threads were 25x slower than one."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def organism():
    from interp.models import load_mllm

    return load_mllm("organism")


@pytest.fixture(scope="session")
def organism_text():
    from interp.models import load_text_backbone

    return load_text_backbone(mllm="organism")


@pytest.fixture(scope="session")
def test_items():
    """One held-out test item per task (Count, Relation, Depth, Distance, Attribute)."""
    from interp.organism.scenes import make_split

    return as_items(make_split("test", 1))


@pytest.fixture(scope="session")
def counting(organism_text):
    from interp.vectors import compute

    return compute(organism_text, "counting", "meanshift", source="organism")


@pytest.fixture(scope="session")
def tiny(load_tiny):
    return load_tiny("paligemma")


def _tiny_items(n: int = 2, *, seed: int = 0, answer: int = 0) -> list[Item]:
    """``n`` two-choice items on random images; item ``i`` uses image seed ``seed + i``."""
    return [
        Item(f"tiny/{seed + i}", (tiny_image(seed=seed + i),), "Is the red cube left of the sphere?",
             ("yes", "no"), answer, task="Relation", source="tiny")
        for i in range(n)
    ]


def _hooked_outputs(mllm, inputs):
    """Every decoder layer's output and the logits, read with plain torch forward hooks."""
    outs: dict[int, torch.Tensor] = {}
    handles = []
    try:
        for i, layer in enumerate(mllm.torch_layers):
            def hook(module, args, output, i=i):
                outs[i] = (output[0] if isinstance(output, tuple) else output).detach().clone()
            handles.append(layer.register_forward_hook(hook))
        with torch.no_grad():
            logits = mllm.module(**inputs).logits
    finally:
        for h in handles:
            h.remove()
    return [outs[i] for i in range(len(outs))], logits


class _Replace:
    """A plain torch forward hook that rewrites one layer's output with ``fn(output)``."""

    def __init__(self, mllm, layer, fn):
        self.module, self.fn = mllm.torch_layers[layer], fn

    def __enter__(self):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            new = self.fn(out)
            return (new, *output[1:]) if isinstance(output, tuple) else new

        self.handle = self.module.register_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.fixture(scope="session")
def tiny_items():
    """``tiny_items(n, seed=0, answer=0)`` -> two-choice items on random images."""
    return _tiny_items


@pytest.fixture(scope="session")
def hooked_outputs():
    """``hooked_outputs(mllm, inputs)`` -> (every layer's output, logits) read by torch hooks."""
    return _hooked_outputs


@pytest.fixture(scope="session")
def replace_output():
    """``replace_output(mllm, layer, fn)`` -> a context manager rewriting a layer's output."""
    return _Replace


@pytest.fixture
def break_layer(monkeypatch):
    """``break_layer(mllm, layer)`` makes that layer's MLP raise RuntimeError("broken layer")."""

    def apply(mllm, layer=0):
        def boom(*args, **kwargs):
            raise RuntimeError("broken layer")

        monkeypatch.setattr(mllm.torch_layers[layer].mlp, "forward", boom)
        return monkeypatch

    return apply
