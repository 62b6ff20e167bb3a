"""LoRA adapters as conditional steering pairs, and conditional steering as a rank-1 LoRA.

LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") adds to a linear
map ``W`` the update ``Delta W = tau B A`` with ``B`` ``(d_out, r)``, ``A`` ``(r, d_in)`` and
``tau = lora_alpha / r`` (``lora_alpha / sqrt(r)`` with rsLoRA). Written column by row, the
update is ``r`` pairs ``(b_i, a_i)``: ``Delta W x = tau sum_i b_i (a_i . x)``, each pair *reads*
the input along ``a_i`` and *writes* along ``b_i``. Conditional activation steering (CAST, Lee et
al. 2025) with the linear gate and unit ``c`` is ``h' = (I + alpha v c^T) h``: one such pair.

``lora_pairs`` reads a peft adapter (a ``PeftModel`` or an adapter directory; any LoRA-targeted
linear map) into its pairs, ``reconstruction_error`` measures how well the pairs reproduce each adapted
module's output change, ``compare_directions`` and ``span_angles`` compare writes and reads with
textual steering vectors (cosines and principal angles, against random directions), and
``conditional_adapter`` goes the other way: a conditional steering pair as a rank-1 adapter.

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.types import LoraConfig, PathLike, PeftModel
from interp.vectors.vector import SteeringVector

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


# -- comparing with textual vectors ----------------------------------------------------------------
def _vectors(vectors: SteeringVector | Mapping[str, SteeringVector]) -> dict[str, SteeringVector]:
    if isinstance(vectors, SteeringVector):
        return {vectors.meta.concept: vectors}
    if isinstance(vectors, Mapping) and vectors and all(isinstance(v, SteeringVector) for v in vectors.values()):
        return dict(vectors)
    raise ValueError("vectors must be a SteeringVector or a non-empty {name: SteeringVector} mapping")


def _directions(pairs: LoraPairs, module: str, side: str) -> Tensor:
    """``(r, d)`` directions of one side: writes ``b_i`` or reads ``a_i``."""
    return pairs.writes[module].T if side == "write" else pairs.reads[module]


def _stream_layer(layer: int, side: str) -> int:
    # a write of layer l lands in the stream after layer l; a read of layer l reads the stream
    # before it, the output of layer l - 1
    return layer if side == "write" else layer - 1


def compare_directions(
    pairs: LoraPairs,
    vectors: SteeringVector | Mapping[str, SteeringVector],
    *,
    sides: Sequence[str] = ("write", "read"),
    n_random: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Cosine of every write ``b_i`` and read ``a_i`` with textual vectors, against random directions.

    A write of a layer-``l`` module is compared with the vector at layer ``l`` (the stream it
    writes to), a read with the vector at layer ``l - 1`` (the stream it reads, through the
    layer's norm); pairs whose side is not ``d_model``-sized (q/k/v writes, down_proj reads) or
    whose stream layer the vector lacks are left out.

    Returns:
        One row per (module, rank index, side, vector): ``module``, ``layer``, ``kind``,
        ``side``, ``rank_index``, ``vector``, ``vector_layer``, ``cosine``, ``abs_cosine``,
        ``random_abs_mean`` and ``random_abs_q95`` (|cosine| of ``n_random`` isotropic random
        directions with the same vector), ``gain`` (the pair's ``tau |b_i| |a_i|``).

    Example:
        >>> df = compare_directions(pairs, {"counting": v})              # doctest: +SKIP
        >>> df.groupby(["kind", "side"]).abs_cosine.max()               # doctest: +SKIP
    """
    named = _vectors(vectors)
    bad = [s for s in sides if s not in ("write", "read")]
    if bad or not sides:
        raise ValueError(f"sides must be 'write' and/or 'read', got {list(sides)!r}")
    gen = torch.Generator().manual_seed(seed)
    baselines: dict[tuple[str, int], tuple[float, float]] = {}
    rows = []
    for module in pairs.modules:
        layer = _layer_of(module)
        sub = pairs.table[pairs.table.module == module]
        for side in sides:
            dirs = _directions(pairs, module, side)
            for name, vec in named.items():
                vl = _stream_layer(layer, side)
                if dirs.shape[1] != vec.d_model or vl not in vec.layers:
                    continue
                v = vec.at(vl).float()
                cos = (dirs @ v) / (dirs.norm(dim=1).clamp_min(1e-12) * v.norm())
                if (name, vl) not in baselines:
                    rnd = torch.randn(n_random, v.shape[0], generator=gen)
                    rc = ((rnd @ v) / (rnd.norm(dim=1) * v.norm())).abs()
                    baselines[(name, vl)] = (float(rc.mean()), float(rc.quantile(0.95)))
                mean, q95 = baselines[(name, vl)]
                for i in range(dirs.shape[0]):
                    rows.append({
                        "module": module, "layer": layer, "kind": module.rsplit(".", 1)[-1], "side": side,
                        "rank_index": i, "vector": name, "vector_layer": vl, "cosine": float(cos[i]),
                        "abs_cosine": abs(float(cos[i])), "random_abs_mean": mean, "random_abs_q95": q95,
                        "gain": float(sub.gain.iloc[i]),
                    })
    if not rows:
        raise ValueError(
            "no write or read direction has the vectors' size at a layer they cover: "
            f"vectors have d_model {sorted({v.d_model for v in named.values()})}"
        )
    return pd.DataFrame(rows)


def principal_angles(a: Float[Tensor, "d k"], b: Float[Tensor, "d m"]) -> Float[Tensor, " n"]:
    """Principal angles (degrees, ascending) between the column spans of ``a`` and ``b``.

    Björck & Golub 1973: the singular values of ``Q_a^T Q_b`` are the cosines of the angles.

    Example:
        >>> principal_angles(torch.eye(3)[:, :2], torch.eye(3)[:, 1:]).round()
        tensor([ 0., 90.])
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must be (d, k) and (d, m) with the same d, got {tuple(a.shape)} and {tuple(b.shape)}")
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(s)).float()


def span_angles(
    pairs: LoraPairs,
    vectors: Mapping[str, SteeringVector],
    *,
    side: Literal["write", "read"] = "write",
    n_random: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Principal angles between the span of each module's writes (or reads) and a set of vectors.

    At each module, the set is the vectors' directions at the stream layer of ``side`` (see
    ``compare_directions``). The baseline is the mean angle, index by index, between the same
    set and ``n_random`` random subspaces of the module's rank.

    Returns:
        One row per (module, angle index): ``module``, ``layer``, ``kind``, ``side``,
        ``index``, ``angle``, ``random_angle``, ``rank``, ``n_vectors``.

    Example:
        >>> span_angles(pairs, {"counting": v1, "spatial": v2}).query("index == 0")   # doctest: +SKIP
    """
    named = _vectors(vectors)
    if side not in ("write", "read"):
        raise ValueError(f"side must be 'write' or 'read', got {side!r}")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for module in pairs.modules:
        layer = _layer_of(module)
        dirs = _directions(pairs, module, side)
        vl = _stream_layer(layer, side)
        cols = [v.at(vl).float() for v in named.values() if vl in v.layers and v.d_model == dirs.shape[1]]
        if not cols:
            continue
        span = torch.stack(cols, dim=1)
        angles = principal_angles(dirs.T, span)
        rnd = torch.stack([
            principal_angles(torch.randn(dirs.shape[1], dirs.shape[0], generator=gen), span) for _ in range(n_random)
        ]).mean(0)
        for i, (ang, ra) in enumerate(zip(angles.tolist(), rnd.tolist())):
            rows.append({
                "module": module, "layer": layer, "kind": module.rsplit(".", 1)[-1], "side": side, "index": i,
                "angle": ang, "random_angle": ra, "rank": int(dirs.shape[0]), "n_vectors": len(cols),
            })
    if not rows:
        raise ValueError(f"no module's {side} directions have the vectors' size at a layer they cover")
    return pd.DataFrame(rows)


# -- conditional steering as a rank-1 adapter ------------------------------------------------------
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
            gated by the map's input (see the module docstring for when that is exact).

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


def lora_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The largest cosine per (vector, kind, side) of a ``compare_directions`` table, beside
    the random directions' 95th percentile. No model is run.

    Columns: ``vector``, ``kind``, ``side``, ``n`` (pairs), ``max_abs_cosine``,
    ``random_abs_q95`` (mean over the pairs).

    Example:
        >>> lora_summary(compare_directions(lora_pairs("adapter"), v))   # doctest: +SKIP
    """
    return table.groupby(["vector", "kind", "side"], sort=True).agg(
        n=("cosine", "size"), max_abs_cosine=("abs_cosine", "max"), random_abs_q95=("random_abs_q95", "mean")
    ).reset_index()


__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "LoraPairs",
    "RankOneAdapter",
    "compare_directions",
    "conditional_adapter",
    "lora_pairs",
    "lora_summary",
    "principal_angles",
    "reconstruction_error",
    "span_angles",
]
