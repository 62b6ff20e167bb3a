"""Gemma 3 (SigLIP + Gemma 3), used with its chat template.

Each image becomes ``<start_of_image>``, ``mm_tokens_per_image`` soft tokens and
``<end_of_image>``; image tokens attend to each other bidirectionally. Gemma 3 has no separate
text backbone: its text-only run is the backbone (``load_text_backbone`` handles that).
"""

from __future__ import annotations

from typing import Any

import torch

from interp.models.base import FamilyAdapter, register


def _count(config: Any, processor: Any, encoding: dict[str, torch.Tensor], n_images: int) -> int:
    return n_images * int(config.mm_tokens_per_image)


GEMMA3 = register(
    FamilyAdapter(
        name="gemma3",
        model_types=("gemma3",),
        image_token_attrs=("image_token_id", "image_token_index"),
        image_token_strings=("<image_soft_token>",),
        extra_special_strings=("<start_of_image>", "<end_of_image>", "<start_of_turn>", "<end_of_turn>"),
        backbone_pairings=((r"gemma-3-\d+b", "<self>"),),
        self_backbone=True,
        count_image_tokens=_count,
    )
)
