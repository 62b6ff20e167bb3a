"""interp: look inside multimodal LLMs and steer them with vectors built from text.

Example:
    >>> import interp                                                      # doctest: +SKIP
    >>> mllm = interp.load_mllm("organism")                                 # doctest: +SKIP
    >>> backbone = interp.load_text_backbone(mllm="organism")               # doctest: +SKIP
    >>> v = interp.compute(backbone, "counting", "meanshift", source="organism")  # doctest: +SKIP
    >>> out = interp.steered_generate(mllm, "How many shapes?", interp.add(v, 2, 1.0), images=[img])  # doctest: +SKIP
"""

__version__ = "0.1.0"

from interp.errors import CorruptArtifactError, UnsupportedModelError
from interp.models import MLLM, TextBackbone, load_mllm, load_text_backbone
from interp.steering import (
    ablate,
    add,
    add_layers,
    apply_steering,
    clamp,
    conditional,
    steered_generate,
    steered_logits,
)
from interp.tokens import Positions, select
from interp.vectors import SteeringVector, compute, list_methods, merge

__all__ = [
    "MLLM",
    "CorruptArtifactError",
    "Positions",
    "SteeringVector",
    "TextBackbone",
    "UnsupportedModelError",
    "__version__",
    "ablate",
    "add",
    "add_layers",
    "apply_steering",
    "clamp",
    "compute",
    "conditional",
    "list_methods",
    "load_mllm",
    "load_text_backbone",
    "merge",
    "select",
    "steered_generate",
    "steered_logits",
]
