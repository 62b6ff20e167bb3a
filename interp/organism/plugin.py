"""The organisms as an interp plugin: what they register into the core's registries.

Declared in ``pyproject.toml`` as the entry point ``organism`` of group ``interp.plugins``; the
core calls ``register`` the first time it is asked for a name it does not know (see
:mod:`interp.plugins`). A third party's model organism plugs in the same way.

Registered here:

- model sources ``"organism"`` (the default model of the commands) and ``"organism-llava"``
  (first in the demo's order: the positive control): their MLLM, text backbone and SAE folders,
  checked against their manifests before they load, their corpus source and prompting hints;
- the corpus source ``"organism"`` (sentences in the organisms' vocabulary);
- the benchmark ``"organism"`` (items generated on the organisms' scenes);
- the visual contrasts of the native comparator, and the analyses' helpers for organism items
  (the scene as text, a recoloured counterfactual, the object under each patch).

Example:
    >>> from interp.models.sources import model_source
    >>> model_source("organism").corpus_source
    'organism'
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from interp.organism import parts
from interp.organism.manifest import check
from interp.organism.prompting import HINTS


def _concepts_dir() -> Path:
    check("concepts", which="organism")
    return parts.locate("organism", "concepts")


def register() -> None:
    """Register the organisms' models, corpora, benchmark and helpers (idempotent per process).

    Example:
        >>> register()   # doctest: +SKIP
    """
    from interp.analysis.worlds import register_world
    from interp.concepts import register_corpus_source
    from interp.evaluation.benchmarks import register_benchmark
    from interp.models.sources import ModelSource, register_model_source
    from interp.organism import benchmark, contrasts, inside
    from interp.vectors.native import register_contrast_set

    for which, demo in (("organism", 1), ("organism-llava", 0)):
        kinds = tuple(k for k in parts._where(which)[1] if k != "concepts")
        register_model_source(ModelSource(
            name=which,
            locate=partial(parts.locate, which),
            kinds=kinds,
            verify=partial(_verify, which),
            corpus_source="organism",
            hints=HINTS,
            benchmark="organism",
            demo=demo,
        ))
    register_corpus_source("organism", _concepts_dir)
    register_benchmark(benchmark.SPEC)
    register_contrast_set("organism", contrasts.CONTRAST_SET)
    register_world("organism", inside.WORLD)


def _verify(which: str, kind: str) -> None:
    check(kind, which=which)


__all__ = ["register"]
