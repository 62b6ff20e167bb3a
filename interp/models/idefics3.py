"""Idefics3 and SmolVLM (SigLIP + Llama 3 / SmolLM, pixel-shuffle connector).

The processor may split an image into tiles plus a global view, each framed by
``<fake_token_around_image>`` and a ``<row_i_col_j>`` or ``<global-img>`` marker; the number of
image tokens is the processor's business. The language model is ``model.text_model``.
"""

from __future__ import annotations

from interp.models.base import FamilyAdapter, register

_MARKERS = (
    "<fake_token_around_image>",
    "<global-img>",
    "<end_of_utterance>",
    *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
)

IDEFICS3 = register(
    FamilyAdapter(
        name="idefics3",
        model_types=("idefics3", "smolvlm"),
        layers_path="model.text_model.layers",
        image_token_attrs=("image_token_id", "image_token_index"),
        image_token_strings=("<image>",),
        extra_special_strings=_MARKERS,
        backbone_pairings=((r"Idefics3-8B-Llama3", "meta-llama/Llama-3.1-8B-Instruct"),),
    )
)
