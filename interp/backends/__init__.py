"""Backends other than nnsight for running text backbones.

- ``interp.backends.transformer_lens``: a local HF Gemma 2 / Gemma 3 text / Llama backbone for
  TransformerLens, a ``HookedTransformer`` on TransformerLens 3.x or a ``TransformerBridge`` on
  4.x, whichever is installed (offline, weights unprocessed so its residual stream equals
  HF's), and ``tl_residuals`` to read ``blocks.{l}.hook_resid_post``. Needs the optional
  ``transformer-lens`` dependency (``pip install 'interp[lens]'``), imported on first use.

Example:
    >>> from interp.backends import hooked_from_hf, tl_residuals   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["SUPPORTED_MODEL_TYPES", "hooked_from_hf", "tl_residuals"]


def __getattr__(name: str) -> Any:
    # Lazy: importing interp.backends must not import transformer_lens (slow, optional).
    if name in __all__:
        from interp.backends import transformer_lens as _tl

        return getattr(_tl, name)
    raise AttributeError(f"module 'interp.backends' has no attribute {name!r}")
