"""Looking inside: how textual vectors relate to what an MLLM computes on its image tokens.

Part A: ``alignment`` (vector-activation cosines, modality gap, CKA, variance share),
``isomorphic`` (the same scene as image and as text), ``logit_lens``, ``projection``,
``patching`` and ``ablation``; shared helpers in ``common``. Every analysis runs through nnsight
traces and returns tidy pandas DataFrames a figure can plot without running a model.

Example:
    >>> from interp.analysis import modality_gap, variance_share   # doctest: +SKIP
    >>> variance_share(mllm, v, items)[["layer", "share", "uniform"]]   # doctest: +SKIP
"""

from interp.analysis.ablation import ablation, ablation_summary
from interp.analysis.alignment import (
    modality_gap,
    variance_share,
    vector_alignment,
    vector_similarity,
)
from interp.analysis.common import answer_logit_diff, as_items, cosine, image_grid, linear_cka
from interp.analysis.isomorphic import (
    IsomorphicResult,
    isomorphic,
    organism_text_prompt,
    steer_toward_text,
)
from interp.analysis.logit_lens import logit_lens, patch_object_frame, patch_objects, word_ranks
from interp.analysis.patching import PatchingResult, activation_patching, color_counterfactual
from interp.analysis.projection import patch_grid, projection

# -- part B (attribution, cast, lora): the lead adds its imports here ----------------------------

__all__ = [
    "IsomorphicResult",
    "PatchingResult",
    "ablation",
    "ablation_summary",
    "activation_patching",
    "answer_logit_diff",
    "as_items",
    "color_counterfactual",
    "cosine",
    "image_grid",
    "isomorphic",
    "linear_cka",
    "logit_lens",
    "modality_gap",
    "organism_text_prompt",
    "patch_grid",
    "patch_object_frame",
    "patch_objects",
    "projection",
    "steer_toward_text",
    "variance_share",
    "vector_alignment",
    "vector_similarity",
    "word_ranks",
    # -- part B (attribution, cast, lora): the lead adds its names here --
]
