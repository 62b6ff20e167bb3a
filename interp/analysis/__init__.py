"""Looking inside: how textual vectors relate to what an MLLM computes on its image tokens.

``alignment`` (vector-activation cosines, modality gap, CKA, variance share), ``isomorphic``
(the same scene as image and as text), ``logit_lens``, ``projection``, ``patching``,
``ablation``, ``attribution`` (gradient x activation, attribution patching, SAE features),
``cast`` (conditional steering conditions) and ``lora``, ``lora_directions``,
``lora_rank_one`` (LoRA updates as steering pairs);
shared helpers in ``common``. Every analysis runs through nnsight
traces and returns tidy pandas DataFrames a figure can plot without running a model.

Example:
    >>> from interp.analysis import modality_gap, variance_share   # doctest: +SKIP
    >>> variance_share(mllm, v, items)[["layer", "share", "uniform"]]   # doctest: +SKIP
"""

from interp.analysis.ablation import ablation, ablation_summary
from interp.analysis.alignment import (
    alignment_summary,
    modality_gap,
    modality_gap_summary,
    variance_share,
    variance_share_summary,
    vector_alignment,
    vector_similarity,
)
from interp.analysis.attribution import (
    AnswerBatch,
    SaeAttribution,
    attribution_patching,
    attribution_summary,
    gradient_x_activation,
    sae_feature_attribution,
)
from interp.analysis.attribution import (
    answer_batch as answer_batch,
)
from interp.analysis.cast import (
    CastCondition,
    CastGrid,
    CastRun,
    cast_similarity,
    cast_steer,
    cast_summary,
    condition_grid,
    contrast_condition,
)
from interp.analysis.common import answer_logit_diff, cosine, image_grid, linear_cka
from interp.analysis.drift import language_model_drift, weight_drift
from interp.analysis.isomorphic import IsomorphicResult, isomorphic, steer_toward_text
from interp.analysis.latent_lens import ContextBank, context_bank, latent_lens, latent_lens_summary
from interp.analysis.logit_lens import logit_lens, logit_lens_summary, word_ranks
from interp.analysis.lora import LoraPairs, lora_pairs, reconstruction_error
from interp.analysis.lora_directions import (
    compare_directions,
    lora_summary,
    principal_angles,
    span_angles,
)
from interp.analysis.lora_rank_one import RankOneAdapter, conditional_adapter
from interp.analysis.patching import PatchingResult, activation_patching
from interp.analysis.projection import patch_grid, projection, projection_summary
from interp.analysis.worlds import WORLDS, World, register_world, text_rendering, world_of

__all__ = [
    "WORLDS",
    "AnswerBatch",
    "CastCondition",
    "CastGrid",
    "CastRun",
    "ContextBank",
    "IsomorphicResult",
    "LoraPairs",
    "PatchingResult",
    "RankOneAdapter",
    "SaeAttribution",
    "World",
    "ablation",
    "ablation_summary",
    "activation_patching",
    "alignment_summary",
    "answer_logit_diff",
    "attribution_patching",
    "attribution_summary",
    "cast_similarity",
    "cast_steer",
    "cast_summary",
    "compare_directions",
    "condition_grid",
    "conditional_adapter",
    "context_bank",
    "contrast_condition",
    "cosine",
    "gradient_x_activation",
    "image_grid",
    "isomorphic",
    "language_model_drift",
    "latent_lens",
    "latent_lens_summary",
    "linear_cka",
    "logit_lens",
    "logit_lens_summary",
    "lora_pairs",
    "lora_summary",
    "modality_gap",
    "modality_gap_summary",
    "patch_grid",
    "principal_angles",
    "projection",
    "projection_summary",
    "reconstruction_error",
    "register_world",
    "sae_feature_attribution",
    "span_angles",
    "steer_toward_text",
    "text_rendering",
    "variance_share",
    "variance_share_summary",
    "vector_alignment",
    "vector_similarity",
    "weight_drift",
    "word_ranks",
    "world_of",
]
