"""TransformerLens backend: a local HF text backbone for TransformerLens, and its residuals.

``interp`` runs models through nnsight; this module is the second backend the design names
for text backbones, for researchers who want TransformerLens' hook names
(``blocks.{l}.hook_resid_post``, ``blocks.{l}.attn.hook_pattern``, ...) and its analysis tools
on the same weights. Layer convention as everywhere in ``interp``: "layer l" is the output of
decoder layer l (0-based) = HF ``hidden_states[l + 1]`` = ``blocks.{l}.hook_resid_post``.

Both TransformerLens lines are supported, chosen by what is installed:

- 3.x: a ``HookedTransformer``. Conversion is offline by construction: the
  ``HookedTransformerConfig`` is built here from the HF config already in memory and
  TransformerLens' own weight converters (``convert_gemma_weights``, ``convert_llama_weights``)
  read the loaded HF module. TransformerLens 3.9's own loaders cannot do this for a local
  checkpoint: ``from_pretrained_no_processing(dir, hf_model=model)`` raises "<dir> not found.
  Valid official model names ..." (checked offline with the tiny checkpoints), and with an
  official name they take the sizes from that name's entry (a table: ``google/gemma-2-2b`` ->
  26 layers x 2304, or the hub config), so a checkpoint of other sizes, or no network, fails.
- 4.x (which removed ``HookedTransformer``): a ``TransformerBridge`` built around a copy of the
  loaded module with ``build_bridge_from_module``, in compatibility mode without weight
  processing. ``boot_transformers(name, hf_model=...)`` is not used: for a multimodal
  architecture it loads a processor by name and, when that fails, runs ``pip install
  torchvision``; and without a tokenizer it loads one by name.

Example:
    >>> backbone = load_text_backbone("organism")                     # doctest: +SKIP
    >>> hooked = hooked_from_hf(backbone)                             # doctest: +SKIP
    >>> residuals = tl_residuals(hooked)                              # doctest: +SKIP
    >>> acts = residuals(backbone.encode(["a red circle"]), [0, 3])   # doctest: +SKIP
    >>> acts[3].shape == (1, n_tokens, backbone.d_model)             # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import importlib.util
import math
import numbers
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from jaxtyping import Float
from torch import Tensor

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer
    from transformer_lens.model_bridge import TransformerBridge

__all__ = [
    "DEFAULT_MAX_N_CTX",
    "SUPPORTED_MODEL_TYPES",
    "hooked_from_hf",
    "tl_residuals",
]

SUPPORTED_MODEL_TYPES: dict[str, str] = {
    "gemma2": "Gemma2ForCausalLM",
    "gemma3": "Gemma3ForConditionalGeneration",
    "gemma3_text": "Gemma3ForCausalLM",
    "llama": "LlamaForCausalLM",
}
"""HF ``config.model_type`` -> the TransformerLens ``original_architecture`` it converts as.

``gemma3`` is the multimodal Gemma 3 run on text alone (gemma-3-4b-it is its own text
backbone): its language model and LM head are converted, the vision tower is left out."""

_TEXT_CONFIG_TYPES = {"gemma3": "gemma3_text"}
"""Multimodal model types whose ``config.text_config`` describes the converted language model."""

DEFAULT_MAX_N_CTX = 8192
"""Cap on ``n_ctx``: TransformerLens allocates (n_ctx, rotary_dim) rotary tables per layer and
sizes its masks by n_ctx, so Gemma 3's 131072 would cost gigabytes (TransformerLens caps it the
same way in its own Gemma 3 configs)."""

_INSTALL = "pip install 'interp[lens]'  (or: pip install transformer-lens)"


def _import_transformer_lens() -> Any:
    try:
        import transformer_lens
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the TransformerLens backend needs transformer-lens: {_INSTALL}"
        ) from err
    return transformer_lens


# -- config ----------------------------------------------------------------------------------------
def _rope(config: Any, layer_type: str | None = None) -> dict[str, Any]:
    """The RoPE parameters of ``config`` (transformers 5: ``rope_parameters``, possibly per layer type)."""
    params = getattr(config, "rope_parameters", None)
    if params is None:  # transformers 4 layout
        params = dict(getattr(config, "rope_scaling", None) or {})
        params.setdefault("rope_theta", getattr(config, "rope_theta", 10000.0))
    params = dict(params)
    if layer_type is not None and isinstance(params.get(layer_type), Mapping):
        params = dict(params[layer_type])
    params.setdefault("rope_type", params.get("type", "default"))
    return params


def _refuse(condition: bool, name: str, what: str) -> None:
    if condition:
        raise ValueError(f"cannot convert {name!r} to TransformerLens: {what}")


def _rope_fields(config: Any, name: str, layer_type: str | None) -> dict[str, Any]:
    rope = _rope(config, layer_type)
    kind = rope["rope_type"]
    out: dict[str, Any] = {"rotary_base": rope.get("rope_theta", 10000.0)}
    if kind == "default":
        return out
    if kind == "linear":
        out["rotary_scaling_factor"] = float(rope["factor"])
        return out
    if kind == "llama3":
        out.update(
            use_NTK_by_parts_rope=True,
            NTK_original_ctx_len=rope.get(
                "original_max_position_embeddings", config.max_position_embeddings
            ),
            NTK_by_parts_low_freq_factor=rope.get("low_freq_factor", 1.0),
            NTK_by_parts_high_freq_factor=rope.get("high_freq_factor", 4.0),
            NTK_by_parts_factor=rope.get("factor", 1.0),
        )
        return out
    raise ValueError(
        f"cannot convert {name!r} to TransformerLens: RoPE type {kind!r} is not supported "
        "(supported: default, linear, llama3)"
    )


def _tl_config_dict(
    config: Any, architecture: str, name: str, n_ctx: int | None, device: str
) -> dict[str, Any]:
    """``HookedTransformerConfig`` fields for an HF Gemma 2 / Gemma 3 text / Llama config.

    Mirrors what TransformerLens' ``convert_hf_model_config`` writes for the official checkpoints
    of these families, but reads every size from ``config`` instead of a table of hub names.
    """
    model_type = config.model_type  # of the language model: gemma2, gemma3_text or llama
    heads = config.num_attention_heads
    d_head = getattr(config, "head_dim", None) or config.hidden_size // heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    _refuse(
        bool(getattr(config, "attention_bias", False)), name, "attention biases are not converted"
    )
    _refuse(bool(getattr(config, "mlp_bias", False)), name, "MLP biases are not converted")
    _refuse(
        bool(getattr(config, "use_bidirectional_attention", False)),
        name,
        "bidirectional attention has no TransformerLens counterpart",
    )
    cfg: dict[str, Any] = {
        "model_name": os.path.basename(str(name).rstrip("/")) or str(name),
        "original_architecture": architecture,
        "n_layers": config.num_hidden_layers,
        "d_model": config.hidden_size,
        "n_heads": heads,
        "d_head": d_head,
        "d_mlp": config.intermediate_size,
        "d_vocab": config.vocab_size,
        "n_ctx": n_ctx or min(config.max_position_embeddings, DEFAULT_MAX_N_CTX),
        "eps": config.rms_norm_eps,
        "normalization_type": "RMS",
        "final_rms": True,
        "gated_mlp": True,
        "positional_embedding_type": "rotary",
        "rotary_dim": d_head,
        "rotary_adjacent_pairs": False,  # HF rotate_half: the two halves of each head pair up
        "use_attn_scale": True,
        "default_prepend_bos": True,
        "init_weights": False,
        "dtype": torch.float32,
        "device": device,
    }
    if model_type == "llama":
        cfg["act_fn"] = config.hidden_act
        # TransformerLens runs grouped-query attention only when n_key_value_heads is set.
        cfg["n_key_value_heads"] = kv_heads if kv_heads != heads else None
        cfg.update(_rope_fields(config, name, None))
        return cfg

    # Gemma 2 / Gemma 3: sandwich norms, sqrt(d_model)-scaled embeddings (in the converter),
    # 1/sqrt(query_pre_attn_scalar) attention scale, local/global layers.
    cfg["act_fn"] = getattr(config, "hidden_activation", None) or config.hidden_act
    cfg["n_key_value_heads"] = kv_heads  # convert_gemma_weights always writes the GQA names
    cfg["use_normalization_before_and_after"] = True
    cfg["attn_scale"] = math.sqrt(getattr(config, "query_pre_attn_scalar", None) or d_head)
    layer_types = list(getattr(config, "layer_types", None) or [])
    if not layer_types:  # transformers 4 Gemma 2: even layers slide
        layer_types = [
            "sliding_attention" if i % 2 == 0 else "full_attention"
            for i in range(config.num_hidden_layers)
        ]
    unknown = sorted(set(layer_types) - {"sliding_attention", "full_attention"})
    _refuse(bool(unknown), name, f"unknown attention layer types {unknown}")
    if "sliding_attention" in layer_types and getattr(config, "sliding_window", None):
        cfg["use_local_attn"] = True
        cfg["window_size"] = int(config.sliding_window)
        cfg["attn_types"] = ["local" if t == "sliding_attention" else "global" for t in layer_types]
    softcap = getattr(config, "attn_logit_softcapping", None)
    if softcap:
        cfg["attn_scores_soft_cap"] = float(softcap)
    softcap = getattr(config, "final_logit_softcapping", None)
    if softcap:
        cfg["output_logits_soft_cap"] = float(softcap)
    if model_type == "gemma2":
        cfg.update(_rope_fields(config, name, None))
        return cfg
    # gemma3_text: q/k RMS norms, a RoPE base per layer type, linear scaling on global layers only
    cfg["use_qk_norm"] = True
    global_rope = _rope_fields(config, name, "full_attention")
    local_rope = _rope_fields(config, name, "sliding_attention")
    _refuse(
        set(local_rope) != {"rotary_base"},
        name,
        "RoPE scaling on sliding-window layers is not supported by TransformerLens",
    )
    _refuse(
        bool(global_rope.get("use_NTK_by_parts_rope")),
        name,
        "llama3 RoPE scaling on Gemma 3 is not supported",
    )
    cfg.update(global_rope)
    cfg["rotary_base_local"] = local_rope["rotary_base"]
    return cfg


# -- conversion ------------------------------------------------------------------------------------
def _unwrap(model_or_backbone: Any, tokenizer: Any) -> tuple[torch.nn.Module, Any, str]:
    """The HF ``*ForCausalLM``, the tokenizer and a display name from a module or a TextBackbone."""
    if isinstance(model_or_backbone, torch.nn.Module):
        module = model_or_backbone
        name = getattr(module.config, "name_or_path", "") or type(module).__name__
    elif isinstance(getattr(model_or_backbone, "module", None), torch.nn.Module):
        module = model_or_backbone.module
        name = getattr(model_or_backbone, "name", None) or type(module).__name__
        if tokenizer is None:
            tokenizer = getattr(model_or_backbone, "tokenizer", None)
    else:
        raise ValueError(
            "hooked_from_hf takes an HF causal LM (torch.nn.Module) or an interp TextBackbone, "
            f"got {type(model_or_backbone).__name__}"
        )
    if getattr(module, "config", None) is None:
        raise ValueError(f"{name!r} has no HF config: pass a transformers *ForCausalLM")
    return module, tokenizer, str(name)


def _set_tokenizer(hooked: Any, tokenizer: Any) -> None:
    """Give ``hooked`` a private copy of ``tokenizer`` (TransformerLens edits the one it gets)."""
    tok = copy.deepcopy(tokenizer)
    try:
        hooked.set_tokenizer(tok, default_padding_side="right")
    except OSError:
        # TransformerLens reloads a tokenizer that does not add BOS by its name_or_path with
        # add_bos_token=True; offline and with a hub name that fails: keep the copy as it is.
        tok.padding_side = "right"
        hooked.tokenizer = tok
        hooked.cfg.tokenizer_prepends_bos = len(tok.encode("")) > 0


def _line() -> int:
    """The TransformerLens line installed: 3 (``HookedTransformer``) or 4 (``TransformerBridge``).

    Decided by what the package holds, not by its version string: 4.0 removed the
    ``transformer_lens.HookedTransformer`` module (and ``HookedTransformerConfig``, and the
    ``pretrained.weight_conversions`` converters the 3.x path uses)."""
    _import_transformer_lens()
    return 3 if importlib.util.find_spec("transformer_lens.HookedTransformer") is not None else 4


def hooked_from_hf(
    model_or_backbone: Any,
    tokenizer: Any = None,
    *,
    n_ctx: int | None = None,
) -> HookedTransformer | TransformerBridge:
    """Convert a loaded HF text backbone for TransformerLens, without hub access.

    What it returns depends on the TransformerLens installed (both lines are supported and
    tested, and give the same residuals, hook names and layer convention):

    - TransformerLens 3.x: a ``HookedTransformer``. The config is built from the HF config in
      memory (sizes, GQA heads, RoPE base and scaling, Gemma's ``query_pre_attn_scalar``
      attention scale, sandwich norms, q/k norms, logit soft-capping, sliding-window layers),
      the weights are converted with TransformerLens' own ``convert_gemma_weights`` /
      ``convert_llama_weights``, and loaded with ``load_and_process_state_dict(fold_ln=False,
      center_writing_weights=False, center_unembed=False, fold_value_biases=False)``.
    - TransformerLens 4.x: a ``TransformerBridge`` around a float32 copy of the HF module (built
      with ``build_bridge_from_module``, which reads no hub name and loads no processor), in
      compatibility mode without weight processing (``enable_compatibility_mode(no_processing=
      True)``), so the legacy hook names (``blocks.{l}.hook_resid_post``,
      ``ln_final.hook_normalized``, ...) are there. The bridge runs HF's own forward with
      eager attention. For the multimodal Gemma 3 the copy is a ``Gemma3ForCausalLM`` over its
      language model and LM head (the vision tower is left out, as on 3.x).

    Folding and centering are left off on both lines on purpose: centering the writing weights
    subtracts the mean over d_model from everything written to the residual stream, so
    ``hook_resid_post`` would no longer equal HF's hidden states (a different basis: vectors
    built on one backend would not transfer to the other), and it only preserves the function
    under LayerNorm, not under these models' RMSNorm; centering the unembedding shifts every
    logit; folding moves the norm gains into the following weights, so the norm and
    attention-input hooks would hold other values than HF's modules. The model runs in float32
    on the HF module's device, whatever the HF dtype. The HF module is not changed. The same
    models are accepted on both lines (the 3.x conversion's limits: no biases, RoPE default /
    linear / llama3), so what converts does not depend on the version installed.

    Args:
        model_or_backbone: an HF ``Gemma2ForCausalLM``, ``Gemma3ForCausalLM``, ``LlamaForCausalLM``
            or ``Gemma3ForConditionalGeneration`` (its language model, for text-only runs), or an
            ``interp`` ``TextBackbone`` over one.
        tokenizer: tokenizer to attach (a copy; default: the backbone's). Without one the model
            takes token ids only.
        n_ctx: longest sequence the model accepts (default: the model's maximum position, capped
            at ``DEFAULT_MAX_N_CTX``).

    Raises:
        ValueError: the model type is not one of ``SUPPORTED_MODEL_TYPES``, or it uses a feature
            the conversion cannot reproduce (biases, an unsupported RoPE type, ...).

    Example:
        >>> model = AutoModelForCausalLM.from_pretrained(tiny_text_dir("gemma2", root))  # doctest: +SKIP
        >>> hooked = hooked_from_hf(model, AutoTokenizer.from_pretrained(path))         # doctest: +SKIP
        >>> hooked.cfg.n_layers                                                           # doctest: +SKIP
        2
    """
    module, tokenizer, name = _unwrap(model_or_backbone, tokenizer)
    model_type = getattr(module.config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"cannot convert {name!r} to TransformerLens: model type {model_type!r} is not "
            f"supported (supported: {', '.join(sorted(SUPPORTED_MODEL_TYPES))})"
        )
    if n_ctx is not None and n_ctx < 1:
        raise ValueError(f"n_ctx must be a positive integer, got {n_ctx}")
    line = _line()

    try:
        first = next(module.parameters())
    except StopIteration:
        raise ValueError(f"{name!r} has no parameters") from None
    if first.device.type == "meta":
        raise ValueError(f"{name!r} has its weights on the meta device: load them first")
    config: Any = module.config
    if model_type in _TEXT_CONFIG_TYPES:
        config = getattr(config, "text_config", None)
        if getattr(config, "model_type", None) != _TEXT_CONFIG_TYPES[model_type]:
            raise ValueError(
                f"cannot convert {name!r} to TransformerLens: its text_config is not "
                f"{_TEXT_CONFIG_TYPES[model_type]!r}"
            )
    architecture = SUPPORTED_MODEL_TYPES[model_type]
    # Built on both lines: it is also the check that the model is one the conversion reproduces.
    cfg_dict = _tl_config_dict(config, architecture, name, n_ctx, str(first.device))
    if line == 3:
        return _hooked_transformer(module, model_type, cfg_dict, tokenizer)
    return _bridge(module, model_type, config, cfg_dict, tokenizer)


def _hooked_transformer(
    module: torch.nn.Module, model_type: str, cfg_dict: dict[str, Any], tokenizer: Any
) -> HookedTransformer:
    """TransformerLens 3.x: a ``HookedTransformer`` from ``cfg_dict`` and converted weights."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformer_lens.pretrained.weight_conversions import (
        convert_gemma_weights,
        convert_llama_weights,
    )

    cfg = HookedTransformerConfig.from_dict(cfg_dict)
    convert = convert_llama_weights if model_type == "llama" else convert_gemma_weights
    with torch.no_grad():
        state_dict = {k: v.detach().to(torch.float32) for k, v in convert(module, cfg).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HookedTransformer's own deprecation notice
        hooked = HookedTransformer(cfg, move_to_device=True)
        hooked.load_and_process_state_dict(
            state_dict,
            fold_ln=False,
            center_writing_weights=False,
            center_unembed=False,
            fold_value_biases=False,
            refactor_factored_attn_matrices=False,
        )
        if tokenizer is not None:
            _set_tokenizer(hooked, tokenizer)
    hooked.eval()
    return hooked


def _text_copy(module: torch.nn.Module, model_type: str, config: Any) -> Any:
    """A float32 copy of the causal LM to bridge (a ``*ForCausalLM`` over a multimodal model's
    language model and LM head), in eager attention; ``module`` itself is left as it was."""
    text: Any
    if model_type not in _TEXT_CONFIG_TYPES:
        text = copy.deepcopy(module)
    else:
        from transformers import AutoModelForCausalLM

        inner = getattr(module, "model", None)
        language_model = getattr(inner, "language_model", None)
        lm_head = getattr(module, "lm_head", None)
        if language_model is None or lm_head is None:
            raise ValueError(
                f"cannot convert {type(module).__name__} to TransformerLens: no "
                "model.language_model and lm_head to run on text"
            )
        with torch.device("meta"):
            text = AutoModelForCausalLM.from_config(copy.deepcopy(config))
        # one deepcopy, so an LM head tied to the embeddings stays tied in the copy
        text.model, text.lm_head = copy.deepcopy((language_model, lm_head))
    text = text.to(torch.float32).eval()
    text.set_attn_implementation("eager")  # the attention hooks need the weights eager returns
    return text


def _bridge(
    module: torch.nn.Module,
    model_type: str,
    config: Any,
    cfg_dict: dict[str, Any],
    tokenizer: Any,
) -> TransformerBridge:
    """TransformerLens 4.x: a ``TransformerBridge`` over a copy of ``module``, legacy hook names on."""
    from transformer_lens.model_bridge.sources import build_bridge_from_module

    text = _text_copy(module, model_type, config)
    architecture = type(text).__name__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bridge = build_bridge_from_module(
            text,
            architecture,
            hf_config=text.config,
            tokenizer=None if tokenizer is None else copy.deepcopy(tokenizer),
            dtype=torch.float32,
            device=cfg_dict["device"],
            model_name=cfg_dict["model_name"],
        )
        bridge.enable_compatibility_mode(disable_warnings=True, no_processing=True)
    bridge.cfg.n_ctx = cfg_dict["n_ctx"]
    if bridge.tokenizer is not None:
        bridge.tokenizer.padding_side = "right"
    bridge.eval()
    return bridge


# -- residuals -------------------------------------------------------------------------------------
def _field(batch: Any, key: str) -> Any:
    if isinstance(batch, Mapping):
        return batch.get(key)
    return getattr(batch, key, None)


def _check_layers(layers: Sequence[int], n_layers: int, name: str) -> list[int]:
    if isinstance(layers, (int, str, bytes)) or not isinstance(layers, Sequence):
        raise ValueError(f"layers must be a sequence of layer indices, got {layers!r}")
    if len(layers) == 0:
        raise ValueError("no layers given")
    out: list[int] = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ValueError(f"layer indices must be integers, got {layer!r}")
        layer = int(layer)
        if not 0 <= layer < n_layers:
            raise ValueError(f"layer {layer} is out of range: {name} has {n_layers} decoder layers")
        if layer not in out:
            out.append(layer)
    return out


def _check_batch(batch: Any, d_vocab: int, n_ctx: int) -> tuple[Tensor, Tensor]:
    ids, mask = _field(batch, "input_ids"), _field(batch, "attention_mask")
    if not isinstance(ids, Tensor) or not isinstance(mask, Tensor):
        raise ValueError(
            "batch must have tensor input_ids and attention_mask (an EncodedBatch, or the dict "
            f"TextBackbone.encode returns), got {type(batch).__name__}"
        )
    if ids.ndim != 2 or ids.shape != mask.shape:
        raise ValueError(
            "input_ids and attention_mask must both be (batch, pos), got "
            f"{tuple(ids.shape)} and {tuple(mask.shape)}"
        )
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(f"input_ids must be integer token ids, got dtype {ids.dtype}")
    if ids.numel() == 0:
        raise ValueError("empty batch")
    if ids.shape[1] > n_ctx:
        raise ValueError(f"sequence of {ids.shape[1]} tokens is longer than n_ctx={n_ctx}")
    if int(ids.min()) < 0 or int(ids.max()) >= d_vocab:
        raise ValueError(
            f"token ids must lie in [0, {d_vocab}), got [{int(ids.min())}, {int(ids.max())}]"
        )
    mask = mask.long()
    if bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("attention_mask must hold only 0 and 1")
    if bool((mask.sum(dim=1) == 0).any()):
        raise ValueError("a row of the batch has no real token (attention_mask all 0)")
    return ids.long(), mask


def tl_residuals(
    hooked: HookedTransformer | TransformerBridge,
) -> Callable[[Any, Sequence[int]], dict[int, Float[Tensor, "batch pos d_model"]]]:
    """A function ``(batch, layers) -> {l: blocks.{l}.hook_resid_post}`` over ``hooked``.

    ``batch`` is anything with ``input_ids`` and ``attention_mask`` (batch x pos, BOS already in
    the ids): an ``EncodedBatch`` from ``interp.concepts.encode_texts`` or the dict
    ``TextBackbone.encode`` returns. The ids go in as tokens, so no second BOS is prepended, and
    the forward pass stops after the deepest layer asked for (no unembedding). With right padding
    the values at real positions equal HF's ``hidden_states[l + 1]``; TransformerLens counts RoPE
    positions from each row's first real token, so a left-padded row gives the values of the same
    row unpadded (HF's plain forward, without ``position_ids``, would not). Values at padding
    positions are meaningless. Tensors come back float32 on the CPU, (batch, pos, d_model).

    Hooks are added through ``run_with_cache``'s hook context, which removes them in a
    ``finally``: none stay on ``hooked`` after a call, even one that raises, and hooks the caller
    added before are left in place.

    Raises:
        ValueError: a layer outside ``[0, n_layers)``, an empty layer list, or a malformed batch.

    Example:
        >>> residuals = tl_residuals(hooked_from_hf(backbone))              # doctest: +SKIP
        >>> acts = residuals(backbone.encode(["a red circle", "two squares"]), [0, 1])  # doctest: +SKIP
        >>> acts[1].shape                                                   # doctest: +SKIP
        torch.Size([2, 4, 32])
    """
    name = hooked.cfg.model_name
    n_layers = hooked.cfg.n_layers

    def residuals(
        batch: Any, layers: Sequence[int]
    ) -> dict[int, Float[Tensor, "batch pos d_model"]]:
        wanted = _check_layers(layers, n_layers, name)
        ids, mask = _check_batch(batch, hooked.cfg.d_vocab, hooked.cfg.n_ctx)
        hook_names = {f"blocks.{layer}.hook_resid_post" for layer in wanted}
        device = hooked.cfg.device or "cpu"
        with torch.no_grad():
            _, cache = hooked.run_with_cache(
                ids.to(device),
                attention_mask=mask.to(device),
                names_filter=lambda hook_name: hook_name in hook_names,
                stop_at_layer=max(wanted) + 1,
                return_cache_object=False,
            )
        return {
            layer: cache[f"blocks.{layer}.hook_resid_post"].to("cpu", torch.float32)
            for layer in wanted
        }

    return residuals
