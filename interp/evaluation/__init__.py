"""Evaluation of steered MLLMs on multiple-choice benchmarks (arXiv 2505.14071's protocol).

- ``benchmarks``: ``load_benchmark`` for CV-Bench, What'sUp, BLINK, CLEVR counting, VSR and the
  benchmarks plugins register (the organism's).
- ``scoring``: fast option-logit scoring and the paper's generate-and-parse, with its parser.
- ``sweep``: the layer x strength x selector sweep, chosen on train and reported on test, with
  the prompting baseline and random-direction controls; results in a resumable SQLite store.
- ``controls``: replication on fresh items and specificity of the chosen cells.
- ``native``: textual against native vectors at the same cells.
- ``power``: the power of the paired test, the minimal detectable effect a negative verdict states,
  and the items a gain needs.
- ``ceiling``: a learned vector at each chosen cell, and the textual gain as a fraction of its gain.

Items are ``interp.items``; the statistics ``interp.stats``.

Example:
    >>> from interp.evaluation import score, sweep                      # doctest: +SKIP
"""

from interp.evaluation.benchmarks import (
    Benchmark,
    Skipped,
    concept_tasks,
    list_benchmarks,
    load_benchmark,
)
from interp.evaluation.ceiling import ceiling, gain_fraction, learned_cosines
from interp.evaluation.cells import random_direction, residual_norms
from interp.evaluation.controls import replicate, specificity, transfer
from interp.evaluation.export import export_store
from interp.evaluation.native import compare_native
from interp.evaluation.power import (
    assumed_discordance,
    detectable_gain,
    detection_power,
    discordance_rate,
    items_needed,
    minimal_detectable_effect,
    no_gain_note,
)
from interp.evaluation.scoring import agreement, option_probs, parse_answer, score
from interp.evaluation.store import ResultStore
from interp.evaluation.sweep import sweep
from interp.evaluation.tables import SweepResult, table_markdown

__all__ = [
    "Benchmark",
    "ResultStore",
    "Skipped",
    "SweepResult",
    "agreement",
    "assumed_discordance",
    "ceiling",
    "compare_native",
    "concept_tasks",
    "detectable_gain",
    "detection_power",
    "discordance_rate",
    "export_store",
    "gain_fraction",
    "items_needed",
    "learned_cosines",
    "list_benchmarks",
    "load_benchmark",
    "minimal_detectable_effect",
    "no_gain_note",
    "option_probs",
    "parse_answer",
    "random_direction",
    "replicate",
    "residual_norms",
    "score",
    "specificity",
    "sweep",
    "table_markdown",
    "transfer",
]
