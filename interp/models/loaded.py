"""Where ``interp.models``' loading API used to live; it re-exports it from its new homes.

The traced-model classes (``TracedModel``, ``MLLM``, ``TextBackbone``) are in
``interp.models.traced``; checkpoint resolution and loading (``load_mllm``,
``load_text_backbone``, ``text_backbone_name``, ``PAIRINGS``) in ``interp.models.loading``; input
cleaning (``tokenize_texts``, image and prompt checks) in ``interp.models.inputs``. Every name
that was importable from here still is.

Example:
    >>> from interp.models.loaded import MLLM, load_mllm   # doctest: +SKIP
"""

from __future__ import annotations

from interp.models.inputs import tokenize_texts
from interp.models.loading import PAIRINGS, load_mllm, load_text_backbone, text_backbone_name
from interp.models.traced import MLLM, TextBackbone, TracedModel

# The private helpers that were defined here, still importable from here.
from interp.models.inputs import (  # noqa: F401  # isort: skip
    _IMAGE_EXPECTED,
    _check_image,
    _image_kwargs,
    _images_per_prompt,
    _is_float_array,
    _prompt_list,
    _shape_or_type,
)
from interp.models.loading import (  # noqa: F401  # isort: skip
    _CAUSAL_LM_LAYER_PATHS,
    _DEVICE_MAP_NAMES,
    _DTYPE_NAMES,
    _NO_CHECKPOINT,
    _SELF_BACKBONE_TYPES,
    _TOKENIZER_FILES,
    _backbone_from_mllm,
    _check_device_map,
    _check_dtype,
    _check_tokenizer_files,
    _check_weights,
    _find_layers,
    _load_config,
    _local_config,
    _nn_kwargs,
    _resolve,
)

__all__ = [
    "MLLM",
    "PAIRINGS",
    "TextBackbone",
    "TracedModel",
    "load_mllm",
    "load_text_backbone",
    "text_backbone_name",
    "tokenize_texts",
]
