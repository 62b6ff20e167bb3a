"""LoRA adapters as conditional steering pairs, and conditional steering as a rank-1 LoRA.

LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") adds to a linear
map ``W`` the update ``Delta W = tau B A`` with ``B`` ``(d_out, r)``, ``A`` ``(r, d_in)`` and
``tau = lora_alpha / r`` (``lora_alpha / sqrt(r)`` with rsLoRA). Written column by row, the
update is ``r`` pairs ``(b_i, a_i)``: ``Delta W x = tau sum_i b_i (a_i . x)``, each pair *reads*
the input along ``a_i`` and *writes* along ``b_i``. Conditional activation steering (CAST, Lee et
al. 2025) with the linear gate and unit ``c`` is ``h' = (I + alpha v c^T) h``: one such pair.

This module reads a peft adapter (a ``PeftModel`` or an adapter directory; any LoRA-targeted
linear map) into its pairs (``lora_pairs``) and measures how well the pairs reproduce each adapted
module's output change (``reconstruction_error``). ``interp.analysis.lora_directions`` compares
writes and reads with textual steering vectors (``compare_directions``, ``span_angles``: cosines
and principal angles, against random directions), and ``interp.analysis.lora_rank_one`` goes the
other way: a conditional steering pair as a rank-1 adapter (``conditional_adapter``).

Where the correspondence is exact (tested in tests/analysis/test_lora.py):

- A conditional steer on the *input* of a linear map, ``x' = (I + alpha v c^T) x`` (unit ``c``),
  is exactly a rank-1 LoRA on that map: ``W x' = W x + alpha (W v)(c . x)``, so ``B = alpha W v``,
  ``A = c^T`` (``at="input"``). Steering the attention's (normed) input is a rank-1 LoRA on each of
  q, k and v with the same read direction.
- A rank-1 LoRA with ``B = alpha v``, ``A = c^T`` on a map that writes into the residual stream
  (``o_proj``, ``down_proj``; ``at="output"``) adds ``alpha v (c . u)`` to the residual stream at
  that layer, where ``u`` is the map's input (the heads' concatenated outputs, the MLP's hidden
  activations): a conditional steer of the residual stream whose gate reads ``u``. This is exact
  only where the map's output is added to the residual stream as it is (Llama, Qwen 2, Mistral);
  in Gemma 2 and 3 a post-attention / post-feedforward RMSNorm normalizes the sublayer output,
  LoRA delta included, before the addition, so the write is rescaled per input and not exact.
- ``interp.steering.conditional`` gates on the residual stream ``h_l`` itself. No LoRA-adaptable
  map reads ``h_l`` linearly in a pre-norm transformer (every reader sits behind an RMSNorm,
  which turns a linear read ``a . norm(h)`` into ``sqrt(d) (a * gamma) . h / |h|``, CAST's cosine
  gate up to a scale): such a steer has no exact rank-1 LoRA counterpart.

Example:
    >>> pairs = lora_pairs("runs/count-lora")                               # doctest: +SKIP
    >>> pairs.table.groupby("kind").gain.mean()                             # doctest: +SKIP
    >>> compare_directions(pairs, {"counting": counting_vector})            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.types import PathLike

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_PREFIX = "base_model.model."
_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")


# -- reading adapters ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LoraPairs:
    """A LoRA adapter as read/write pairs per adapted linear map.

    Attributes:
        table: one row per (module, rank index): ``module`` (path in the base model), ``layer``
            (decoder layer, -1 if none), ``kind`` (last path component: ``q_proj``, ...),
            ``rank_index``, ``scale`` (``tau``), ``write_norm`` (``|b_i|``), ``read_norm``
            (``|a_i|``), ``gain`` (``tau |b_i| |a_i|``, the pair's largest output change per unit
            input), ``d_in``, ``d_out``.
        writes: ``{module: B}``, ``(d_out, r)``: column ``i`` is ``b_i``.
        reads: ``{module: A}``, ``(r, d_in)``: row ``i`` is ``a_i``.
        scales: ``{module: tau}``.
        adapter: the adapter's name.
    """

    table: pd.DataFrame
    writes: Mapping[str, Tensor]
    reads: Mapping[str, Tensor]
    scales: Mapping[str, float]
    adapter: str = "default"

    @property
    def modules(self) -> list[str]:
        return list(self.writes)

    def delta(self, module: str, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_out"]:
        """``tau sum_i b_i (a_i . x)``: the pairs' output change for inputs ``x``.

        Example:
            >>> pairs.delta("model.layers.0.mlp.down_proj", torch.randn(3, 64)).shape   # doctest: +SKIP
            torch.Size([3, 32])
        """
        self._check(module)
        a, b = self.reads[module], self.writes[module]
        if x.shape[-1] != a.shape[1]:
            raise ValueError(f"{module} reads {a.shape[1]} dims, got inputs of shape {tuple(x.shape)}")
        return self.scales[module] * (x.to(a.dtype) @ a.T) @ b.T

    def delta_weight(self, module: str) -> Float[Tensor, "d_out d_in"]:
        """``tau B A``, the update of the module's weight.

        Example:
            >>> pairs.delta_weight("model.layers.0.self_attn.o_proj").shape   # doctest: +SKIP
            torch.Size([32, 32])
        """
        self._check(module)
        return self.scales[module] * self.writes[module] @ self.reads[module]

    def _check(self, module: str) -> None:
        if module not in self.writes:
            raise ValueError(f"no adapted module {module!r}: the adapter has {self.modules[:6]}{'...' if len(self.modules) > 6 else ''}")


def _layer_of(name: str) -> int:
    m = _LAYER.search(name + ".")
    return int(m.group(1)) if m else -1


def _strip(name: str) -> str:
    return name[len(_PREFIX):] if name.startswith(_PREFIX) else name


def _pattern_value(name: str, pattern: Mapping[str, Any], default: Any) -> Any:
    # peft matches rank_pattern / alpha_pattern keys as suffixes (or regexes) of module names
    for key, value in pattern.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default


def _refuse_unsupported(cfg: Mapping[str, Any], where: str) -> None:
    kind = cfg.get("peft_type", "LORA")
    kind = str(getattr(kind, "value", kind)).upper()
    if kind != "LORA":
        raise ValueError(f"{where} is a {kind} adapter: lora_pairs reads LoRA adapters only")
    problems = []
    if cfg.get("use_dora"):
        problems.append("use_dora (DoRA rescales the whole weight, not a low-rank sum)")
    if cfg.get("lora_bias"):
        problems.append("lora_bias (a bias on B is not a read/write pair)")
    if cfg.get("bias", "none") not in ("none", None):
        problems.append(f"bias={cfg.get('bias')!r} (trained base biases)")
    if cfg.get("modules_to_save"):
        problems.append(f"modules_to_save={cfg.get('modules_to_save')} (fully trained modules)")
    if cfg.get("target_parameters"):
        problems.append("target_parameters (LoRA on raw parameters)")
    if cfg.get("alora_invocation_tokens"):
        problems.append("alora_invocation_tokens (activated LoRA gates by token)")
    if cfg.get("trainable_token_indices"):
        problems.append("trainable_token_indices (trained embedding rows)")
    if problems:
        raise ValueError(f"{where} uses " + "; ".join(problems) + ": its update is not a sum of LoRA pairs")


def _build(entries: dict[str, tuple[Tensor, Tensor, float]], adapter: str) -> LoraPairs:
    if not entries:
        raise ValueError("the adapter has no LoRA linear maps")
    rows = []
    writes, reads, scales = {}, {}, {}
    for name in sorted(entries, key=lambda n: (_layer_of(n), n)):
        a, b, tau = entries[name]
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(f"{name}: lora_A {tuple(a.shape)} and lora_B {tuple(b.shape)} do not make a rank-r pair")
        a, b = a.detach().float().cpu(), b.detach().float().cpu()
        writes[name], reads[name], scales[name] = b, a, float(tau)
        wn, rn = b.norm(dim=0), a.norm(dim=1)
        for i in range(a.shape[0]):
            rows.append({
                "module": name, "layer": _layer_of(name), "kind": name.rsplit(".", 1)[-1],
                "rank_index": i, "scale": float(tau), "write_norm": float(wn[i]), "read_norm": float(rn[i]),
                "gain": float(tau * wn[i] * rn[i]), "d_in": int(a.shape[1]), "d_out": int(b.shape[0]),
            })
    return LoraPairs(pd.DataFrame(rows), writes, reads, scales, adapter)


def _from_peft_model(model: Any, adapter: str) -> LoraPairs:
    peft_config = getattr(model, "peft_config", None)
    if peft_config is not None:
        if adapter not in peft_config:
            raise ValueError(f"the PeftModel has no adapter {adapter!r}: it has {list(peft_config)}")
        cfg = peft_config[adapter]
        _refuse_unsupported(cfg.to_dict() if hasattr(cfg, "to_dict") else vars(cfg), f"adapter {adapter!r}")
    entries: dict[str, tuple[Tensor, Tensor, float]] = {}
    for name, module in model.named_modules():
        lora_a = getattr(module, "lora_A", None)
        if not isinstance(lora_a, torch.nn.ModuleDict) or adapter not in lora_a:
            continue
        if getattr(module, "use_dora", {}).get(adapter, False):
            raise ValueError(f"{_strip(name)} uses DoRA: its update is not a sum of LoRA pairs")
        a_w, b_w = lora_a[adapter].weight, module.lora_B[adapter].weight
        entries[_strip(name)] = (torch.as_tensor(a_w), torch.as_tensor(b_w), float(module.scaling[adapter]))
    return _build(entries, adapter)


def _from_directory(path: Path) -> LoraPairs:
    from safetensors.torch import load_file

    cfg_path, weights_path = path / ADAPTER_CONFIG, path / ADAPTER_WEIGHTS
    if not cfg_path.is_file() or not weights_path.is_file():
        raise FileNotFoundError(
            f"{path} is not a peft adapter directory: expected {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}"
        )
    cfg = json.loads(cfg_path.read_text())
    _refuse_unsupported(cfg, str(path))
    tensors = load_file(str(weights_path))
    entries = {}
    for key, a in tensors.items():
        if not key.endswith(".lora_A.weight"):
            if ".lora_embedding_" in key:
                raise ValueError(f"{path}: {key} is a LoRA on an embedding; lora_pairs reads linear maps only")
            continue
        base = key[: -len(".lora_A.weight")]
        b = tensors.get(base + ".lora_B.weight")
        if b is None:
            raise ValueError(f"{path}: {key} has no matching lora_B weight")
        name = _strip(base)
        r = int(_pattern_value(name, cfg.get("rank_pattern") or {}, cfg.get("r", a.shape[0])))
        alpha = float(_pattern_value(name, cfg.get("alpha_pattern") or {}, cfg.get("lora_alpha", r)))
        if r != a.shape[0]:
            raise ValueError(f"{path}: {name} has rank {a.shape[0]} but the config says r={r}")
        tau = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        entries[name] = (a, b, tau)
    return _build(entries, "default")


def lora_pairs(adapter: PathLike | torch.nn.Module, adapter_name: str = "default") -> LoraPairs:
    """Read a peft LoRA adapter into read/write pairs per adapted linear map.

    Args:
        adapter: a ``peft.PeftModel`` (or any module holding peft LoRA layers) or a directory
            written by ``save_pretrained`` (``adapter_config.json`` + ``adapter_model.safetensors``;
            no base model needed).
        adapter_name: which adapter of a ``PeftModel`` (directories hold one).

    Raises:
        ValueError: DoRA, LoRA biases, trained base biases, ``modules_to_save`` and other
            updates that are not sums of pairs.

    Example:
        >>> pairs = lora_pairs(peft_model)                                  # doctest: +SKIP
        >>> pairs.table.head()                                              # doctest: +SKIP
    """
    if isinstance(adapter, (str, os.PathLike)):
        return _from_directory(Path(adapter))
    if isinstance(adapter, torch.nn.Module):
        return _from_peft_model(adapter, adapter_name)
    raise ValueError(f"adapter must be a PeftModel or an adapter directory, got {type(adapter).__name__}")


# -- checking the pairs ----------------------------------------------------------------------------
@contextlib.contextmanager
def _eval_mode(module: torch.nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        yield
    finally:
        for m, mode in modes:
            m.train(mode)


def reconstruction_error(
    peft_model: torch.nn.Module,
    pairs: LoraPairs,
    inputs: Mapping[str, Tensor] | None = None,
    *,
    n: int = 16,
    seed: int = 0,
) -> pd.DataFrame:
    """Check that the pairs reproduce each adapted module's output change.

    For each module, ``tau sum_i b_i (a_i . x)`` is compared with the LoRA module's
    ``module(x) - module.base_layer(x)`` (dropout off).

    Args:
        peft_model: the model holding the adapter (``PeftModel``).
        pairs: ``lora_pairs`` of it.
        inputs: ``{module: (n, d_in) inputs}``; default ``n`` standard normal inputs per module.

    Returns:
        One row per module: ``module``, ``max_abs_error``, ``max_abs_delta``, ``rel_error``
        (``max_abs_error / max_abs_delta``).

    Example:
        >>> reconstruction_error(peft_model, lora_pairs(peft_model)).rel_error.max() < 1e-5   # doctest: +SKIP
        True
    """
    named = {_strip(name): m for name, m in peft_model.named_modules()}
    gen = torch.Generator().manual_seed(seed)
    rows = []
    with _eval_mode(peft_model), torch.no_grad():
        for module in pairs.modules:
            layer = named.get(module)
            base = getattr(layer, "base_layer", None)
            if layer is None or base is None:
                raise ValueError(f"{module} is not a LoRA layer of this model: was the adapter loaded on it?")
            d_in = pairs.reads[module].shape[1]
            x = inputs[module] if inputs is not None and module in inputs else torch.randn(n, d_in, generator=gen)
            param = next(base.parameters())
            x = x.to(param.device, param.dtype)
            actual = (layer(x) - base(x)).float().cpu()
            expected = pairs.delta(module, x.float().cpu())
            err = float((actual - expected).abs().max())
            size = float(actual.abs().max())
            rows.append({"module": module, "max_abs_error": err, "max_abs_delta": size, "rel_error": err / size if size else float("nan")})
    return pd.DataFrame(rows)


__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "LoraPairs",
    "lora_pairs",
    "reconstruction_error",
]
