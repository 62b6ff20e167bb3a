"""``interp analyze``: one analysis of ``interp.analysis`` on benchmark items into CSV tables.

Each analysis is one function that runs it through interp.analysis's public API, registered
with ``@_analysis(kind, summary)`` beside the analysis's own summary function
(``alignment_summary``, ``ablation_summary``, ``PatchingResult.summary``, ...), whose table is
printed.

Example:
    $ interp analyze modality-gap --model organism --n-items 8 --out runs/gap.csv
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

import interp
from interp.cli import _app as cli
from interp.cli import _inputs
from interp.cli.render import show_frame
from interp.models.sources import model_source, source_of


class Analysis(str, Enum):
    alignment = "alignment"
    variance_share = "variance-share"
    modality_gap = "modality-gap"
    isomorphic = "isomorphic"
    logit_lens = "logit-lens"
    projection = "projection"
    patching = "patching"
    ablation = "ablation"
    attribution = "attribution"
    attribution_patching = "attribution-patching"
    sae_attribution = "sae-attribution"
    cast = "cast"
    lora = "lora"


#: Analyses that read a vector (``--vector``), and the ones that need a generated world's scenes
#: (``interp.analysis.worlds``): as text, or as counterfactual pairs.
NEEDS_VECTOR = {Analysis.alignment, Analysis.variance_share, Analysis.projection, Analysis.cast, Analysis.lora}
NEEDS_TEXT_RENDERING = {Analysis.isomorphic}
NEEDS_COUNTERFACTUALS = {Analysis.patching, Analysis.attribution_patching}

ANALYZE_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp analyze modality-gap --model organism --n-items 8 --out runs/gap.csv\n\n"
    "  interp analyze variance-share --vector vectors/counting --tasks Count --out runs/share.csv\n\n"
    "  interp analyze patching --layers 0 1 2 3 --n-items 8 --out runs/patching.csv\n\n"
    "Kinds: alignment, variance-share, modality-gap, isomorphic, logit-lens, projection, patching, ablation, "
    "attribution, attribution-patching, sae-attribution, cast, lora (docs/cli.md lists each one's columns)."
)


@dataclass
class _AnalysisInputs:
    """What ``interp analyze`` hands each analysis."""

    kind: Analysis
    model: str
    benchmark: str
    benchmark_path: str | None
    split: str
    tasks: list[str] | None
    n_items: int
    layers: list[int] | None
    vectors: dict[str, Any]
    batch_size: int
    seed: int
    saes: str | None
    adapter: Path | None
    dtype: cli.DType
    device_map: str | None
    remote: cli.Remote | None = None
    allow_transfer: bool = False
    _mllm: Any = None

    @property
    def mllm(self) -> Any:
        if self._mllm is None:
            self._mllm = _inputs.load_with_status(self.model, self.dtype, self.device_map, self.remote)
        return self._mllm

    def items(self, tasks: Sequence[str] | None = None, n: int | None = None) -> list[Any]:
        return list(_inputs.benchmark_items(self.benchmark, self.benchmark_path, self.split, tasks or self.tasks, n or self.n_items, self.seed))

    def counterfactual_pairs(self) -> tuple[list[Any], list[Any]]:
        """Items the benchmark's world makes counterfactuals of (the organism's: colour questions), and
        the same items with one visual fact changed (the asked-about object recoloured)."""
        from interp.analysis import world_of

        world = world_of(self.benchmark)
        if world is None or world.counterfactual is None:
            raise ValueError(f"{self.kind.value} needs counterfactual pairs, which {self.benchmark} has none of")
        task = world.counterfactual_task
        if self.tasks and task is not None and self.tasks != [task]:
            raise ValueError(f"{self.kind.value} patches {self.benchmark}'s counterfactual pairs (task {task}), not {self.tasks}")
        pool = self.items([task] if task else None, 4 * self.n_items + 8)
        clean = [it for it in pool if world.accepts(it)][: self.n_items]
        return clean, [world.counterfactual(it) for it in clean]

    def each_vector(self, analysis: Callable[..., Any], **options: Any) -> Any:
        """``analysis(mllm, vector, items, layers=, batch_size=, allow_transfer=, **options)`` for every
        vector, concatenated with a ``vector`` column."""
        import pandas as pd

        return pd.concat([analysis(self.mllm, v, self.items(), layers=self.layers, batch_size=self.batch_size,
                                   allow_transfer=self.allow_transfer, **options).assign(vector=name)
                          for name, v in self.vectors.items()], ignore_index=True)


Run = Callable[[_AnalysisInputs], tuple[dict[str, Any], Any]]
#: How an analysis's result is summarised to print: the name of interp.analysis's own summary
#: function (looked up when the analysis runs: interp.analysis loads nnsight, and ``interp --help``
#: stays as fast as ``import interp``), or a function of the result.
Summary = str | Callable[[Any], Any]

#: Per analysis: the function that runs it and its summary (``@_analysis`` fills it).
ANALYSES: dict[Analysis, tuple[Run, Summary]] = {}


def _analysis(kind: Analysis, summary: Summary) -> Callable[[Run], Run]:
    """Register the decorated function as what runs ``kind``, its result printed through ``summary``."""

    def register(run: Run) -> Run:
        ANALYSES[kind] = (run, summary)
        return run

    return register


# -- one function per analysis: its tables ("" = the main one, else a file-name suffix) and the
# -- result its summary reads; every one calls only interp.analysis's public API.
@_analysis(Analysis.lora, "lora_summary")
def _lora(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import compare_directions, lora_pairs

    if a.adapter is None:
        raise ValueError("lora needs --adapter DIR (a peft LoRA adapter directory written by save_pretrained)")
    pairs = lora_pairs(a.adapter)
    df = compare_directions(pairs, a.vectors, n_random=1000, seed=a.seed)
    return {"": df, "pairs": pairs.table}, df


def _each_vector(kind: Analysis, function: str, summary: Summary,
                 options: Callable[[_AnalysisInputs], dict[str, Any]] = lambda a: {}) -> None:
    """Register ``kind`` as interp.analysis's ``function`` run on every vector (one table with a
    ``vector`` column), given the keyword arguments ``options(inputs)`` besides the common ones."""

    def run(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
        import interp.analysis

        df = a.each_vector(getattr(interp.analysis, function), **options(a))
        return {"": df}, df

    ANALYSES[kind] = (run, summary)


_each_vector(Analysis.alignment, "vector_alignment", "alignment_summary")
_each_vector(Analysis.variance_share, "variance_share", "variance_share_summary",
             lambda a: {"kinds": ("image", "text"), "seed": a.seed})
_each_vector(Analysis.projection, "projection", "projection_summary")


@_analysis(Analysis.modality_gap, "modality_gap_summary")
def _modality_gap(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import modality_gap

    df = modality_gap(a.mllm, a.items(), layers=a.layers, batch_size=a.batch_size)
    return {"": df}, df


@_analysis(Analysis.isomorphic, attrgetter("accuracy"))
def _isomorphic(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import isomorphic

    backbone = (interp.load_text_backbone(mllm=a.model, remote=cli.remote_value(a.remote)) if model_source(a.model)
                else interp.load_text_backbone(mllm=a.mllm))
    iso = isomorphic(a.mllm, a.items(), backbone=backbone, layers=a.layers, batch_size=a.batch_size)
    return {"": iso.accuracy, "similarity": iso.similarity, "items": iso.items}, iso


@_analysis(Analysis.logit_lens, "logit_lens_summary")
def _logit_lens(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import logit_lens

    df = logit_lens(a.mllm, a.items(), layers=a.layers, top_k=5, batch_size=a.batch_size)
    return {"": df}, df


@_analysis(Analysis.patching, "PatchingResult.summary")
def _patching(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import activation_patching

    clean, corrupt = a.counterfactual_pairs()
    patched = activation_patching(a.mllm, clean, corrupt, layers=a.layers, batch_size=a.batch_size)
    return {"": patched.groups, "pairs": patched.pairs}, patched


@_analysis(Analysis.ablation, "ablation_summary")
def _ablation(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import ablation

    modes = ("zero", "mean", "direction") if a.vectors else ("zero", "mean")
    if len(a.vectors) > 1:
        raise ValueError("ablation removes one direction: give one --vector")
    v = next(iter(a.vectors.values()), None)
    df = ablation(a.mllm, a.items(), layers=a.layers, modes=modes, vector=v, batch_size=a.batch_size,
                  allow_transfer=a.allow_transfer)
    return {"": df}, df


@_analysis(Analysis.attribution, "attribution_summary")
def _attribution(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import gradient_x_activation

    df = gradient_x_activation(a.mllm, a.items(), a.layers, batch_size=a.batch_size)
    return {"": df}, df


@_analysis(Analysis.attribution_patching, "attribution_summary")
def _attribution_patching(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import attribution_patching

    clean, corrupt = a.counterfactual_pairs()
    df = attribution_patching(a.mllm, clean, corrupt, a.layers, batch_size=a.batch_size)
    return {"": df}, df


@_analysis(Analysis.sae_attribution, attrgetter("layers"))
def _sae_attribution(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import sae_feature_attribution

    source = source_of(a.model)
    saes = a.saes or (source.name if source is not None and "sae" in source.kinds else None)
    if saes is None:
        raise ValueError("sae-attribution needs --saes (an SAE directory or what interp.vectors.load_saes takes)")
    found = sae_feature_attribution(a.mllm, a.items(), saes, a.layers, batch_size=a.batch_size)
    return {"": found.features, "layers": found.layers}, found


@_analysis(Analysis.cast, "cast_summary")
def _cast(a: _AnalysisInputs) -> tuple[dict[str, Any], Any]:
    from interp.analysis import condition_grid
    from interp.evaluation import load_benchmark
    from interp.evaluation.benchmarks import benchmark_spec

    if len(a.vectors) != 1:
        raise ValueError("cast searches one condition vector: give one --vector")
    name, v = next(iter(a.vectors.items()))
    tasks = _inputs.task_targets(a.vectors, a.benchmark, a.tasks)[name]
    every = (list(benchmark_spec(a.benchmark).tasks) if _inputs.is_generated(a.benchmark)
             else load_benchmark(a.benchmark, a.benchmark_path, split="test", limit=1).tasks)
    others = [t for t in every if t not in tasks]
    if not others:
        raise ValueError(f"cast needs tasks besides {tasks} for the negative set")
    positive = a.items(tasks)
    negative = a.items(others, max(1, -(-a.n_items // len(others))))
    grid = condition_grid(a.mllm, positive, negative, v, a.layers, batch_size=a.batch_size,
                          allow_transfer=a.allow_transfer)
    best = grid.best
    cli.console.print(
        f"best condition: layer {best.layer}, sim {best.comparator} {best.threshold:.4f}, F1 {best.f1:.3f} "
        f"({len(positive)} items of {tasks} vs {len(negative)} of {others})", soft_wrap=True)
    return {"": grid.grid, "scores": grid.scores}, grid


@cli.app.command(cls=cli.multi_value("--vector", "--tasks", "--layers"), epilog=ANALYZE_EXAMPLE)
@cli.user_errors
def analyze(
    kind: Annotated[Analysis, typer.Argument(help="Which analysis.", case_sensitive=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file for the analysis's table (more tables beside it as FILE_<part>.csv).")],
    model: cli.ModelOption = None,
    vector: Annotated[list[Path] | None, typer.Option("--vector", "-v", help="Saved vector directories (alignment, variance-share, projection, ablation, cast, lora).")] = None,
    benchmark: cli.BenchmarkOption = None,
    benchmark_path: cli.BenchmarkPathOption = None,
    split: Annotated[str, typer.Option("--split", help="test, train, val or all.")] = "test",
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="Tasks of the items (default: all; cast: the vector's).")] = None,
    n_items: Annotated[int, typer.Option("--n-items", "-n", help="Items per task (patching: colour pairs).")] = 8,
    layers: Annotated[list[int] | None, typer.Option("--layers", "-l", help="Layers to analyse (default: all, or the vector's).")] = None,
    saes: Annotated[str | None, typer.Option("--saes", help="sae-attribution: the SAEs (default: the model's own, if its model source ships SAEs).")] = None,
    adapter: Annotated[Path | None, typer.Option("--adapter", help="lora: a peft LoRA adapter directory.")] = None,
    batch_size: cli.BatchSizeOption = 8,
    seed: cli.SeedOption = 0,
    dtype: cli.DTypeOption = cli.DType.auto,
    device_map: cli.DeviceMapOption = None,
    remote: cli.RemoteOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the CSV files already at --out.")] = False,
    allow_transfer: cli.AllowTransferOption = False,
) -> None:
    """Run one analysis of interp.analysis on benchmark items and write its table.

    Items come from --benchmark (the model's own benchmark by default, the organism's test scenes);
    isomorphic, patching and attribution-patching need a generated world's scenes (the organism's).
    """
    from interp import analysis
    from interp.analysis import WORLDS, world_of

    _inputs.check_csv_out(out, overwrite)
    model = _inputs.resolve_model(model)
    benchmark = _inputs.resolve_benchmark(benchmark, model)
    _inputs.check_positive(n_items, "--n-items")
    if kind in NEEDS_VECTOR and not vector:
        raise ValueError(f"{kind.value} needs --vector DIR (a vector saved by interp extract)")
    world = world_of(benchmark)
    if kind in NEEDS_TEXT_RENDERING | NEEDS_COUNTERFACTUALS:
        part = "render_text" if kind in NEEDS_TEXT_RENDERING else "counterfactual"
        if world is None or getattr(world, part) is None:
            able = [n for n, w in WORLDS.items() if getattr(w, part) is not None]
            raise ValueError(f"{kind.value} needs a generated world's scenes, which {benchmark} does not have: use "
                             f"--benchmark {' or '.join(able) or '(none is installed)'}")
    if vector and kind not in NEEDS_VECTOR | {Analysis.ablation}:
        raise ValueError(f"{kind.value} takes no --vector")
    if adapter is not None and kind is not Analysis.lora:
        raise ValueError("--adapter is for the lora analysis")
    if kind is Analysis.lora and adapter is not None and not adapter.is_dir():
        raise ValueError(f"--adapter {adapter} is not a directory (expected one written by peft's save_pretrained)")
    inputs = _AnalysisInputs(kind, model, benchmark, benchmark_path, split, tasks or None, n_items, layers or None,
                             _inputs.load_vectors(vector), batch_size, seed, saes, adapter, dtype, device_map, remote,
                             allow_transfer)
    run, summarize = ANALYSES[kind]
    tables, result = run(inputs)
    summary = (attrgetter(summarize)(analysis) if isinstance(summarize, str) else summarize)(result)
    written = []
    for part, df in tables.items():
        path = out if not part else out.with_name(f"{out.stem}_{part}{out.suffix}")
        _inputs.write_csv(df, path, overwrite)
        written.append(f"{path} ({len(df)} rows)")
    show_frame(summary, title=f"{kind.value}: summary", note=str(out))
    cli.console.print("wrote " + ", ".join(escape(w) for w in written), soft_wrap=True)
