"""PaliGemma and PaliGemma 2 (SigLIP + Gemma / Gemma 2).

Plain prompts, no chat template: the processor puts ``image_seq_length`` image tokens and BOS
in front of the text and ends it with a newline. The mix checkpoints answer questions after the
task prefix ``"answer en "``.
"""

from __future__ import annotations

from typing import Any

import torch

from interp.models.base import FamilyAdapter, register


def _count(config: Any, processor: Any, encoding: dict[str, torch.Tensor], n_images: int) -> int:
    per_image = getattr(processor, "image_seq_length", None) or config.text_config.num_image_tokens
    return n_images * int(per_image)


def _template(processor: Any, text: str, n_images: int) -> str:
    # The processor's documented layout: one <image> per image in front of the prompt; it
    # expands each into image_seq_length tokens and adds BOS after them and a newline at the end.
    if n_images == 0:
        return text
    return f"{processor.image_token * n_images}{text}"


PALIGEMMA = register(
    FamilyAdapter(
        name="paligemma",
        model_types=("paligemma",),
        chat=False,
        prompt_prefix="answer en ",
        backbone_pairings=(
            (r"paligemma2-3b", "google/gemma-2-2b"),
            (r"paligemma2-10b", "google/gemma-2-9b"),
            (r"paligemma2-28b", "google/gemma-2-27b"),
            (r"paligemma-3b", "google/gemma-2b"),
        ),
        count_image_tokens=_count,
        plain_template=_template,
    )
)
