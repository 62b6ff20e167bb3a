"""Textual steering vectors: the ``SteeringVector`` value, its methods, merging and files; and the
comparators a textual vector is measured against: native vectors (the MLLM's own image-token
contrast) and learned vectors (trained on labelled items: the ceiling of one vector at a cell).

Example:
    >>> from interp.vectors import compute                                   # doctest: +SKIP
    >>> v = compute(backbone, "counting", method="meanshift", source="organism")  # doctest: +SKIP
    >>> v.save("vectors/counting")                                            # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from interp.args import as_bool, as_int
from interp.vectors import methods as _methods  # noqa: F401  (registers meanshift, probe, diffmean, pca)
from interp.vectors import sae as _sae  # noqa: F401  (registers sae)
from interp.vectors.explanations import (
    explanation_filter,
    fetch_explanations,
    keyword_judge,
    llm_judge,
    load_explanations,
)
from interp.vectors.learned import Training, learned_vector
from interp.vectors.merge import merge
from interp.vectors.methods import diffmean, meanshift, pca, probe
from interp.vectors.native import (
    ContrastSet,
    VisualContrast,
    contrast_concepts,
    labelled_contrast,
    native_vector,
    register_contrast_set,
    visual_contrast,
)
from interp.vectors.registry import (
    check_params,
    get_method,
    list_methods,
    method_params,
    register_method,
)
from interp.vectors.sae import keep_all, keyword_filter, load_saes, sae, select_features
from interp.vectors.vector import CONFIG_FILE as CONFIG_FILE
from interp.vectors.vector import TENSORS_FILE as TENSORS_FILE
from interp.vectors.vector import SteeringVector, VectorMeta, migrate

if TYPE_CHECKING:
    from interp.concepts import ConceptLike
    from interp.models.traced import TracedModel
    from interp.types import LayerSpec

#: Methods that take contrast pairs rather than anchored sentences.
PAIR_METHODS = ("diffmean", "pca")


def compute(
    model: TracedModel,
    concept: ConceptLike,
    method: str = "meanshift",
    *,
    layers: LayerSpec = None,
    source: str = "default",
    batch_size: int = 16,
    backend: str = "auto",
    progress: bool = False,
    **params: object,
) -> SteeringVector:
    """Compute a steering vector for ``concept`` on ``model`` with a registered method.

    Args:
        model: a text backbone (``load_text_backbone``) or an MLLM run on text.
        concept: a taxonomy name, a JSONL path, a ``ConceptCorpus`` or ``ContrastPairs``.
        method: a registered method name (``list_methods()``).
        layers: one layer, a list, ``"all"`` or None for every layer.
        source: where named corpora come from (``"default"``, or a plugin's corpus source such
            as ``"organism"``: ``interp.concepts.corpus_sources()``).
        backend: where activations come from: ``"auto"`` (forward hooks on a local model's
            weights, an nnsight trace for a remote one), ``"torch"``, ``"nnsight"`` or
            ``"transformer_lens"`` (``interp.activations``).
        **params: the method's parameters (``n_components=10``, ``saes="organism"``, ...).

    Example:
        >>> v = compute(backbone, "counting", "probe", source="organism", layers=[1, 2])  # doctest: +SKIP
    """
    from interp.activations import resolve_backend
    from interp.concepts import ConceptCorpus, ContrastPairs, load_corpus, load_pairs

    check_params(method, params, also=("layers", "source", "batch_size", "backend", "progress"))
    try:
        batch_size = as_int(batch_size, "batch_size", minimum=1)
    except ValueError:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}") from None
    progress = as_bool(progress, "progress")
    resolve_backend(model, backend)
    fn = get_method(method, **params)
    if isinstance(concept, (str, os.PathLike)):
        loader = load_pairs if method in PAIR_METHODS else load_corpus
        concept = loader(concept, source=source)
    elif not isinstance(concept, (ConceptCorpus, ContrastPairs)):
        raise ValueError(
            "concept must be a taxonomy name, a JSONL path, a ConceptCorpus or ContrastPairs, "
            f"got {type(concept).__name__}"
        )
    return fn(model, concept, layers=layers, batch_size=batch_size, backend=backend, progress=progress)


def library_vectors(
    model: TracedModel,
    methods: Sequence[str],
    *,
    source: str = "default",
    layers: LayerSpec = None,
    exclude: Sequence[str] = (),
    cached: Callable[[str, str], SteeringVector | None] | None = None,
    progress: bool = False,
    allow_transfer: bool = False,
) -> dict[str, SteeringVector]:
    """One vector per method and concept of a corpus source: every concept the library has for this
    backbone (the specificity control's comparison set: ``sweep(control_vectors=...)``).

    A pair method (``PAIR_METHODS``) takes the concepts with contrast pairs, the others those
    with a corpus. Names are ``method/concept``.

    Args:
        model: the text backbone.
        methods: registered method names.
        source: the corpus source (``interp.concepts.corpus_sources()``).
        layers: the layers to compute.
        exclude: concepts to leave out (e.g. those already swept).
        cached: ``(method, concept)`` -> a saved vector to use instead of computing one, or None;
            a saved vector built on another model is refused (``interp.boundary.check_vector``).
        progress: a line per vector.
        allow_transfer: accept saved vectors built on another model (a transfer experiment).

    Example:
        >>> lib = library_vectors(backbone, ["diffmean"], source="organism", layers=[1],
        ...                       exclude=["counting"])                    # doctest: +SKIP
        >>> sorted(lib)[:2]                                                # doctest: +SKIP
        ['diffmean/attribute', 'diffmean/comparison']
    """
    from interp.boundary import check_vector
    from interp.concepts import list_corpora, list_pairs

    out: dict[str, SteeringVector] = {}
    for method in methods:
        names = list_pairs(source) if method in PAIR_METHODS else list_corpora(source)
        for concept in names:
            if concept in exclude:
                continue
            v = cached(method, concept) if cached is not None else None
            if v is not None:
                check_vector(model, v, allow_transfer=allow_transfer, name=f"{method}/{concept}")
            else:
                if progress:
                    print(f"library vector {method}/{concept}", flush=True)
                v = compute(model, concept, method, layers=layers, source=source)
            out[f"{method}/{concept}"] = v
    return out


__all__ = [
    "PAIR_METHODS",
    "ContrastSet",
    "SteeringVector",
    "Training",
    "VectorMeta",
    "VisualContrast",
    "compute",
    "contrast_concepts",
    "diffmean",
    "explanation_filter",
    "fetch_explanations",
    "get_method",
    "keep_all",
    "keyword_filter",
    "keyword_judge",
    "labelled_contrast",
    "learned_vector",
    "library_vectors",
    "list_methods",
    "llm_judge",
    "load_explanations",
    "load_saes",
    "meanshift",
    "merge",
    "method_params",
    "migrate",
    "native_vector",
    "pca",
    "probe",
    "register_contrast_set",
    "register_method",
    "sae",
    "select_features",
    "visual_contrast",
]
