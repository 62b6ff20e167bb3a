"""interp: look inside multimodal LLMs and steer them with vectors built from text.

The names below cover the everyday path (load, compute a vector, steer). The subpackages
``interp.evaluation``, ``interp.analysis`` and ``interp.figures`` are attributes too, and
``compare_native`` (in ``interp.evaluation``), imported on first use so that ``import interp``
stays as fast as importing torch. Models, corpora and benchmarks named by plugins (the shipped
organisms: ``"organism"``) are found through ``interp.plugins``.

Example:
    >>> import interp                                                      # doctest: +SKIP
    >>> mllm = interp.load_mllm("organism")                                 # doctest: +SKIP
    >>> backbone = interp.load_text_backbone(mllm="organism")               # doctest: +SKIP
    >>> v = interp.compute(backbone, "counting", "meanshift", source="organism")  # doctest: +SKIP
    >>> item = interp.evaluation.load_benchmark("organism", tasks=["Count"], limit=1)[0]  # doctest: +SKIP
    >>> out = interp.steered_generate(mllm, item.prompt(), interp.add(v, 2, 1.0),
    ...     images=[item.image])                                              # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from interp._version import __version__
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
from interp.vectors import (
    SteeringVector,
    compute,
    learned_vector,
    list_methods,
    merge,
    native_vector,
)

#: Subpackages imported on first attribute access (``interp.analysis``, ...), not by ``import interp``.
LAZY_SUBMODULES = ("analysis", "evaluation", "figures")
#: Names imported on first attribute access, from the module that defines them.
LAZY_NAMES = {"compare_native": "interp.evaluation.native"}


def __getattr__(name: str) -> Any:
    if name in LAZY_NAMES:
        return getattr(importlib.import_module(LAZY_NAMES[name]), name)
    if name in LAZY_SUBMODULES:
        try:
            return importlib.import_module(f"interp.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"interp.{name}":
                raise
            raise AttributeError(
                f"interp.{name} is not part of this version of interp ({__version__})"
            ) from err
    raise AttributeError(f"module 'interp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(LAZY_SUBMODULES) | set(LAZY_NAMES))


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
    "compare_native",
    "compute",
    "conditional",
    "learned_vector",
    "list_methods",
    "load_mllm",
    "load_text_backbone",
    "merge",
    "native_vector",
    "select",
    "steered_generate",
    "steered_logits",
]
