"""The family adapter: everything that differs between MLLM families, declared in one place.

Each supported family (``paligemma.py``, ``gemma3.py``, ...) builds one ``FamilyAdapter`` and
registers it under the HF ``model_type`` values it covers. The rest of interp asks the adapter
where the decoder layers are, which id is the image token, which ids are special, and how a
(prompt, image) pair becomes model inputs; nothing else knows a family's quirks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import torch

from interp.errors import UnsupportedModelError
from interp.types import ModelConfig, Processor, Tokenizer

#: model_type -> adapter. Filled by the family modules through ``register``.
_ADAPTERS: dict[str, FamilyAdapter] = {}


def hook_name(layer: int) -> str:
    """TransformerLens / sae-lens name of the residual stream after decoder layer ``layer``.

    Example:
        >>> hook_name(12)
        'blocks.12.hook_resid_post'
    """
    return f"blocks.{layer}.hook_resid_post"


def layer_from_hook_name(name: str) -> int:
    """Inverse of ``hook_name``: the decoder layer a ``blocks.{l}.hook_resid_post`` name refers to.

    Example:
        >>> layer_from_hook_name("blocks.3.hook_resid_post")
        3
    """
    parts = name.split(".")
    if len(parts) != 3 or parts[0] != "blocks" or parts[2] != "hook_resid_post":
        raise ValueError(
            f"hook name {name!r} is not a residual-stream hook: expected "
            "'blocks.{layer}.hook_resid_post' (interp's convention: layer l = output "
            "of decoder layer l)"
        )
    try:
        return int(parts[1])
    except ValueError:
        raise ValueError(f"hook name {name!r} has no integer layer index") from None


def call_layer(layer: Any, h: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run one decoder layer again on a new residual stream ``h``, with the other inputs it had.

    ``args`` and ``kwargs`` are what the layer was called with in a forward pass (its attention
    mask, position embeddings, cache position, ...); the residual stream was the first positional
    argument or, where a family passes everything by keyword, ``hidden_states``. ``layer`` is a
    torch module, or an nnsight envoy inside a trace. Returns the layer's new residual stream
    (families differ in whether a layer returns it alone or first in a tuple).
    """
    out = layer(h, *args[1:], **kwargs) if args else layer(**{**kwargs, "hidden_states": h})
    return out[0] if isinstance(out, tuple) else out


def get_path(obj: Any, path: str) -> Any:
    """Follow a dotted attribute path (``"model.language_model.layers"``)."""
    return functools.reduce(getattr, path.split("."), obj)


@dataclass(frozen=True)
class FamilyAdapter:
    """What interp needs to know about one MLLM family.

    Args:
        name: the family's name in interp (``"paligemma"``).
        model_types: HF ``config.model_type`` values this adapter covers.
        layers_path: dotted path from the HF top module to the language decoder's layer list
            (transformers 5 puts it at ``model.language_model.layers`` in LLaVA, PaliGemma,
            Qwen2-VL and Gemma 3; Idefics3 keeps ``model.text_model.layers``).
        image_token_attrs: config attributes that may hold the image token id, tried in order.
        image_token_strings: tokenizer strings of the image token, a fallback to the config.
        extra_special_strings: tokens that are neither image nor text (image delimiters, row
            and column markers) beyond the tokenizer's own special tokens.
        chat: whether prompts go through the processor's chat template.
        prompt_prefix: a prefix the family's question format expects (PaliGemma: ``"answer en "``).
        plain_template: for families without a chat template, ``(processor, text, n_images) ->
            prompt`` with the image placeholders where the processor expects them.
        count_image_tokens: expected number of image tokens for an encoded batch, or None when
            the family's processor decides it (used to check that images match prompts).
        backbone_pairings: ``(name pattern, text backbone)`` pairs (arXiv 2505.14071, Table 1):
            a checkpoint whose hub id matches the pattern (a regex, case-insensitive) pairs with
            that backbone's hub id, or with ``"<self>"`` when the MLLM run on text alone is its
            own backbone. ``text_backbone_name`` tries them in registration order.
        self_backbone: the family's text backbone is the MLLM itself run on text alone (Gemma
            3), whatever the checkpoint is called.
    """

    name: str
    model_types: tuple[str, ...]
    layers_path: str = "model.language_model.layers"
    image_token_attrs: tuple[str, ...] = ("image_token_id", "image_token_index")
    image_token_strings: tuple[str, ...] = ("<image>",)
    extra_special_strings: tuple[str, ...] = ()
    chat: bool = True
    prompt_prefix: str = ""
    backbone_pairings: tuple[tuple[str, str], ...] = ()
    self_backbone: bool = False
    count_image_tokens: Callable[[ModelConfig, Processor, dict[str, torch.Tensor], int], int | None] | None = field(
        default=None, compare=False
    )
    plain_template: Callable[[Processor, str, int], str] | None = field(default=None, compare=False)

    def text_config(self, config: ModelConfig) -> ModelConfig:
        """The language backbone's config (``config.text_config`` where there is one)."""
        return getattr(config, "text_config", None) or config

    def image_token_id(self, config: ModelConfig, tokenizer: Tokenizer | None = None) -> int:
        """The id whose positions hold image features."""
        for attr in self.image_token_attrs:
            value = getattr(config, attr, None)
            if isinstance(value, int):
                return value
        if tokenizer is not None:
            for s in self.image_token_strings:
                tid = tokenizer.convert_tokens_to_ids(s)
                if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                    return tid
        raise ValueError(
            f"cannot find the image token id of this {self.name} checkpoint: none of the config "
            f"attributes {list(self.image_token_attrs)} is set and the tokenizer has none of "
            f"{list(self.image_token_strings)}"
        )

    def check_image_token(self, config: ModelConfig, tokenizer: Tokenizer, image_token_id: int) -> None:
        """Refuse a checkpoint whose config and tokenizer disagree on the image token.

        The processor writes the tokenizer's image token; the model puts image features where the
        config's id is. A relabelled ``image_token_index`` (or a tokenizer from another checkpoint)
        would otherwise fail only at the first forward, with a tokens/features mismatch.
        """
        attr = next((a for a in self.image_token_attrs if isinstance(getattr(config, a, None), int)), None)
        if attr is None:
            return
        for s in self.image_token_strings:
            tid = tokenizer.convert_tokens_to_ids(s)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                if tid != image_token_id:
                    raise ValueError(
                        f"this {self.name} checkpoint's config.json says the image token is id {image_token_id} "
                        f"({attr}) but its tokenizer encodes {s!r} as {tid}: the processor would put the "
                        f"image placeholders where the model does not look for them; expected {attr} = {tid} "
                        "(was config.json edited, or the tokenizer taken from another checkpoint?)"
                    )
                return

    def special_token_ids(self, tokenizer: Tokenizer, image_token_id: int | None) -> set[int]:
        """Ids that are never 'text': the tokenizer's special tokens and the family's markers."""
        ids = set(getattr(tokenizer, "all_special_ids", []) or [])
        for tok in getattr(tokenizer, "added_tokens_decoder", {}).values():
            if getattr(tok, "special", False):
                # one token string converts to one id
                ids.add(int(cast(int, tokenizer.convert_tokens_to_ids(tok.content))))
        for s in self.extra_special_strings:
            tid = tokenizer.convert_tokens_to_ids(s)
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                ids.add(tid)
        ids.discard(image_token_id)  # type: ignore[arg-type]
        return ids

    def format_prompt(self, processor: Processor, text: str, n_images: int) -> str:
        """The family's prompt for a user question with ``n_images`` images.

        Chat families apply the processor's chat template with one image placeholder per
        image and the generation prompt; plain-prompt families (PaliGemma) get their prefix.
        """
        if self.prompt_prefix and not text.startswith(self.prompt_prefix):
            text = self.prompt_prefix + text
        if not self.chat:
            return self.plain_template(processor, text, n_images) if self.plain_template else text
        content: list[dict[str, str]] = [{"type": "image"} for _ in range(n_images)]
        content.append({"type": "text", "text": text})
        messages = [{"role": "user", "content": content}]
        if getattr(processor, "chat_template", None) is None:
            raise ValueError(
                f"the {self.name} processor has no chat template; pass chat=False with a prompt "
                "already in the model's format"
            )
        if getattr(processor, "video_processor", True) is None:
            # Without torchvision there is no video processor, and some processors (SmolVLM)
            # read it while templating: render the same template through the tokenizer.
            return processor.tokenizer.apply_chat_template(
                messages,
                chat_template=processor.chat_template,
                add_generation_prompt=True,
                tokenize=False,
            )
        # transformers annotates text-only conversations; processors take these content lists
        return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)  # type: ignore[arg-type]


def register(adapter: FamilyAdapter) -> FamilyAdapter:
    """Register an adapter under each of its model types; a second registration is an error."""
    for mt in adapter.model_types:
        if mt in _ADAPTERS:
            raise ValueError(
                f"model_type {mt!r} already has an adapter ({_ADAPTERS[mt].name}); "
                f"cannot register {adapter.name} for it too"
            )
        _ADAPTERS[mt] = adapter
    return adapter


def registered_adapters() -> list[FamilyAdapter]:
    """Each registered adapter once, in the order the adapters were registered."""
    return list({id(a): a for a in _ADAPTERS.values()}.values())


def backbone_pairings() -> tuple[tuple[str, str], ...]:
    """Every registered family's ``(name pattern, text backbone)`` pairs, in registration order.

    Example:
        >>> ("paligemma2-3b", "google/gemma-2-2b") in backbone_pairings()   # doctest: +SKIP
        True
    """
    return tuple(pair for adapter in registered_adapters() for pair in adapter.backbone_pairings)


def self_backbone_types() -> tuple[str, ...]:
    """HF ``model_type`` values whose text backbone is the MLLM itself (``self_backbone``)."""
    return tuple(mt for mt, adapter in _ADAPTERS.items() if adapter.self_backbone)


def supported_model_types() -> list[str]:
    """HF ``model_type`` values that have an adapter."""
    return sorted(_ADAPTERS)


def adapter_for(config: ModelConfig) -> FamilyAdapter:
    """The adapter for a HF config, chosen by its ``model_type``.

    Raises:
        UnsupportedModelError: listing the supported model types.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in _ADAPTERS:
        raise UnsupportedModelError(
            f"model_type {model_type!r} is not supported: interp has adapters for "
            f"{', '.join(supported_model_types())}"
        )
    return _ADAPTERS[model_type]
