"""Conditional steering as a rank-1 LoRA adapter: ``conditional_adapter`` and ``RankOneAdapter``.

A conditional steering pair ``(v, c, alpha)`` with the linear gate is the rank-1 update
``alpha v c^T``: written as a peft LoRA adapter (``r=1``, ``tau = 1``) it can be saved, loaded by
``PeftModel.from_pretrained`` and compared with a trained adapter read by ``lora_pairs``. Where
the correspondence is exact (the map's input, or a write into the residual stream without a
post-sublayer norm) is laid out in ``interp.analysis.lora``.

Example:
    >>> ad = conditional_adapter(hf_model, "model.layers.0.mlp.down_proj", v, c, 2.0)   # doctest: +SKIP
    >>> ad.save("runs/steer")                                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.lora import _PREFIX, ADAPTER_WEIGHTS
from interp.types import LoraConfig, PeftModel


@dataclass(frozen=True, eq=False)
class RankOneAdapter:
    """A conditional steering pair written as a rank-1 peft LoRA adapter.

    Attributes:
        config: the ``peft.LoraConfig`` (``r=1``, ``lora_alpha=1``: ``tau = 1``).
        weights: the adapter's state dict (``base_model.model.<module>.lora_A.weight`` ...).
        targets: the adapted modules.
        at: ``"input"`` or ``"output"`` (see ``conditional_adapter``).
    """

    config: LoraConfig
    weights: Mapping[str, Tensor]
    targets: tuple[str, ...]
    at: str

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``adapter_config.json`` and ``adapter_model.safetensors`` (loadable with
        ``PeftModel.from_pretrained(base, directory)``).

        Example:
            >>> PeftModel.from_pretrained(base, adapter.save("runs/steer"))   # doctest: +SKIP
        """
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save_pretrained(str(out))
        save_file({k: v.contiguous() for k, v in self.weights.items()}, str(out / ADAPTER_WEIGHTS))
        return out

    def apply(self, model: torch.nn.Module) -> PeftModel:
        """Wrap ``model`` (a transformers model) in a ``PeftModel`` carrying this adapter.

        peft injects LoRA layers into ``model`` in place: use a model you can give up (or
        ``PeftModel.unload()`` afterwards).

        Example:
            >>> steered = adapter.apply(AutoModelForCausalLM.from_pretrained(path))   # doctest: +SKIP
        """
        from peft import get_peft_model, set_peft_model_state_dict

        wrapped = get_peft_model(model, self.config)
        set_peft_model_state_dict(wrapped, {k: v.clone() for k, v in self.weights.items()})
        wrapped.eval()
        return wrapped


def conditional_adapter(
    model: torch.nn.Module,
    targets: str | Sequence[str],
    vector: Float[Tensor, " d"],
    condition: Float[Tensor, " d_read"],
    alpha: float,
    *,
    at: Literal["input", "output"] = "output",
) -> RankOneAdapter:
    """A rank-1 LoRA adapter equal to a conditional steering pair ``(v, c, alpha)``, linear gate.

    Args:
        model: the transformers model (or an interp model; its ``.module``) the adapter is for.
        targets: path(s) of linear maps in ``model`` (``"model.layers.1.mlp.down_proj"``).
        vector: ``v``; for ``at="output"`` in the map's output space, for ``"input"`` in its input space.
        condition: ``c`` in the map's input space (normalized here).
        alpha: strength.
        at: ``"input"``: steer the map's input, ``x' = x + alpha v (c . x)`` (``B = alpha W v``,
            ``A = c^T``); exact for any linear map. ``"output"``: add ``alpha v (c . x)`` to the
            map's output (``B = alpha v``, ``A = c^T``); on ``o_proj``/``down_proj`` of a model
            without post-sublayer norms this is a residual-stream conditional steer at that layer,
            gated by the map's input (see ``interp.analysis.lora`` for when that is exact).

    Example:
        >>> ad = conditional_adapter(hf_model, "model.layers.0.mlp.down_proj", v, c, 2.0)   # doctest: +SKIP
        >>> steered = ad.apply(copy_of_hf_model)                                              # doctest: +SKIP
    """
    from peft import LoraConfig

    if getattr(model, "remote", False):
        from interp.models.traced import TracedModel

        if isinstance(model, TracedModel):
            model.require_local("conditional_adapter (it reads the adapted maps' weights)")
    module = getattr(model, "module", model)
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"model must be a torch module or an interp model, got {type(model).__name__}")
    names = [targets] if isinstance(targets, str) else list(targets)
    if not names:
        raise ValueError("no target modules given")
    if at not in ("input", "output"):
        raise ValueError(f"at must be 'input' or 'output', got {at!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    named = dict(module.named_modules())
    c = condition.detach().float().flatten()
    if float(c.norm()) == 0.0 or not torch.isfinite(c).all():
        raise ValueError("the condition vector must be finite and non-zero")
    c = c / c.norm()
    v = vector.detach().float().flatten()
    weights = {}
    for name in names:
        lin = named.get(name)
        if not isinstance(lin, torch.nn.Linear):
            kind = "missing" if lin is None else type(lin).__name__
            raise ValueError(f"target {name!r} is not a torch.nn.Linear of the model ({kind})")
        w = lin.weight.detach().float().cpu()
        d_out, d_in = w.shape
        if c.shape[0] != d_in:
            raise ValueError(f"condition has {c.shape[0]} dims but {name} reads {d_in}")
        want = d_in if at == "input" else d_out
        if v.shape[0] != want:
            raise ValueError(f"vector has {v.shape[0]} dims but at={at!r} on {name} needs {want} ({'input' if at == 'input' else 'output'} size)")
        b = alpha * (w @ v) if at == "input" else alpha * v
        weights[f"{_PREFIX}{name}.lora_A.weight"] = c.unsqueeze(0).to(lin.weight.dtype)
        weights[f"{_PREFIX}{name}.lora_B.weight"] = b.unsqueeze(1).to(lin.weight.dtype)
    config = LoraConfig(r=1, lora_alpha=1, lora_dropout=0.0, target_modules=names, bias="none")
    return RankOneAdapter(config=config, weights=weights, targets=tuple(names), at=at)


__all__ = ["RankOneAdapter", "conditional_adapter"]
