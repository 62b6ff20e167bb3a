"""Tiny random-initialised MLLMs and text backbones, saved like hub checkpoints.

Each builder writes config, float32 weights (``torch.manual_seed(seed)``), a byte-level BPE
tokenizer trained on the fly, the image processor (PIL path: no torchvision needed) and the
processor to a local directory, so that family adapters can be tested offline. Text: d_model 32,
2 decoder layers, 2 heads (1 KV head); vision: 1 layer, 16x16 px (Qwen: 32x32), patch 4. A build
takes well under a second after imports, a forward a few ms.

Facts checked on transformers 5.23 / nnsight 0.8.1 (``layers`` is relative to the
``AutoModelForImageTextToText`` module, and is the same path on an nnsight ``TransformersModel``;
image tokens are per image of the tiny size; "specials" are the tokens that are neither image
nor text, as they appear in a prompt):

=============== =============== =========================== ================= =========================
family          model_type      layers                      image-token attr  image tokens / image
=============== =============== =========================== ================= =========================
paligemma       paligemma       model.language_model.layers image_token_index 16 (fixed)
gemma3          gemma3          model.language_model.layers image_token_index 4 (fixed)
idefics3        idefics3        model.text_model.layers     image_token_id    20 (4 tiles + global, x4)
smolvlm         smolvlm         model.text_model.layers     image_token_id    20 (as idefics3)
llava           llava           model.language_model.layers image_token_index 16 (fixed)
llava_next      llava_next      model.language_model.layers image_token_index 36-88 (anyres, by size)
llava_onevision llava_onevision model.language_model.layers image_token_index 36-88 (anyres, by size)
qwen2_vl        qwen2_vl        model.language_model.layers image_token_id    16-20 (by size)
qwen2_5_vl      qwen2_5_vl      model.language_model.layers image_token_id    16-20 (by size)
=============== =============== =========================== ================= =========================

``config.image_token_id`` reads the id in all nine (an ``attribute_map`` alias where the stored
name is ``image_token_index``). Text backbones inside: gemma2 (PaliGemma), gemma3_text, llama
(Idefics3, SmolVLM, LLaVA, LLaVA-NeXT), qwen2 (OneVision), qwen2_vl_text / qwen2_5_vl_text.

Per family (the processor always expands one placeholder per image into the image-token run):

- paligemma: plain prompt ``"answer en <question>"``, no chat template; the processor puts
  ``<image>`` x16 and ``<bos>`` in front and ``\n`` after. Specials: ``<bos>``. The processor
  adds 1152 ``<locNNNN>``/``<segNNN>`` tokens (vocab 1600) and returns ``token_type_ids`` (prefix:
  bidirectional attention, so an edit at one prompt position also moves earlier positions) and
  ``labels`` (all -100 without a suffix: drop them, else loss=nan).
- gemma3: chat template ``<bos><start_of_turn>user\n<start_of_image>...<end_of_turn>\n<start_of_turn>model\n``;
  ``<start_of_image>`` is the placeholder, expanded to ``\n\n<start_of_image>`` +
  ``<image_soft_token>`` x4 + ``<end_of_image>\n\n``. Specials: ``<bos>``, ``<start_of_turn>``,
  ``<end_of_turn>``, ``<start_of_image>``, ``<end_of_image>``. The template writes ``<bos>`` and the
  tokenizer adds another (as the real checkpoints do). ``token_type_ids`` marks image tokens and
  turns on bidirectional attention inside each image. A batch takes ``images=[[img1], [img2]]``.
- idefics3 / smolvlm: chat template ``User:<image>...<end_of_utterance>\nAssistant:``; the image
  is split into up to 2x2 tiles of 16 px plus a global view, each ``<fake_token_around_image>``
  ``<row_i_col_j>`` (or ``<global-img>``) + ``<image>`` x4. Specials: ``<|begin_of_text|>``,
  ``<fake_token_around_image>``, ``<row_i_col_j>``, ``<global-img>``, ``<end_of_utterance>``.
  Inputs add ``pixel_attention_mask``; pixel_values is (batch, tiles, 3, 16, 16). SmolVLM's
  processor needs ``num2words`` and (in batches) ``images=[[img1], [img2]]``.
- llava: chat template ``USER: <image>\n... ASSISTANT:``; 16 = (16/4)^2 patches, CLS dropped
  (``vision_feature_select_strategy="default"``). Specials: ``<s>``.
- llava_next / llava_onevision: same placeholder; anyres (grid pinpoints 16/32 px): base 16 +
  the unpadded crop grid + one newline feature per row, so the count changes with image size.
  Inputs add ``image_sizes`` (and ``batch_num_images`` for OneVision, which uses ChatML,
  ``<|im_start|>``/``<|im_end|>``, a Qwen2 backbone and SigLIP with all patches).
- qwen2_vl / qwen2_5_vl: ChatML template with ``<|vision_start|><|image_pad|><|vision_end|>``;
  the image is resized to about 32x32 px (min=max pixels 1024, multiple of 8): tokens =
  prod(``image_grid_thw``)/4. ``pixel_values`` is flat (patches, 96) and ``image_grid_thw`` is
  required; positions are 3-D M-RoPE. Specials: ``<|im_start|>``, ``<|im_end|>``,
  ``<|vision_start|>``, ``<|vision_end|>``.

Without torchvision, transformers 5.23 cannot build the processors that own a video processor
(Qwen2-VL, Qwen2.5-VL, SmolVLM, LLaVA-OneVision): wrap ``AutoProcessor.from_pretrained`` and
``nnsight.TransformersModel(...)`` in :func:`without_video_processor`, or use
:func:`load_tiny_processor`.

nnsight 0.8.1 recipe, every family: ``TransformersModel(dir, task="image-text-to-text",
dispatch=True)``; ``model.trace(prompt, images=[img])`` works; ``model.trace([p1, p2],
images=[img1, img2])`` works only when both rows come out the same length, because nnsight calls
the processor without ``padding=True``; for a general batch run the processor yourself and pass
its outputs, ``model.trace(**inputs)`` or ``model.trace(inputs)``. A decoder layer's output is a
(batch, pos, d_model) tensor; ``layers[l].output[:, idx] += v`` edits it, and inside
``model.generate(...)`` a plain body sees the prefill (the whole prompt). Text backbones
(gemma2, llama, gemma3_text; layers ``model.layers``) need ``task="text-generation"`` offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from interp.models.compat import load_processor as load_tiny_processor
from interp.models.compat import quiet_progress, without_video_processor

__all__ = [
    "TINY_FAMILIES",
    "TINY_INFO",
    "TINY_TEXT_FAMILIES",
    "TinyFamilyInfo",
    "build_tiny_mllm",
    "build_tiny_text",
    "load_tiny_processor",
    "tiny_image",
    "tiny_mllm_dir",
    "tiny_prompt",
    "tiny_text_dir",
    "without_video_processor",
]

TINY_FAMILIES: tuple[str, ...] = (
    "paligemma",
    "gemma3",
    "idefics3",
    "smolvlm",
    "llava",
    "llava_next",
    "llava_onevision",
    "qwen2_vl",
    "qwen2_5_vl",
)
TINY_TEXT_FAMILIES: tuple[str, ...] = ("gemma2", "llama", "gemma3_text")

_DONE_MARKER = ".tiny_done"

_CORPUS = (
    "The red cube is to the left of the blue sphere. "
    "There are three yellow cylinders on the table. "
    "How many shapes are in the image? Answer with a number. "
    "Is the small green circle above or below the large square? "
    "A dog sat beneath the tree while two cats played behind the house. "
    "She placed the shoes under the bed and the book on the shelf. "
    "Which object is closer to the camera, the lamp or the chair? "
    "Answer the multiple choice question by only responding the letter of the correct answer. "
    "(A) left (B) right (C) above (D) below. answer en describe the picture. "
    "user assistant system image picture photo one two four five six seven eight nine ten. "
    "How many? What is left of the cube? USER: ASSISTANT: User: Assistant: model answer."
)


@dataclass(frozen=True)
class TinyFamilyInfo:
    """What a tiny checkpoint of one family looks like (the table in the module docstring).

    ``layers_path`` is relative to the top module (``AutoModelForImageTextToText`` /
    ``AutoModelForCausalLM``), the same path on an nnsight ``TransformersModel``.

    Example:
        >>> TINY_INFO["idefics3"].layers_path
        'model.text_model.layers'
    """

    model_type: str
    layers_path: str
    image_token_attr: str | None
    image_token: str | None


TINY_INFO: dict[str, TinyFamilyInfo] = {
    "paligemma": TinyFamilyInfo(
        "paligemma", "model.language_model.layers", "image_token_index", "<image>"
    ),
    "gemma3": TinyFamilyInfo(
        "gemma3", "model.language_model.layers", "image_token_index", "<image_soft_token>"
    ),
    "idefics3": TinyFamilyInfo("idefics3", "model.text_model.layers", "image_token_id", "<image>"),
    "smolvlm": TinyFamilyInfo("smolvlm", "model.text_model.layers", "image_token_id", "<image>"),
    "llava": TinyFamilyInfo("llava", "model.language_model.layers", "image_token_index", "<image>"),
    "llava_next": TinyFamilyInfo(
        "llava_next", "model.language_model.layers", "image_token_index", "<image>"
    ),
    "llava_onevision": TinyFamilyInfo(
        "llava_onevision", "model.language_model.layers", "image_token_index", "<image>"
    ),
    "qwen2_vl": TinyFamilyInfo(
        "qwen2_vl", "model.language_model.layers", "image_token_id", "<|image_pad|>"
    ),
    "qwen2_5_vl": TinyFamilyInfo(
        "qwen2_5_vl", "model.language_model.layers", "image_token_id", "<|image_pad|>"
    ),
    "gemma2": TinyFamilyInfo("gemma2", "model.layers", None, None),
    "llama": TinyFamilyInfo("llama", "model.layers", None, None),
    "gemma3_text": TinyFamilyInfo("gemma3_text", "model.layers", None, None),
}


# ----------------------------------------------------------------------------- tokenizer


def _tokenizer(
    special: list[str],
    *,
    bos: str | None,
    eos: str,
    pad: str,
    add_bos: bool,
    extra: dict[str, str] | None = None,
    vocab_size: int = 400,
    chat_template: str | None = None,
) -> Any:
    """Train a byte-level BPE on ``_CORPUS`` and wrap it as a fast tokenizer.

    ``special`` lists every special token (named ones and the family's image/control tokens);
    ``extra`` maps attribute names (``image_token``, ``boi_token``, ...) to token strings.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(dict.fromkeys(special)),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer)
    kwargs: dict[str, Any] = {"eos_token": eos, "pad_token": pad, "add_bos_token": add_bos}
    if bos is not None:
        kwargs["bos_token"] = bos
    if extra:
        kwargs["extra_special_tokens"] = dict(extra)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


def _ids(tokenizer: Any, *tokens: str) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(t) for t in tokens]


def _vocab(tokenizer: Any) -> int:
    """Vocabulary size for the config: the tokenizer's length rounded up to 64."""
    return -(-len(tokenizer) // 64) * 64


# ---------------------------------------------------------------------------- text configs

_TEXT = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "max_position_embeddings": 512,
}

_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
}

_PATCH = {"image_size": 16, "patch_size": 4}

#: The SigLIP tower of the PaliGemma, Gemma 3 and LLaVA-OneVision tiny models.
_SIGLIP = {"model_type": "siglip_vision_model", **_VISION, **_PATCH}


def _gemma_ids(tok: Any) -> dict[str, int]:
    """The pad, BOS and EOS ids of a Gemma tokenizer (``<pad>``, ``<bos>``, ``<eos>``)."""
    pad, eos, bos = _ids(tok, "<pad>", "<eos>", "<bos>")
    return {"pad_token_id": pad, "bos_token_id": bos, "eos_token_id": eos}


def _gemma_text(tok: Any, **extra: Any) -> dict[str, Any]:
    """The Gemma 2 / Gemma 3 text config of the tiny models, for ``tok``'s vocabulary."""
    return {**_TEXT, "vocab_size": _vocab(tok), "sliding_window": 64, **extra, **_gemma_ids(tok)}


# --------------------------------------------------------------------------- families


def _make_processor(cls: type, image_processor: Any, tokenizer: Any, **kwargs: Any) -> Any:
    with without_video_processor():
        processor = cls(image_processor=image_processor, tokenizer=tokenizer, **kwargs)
    if "video_processor" in kwargs and not hasattr(processor, "video_processor"):
        processor.video_processor = None
    return processor


def _paligemma() -> tuple[Any, Any]:
    from transformers import PaliGemmaConfig, PaliGemmaProcessor, SiglipImageProcessorPil

    tok = _tokenizer(
        ["<pad>", "<eos>", "<bos>", "<image>"],
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        add_bos=True,
        extra={"image_token": "<image>"},
    )
    image_proc = SiglipImageProcessorPil(size={"height": 16, "width": 16})
    image_proc.image_seq_length = 16
    processor = PaliGemmaProcessor(image_processor=image_proc, tokenizer=tok)  # adds loc/seg tokens
    config = PaliGemmaConfig(
        text_config=_gemma_text(tok, model_type="gemma2"),
        vision_config=dict(_SIGLIP),
        image_token_index=_ids(tok, "<image>")[0],
        vocab_size=_vocab(tok),
        projection_dim=32,
        hidden_size=32,
        **_gemma_ids(tok),
    )
    return config, processor


def _llama_text(tok: Any, bos: str | None, eos: str, pad: str, **extra: Any) -> dict[str, Any]:
    pad_id, eos_id = _ids(tok, pad, eos)
    out = {
        **_TEXT,
        "vocab_size": _vocab(tok),
        "pad_token_id": pad_id,
        "eos_token_id": eos_id,
        **extra,
    }
    out["bos_token_id"] = _ids(tok, bos)[0] if bos is not None else None
    return out


_LLAVA_TEMPLATE = (
    "{% for m in messages %}{{ m['role'].upper() }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %} "
    "{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}IMAGE"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_PINPOINTS = [[16, 16], [16, 32], [32, 16], [32, 32]]
def _llava(variant: str) -> tuple[Any, Any]:
    """One builder for the three LLaVA families, which differ only where ``variant`` says.

    ``"llava"`` (1.5): Llama backbone, CLIP vision tower, a fixed 16 image tokens per image.
    ``"llava_next"``: the same, plus anyres tiling (``image_grid_pinpoints``).
    ``"llava_onevision"``: anyres with ChatML, a Qwen2 backbone and SigLIP with all patches.
    """
    import transformers as tf

    onevision = variant == "llava_onevision"
    anyres = variant != "llava"
    if onevision:
        bos, eos, pad = None, "<|im_end|>", "<|endoftext|>"
        tok = _tokenizer(
            [pad, "<|im_start|>", eos, "<image>", "<video>"],
            bos=bos,
            eos=eos,
            pad=pad,
            add_bos=False,
            extra={"image_token": "<image>", "video_token": "<video>"},
            chat_template=_CHATML_TEMPLATE.replace("IMAGE", "<image>\n"),
        )
        image_proc = tf.LlavaOnevisionImageProcessorPil(
            size={"height": 16, "width": 16}, image_grid_pinpoints=_PINPOINTS
        )
        processor = _make_processor(
            tf.LlavaOnevisionProcessor,
            image_proc,
            tok,
            video_processor=None,
            num_image_tokens=16,
            vision_feature_select_strategy="full",
            chat_template=tok.chat_template,
        )
        text = _llama_text(tok, bos, eos, pad, model_type="qwen2")
        vision = {**_SIGLIP, "vision_use_head": False}
        strategy = "full"
    else:
        bos, eos, pad = "<s>", "</s>", "<pad>"
        tok = _tokenizer(
            ["<unk>", bos, eos, pad, "<image>"],
            bos=bos,
            eos=eos,
            pad=pad,
            add_bos=True,
            extra={"image_token": "<image>"},
        )
        size = {"size": {"shortest_edge": 16}, "crop_size": {"height": 16, "width": 16}}
        if anyres:
            image_proc = tf.LlavaNextImageProcessorPil(**size, image_grid_pinpoints=_PINPOINTS)
        else:
            image_proc = tf.CLIPImageProcessorPil(**size)
        processor = (tf.LlavaNextProcessor if anyres else tf.LlavaProcessor)(
            image_processor=image_proc,
            tokenizer=tok,
            patch_size=4,
            vision_feature_select_strategy="default",
            num_additional_image_tokens=1,
            chat_template=_LLAVA_TEMPLATE,
        )
        text = _llama_text(tok, bos, eos, pad, model_type="llama")
        vision = {"model_type": "clip_vision_model", **_VISION, **_PATCH, "projection_dim": 32}
        strategy = "default"
    # Keyword order as each family's config has always been built with.
    kwargs: dict[str, Any] = {
        "text_config": text,
        "vision_config": vision,
        "image_token_index": _ids(tok, "<image>")[0],
    }
    if onevision:
        kwargs["video_token_index"] = _ids(tok, "<video>")[0]
    if anyres:
        kwargs["image_grid_pinpoints"] = _PINPOINTS
    if not onevision:
        kwargs["image_seq_length"] = 16
    kwargs["vision_feature_layer"] = -1
    kwargs["vision_feature_select_strategy"] = strategy
    if onevision:
        kwargs["vision_aspect_ratio"] = "anyres_max_9"
    kwargs["pad_token_id"] = text["pad_token_id"]
    cfg_cls = {
        "llava": tf.LlavaConfig,
        "llava_next": tf.LlavaNextConfig,
        "llava_onevision": tf.LlavaOnevisionConfig,
    }[variant]
    return cfg_cls(**kwargs), processor


def _qwen_vl(version: str) -> tuple[Any, Any]:
    import transformers as tf

    tok = _tokenizer(
        [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "<|vision_start|>",
            "<|vision_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
        ],
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        add_bos=False,
        chat_template=_CHATML_TEMPLATE.replace(
            "IMAGE", "<|vision_start|><|image_pad|><|vision_end|>"
        ),
    )
    image_proc = tf.Qwen2VLImageProcessorPil(
        min_pixels=32 * 32, max_pixels=32 * 32, patch_size=4, temporal_patch_size=2, merge_size=2
    )
    proc_cls = tf.Qwen2VLProcessor if version == "2" else tf.Qwen2_5_VLProcessor
    processor = _make_processor(
        proc_cls, image_proc, tok, video_processor=None, chat_template=tok.chat_template
    )
    text = _llama_text(
        tok,
        None,
        "<|im_end|>",
        "<|endoftext|>",
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
    )
    image, video, start, end = _ids(
        tok, "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"
    )
    vision = {
        "depth": 1,
        "embed_dim": 32,
        "num_heads": 2,
        "hidden_size": 32,
        "patch_size": 4,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    if version == "2":
        vision["mlp_ratio"] = 2
        cfg_cls = tf.Qwen2VLConfig
    else:
        vision = {
            "depth": 1,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 32,
            "patch_size": 4,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 16,
            "fullatt_block_indexes": [0],
        }
        cfg_cls = tf.Qwen2_5_VLConfig
    config = cfg_cls(
        text_config=text,
        vision_config=vision,
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=start,
        vision_end_token_id=end,
        pad_token_id=text["pad_token_id"],
    )
    return config, processor


_GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>"
    "{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<start_of_image>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _gemma3() -> tuple[Any, Any]:
    from transformers import Gemma3Config, Gemma3ImageProcessorPil, Gemma3Processor

    tok = _tokenizer(
        [
            "<pad>",
            "<eos>",
            "<bos>",
            "<start_of_turn>",
            "<end_of_turn>",
            "<start_of_image>",
            "<end_of_image>",
            "<image_soft_token>",
        ],
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        add_bos=True,
        extra={
            "image_token": "<image_soft_token>",
            "boi_token": "<start_of_image>",
            "eoi_token": "<end_of_image>",
        },
        chat_template=_GEMMA3_TEMPLATE,
    )
    image_proc = Gemma3ImageProcessorPil(size={"height": 16, "width": 16})
    processor = Gemma3Processor(
        image_processor=image_proc,
        tokenizer=tok,
        image_seq_length=4,
        chat_template=_GEMMA3_TEMPLATE,
    )
    boi, eoi, image = _ids(tok, "<start_of_image>", "<end_of_image>", "<image_soft_token>")
    config = Gemma3Config(
        text_config=_gemma_text(tok, query_pre_attn_scalar=16),
        vision_config={**_SIGLIP, "vision_use_head": False},
        mm_tokens_per_image=4,
        boi_token_index=boi,
        eoi_token_index=eoi,
        image_token_index=image,
        **_gemma_ids(tok),
    )
    return config, processor


_IDEFICS3_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | capitalize }}:"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _idefics3(smol: bool) -> tuple[Any, Any]:
    import transformers as tf

    rows = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    tok = _tokenizer(
        [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|finetune_right_pad_id|>",
            "<image>",
            "<fake_token_around_image>",
            "<global-img>",
            "<end_of_utterance>",
            *rows,
        ],
        bos="<|begin_of_text|>",
        eos="<end_of_utterance>" if smol else "<|end_of_text|>",
        pad="<|finetune_right_pad_id|>",
        add_bos=not smol,
        extra={
            "image_token": "<image>",
            "fake_image_token": "<fake_token_around_image>",
            "global_image_token": "<global-img>",
            "end_of_utterance_token": "<end_of_utterance>",
        },
        vocab_size=440,
        chat_template=_IDEFICS3_TEMPLATE,
    )
    proc_kw = {"size": {"longest_edge": 32}, "max_image_size": {"longest_edge": 16}}
    if smol:
        image_proc = tf.SmolVLMImageProcessorPil(**proc_kw)
        processor = _make_processor(
            tf.SmolVLMProcessor,
            image_proc,
            tok,
            video_processor=None,
            image_seq_len=4,
            chat_template=_IDEFICS3_TEMPLATE,
        )
        cfg_cls = tf.SmolVLMConfig
    else:
        image_proc = tf.Idefics3ImageProcessorPil(**proc_kw)
        processor = tf.Idefics3Processor(
            image_processor=image_proc,
            tokenizer=tok,
            image_seq_len=4,
            chat_template=_IDEFICS3_TEMPLATE,
        )
        cfg_cls = tf.Idefics3Config
    text = _llama_text(
        tok, "<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", model_type="llama"
    )
    config = cfg_cls(
        text_config=text,
        vision_config={**_VISION, "image_size": 16, "patch_size": 4},
        image_token_id=_ids(tok, "<image>")[0],
        scale_factor=2,
        pad_token_id=text["pad_token_id"],
    )
    return config, processor


_BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "paligemma": _paligemma,
    "gemma3": _gemma3,
    "idefics3": lambda: _idefics3(smol=False),
    "smolvlm": lambda: _idefics3(smol=True),
    "llava": lambda: _llava("llava"),
    "llava_next": lambda: _llava("llava_next"),
    "llava_onevision": lambda: _llava("llava_onevision"),
    "qwen2_vl": lambda: _qwen_vl("2"),
    "qwen2_5_vl": lambda: _qwen_vl("2.5"),
}


# ------------------------------------------------------------------------------ public


def _check_family(family: str, known: tuple[str, ...], what: str) -> None:
    if family not in known:
        raise ValueError(f"unknown {what} family {family!r}: expected one of {', '.join(known)}")


def build_tiny_mllm(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny random-initialised MLLM of ``family`` and save it with its processor.

    Args:
        family: one of ``TINY_FAMILIES``.
        out_dir: directory to write (created if missing), laid out like a hub checkpoint.
        seed: torch seed for the random weights.

    Returns:
        ``out_dir`` as a ``Path``.

    Example:
        >>> from transformers import AutoModelForImageTextToText, AutoProcessor
        >>> path = build_tiny_mllm("paligemma", tmp_path / "pg")
        >>> model = AutoModelForImageTextToText.from_pretrained(path)
        >>> processor = AutoProcessor.from_pretrained(path)
    """
    _check_family(family, TINY_FAMILIES, "tiny MLLM")
    from transformers import AutoModelForImageTextToText

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return _save_random(AutoModelForImageTextToText, _BUILDERS[family], out_dir, seed)


def tiny_mllm_dir(family: str, root: str | Path, seed: int = 0) -> Path:
    """Return ``root/family`` (``root/family-seedN`` for seed N != 0), built on first use only.

    Example:
        >>> path = tiny_mllm_dir("llava", tmp_path_factory.mktemp("tiny"))
    """
    return _cached(build_tiny_mllm, family, root, seed, TINY_FAMILIES, "tiny MLLM")


def _save_random(auto: Any, build: Callable[[], tuple[Any, Any]], out_dir: str | Path, seed: int) -> Path:
    """Make ``out_dir``, then save seeded random weights of ``build()``'s config (through the
    ``auto`` class) with its processor or tokenizer, laid out like a hub checkpoint."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config, processor = build()
    torch.manual_seed(seed)
    model = auto.from_config(config, dtype=torch.float32)
    model.eval()
    with quiet_progress():
        model.save_pretrained(out)
    with without_video_processor():
        processor.save_pretrained(out)
    return out


def _cached(build: Callable[..., Path], family: str, root: str | Path, seed: int, known: tuple[str, ...],
            what: str) -> Path:
    """Check ``family``, then build into a scratch directory and rename it into place, so readers
    never see half."""
    import shutil
    import tempfile

    _check_family(family, known, what)
    out = Path(root) / (family if seed == 0 else f"{family}-seed{seed}")
    if (out / _DONE_MARKER).exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        build(family, scratch, seed=seed)
        (scratch / _DONE_MARKER).write_text(f"seed={seed}\n")
        try:
            scratch.rename(out)
        except OSError:
            if not (out / _DONE_MARKER).exists():  # not a concurrent builder that won
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def tiny_prompt(family: str, processor: Any, question: str) -> str:
    """The family's prompt for one image and ``question``, with the image placeholder.

    PaliGemma takes a plain prompt (``answer en ...``; the processor puts ``<image>`` and
    ``<bos>`` in front); every other family goes through its chat template.

    Example:
        >>> tiny_prompt("llava", processor, "How many?")
        'USER: <image>\\nHow many? ASSISTANT:'
    """
    _check_family(family, TINY_FAMILIES, "tiny MLLM")
    if family == "paligemma":
        return f"answer en {question}"
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
    ]
    if family == "smolvlm" and getattr(processor, "video_processor", None) is None:
        # SmolVLMProcessor.apply_chat_template reads video_processor.num_frames: without
        # torchvision there is none, so render the same template through the tokenizer.
        return processor.tokenizer.apply_chat_template(
            messages,
            chat_template=processor.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
    return processor.apply_chat_template(messages, add_generation_prompt=True)


def tiny_image(height: int = 20, width: int = 24, seed: int = 0) -> Any:
    """A random RGB ``PIL.Image`` of the given size.

    Example:
        >>> tiny_image(20, 24).size
        (24, 20)
    """
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


# ------------------------------------------------------------------------- text backbones


def _text_config(family: str) -> tuple[Any, Any]:
    import transformers as tf

    if family == "llama":
        tok = _tokenizer(
            ["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>"],
            bos="<|begin_of_text|>",
            eos="<|end_of_text|>",
            pad="<|finetune_right_pad_id|>",
            add_bos=True,
        )
        return tf.LlamaConfig(
            **_llama_text(tok, "<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>")
        ), tok
    tok = _tokenizer(
        ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"],
        bos="<bos>",
        eos="<eos>",
        pad="<pad>",
        add_bos=True,
    )
    if family == "gemma2":
        return tf.Gemma2Config(**_gemma_text(tok)), tok
    return tf.Gemma3TextConfig(**_gemma_text(tok, query_pre_attn_scalar=16)), tok


def build_tiny_text(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build a tiny random-initialised text-only backbone and its tokenizer.

    Args:
        family: one of ``TINY_TEXT_FAMILIES`` ("gemma2", "llama", "gemma3_text").
        out_dir: directory to write (created if missing).
        seed: torch seed for the random weights.

    Example:
        >>> from transformers import AutoModelForCausalLM
        >>> model = AutoModelForCausalLM.from_pretrained(build_tiny_text("gemma2", tmp_path / "g2"))
    """
    _check_family(family, TINY_TEXT_FAMILIES, "tiny text")
    from transformers import AutoModelForCausalLM

    return _save_random(AutoModelForCausalLM, lambda: _text_config(family), out_dir, seed)


def tiny_text_dir(family: str, root: str | Path, seed: int = 0) -> Path:
    """Return ``root/family`` (``root/family-seedN`` for seed N != 0), built on first use only.

    Example:
        >>> path = tiny_text_dir("gemma2", tmp_path_factory.mktemp("tiny"))
    """
    return _cached(build_tiny_text, family, root, seed, TINY_TEXT_FAMILIES, "tiny text")
