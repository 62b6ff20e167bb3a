"""LLaVA 1.5, LLaVA-NeXT and LLaVA-OneVision (CLIP/SigLIP + Llama/Vicuna/Mistral/Qwen2).

LLaVA 1.5 gives a fixed number of image tokens per image (one per patch); NeXT and OneVision
tile the image ("anyres"), so the count depends on the image's size and is left to the
processor.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.models.base import FamilyAdapter, register


def _count(config: Any, processor: Any, encoding: dict[str, torch.Tensor], n_images: int) -> int:
    vc = config.vision_config
    per_image = (vc.image_size // vc.patch_size) ** 2
    if getattr(config, "vision_feature_select_strategy", "default") == "full":
        per_image += 1
    return n_images * per_image


LLAVA = register(
    FamilyAdapter(
        name="llava",
        model_types=("llava",),
        count_image_tokens=_count,
    )
)

LLAVA_NEXT = register(
    FamilyAdapter(
        name="llava_next",
        model_types=("llava_next", "llava_onevision"),
    )
)
