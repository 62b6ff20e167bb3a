"""Loading MLLMs and text backbones, and the per-family adapters that know their quirks."""

from interp.models.base import (
    FamilyAdapter,
    adapter_for,
    hook_name,
    layer_from_hook_name,
    register,
    supported_model_types,
)
from interp.models.inputs import tokenize_texts
from interp.models.loading import PAIRINGS, load_mllm, load_text_backbone, text_backbone_name
from interp.models.traced import MLLM, TextBackbone, TracedModel

__all__ = [
    "MLLM",
    "PAIRINGS",
    "FamilyAdapter",
    "TextBackbone",
    "TracedModel",
    "adapter_for",
    "hook_name",
    "layer_from_hook_name",
    "load_mllm",
    "load_text_backbone",
    "register",
    "supported_model_types",
    "text_backbone_name",
    "tokenize_texts",
]
