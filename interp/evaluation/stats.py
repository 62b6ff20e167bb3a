"""The statistics moved to ``interp.stats`` (pure numpy, below evaluation and figures); re-exported here."""

from interp.stats import (
    Correctness,
    Estimate,
    PairedComparison,
    RandomControl,
    accuracy,
    bonferroni,
    holm,
    mcnemar_exact,
    paired_difference,
    random_control,
    selection_note,
    wilson,
)

__all__ = [
    "Correctness",
    "Estimate",
    "PairedComparison",
    "RandomControl",
    "accuracy",
    "bonferroni",
    "holm",
    "mcnemar_exact",
    "paired_difference",
    "random_control",
    "selection_note",
    "wilson",
]
