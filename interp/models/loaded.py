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

import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Bool
from torch import Tensor

from interp.models.base import (
    FamilyAdapter,
    adapter_for,
    get_path,
    hook_name,
    layer_from_hook_name,
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
        head = self.module.get_output_embeddings()
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
        """Return ``layer`` if it indexes a decoder layer, else raise a ValueError."""
        n = self.n_layers
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n:
            raise ValueError(
                f"layer {layer!r} is out of range: {self.name} has {n} decoder layers "
                f"(0..{n - 1})"
            )
        return layer

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
            chat: apply the family's format (chat template / PaliGemma prefix); False sends the
                prompts as they are (they must then hold the image placeholders themselves).
            padding_side: ``"left"`` (default, what generation needs) or ``"right"``.

        Returns:
            A dict of tensors for ``trace``/``generate`` (``input_ids``, ``attention_mask``,
            ``pixel_values``, ...).

        Example:
            >>> inputs = mllm.encode(["Is the circle red?", "How many squares?"], [img1, img2])  # doctest: +SKIP
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise ValueError("no prompts given")
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        per_prompt = _images_per_prompt(images, len(prompts))
        n_images = sum(len(imgs) for imgs in per_prompt)
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
                        text=texts, images=per_prompt, return_tensors="pt", padding=True
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
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise ValueError("no texts given")
        return tokenize_texts(self.tokenizer, texts, padding_side=padding_side)

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
    if str(name_or_path) == "organism":
        from interp import organism

        return str(organism.path(kind))
    return str(name_or_path)


def _load_config(path: str) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path)
    except OSError as err:
        raise ValueError(
            f"cannot load a config from {path!r}: not a local directory with config.json and not "
            f"a hub id available here ({err})"
        ) from err


def _nn_kwargs(device_map: Any, dtype: Any, remote: bool | str, kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
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
    **kwargs: Any,
) -> MLLM:
    """Load a supported MLLM through nnsight with its family adapter and processor.

    Args:
        name_or_path: hub id, local directory in hub layout, or ``"organism"``.
        device_map: passed to transformers (``"auto"``, ``"cuda:0"``, ...).
        dtype: parameter dtype (``torch.bfloat16``, ``"float32"``, ...).
        remote: ``True`` runs traces on NDIF (weights are not loaded here); ``"local"`` is
            nnsight's local dry run of the remote path.
        **kwargs: passed to ``nnsight.TransformersModel``.

    Raises:
        UnsupportedModelError: the config's model_type has no adapter.

    Example:
        >>> mllm = load_mllm("organism")   # doctest: +SKIP
        >>> mllm.family, mllm.n_layers     # doctest: +SKIP
        ('paligemma', 4)
    """
    from nnsight import TransformersModel

    from interp.models.compat import load_processor

    path = _resolve(name_or_path, "mllm")
    adapter = adapter_for(_load_config(path))
    try:
        processor = kwargs.pop("processor", None) or load_processor(path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path!r} has no usable processor: an MLLM checkpoint needs its processor files "
            f"({err})"
        ) from err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn = TransformersModel(
            path,
            task="image-text-to-text",
            processor=processor,
            **_nn_kwargs(device_map, dtype, remote, kwargs),
        )
    return MLLM(nn, adapter, processor, name=str(name_or_path), remote=remote)


def text_backbone_name(mllm_name_or_path: str | os.PathLike[str]) -> str:
    """The text backbone that pairs with an MLLM (arXiv 2505.14071's pairings).

    Returns ``"<self>"`` for models whose backbone is the MLLM itself run on text (Gemma 3).

    Example:
        >>> text_backbone_name("google/paligemma2-3b-mix-448")
        'google/gemma-2-2b'
    """
    name = str(mllm_name_or_path)
    if name == "organism":
        return "organism"
    try:
        from interp import organism

        if Path(name).resolve() == Path(organism.path("mllm")).resolve():
            return str(organism.path("text"))
    except (ImportError, FileNotFoundError, AttributeError):
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
    **kwargs: Any,
) -> TextBackbone:
    """Load a text-only backbone through nnsight.

    Give the backbone itself (``name_or_path``), or the MLLM it pairs with (``mllm=``) and let
    ``text_backbone_name`` pick it. A multimodal checkpoint given as the backbone (Gemma 3) is
    run on text alone.

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
        loaded = load_mllm(path, device_map=device_map, dtype=dtype, remote=remote, **kwargs)
        return _backbone_from_mllm(loaded)
    from transformers import AutoTokenizer

    tokenizer = kwargs.pop("tokenizer", None) or AutoTokenizer.from_pretrained(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nn = TransformersModel(
            path,
            task="text-generation",
            tokenizer=tokenizer,
            **_nn_kwargs(device_map, dtype, remote, kwargs),
        )
    layers_path = _find_layers(nn._module, path)
    name = "organism-text" if str(name_or_path) == "organism" else str(name_or_path)
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
    return [list(i) if isinstance(i, (list, tuple)) else [i] for i in images]


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
