"""A core dependency missing from a partial install is named with its own pip command.

scikit-learn and sae-lens are in interp's core dependencies (``pip install interp`` brings them),
so no extra can bring them back: the message names the package itself.
"""

from __future__ import annotations

import sys

import pytest
import torch

from interp.vectors import load_saes, probe
from interp.vectors.native import _probe_direction


def test_probe_without_scikit_learn_names_its_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.decomposition", None)
    with pytest.raises(ImportError, match=r"scikit-learn, one of interp's dependencies.*: pip install scikit-learn$"):
        probe()(None, None)
    with pytest.raises(ImportError, match=r"native probe needs scikit-learn.*: pip install scikit-learn$"):
        _probe_direction(torch.ones(2, 4), torch.zeros(2, 4), 1)


def test_sae_without_sae_lens_names_its_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "sae_lens", None)
    with pytest.raises(ImportError, match=r"sae-lens, one of interp's dependencies.*: pip install sae-lens$"):
        load_saes("organism")
