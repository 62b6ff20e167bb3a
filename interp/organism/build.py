"""The organism's training building blocks under their old import path; they live in :mod:`interp.organism.recipe`.

Tokenizer and configs are :mod:`~interp.organism.recipe.model`, batches and targets
:mod:`~interp.organism.recipe.batches`, loops' plumbing :mod:`~interp.organism.recipe.training`,
scorers and the checkpoint rule :mod:`~interp.organism.recipe.evaluate`.

Example:
    >>> from interp.organism.build import build_tokenizer
    >>> build_tokenizer().tokenize("(A) red?\\n")
    ['(', 'A', ')', 'red', '?', '\\n']
"""

from __future__ import annotations

from interp.answers import letter_ids as letter_ids
from interp.organism.recipe.batches import (
    AUX_SIZES,
    MENTION_SIZES,
    N_REF_SLOTS,
    _mention_phrases,
    _pad,
    last_prompt_position,
    mllm_batch,
    patch_targets,
    pixel_values,
    reference_heads,
    reference_loss,
    reference_targets,
    text_lm_batch,
    text_qa_batch,
)
from interp.organism.recipe.evaluate import (
    CHANCE,
    choose_checkpoint,
    letter_accuracy,
    mllm_scorer,
    text_scorer,
)
from interp.organism.recipe.model import (
    BOS,
    EOS,
    IMAGE,
    N_IMAGE_TOKENS,
    PAD,
    PATCH,
    SPECIAL,
    TEXT_ARCH,
    UNK,
    VISION_ARCH,
    _words,
    build_processor,
    build_tokenizer,
    mllm_config,
    text_config,
    world_vocabulary,
)
from interp.organism.recipe.training import (
    Budget,
    JsonLog,
    _lm_loss,
    cosine_lr,
    save_pretrained_atomically,
    scene_text_stream,
    train_item_stream,
)

__all__ = [
    "AUX_SIZES",
    "BOS",
    "CHANCE",
    "EOS",
    "IMAGE",
    "MENTION_SIZES",
    "N_IMAGE_TOKENS",
    "N_REF_SLOTS",
    "PAD",
    "PATCH",
    "SPECIAL",
    "TEXT_ARCH",
    "UNK",
    "VISION_ARCH",
    "Budget",
    "JsonLog",
    "_lm_loss",
    "_mention_phrases",
    "_pad",
    "_words",
    "build_processor",
    "build_tokenizer",
    "choose_checkpoint",
    "cosine_lr",
    "last_prompt_position",
    "letter_accuracy",
    "letter_ids",
    "mllm_batch",
    "mllm_config",
    "mllm_scorer",
    "patch_targets",
    "pixel_values",
    "reference_heads",
    "reference_loss",
    "reference_targets",
    "save_pretrained_atomically",
    "scene_text_stream",
    "text_config",
    "text_lm_batch",
    "text_qa_batch",
    "text_scorer",
    "train_item_stream",
    "world_vocabulary",
]
