"""Measure the shipped organism: per-task accuracy of the MLLM on images and of the text backbone on
the text rendering of the same scenes, and SAE fraction of variance explained / L0 / dead features.

Accuracy is scored by the logits of the option letters at the last prompt position (one forward pass
per item, no generation). Run ``python -m interp.organism.evaluate --n-per-task 200``. The functions
live in :mod:`interp.organism.recipe.evaluate`; this module keeps the old import path and the command.

Example:
    >>> from interp.organism.evaluate import evaluate_mllm  # doctest: +SKIP
    >>> evaluate_mllm(n_per_task=10)["Count"] > 0.25  # doctest: +SKIP
    True
"""

from __future__ import annotations

import warnings
from pathlib import Path

from interp.organism.recipe import evaluate as _recipe
from interp.organism.recipe.evaluate import (
    METRICS_FILE,
    evaluate_mllm,
    evaluate_saes,
    evaluate_text,
    language_model_drift,
    letter_accuracy,
    load_mllm_and_processor,
    load_text,
    mllm_scorer,
    read_metrics,
    residual_activations,
    sae_eval_texts,
    sae_metrics,
    text_scorer,
)


def load_mllm(directory: str | Path | None = None):
    """Deprecated: use :func:`interp.organism.recipe.evaluate.load_mllm_and_processor` (the same
    transformers (model, processor)); not to be confused with :func:`interp.load_mllm`.

    Example:
        >>> model, proc = load_mllm()  # doctest: +SKIP
    """
    warnings.warn(
        "interp.organism.evaluate.load_mllm is deprecated: it returns the transformers (model, processor), "
        "not interp.load_mllm's MLLM; use interp.organism.recipe.evaluate.load_mllm_and_processor",
        DeprecationWarning,
        stacklevel=2,
    )
    return load_mllm_and_processor(directory)


def main(argv: list[str] | None = None) -> None:
    """Command line: print per-task accuracies of the shipped organism.

    Example:
        >>> main(["--n-per-task", "5"])   # doctest: +SKIP
    """
    _recipe.main(argv, description=__doc__)


__all__ = [
    "METRICS_FILE",
    "evaluate_mllm",
    "evaluate_saes",
    "evaluate_text",
    "language_model_drift",
    "letter_accuracy",
    "load_mllm",
    "load_mllm_and_processor",
    "load_text",
    "main",
    "mllm_scorer",
    "read_metrics",
    "residual_activations",
    "sae_eval_texts",
    "sae_metrics",
    "text_scorer",
]

if __name__ == "__main__":
    main()
