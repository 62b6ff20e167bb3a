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

#: The vector methods the demo builds by default: every textual method of the paper.
METHODS = ("meanshift", "probe", "sae", "diffmean")
#: Fresh items per task the chosen cells are replicated on by default (on a benchmark that makes
#: items): enough for a paired 95% CI of a few points.
DEFAULT_REPLICATE = 300


@dataclass
class DemoConfig:
    """What the demo runs (its wall time on this project's machines: see the README).

    ``model`` is one model, or several (None: the model sources plugins mark for the demo, the
    shipped organisms with the positive control first), each reported in its own subfolder
    ``out/<model>`` under a top-level ``summary.md`` that opens with one verdict line per model.
    ``benchmark`` None is the first model's own benchmark (its model source's). ``n_replicate``
    fresh items per task (a benchmark that makes items; None: ``DEFAULT_REPLICATE`` there, 0
    elsewhere) score the ``replicate_top`` chosen cells with the largest test gains again on items
    that played no part in the choice (the headline); ``specificity`` compares those cells with the
    other concepts' vectors and the flipped sign; ``hint`` replaces the prompting baseline's hint
    (a template with ``{concept}``, or one text for every concept). A rerun with the same settings
    rewrites its own report; a report of other settings in ``out`` is kept unless ``overwrite``.
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
    n_train: int = 48
    n_test: int = 100
    n_random: int = 5
    n_replicate: int | None = None
    replicate_top: int | None = 8
    specificity: bool = True
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


#: The options that change no number of a demo's report (everything else is its identity: a report
#: of another identity in ``out`` is not replaced without overwrite).
NOT_IDENTITY = ("out", "overwrite", "progress", "static", "figures", "analyses", "extra")
REPORT_FILES = ("tables/table.csv", "summary.md", "config.json")
#: What a demo may write beside them, depending on its options; a run removes those it did not write.
OPTIONAL_FILES = (
    "tables/replication.csv", "tables/specificity.csv", "tables/variance_share.csv", "tables/modality_gap.csv",
    "tables/lm_drift.csv", "tables/isomorphic_accuracy.csv", "tables/isomorphic_similarity.csv",
    "tables/native.csv", "figures",
)

__all__ = ["DEFAULT_REPLICATE", "METHODS", "NOT_IDENTITY", "OPTIONAL_FILES", "REPORT_FILES", "DemoConfig", "DemoReport"]
