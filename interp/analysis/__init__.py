"""Looking inside: how textual vectors relate to what an MLLM computes on its image tokens.

Part A: ``alignment`` (cosines, modality gap, CKA, variance share), ``isomorphic`` (the same
scene as image and as text), ``logit_lens``, ``projection``, ``patching`` and ``ablation``;
shared helpers in ``common``. Every analysis runs through nnsight traces and returns tidy
pandas DataFrames a figure can plot without running a model.

Example:
    >>> from interp.analysis import linear_cka   # doctest: +SKIP
"""

from interp.analysis.common import answer_logit_diff, as_items, cosine, linear_cka

__all__ = [
    "answer_logit_diff",
    "as_items",
    "cosine",
    "linear_cka",
]

# -- part B (attribution, cast, lora): the lead adds its imports and __all__ entries here ------
