"""Loaded models: an MLLM or a text backbone wrapped in nnsight, with its family adapter.

``load_mllm`` and ``load_text_backbone`` accept a hub id, a local directory in hub layout, or
``"organism"`` (the small trained PaliGemma shipped with interp). The returned objects expose
the decoder layers as nnsight envoys (``model.layers[l].output`` inside a trace is the residual
stream after decoder layer l, i.e. HF ``hidden_states[l+1]``), build inputs in the family's
format, and turn token selectors into masks.

Example:
    >>> mllm = load_mllm("organism")                                  # doctest: +SKIP
    >>> inputs = mllm.encode("How many circles?", images=[scene])      # doctest: +SKIP
    >>> with mllm.trace(inputs):                                       # doctest: +SKIP
    ...     h = mllm.layers[2].output.save()
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from interp.errors import CorruptArtifactError, UnsupportedModelError, as_int
from interp.models.base import (
    FamilyAdapter,
    adapter_for,
    get_path,
    hook_name,
    layer_from_hook_name,
    supported_model_types,
)
from interp.tokens import Selector, select

# Importing the family modules registers their adapters.
from interp.models import gemma3, idefics3, llava, paligemma, qwen2_vl  # noqa: F401  # isort: skip

#: Text backbones of known MLLMs (arXiv 2505.14071, Table 1), matched against the hub id.
PAIRINGS: tuple[tuple[str, str], ...] = (
    (r"paligemma2-3b", "google/gemma-2-2b"),
    (r"paligemma2-10b", "google/gemma-2-9b"),
    (r"paligemma2-28b", "google/gemma-2-27b"),
    (r"paligemma-3b", "google/gemma-2b"),
    (r"Idefics3-8B-Llama3", "meta-llama/Llama-3.1-8B-Instruct"),
    (r"gemma-3-\d+b", "<self>"),
)

#: Families whose text backbone is the MLLM itself, run on text alone.
_SELF_BACKBONE_TYPES = ("gemma3",)

#: Candidate paths of the decoder layer list in a text-only causal LM.
_CAUSAL_LM_LAYER_PATHS = ("model.layers", "model.language_model.layers", "transformer.h")


class TracedModel:
    """An nnsight-wrapped transformer with a residual stream interp can read and steer.

    Attributes:
        nn: the ``nnsight.TransformersModel``.
        name: the hub id or path it was loaded from.
        layers_path: dotted path of the decoder layer list in the HF module.
        remote: passed to nnsight traces (``True`` for NDIF, ``"local"`` for a dry run).
    """

    def __init__(self, nn: Any, *, name: str, layers_path: str, remote: bool | str = False):
        self.nn = nn
        self.name = name
        self.layers_path = layers_path
        self.remote = remote

    # -- structure ---------------------------------------------------------------------------
    @property
    def module(self) -> torch.nn.Module:
        """The underlying HF ``torch.nn.Module``."""
        return self.nn._module

    @property
    def layers(self) -> Any:
        """The decoder layers as nnsight envoys (use inside a trace)."""
        return get_path(self.nn, self.layers_path)

    @property
    def torch_layers(self) -> torch.nn.ModuleList:
        """The decoder layers as plain torch modules (use outside a trace)."""
        return get_path(self.module, self.layers_path)

    @property
    def n_layers(self) -> int:
        return len(self.torch_layers)

    @property
    def text_config(self) -> Any:
        config = self.module.config
        return getattr(config, "text_config", None) or config

    @property
    def d_model(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def input_device(self) -> torch.device:
        """Where inputs should be: the model's device, or the CPU for a remote model."""
        return torch.device("cpu") if self.remote else self.device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.module.parameters()).dtype

    @property
    def final_norm(self) -> torch.nn.Module:
        """The language model's final norm (applied to the last layer's output before the head)."""
        path = self.layers_path.rsplit(".", 1)[0] + ".norm"
        try:
            return get_path(self.module, path)
        except AttributeError:
            raise ValueError(f"cannot find the final norm of {self.name} at {path!r}") from None

    @property
    def lm_head(self) -> torch.nn.Module:
        """The output embedding (unembedding) of the language model."""
        head = self.module.get_output_embeddings()  # type: ignore[operator]
        if head is None:
            raise ValueError(f"{self.name} has no output embedding (lm_head)")
        return head

    def unembed(self, h: Tensor, *, normed: bool = False) -> Tensor:
        """Logits from residual-stream states ``(..., d_model)``: final norm, head, soft-capping.

        This is what the model does after its last layer, so ``unembed(layers[-1].output)``
        equals the model's logits; on earlier layers it is the logit lens (nostalgebraist
        2020). Set ``normed=True`` when ``h`` is already after the final norm. Runs on local
        weights (outside a trace).

        Example:
            >>> logits = mllm.unembed(h_last[:, -1])   # doctest: +SKIP
        """
        x = h if normed else self.final_norm(h)
        logits = self.lm_head(x)
        cap = getattr(self.text_config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def hook_name(self, layer: int) -> str:
        """TransformerLens name of the residual stream after ``layer`` (for sae-lens SAEs)."""
        self.check_layer(layer)
        return hook_name(layer)

    def layer_from_hook_name(self, name: str) -> int:
        layer = layer_from_hook_name(name)
        self.check_layer(layer)
        return layer

    # -- validation --------------------------------------------------------------------------
    def check_layer(self, layer: int) -> int:
        """Return ``layer`` as an int if it indexes a decoder layer, else raise a ValueError.

        numpy and 0-d tensor integers are accepted (``np.int64(2)`` -> ``2``); bools are not.
        """
        n = self.n_layers
        try:
            index = as_int(layer, "layer")
        except ValueError:
            raise ValueError(
                f"layer must be an int in 0..{n - 1} ({self.name} has {n} decoder layers), got "
                f"{layer!r} ({type(layer).__name__})"
            ) from None
        if not 0 <= index < n:
            raise ValueError(
                f"layer {index!r} is out of range: {self.name} has {n} decoder layers "
                f"(0..{n - 1})"
            )
        return index

    def check_vector(self, vector: Tensor, what: str = "vector") -> Tensor:
        """Return ``vector`` if it is a finite ``(d_model,)`` tensor, else raise a ValueError."""
        if not isinstance(vector, Tensor):
            raise ValueError(f"{what} must be a torch.Tensor, got {type(vector).__name__}")
        if vector.dim() != 1 or vector.shape[0] != self.d_model:
            raise ValueError(
                f"{what} has shape {tuple(vector.shape)} but {self.name} has d_model "
                f"{self.d_model}: expected ({self.d_model},)"
            )
        if not torch.isfinite(vector).all():
            raise ValueError(f"{what} contains NaN or inf values")
        return vector

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """Return encoded ``inputs`` as a dict if they can run, else raise a ValueError.

        Example:
            >>> model.check_inputs(model.encode("a red circle"))   # doctest: +SKIP
        """
        if not isinstance(inputs, Mapping):
            raise ValueError(
                f"inputs must be a dict of tensors from model.encode(...), got {type(inputs).__name__}"
            )
        ids = inputs.get("input_ids")
        if not isinstance(ids, Tensor) or ids.dim() != 2 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            got = f"shape {tuple(ids.shape)}, dtype {ids.dtype}" if isinstance(ids, Tensor) else repr(type(ids).__name__)
            raise ValueError(
                f"inputs need 'input_ids', a (batch, pos) tensor of token ids, got {got}: build "
                "inputs with model.encode(...)"
            )
        mask = inputs.get("attention_mask")
        if mask is not None and (not isinstance(mask, Tensor) or tuple(mask.shape) != tuple(ids.shape)):
            raise ValueError(
                f"inputs' attention_mask is {_shape_or_type(mask)} but input_ids has shape "
                f"{tuple(ids.shape)}: build inputs with model.encode(...)"
            )
        return dict(inputs)

    # -- running -----------------------------------------------------------------------------
    def trace(self, inputs: dict[str, Tensor] | None = None, **kwargs: Any) -> Any:
        """An nnsight trace over encoded ``inputs`` (from ``encode``), remote if configured.

        Example:
            >>> with model.trace(model.encode("a red circle")):   # doctest: +SKIP
            ...     h = model.layers[0].output.save()
        """
        if self.remote:
            kwargs.setdefault("remote", self.remote)
        if inputs is None:
            return self.nn.trace(**kwargs)
        if isinstance(inputs, Mapping):
            inputs = self.check_inputs(inputs)
        return self.nn.trace(dict(inputs), **kwargs)

    def generate(self, inputs: dict[str, Tensor] | None = None, **kwargs: Any) -> Any:
        """An nnsight generation context over encoded ``inputs``, remote if configured.

        Use it as a ``with`` block, like ``nn.generate``.
        """
        if self.remote:
            kwargs.setdefault("remote", self.remote)
        # nnsight's ``generate`` finds its ``with`` block two frames up, which would be this
        # wrapper; a trace of the generate method is captured on ``__enter__`` at the caller.
        method = type(self.nn).generate
        fn = getattr(method, "__wrapped__", method).__get__(self.nn, type(self.nn))
        if isinstance(inputs, Mapping):
            inputs = self.check_inputs(inputs)
        args = () if inputs is None else (dict(inputs),)
        return self.nn.trace(*args, fn=fn, **kwargs)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name!r}, n_layers={self.n_layers}, "
            f"d_model={self.d_model})"
        )


class MLLM(TracedModel):
    """A multimodal LLM: nnsight model + family adapter + processor.

    Attributes:
        adapter: the family's ``FamilyAdapter``.
        processor: the HF processor (tokenizer + image processor).
        image_token_id: id of the image token in ``input_ids``.
        special_ids: ids that are never text tokens.
    """

    def __init__(
        self, nn: Any, adapter: FamilyAdapter, processor: Any, *, name: str, remote: bool | str = False
    ):
        super().__init__(nn, name=name, layers_path=adapter.layers_path, remote=remote)
        self.adapter = adapter
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.image_token_id: int = adapter.image_token_id(self.module.config, self.tokenizer)
        self.special_ids: set[int] = adapter.special_token_ids(self.tokenizer, self.image_token_id)

    @property
    def family(self) -> str:
        return self.adapter.name

    def check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Tensor]:
        """Like ``TracedModel.check_inputs``; image tokens also need their ``pixel_values``."""
        out = super().check_inputs(inputs)
        n_image = int((out["input_ids"] == self.image_token_id).sum())
        if n_image and out.get("pixel_values") is None:
            raise ValueError(
                f"inputs hold {n_image} image tokens but no 'pixel_values': the model would read "
                "the image placeholders as text; build inputs with mllm.encode(prompts, images) "
                "and pass all of its outputs"
            )
        return out

    def encode(
        self,
        prompts: str | Sequence[str],
        images: Any = None,
        *,
        chat: bool = True,
        padding_side: str = "left",
    ) -> dict[str, Tensor]:
        """Model inputs for prompts and their images, in the family's prompt format.

        Args:
            prompts: one prompt or a list of prompts (the user's question, without image
                placeholders when ``chat`` is True).
            images: ``None`` (text only), one image per prompt, or a list of images per prompt.
                An image is a ``PIL.Image``, an ``(H, W, C)`` numpy array or a ``(C, H, W)``
                tensor: uint8 in 0..255, or float in 0..1 (or 0..255).
            chat: apply the family's format (chat template / PaliGemma prefix); False sends the
                prompts as they are (they must then hold the image placeholders themselves).
            padding_side: ``"left"`` (default, what generation needs) or ``"right"``.

        Returns:
            A dict of tensors for ``trace``/``generate`` (``input_ids``, ``attention_mask``,
            ``pixel_values``, ...).

        Example:
            >>> inputs = mllm.encode(["Is the circle red?", "How many squares?"], [img1, img2])  # doctest: +SKIP
        """
        prompts = _prompt_list(prompts, "prompts")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        per_prompt = _images_per_prompt(images, len(prompts))
        n_images = sum(len(imgs) for imgs in per_prompt)
        image_kwargs = _image_kwargs(per_prompt)
        texts = [
            self.adapter.format_prompt(self.processor, p, len(imgs)) if chat else p
            for p, imgs in zip(prompts, per_prompt)
        ]
        if n_images == 0:
            enc = tokenize_texts(self.tokenizer, texts, padding_side=padding_side)
        else:
            if any(len(imgs) == 0 for imgs in per_prompt):
                raise ValueError(
                    "some prompts have images and some do not: batch them separately"
                )
            previous = self.tokenizer.padding_side
            self.tokenizer.padding_side = padding_side
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    enc = self.processor(
                        text=texts, images=per_prompt, return_tensors="pt", padding=True,
                        **image_kwargs,
                    )
            except ValueError as err:
                raise ValueError(f"prompts and images do not match: {err}") from err
            finally:
                self.tokenizer.padding_side = previous
        enc = {k: v for k, v in dict(enc).items() if k != "labels" and isinstance(v, Tensor)}
        self._check_image_tokens(enc, n_images)
        return enc

    def _check_image_tokens(self, enc: dict[str, Tensor], n_images: int) -> None:
        found = int((enc["input_ids"] == self.image_token_id).sum())
        if n_images == 0:
            if found:
                raise ValueError(
                    f"prompts and images do not match: the prompts hold {found} image tokens "
                    "but no image was given"
                )
            return
        count = self.adapter.count_image_tokens
        expected = count(self.module.config, self.processor, enc, n_images) if count else None
        if expected is not None and found != expected:
            raise ValueError(
                f"prompts and images do not match: the prompts hold {found} image tokens but "
                f"the {n_images} image(s) give "
                f"{expected} image features: put one image placeholder per image in each "
                "prompt, or pass chat=True and let interp format the prompt"
            )
        if found == 0:
            raise ValueError(
                f"prompts and images do not match: {n_images} image(s) given but the prompts "
                "hold no image token"
            )

    def mask(
        self, selector: Selector, inputs: dict[str, Tensor], *, allow_empty: bool = False
    ) -> Bool[Tensor, "batch pos"]:
        """Boolean ``(batch, pos)`` mask of the tokens ``selector`` picks in ``inputs``.

        Example:
            >>> m = mllm.mask("image", inputs)   # doctest: +SKIP
        """
        return select(
            selector,
            inputs["input_ids"],
            inputs.get("attention_mask"),
            image_token_id=self.image_token_id,
            special_ids=self.special_ids,
            allow_empty=allow_empty,
        )


class TextBackbone(TracedModel):
    """A text-only language model (the MLLM's backbone, or the MLLM run on text alone)."""

    def __init__(
        self, nn: Any, tokenizer: Any, *, name: str, layers_path: str, remote: bool | str = False,
        adapter: FamilyAdapter | None = None,
    ):
        super().__init__(nn, name=name, layers_path=layers_path, remote=remote)
        self.tokenizer = tokenizer
        self.adapter = adapter
        self.image_token_id: int | None = None
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.special_ids: set[int] = special

    def encode(self, texts: str | Sequence[str], *, padding_side: str = "right") -> dict[str, Tensor]:
        """Token ids (with BOS where the tokenizer has one) for a batch of texts.

        Example:
            >>> backbone.encode(["a red circle", "two squares"])["input_ids"].shape  # doctest: +SKIP
            torch.Size([2, 4])
        """
        return tokenize_texts(self.tokenizer, _prompt_list(texts, "texts"), padding_side=padding_side)

    def mask(
        self, selector: Selector, inputs: dict[str, Tensor], *, allow_empty: bool = False
    ) -> Bool[Tensor, "batch pos"]:
        """Boolean mask of the tokens ``selector`` picks (no image tokens in a text backbone)."""
        return select(
            selector,
            inputs["input_ids"],
            inputs.get("attention_mask"),
            image_token_id=None,
            special_ids=self.special_ids,
            allow_empty=allow_empty,
        )


# -- loading -------------------------------------------------------------------------------------
def _resolve(name_or_path: str | os.PathLike[str], kind: str) -> str:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            f"expected a hub id, a checkpoint directory or 'organism', got {type(name_or_path).__name__}"
        )
    from interp import organism

    if str(name_or_path) in organism.NAMES:
        path = organism.locate(str(name_or_path), kind)
        organism.check(kind, which=str(name_or_path))
        return str(path)
    if (which := organism.owner(name_or_path, kind)) is not None:
        organism.check(kind, which=which)
    return str(name_or_path)


_NO_CHECKPOINT = "expected a checkpoint directory in hub layout (config.json, weights, tokenizer and, for an MLLM, processor files)"


def _local_config(path: str) -> dict[str, Any] | None:
    """The raw config.json of a local checkpoint directory (None for a hub id), checked."""
    p = Path(path)
    if not p.exists():
        return None
    if not p.is_dir():
        raise ValueError(f"{path} is a file: {_NO_CHECKPOINT}")
    cfg = p / "config.json"
    if not cfg.is_file():
        raise ValueError(f"{path} has no config.json: {_NO_CHECKPOINT}")
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptArtifactError(f"{cfg} is not valid JSON ({err}): the checkpoint is damaged") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("model_type"), str):
        raise ValueError(f"{cfg} names no model_type: {_NO_CHECKPOINT}")
    return raw


def _load_config(path: str) -> Any:
    from transformers import CONFIG_MAPPING, AutoConfig

    raw = _local_config(path)
    if raw is not None and raw["model_type"] not in CONFIG_MAPPING:
        raise UnsupportedModelError(
            f"{path} has model_type {raw['model_type']!r}, which transformers does not know: "
            f"interp loads MLLMs of types {', '.join(supported_model_types())} and their text "
            "backbones"
        )
    if raw is None and (Path(path).is_absolute() or path.startswith((".", "~")) or path.count("/") > 1):
        raise ValueError(f"cannot load a config from {path!r}: the directory does not exist")
    try:
        return AutoConfig.from_pretrained(path)
    except OSError as err:
        raise ValueError(
            f"cannot load a config from {path!r}: not a local directory with config.json and not "
            f"a hub id available here ({err})"
        ) from err


def _check_weights(path: str) -> None:
    """Refuse a local checkpoint without weights, or with a truncated or corrupt safetensors file.

    Only headers are read, so the check costs milliseconds whatever the size of the weights.
    """
    p = Path(path)
    if not p.is_dir():
        return
    from safetensors import safe_open

    shards = sorted(p.glob("*.safetensors"))
    index = p / "model.safetensors.index.json"
    if index.is_file():
        try:
            listed = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CorruptArtifactError(f"{index} is not a valid shard index ({err})") from None
        missing = sorted(name for name in listed if not (p / name).is_file())
        if missing:
            raise CorruptArtifactError(
                f"{path} is missing weight shards {missing} that {index.name} lists: the download "
                "or copy is incomplete"
            )
    if not shards and not any(p.glob("*.bin")):
        raise ValueError(
            f"{path} holds no weights: expected model.safetensors (or the shards of "
            "model.safetensors.index.json)"
        )
    for shard in shards:
        try:
            with safe_open(str(shard), framework="pt") as f:
                f.keys()
        except Exception as err:  # safetensors raises its own error type
            raise CorruptArtifactError(
                f"{shard} is truncated or corrupt ({err}): download or save the checkpoint again"
            ) from None


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")


def _check_tokenizer_files(path: str) -> None:
    """Refuse a local checkpoint without tokenizer files (transformers 5 would build an empty one)."""
    p = Path(path)
    if p.is_dir() and not any((p / name).is_file() for name in _TOKENIZER_FILES):
        raise ValueError(
            f"{path} has no tokenizer files (none of {list(_TOKENIZER_FILES)}): {_NO_CHECKPOINT}"
        )


_DTYPE_NAMES = ("float32", "bfloat16", "float16", "auto")


def _check_dtype(dtype: Any) -> Any:
    if dtype is None or dtype == "auto":
        return dtype
    value = dtype
    if isinstance(dtype, str):
        value = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(
            f"dtype {dtype!r} is not a floating-point torch dtype: expected a torch.dtype such as "
            f"torch.bfloat16, or one of {list(_DTYPE_NAMES)}"
        )
    return value


_DEVICE_MAP_NAMES = ("auto", "balanced", "balanced_low_0", "sequential")


def _check_device_map(device_map: Any) -> None:
    if device_map is None:
        return
    places = list(device_map.values()) if isinstance(device_map, Mapping) else [device_map]
    for place in places:
        if isinstance(place, str) and place in (*_DEVICE_MAP_NAMES, "disk"):
            continue
        try:
            device = torch.device(place)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device_map {device_map!r}: {place!r} is not a device; expected one of "
                f"{list(_DEVICE_MAP_NAMES)}, 'cpu', 'cuda', 'cuda:N', 'mps', or a dict of module "
                "name -> device"
            ) from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(
                    f"device_map {device_map!r} asks for a GPU, but this torch ({torch.__version__}) "
                    "sees no CUDA device: use device_map='cpu', 'auto' or None"
                )
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ValueError(
                    f"device_map {device_map!r} asks for cuda:{device.index}, but only "
                    f"{torch.cuda.device_count()} CUDA device(s) are visible"
                )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device_map {device_map!r} asks for Apple's MPS, which is not available here")


def _nn_kwargs(device_map: Any, dtype: Any, remote: bool | str, kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    dtype = _check_dtype(dtype)
    _check_device_map(device_map)
    if dtype is not None:
        out["dtype"] = dtype
    if device_map is not None:
        out["device_map"] = device_map
    # A remote model stays on the meta device here; the server holds the weights.
    out.setdefault("dispatch", not remote)
    return out


def load_mllm(
    name_or_path: str | os.PathLike[str],
    *,
    device_map: Any = None,
    dtype: torch.dtype | str | None = None,
    remote: bool | str = False,
    progress: bool = False,
    **kwargs: Any,
) -> MLLM:
    """Load a supported MLLM through nnsight with its family adapter and processor.

    Args:
        name_or_path: hub id, local directory in hub layout, ``"organism"`` or ``"organism-llava"``
            (the two shipped organisms).
        device_map: passed to transformers (``"auto"``, ``"cuda:0"``, ...).
        dtype: parameter dtype (``torch.bfloat16``, ``"float32"``, ...).
        remote: ``True`` runs traces on NDIF (weights are not loaded here); ``"local"`` is
            nnsight's local dry run of the remote path.
        progress: show transformers' per-tensor loading bars (off by default; the setting
            is restored afterwards).
        **kwargs: passed to ``nnsight.TransformersModel``.

    Raises:
        UnsupportedModelError: the config's model_type has no adapter (a text-only model is
            pointed at ``load_text_backbone``).
        CorruptArtifactError: a damaged config or a truncated weights file.

    Example:
        >>> mllm = load_mllm("organism")   # doctest: +SKIP
        >>> mllm.family, mllm.n_layers     # doctest: +SKIP
        ('paligemma', 4)
    """
    from nnsight import TransformersModel

    from interp.models.compat import load_processor, quiet_progress

    path = _resolve(name_or_path, "mllm")
    config = _load_config(path)
    try:
        adapter = adapter_for(config)
    except UnsupportedModelError as err:
        if hasattr(config, "vision_config"):
            raise
        raise UnsupportedModelError(
            f"{err}; {name_or_path} is a text-only model, not an MLLM: load it with "
            f"interp.load_text_backbone({str(name_or_path)!r})"
        ) from None
    nn_kwargs = _nn_kwargs(device_map, dtype, remote, kwargs)
    if not remote:
        _check_weights(path)
    try:
        processor = nn_kwargs.pop("processor", None) or load_processor(path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path!r} has no usable processor: an MLLM checkpoint needs its processor files "
            f"({err})"
        ) from err
    with warnings.catch_warnings(), quiet_progress(progress):
        warnings.simplefilter("ignore")
        nn = TransformersModel(path, task="image-text-to-text", processor=processor, **nn_kwargs)
    return MLLM(nn, adapter, processor, name=str(name_or_path), remote=remote)


def text_backbone_name(mllm_name_or_path: str | os.PathLike[str]) -> str:
    """The text backbone that pairs with an MLLM (arXiv 2505.14071's pairings).

    Returns ``"<self>"`` for models whose backbone is the MLLM itself run on text (Gemma 3).

    Example:
        >>> text_backbone_name("google/paligemma2-3b-mix-448")
        'google/gemma-2-2b'
    """
    name = str(mllm_name_or_path)
    from interp import organism

    if name in organism.NAMES:
        return name
    if (which := organism.owner(name, "mllm")) is not None:
        try:
            return str(organism.locate(which, "text"))
        except FileNotFoundError:
            pass
    for pattern, backbone in PAIRINGS:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return backbone
    if (Path(name) / "config.json").is_file():
        from transformers import AutoConfig

        model_type = getattr(AutoConfig.from_pretrained(name), "model_type", None)
        if model_type in _SELF_BACKBONE_TYPES:
            return "<self>"
    raise ValueError(
        f"no known text backbone for {name!r}: pass the backbone explicitly, e.g. "
        "load_text_backbone('google/gemma-2-2b'); known pairings: "
        + ", ".join(f"{p} -> {b}" for p, b in PAIRINGS)
    )


def load_text_backbone(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    mllm: str | os.PathLike[str] | MLLM | None = None,
    device_map: Any = None,
    dtype: torch.dtype | str | None = None,
    remote: bool | str = False,
    progress: bool = False,
    **kwargs: Any,
) -> TextBackbone:
    """Load a text-only backbone through nnsight.

    Give the backbone itself (``name_or_path``), or the MLLM it pairs with (``mllm=``) and let
    ``text_backbone_name`` pick it. A multimodal checkpoint given as the backbone (Gemma 3) is
    run on text alone. ``progress=True`` shows transformers' loading bars (off by default).

    Example:
        >>> backbone = load_text_backbone(mllm="organism")   # doctest: +SKIP
        >>> backbone = load_text_backbone("google/gemma-2-2b", dtype=torch.bfloat16)  # doctest: +SKIP
    """
    from nnsight import TransformersModel

    if (name_or_path is None) == (mllm is None):
        raise ValueError("give exactly one of name_or_path (the backbone) or mllm= (its MLLM)")
    if mllm is not None:
        mllm_name = mllm.name if isinstance(mllm, MLLM) else str(mllm)
        if isinstance(mllm, MLLM) and getattr(mllm.module.config, "model_type", None) in _SELF_BACKBONE_TYPES:
            return _backbone_from_mllm(mllm)
        name_or_path = text_backbone_name(mllm_name)
        if name_or_path == "<self>":
            if isinstance(mllm, MLLM):
                return _backbone_from_mllm(mllm)
            name_or_path = mllm_name
    assert name_or_path is not None
    path = _resolve(name_or_path, "text")
    config = _load_config(path)
    if hasattr(config, "text_config") and hasattr(config, "vision_config"):
        loaded = load_mllm(
            path, device_map=device_map, dtype=dtype, remote=remote, progress=progress, **kwargs
        )
        return _backbone_from_mllm(loaded)
    from transformers import AutoTokenizer

    from interp.models.compat import quiet_progress

    nn_kwargs = _nn_kwargs(device_map, dtype, remote, kwargs)
    if not remote:
        _check_weights(path)
    if "tokenizer" not in nn_kwargs:
        _check_tokenizer_files(path)
    try:
        tokenizer = nn_kwargs.pop("tokenizer", None) or AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path!r} has no usable tokenizer: a backbone checkpoint needs its tokenizer files ({err})") from err
    with warnings.catch_warnings(), quiet_progress(progress):
        warnings.simplefilter("ignore")
        nn = TransformersModel(path, task="text-generation", tokenizer=tokenizer, **nn_kwargs)
    layers_path = _find_layers(nn._module, path)
    from interp import organism

    name = f"{name_or_path}-text" if str(name_or_path) in organism.NAMES else str(name_or_path)
    return TextBackbone(nn, nn.tokenizer, name=name, layers_path=layers_path, remote=remote)


def _backbone_from_mllm(mllm: MLLM) -> TextBackbone:
    backbone = TextBackbone(
        mllm.nn, mllm.tokenizer, name=mllm.name, layers_path=mllm.layers_path,
        remote=mllm.remote, adapter=mllm.adapter,
    )
    backbone.special_ids = set(mllm.special_ids)
    return backbone


def _find_layers(module: torch.nn.Module, name: str) -> str:
    for path in _CAUSAL_LM_LAYER_PATHS:
        try:
            layers = get_path(module, path)
        except AttributeError:
            continue
        if isinstance(layers, torch.nn.ModuleList):
            return path
    raise ValueError(
        f"cannot find the decoder layers of {name!r} ({type(module).__name__}): tried "
        f"{list(_CAUSAL_LM_LAYER_PATHS)}"
    )


def _shape_or_type(x: Any) -> str:
    return f"of shape {tuple(x.shape)}" if isinstance(x, Tensor) else f"a {type(x).__name__}"


def _prompt_list(prompts: Any, what: str) -> list[str]:
    if isinstance(prompts, str):
        return [prompts]
    if not isinstance(prompts, (list, tuple)):
        raise ValueError(f"{what} must be a string or a list of strings, got {type(prompts).__name__}")
    if not prompts:
        raise ValueError(f"no {what} given")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ValueError(f"{what}[{i}] must be a string, got {type(p).__name__}")
    return list(prompts)


def _images_per_prompt(images: Any, n_prompts: int) -> list[list[Any]]:
    if images is None:
        return [[] for _ in range(n_prompts)]
    if not isinstance(images, (list, tuple)):
        images = [images]
    if len(images) != n_prompts:
        raise ValueError(
            f"got {len(images)} image entries for {n_prompts} prompt(s): give one image (or one "
            "list of images) per prompt"
        )
    per_prompt = [list(i) if isinstance(i, (list, tuple)) else [i] for i in images]
    for p, imgs in enumerate(per_prompt):
        for k, img in enumerate(imgs):
            _check_image(img, f"image {k} of prompt {p}")
    return per_prompt


_IMAGE_EXPECTED = (
    "expected a PIL image, an (H, W, C) numpy array or a (C, H, W) torch tensor, uint8 in 0..255 "
    "or float in 0..1"
)


def _check_image(img: Any, where: str) -> None:
    from PIL import Image

    if isinstance(img, Image.Image):
        return
    if isinstance(img, (str, os.PathLike)):
        raise ValueError(f"{where} is a path ({img!r}): open it first with PIL.Image.open(path); {_IMAGE_EXPECTED}")
    if not hasattr(img, "shape") or not hasattr(img, "dtype"):
        raise ValueError(f"{where} is {'None' if img is None else 'a ' + type(img).__name__}: {_IMAGE_EXPECTED}")
    if len(img.shape) not in (2, 3) or min(img.shape) == 0:
        raise ValueError(f"{where} has shape {tuple(img.shape)}: {_IMAGE_EXPECTED}")
    if _is_float_array(img):
        values = torch.as_tensor(img).double()
        if not torch.isfinite(values).all():
            raise ValueError(f"{where} holds NaN or inf values: {_IMAGE_EXPECTED}")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 255.0:
            raise ValueError(
                f"{where} has float values in [{low:.3g}, {high:.3g}]: {_IMAGE_EXPECTED} (or "
                "0..255); pass the raw image, the processor normalizes it itself"
            )


def _is_float_array(img: Any) -> bool:
    dtype = getattr(img, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype.is_floating_point
    return dtype is not None and getattr(dtype, "kind", "") == "f"


def _image_kwargs(per_prompt: list[list[Any]]) -> dict[str, Any]:
    """``do_rescale=False`` when every image is a float array in 0..1 (already rescaled).

    The processors rescale by 1/255 by default, which would turn a 0..1 image nearly black.
    """
    images = [img for imgs in per_prompt for img in imgs]
    unit = [_is_float_array(img) and float(torch.as_tensor(img).max()) <= 1.0 for img in images]
    if not any(unit):
        return {}
    if not all(unit):
        raise ValueError(
            "images mix float images in 0..1 with images in 0..255 (uint8, PIL, or larger "
            "floats): give them all in one range, e.g. uint8 arrays or PIL images"
        )
    return {"do_rescale": False}


def tokenize_texts(
    tokenizer: Any, texts: Sequence[str], *, padding_side: str = "right"
) -> dict[str, Tensor]:
    """Token ids and attention mask for texts, each starting with BOS if the tokenizer has one.

    Tokenizers differ on whether they add BOS themselves (Gemma does, Llama 3 base does, many
    do not); statistics drop BOS, so every row gets exactly one, and padding is explicit.

    Example:
        >>> enc = tokenize_texts(tok, ["a red circle", "a square"])   # doctest: +SKIP
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    bos = getattr(tokenizer, "bos_token_id", None)
    rows: list[list[int]] = []
    for text in texts:
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        rows.append(ids)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), int(pad), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, ids in enumerate(rows):
        sl = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
        input_ids[b, sl] = torch.tensor(ids, dtype=torch.long)
        attention_mask[b, sl] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
