"""Language-model drift: how far an MLLM's language model moved from the text backbone it started from.

Textual steering vectors (arXiv 2505.14071) are built on the text-only backbone and added to the
MLLM's residual stream; they can only transfer as well as the MLLM's language model still is that
backbone. ``language_model_drift`` measures it as the relative Frobenius distance
``||W_mllm - W_text|| / ||W_text||`` over the weights of each decoder layer (``layer_{l}``) and of
the token embeddings (``embed``): 0 means the MLLM runs the backbone's language model unchanged.

Example:
    >>> drift = language_model_drift(mllm, backbone)   # doctest: +SKIP
    >>> max(drift.values())                            # doctest: +SKIP
    0.27
"""

from __future__ import annotations

import torch

from interp.models.base import get_path
from interp.models.traced import MLLM, TextBackbone


def weight_drift(language_model: torch.nn.Module, text_model: torch.nn.Module) -> dict[str, float]:
    """Relative weight distance per decoder layer and for the embeddings between two decoder stacks.

    ``language_model`` is the MLLM's language model and ``text_model`` the backbone's decoder (both
    hold ``embed_tokens`` and ``layers.{l}``, with the same parameter names); every parameter of
    the text model must be in the language model.

    Example:
        >>> weight_drift(mllm.model.language_model, text.model)["layer_0"]   # doctest: +SKIP
        0.0
    """
    lm = dict(language_model.named_parameters())
    groups: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for name, w in text_model.named_parameters():
        if name not in lm:
            raise ValueError(
                f"the MLLM's language model has no parameter {name!r}: not the same architecture"
            )
        if name.startswith("embed"):
            groups.setdefault("embed", []).append((lm[name], w))
        elif name.startswith("layers."):
            groups.setdefault("layer_" + name.split(".")[1], []).append((lm[name], w))
    out = {}
    for key, pairs in groups.items():
        diff = sum(float(((a - b) ** 2).sum()) for a, b in pairs)
        norm = sum(float((b**2).sum()) for _, b in pairs)
        out[key] = (diff / norm) ** 0.5
    return out


def language_model_drift(mllm: MLLM, backbone: TextBackbone) -> dict[str, float]:
    """How far ``mllm``'s language model is from ``backbone`` (``weight_drift`` of their decoders).

    Raises:
        ValueError: the two decoders are not the same architecture (parameter names differ), or
            a model is remote (its weights are not here).

    Example:
        >>> language_model_drift(mllm, backbone)["embed"] < 1.0   # doctest: +SKIP
        True
    """
    for model in (mllm, backbone):
        model.require_local("language-model drift (it compares weights)")
    decoder = lambda m: get_path(m.module, m.layers_path.rsplit(".", 1)[0])  # noqa: E731
    with torch.no_grad():
        return weight_drift(decoder(mllm), decoder(backbone))


__all__ = ["language_model_drift", "weight_drift"]
