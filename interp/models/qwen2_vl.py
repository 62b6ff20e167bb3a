"""Qwen2-VL and Qwen2.5-VL (native-resolution ViT + Qwen2).

An image becomes ``<|vision_start|>``, ``t*h*w / merge_size**2`` ``<|image_pad|>`` tokens and
``<|vision_end|>``; ``image_grid_thw`` from the processor gives t, h, w per image. Positions use
multimodal RoPE, which the model derives from the inputs.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.models.base import FamilyAdapter, register


def _count(config: Any, processor: Any, encoding: dict[str, torch.Tensor], n_images: int) -> int | None:
    grid = encoding.get("image_grid_thw")
    if grid is None:
        return None
    merge = int(getattr(config.vision_config, "spatial_merge_size", 2))
    return int(grid.prod(dim=-1).sum().item()) // (merge * merge)


QWEN2_VL = register(
    FamilyAdapter(
        name="qwen2_vl",
        model_types=("qwen2_vl", "qwen2_5_vl"),
        image_token_strings=("<|image_pad|>",),
        extra_special_strings=("<|vision_start|>", "<|vision_end|>", "<|im_start|>", "<|im_end|>"),
        count_image_tokens=_count,
    )
)
