"""The second organism: a LLaVA-style MLLM on a frozen, deeper text backbone (a positive control).

Its card is ``interp/organism/data_llava/CARD.md``; how it is built (the grown six-layer backbone,
the CLIP tower and projector trained in front of it, the alignment loss, the chat template) is
described and implemented in :mod:`interp.organism.recipe.llava`, whose builders are re-exported
here under their old import path.

Where its parts are (``DATA_DIR``, ``KINDS``, :func:`path`) is runtime, read by
``interp.organism.locate("organism-llava", ...)``.

Example:
    >>> cfg = llava_config(text_config_for(113, n_layers=6))
    >>> cfg.model_type, cfg.text_config.num_hidden_layers
    ('llava', 6)
"""

from __future__ import annotations

from interp.organism.parts import LLAVA_DATA_DIR as DATA_DIR
from interp.organism.parts import LLAVA_KINDS as KINDS
from interp.organism.parts import llava_path as path
from interp.organism.recipe.llava import (
    CHAT_TEMPLATE,
    INSERT_BEFORE,
    VISION_ARCH,
    alignment_loss,
    alignment_targets,
    build_llava_processor,
    description_ids,
    grow_backbone,
    llava_batch,
    llava_config,
    llava_prompt,
    llava_scorer,
    text_config_for,
)

__all__ = [
    "CHAT_TEMPLATE",
    "DATA_DIR",
    "INSERT_BEFORE",
    "KINDS",
    "VISION_ARCH",
    "alignment_loss",
    "alignment_targets",
    "build_llava_processor",
    "description_ids",
    "grow_backbone",
    "llava_batch",
    "llava_config",
    "llava_prompt",
    "llava_scorer",
    "path",
    "text_config_for",
]
