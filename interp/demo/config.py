"""What the demo runs: its options, what it returns, and the settings a report records.

Example:
    >>> DemoConfig(n_train=20).n_train
    20
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The vector methods the demo builds by default: every textual method of the paper, and RepE's
#: reading vector (``pca``).
METHODS = ("meanshift", "probe", "sae", "diffmean", "pca")
#: Fresh items per task the chosen cells are replicated on by default (on a benchmark that makes
#: items). Set by power, not by any result: with the default two replicated cells (Holm over two)
#: and the churn random directions show on the organisms (a discordance near 0.06), 1200 items
#: detect a gain of 2.7 points with 80% power (``interp.evaluation.power.detectable_gain``), near
#: the LLaVA organism's replicated effect of 2-3 points; on a task where random directions churn
#: more (Count) the detectable gain is larger, and the verdict states it. More items would take
#: the demo past its time budget: about 25 minutes for both organisms on one core of this
#: project's 2-core machine (README).
DEFAULT_REPLICATE = 1200
#: The ceiling's learned vectors: train items per task, and at most this many full-batch steps
#: (early stopping after 5 without a better validation loss).
CEILING_ITEMS, CEILING_STEPS = 120, 30


@dataclass
class DemoConfig:
    """What the demo runs (its wall time on this project's machines: see the README).

    ``model`` is one model, or several (None: the model sources plugins mark for the demo, the
    shipped organisms with the positive control first), each reported in its own subfolder
    ``out/<model>`` under a top-level ``summary.md`` that opens with one verdict line per model.
    ``benchmark`` None is the first model's own benchmark (its model source's).

    The protocol, its sizes set by power within the demo's time budget (README): cells are chosen
    by successive halving (``halving_first`` train items per task for every live cell, the best
    third on 3x more, up to the ``n_train`` pool; None: every cell on all ``n_train``), reported on
    ``n_test`` items per task (``n_random`` random directions per chosen cell there), and the
    ``replicate_top`` cells with the largest test gains are scored again on ``n_replicate`` fresh
    items per task (None: ``DEFAULT_REPLICATE`` on a benchmark that makes items, 0 elsewhere) with
    ``replicate_random`` random directions, the answer-prior baseline, ``specificity`` against the
    flipped sign and the other concepts (with ``library``: every concept of the model's corpus
    source, not only the swept ones) and, with ``transfer``, their effect on the other tasks;
    ``ceiling`` trains a learned vector at each replicated cell (the most one vector there can
    do). ``null_runs`` > 0 runs the whole pipeline that many times more with random vectors in
    place of the textual ones and reports how often it claims a gain (its false-claim rate).
    ``hint`` replaces the prompting baseline's hint (a template with ``{concept}``, or one text
    for every concept). A rerun with the same settings rewrites its own report; a report of other
    settings in ``out`` is kept unless ``overwrite``.
    """

    model: str | Sequence[str] | None = None
    benchmark: str | None = None
    benchmark_path: str | None = None
    out: str = "outputs/demo"
    methods: Sequence[str] = METHODS
    concepts: Sequence[str] | None = None
    layers: Sequence[int] | None = None
    strengths: Sequence[float] = (-1.0, -0.5, 0.5, 1.0)
    selectors: Sequence[str] = ("image", "text", "both")
    n_train: int = 432
    halving_first: int | None = 48
    n_test: int = 200
    n_random: int = 0
    n_replicate: int | None = None
    replicate_top: int | None = 2
    replicate_random: int = 20
    specificity: bool = True
    library: bool = True
    transfer: bool = True
    ceiling: bool = True
    null_runs: int = 0
    hint: str | None = None
    overwrite: bool = False
    batch_size: int = 32
    seed: int = 0
    analyses: bool = True
    figures: bool = True
    static: bool = True
    progress: bool = True
    device_map: Any = None
    dtype: Any = None
    remote: bool | str = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoReport:
    """Where the demo wrote its outputs, and its main tables (pandas DataFrames)."""

    out: Path
    table: Any
    grid: Any
    summary: Path
    figures: list[Path]
    verdicts: tuple[str, ...] = ()
    parts: tuple[DemoReport, ...] = ()
    why: tuple[str, ...] = ()


#: The options that change no number of a demo's report (everything else is its identity: a report
#: of another identity in ``out`` is not replaced without overwrite).
NOT_IDENTITY = ("out", "overwrite", "progress", "static", "figures", "analyses", "extra")
REPORT_FILES = ("tables/table.csv", "summary.md", "config.json")
#: What a demo may write beside them, depending on its options; a run removes those it did not write.
OPTIONAL_FILES = (
    "tables/replication.csv", "tables/specificity.csv", "tables/variance_share.csv", "tables/modality_gap.csv",
    "tables/lm_drift.csv", "tables/isomorphic_accuracy.csv", "tables/isomorphic_similarity.csv",
    "tables/native.csv", "tables/transfer.csv", "tables/ceiling.csv", "tables/null.csv", "figures",
)

__all__ = ["CEILING_ITEMS", "CEILING_STEPS", "DEFAULT_REPLICATE", "METHODS", "NOT_IDENTITY", "OPTIONAL_FILES", "REPORT_FILES", "DemoConfig", "DemoReport"]
