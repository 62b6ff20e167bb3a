"""Evaluation of steered MLLMs on multiple-choice benchmarks (arXiv 2505.14071's protocol).

- ``benchmarks``: ``load_benchmark`` for CV-Bench, What'sUp, BLINK, CLEVR counting and the organism.
- ``items``: ``Item``, the one question type every benchmark loads into, and the paper's prompts.
- ``scoring``: fast option-logit scoring and the paper's generate-and-parse, with its parser.
- ``sweep``: the layer x strength x selector sweep, chosen on train and reported on test, with
  the prompting baseline and random-direction controls; results in a resumable SQLite store.
- ``stats``: bootstrap intervals, paired differences, exact McNemar, random control, Holm.

Example:
    >>> from interp.evaluation import score, sweep                      # doctest: +SKIP
"""

from interp.evaluation.benchmarks import Benchmark, Skipped, list_benchmarks, load_benchmark
from interp.evaluation.controls import replicate, specificity
from interp.evaluation.export import export_store
from interp.evaluation.items import MC_PREFIX, NUMBER_PREFIX, Item, from_organism
from interp.evaluation.scoring import (
    agreement,
    letter_ids,
    option_probs,
    parse_answer,
    prompting_prefix,
    score,
)
from interp.evaluation.stats import (
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
)
from interp.evaluation.store import ResultStore
from interp.evaluation.sweep import (
    SweepResult,
    random_direction,
    residual_norms,
    sweep,
    table_markdown,
)

__all__ = [
    "MC_PREFIX",
    "NUMBER_PREFIX",
    "Benchmark",
    "Estimate",
    "Item",
    "PairedComparison",
    "RandomControl",
    "ResultStore",
    "Skipped",
    "SweepResult",
    "accuracy",
    "agreement",
    "bonferroni",
    "export_store",
    "from_organism",
    "holm",
    "letter_ids",
    "list_benchmarks",
    "load_benchmark",
    "mcnemar_exact",
    "option_probs",
    "paired_difference",
    "parse_answer",
    "prompting_prefix",
    "random_control",
    "random_direction",
    "replicate",
    "residual_norms",
    "score",
    "selection_note",
    "specificity",
    "sweep",
    "table_markdown",
]
