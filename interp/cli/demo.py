"""``interp demo``: the paper's whole pipeline into a report folder (``interp.demo.run_demo``).

Example:
    $ interp demo --methods meanshift probe --concepts counting --n-test 60 --out outputs/quick
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from interp.cli import _app as cli
from interp.cli import _inputs
from interp.demo import DemoConfig

DEMO_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp demo                                   # both organisms, the positive control first; see the README for its time\n\n"
    "  interp demo --model organism --n-replicate 0  # one organism, no replication\n\n"
    "  interp demo --methods meanshift probe --concepts counting --n-test 60 --out outputs/quick\n\n"
    "  interp demo --model google/paligemma2-3b-mix-448 --benchmark cvbench --device-map cuda:0 --out outputs/cvbench\n\n"
    "A second run with the same options reuses the saved vectors and every finished result."
)


_DEMO_DEFAULTS = DemoConfig()
#: The widest line the demo prints (the verdicts wrap to it; the tables stay in their CSV files).
LOG_WIDTH = 100


def report_lines(report: Any, width: int = LOG_WIDTH) -> list[str]:
    """What ``interp demo`` prints when it is done: per model, its folder, its tables folder and
    its figure folder (the folders the files are in: one per model); the summary's path; the
    verdict lines, wrapped to ``width``. The wide tables stay in their CSV files and summary.md,
    out of the log.

    Example:
        >>> report_lines(run_demo(cfg))[-2:]   # doctest: +SKIP
        ['Verdict', 'organism: ...']
    """
    import textwrap
    from collections import Counter

    lines: list[str] = []
    for part in report.parts or (report,):
        out = Path(part.out)
        lines.append(f"{out.name}: {out}" if report.parts else f"report: {out}")
        tables = out / "tables"
        if tables.is_dir():
            n_files = len(list(tables.glob("*.csv")))
            lines.append(f"  tables: {tables} ({n_files} CSV files; table.csv: the {len(part.table)} chosen cells)")
        per_folder = Counter(Path(f).parent for f in part.figures or ())
        lines += [f"  figures: {folder} ({count} files)" for folder, count in sorted(per_folder.items())]
    lines.append(f"summary: {report.summary}")
    lines.append("Verdict")
    for verdict in (*report.verdicts, *getattr(report, "why", ())):
        lines += textwrap.wrap(str(verdict), width=width, subsequent_indent="  ", break_long_words=False,
                               break_on_hyphens=False) or [""]
    return lines


@cli.app.command(cls=cli.multi_value("--model", "--methods", "--concepts", "--layers", "--strengths", "--selectors"), epilog=DEMO_EXAMPLE)
@cli.user_errors
def demo(
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="The MLLM(s): hub id, local directory, or models a plugin ships; several: --model A B, each in its own subfolder of --out. Default: the demo models plugins name (organism-llava organism).")] = None,
    benchmark: cli.BenchmarkOption = None,
    benchmark_path: cli.BenchmarkPathOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The report folder.")] = Path("outputs/demo"),
    methods: Annotated[list[str] | None, typer.Option("--methods", help="Vector methods (default: meanshift probe sae diffmean pca).")] = None,
    concepts: Annotated[list[str] | None, typer.Option("--concepts", help="Concepts (default: every concept with a task in the benchmark).")] = None,
    layers: Annotated[list[int] | None, typer.Option("--layers", "-l", help="Layers (default: all).")] = None,
    strengths: Annotated[list[float] | None, typer.Option("--strengths", "-s", help="Relative strengths (default: -1 -0.5 0.5 1).")] = None,
    selectors: Annotated[list[cli.Selector] | None, typer.Option("--selectors", help="Token selectors (default: image text both).")] = None,
    n_train: Annotated[int, typer.Option("--n-train", min=1, help="Train items per task: the pool successive halving spends.")] = _DEMO_DEFAULTS.n_train,
    halving_first: Annotated[int | None, typer.Option("--halving-first", min=1, help="Items per task every live cell is scored on before the best third go on (0 or --no-halving: every cell on every train item).")] = _DEMO_DEFAULTS.halving_first,
    no_halving: Annotated[bool, typer.Option("--no-halving", help="Score every cell on every train item (the paper's one-shot choice).")] = False,
    n_test: Annotated[int, typer.Option("--n-test", min=1, help="Test items per task.")] = _DEMO_DEFAULTS.n_test,
    n_random: Annotated[int, typer.Option("--n-random", min=0, help="Random directions per chosen cell on test (a q95 needs 20).")] = _DEMO_DEFAULTS.n_random,
    n_replicate: Annotated[int | None, typer.Option("--n-replicate", min=0, help="Fresh items per task (a generated benchmark's) to replicate the chosen cells on (0: none). Default: 1200 there, set by power (README).")] = None,
    replicate_top: Annotated[int, typer.Option("--replicate-top", min=1, help="Replicate the chosen cells with the largest test gains, this many.")] = _DEMO_DEFAULTS.replicate_top or 2,
    replicate_random: Annotated[int, typer.Option("--replicate-random", min=0, help="Random directions per replicated cell (a q95 needs 20).")] = _DEMO_DEFAULTS.replicate_random,
    specificity: Annotated[bool, typer.Option("--specificity/--no-specificity", help="Compare each replicated cell with the other concepts' vectors and the flipped sign.")] = _DEMO_DEFAULTS.specificity,
    library: Annotated[bool, typer.Option("--library/--no-library", help="Specificity against every concept of the model's corpora, not only the swept ones.")] = _DEMO_DEFAULTS.library,
    transfer: Annotated[bool, typer.Option("--transfer/--no-transfer", help="Score each replicated cell on the tasks it was not chosen for.")] = _DEMO_DEFAULTS.transfer,
    ceiling: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Train a learned vector at each replicated cell: the most one vector there can do.")] = _DEMO_DEFAULTS.ceiling,
    null_runs: Annotated[int, typer.Option("--null-runs", min=0, help="Run the whole pipeline this many more times with random vectors: the protocol's false-claim rate.")] = _DEMO_DEFAULTS.null_runs,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a report of other settings already in --out.")] = False,
    hint: Annotated[str | None, typer.Option("--hint", help="The prompting baseline's hint: a template with {concept}, or one text for every concept.")] = None,
    batch_size: cli.BatchSizeOption = 32,
    seed: cli.SeedOption = 0,
    analyses: Annotated[bool, typer.Option("--analyses/--no-analyses", help="Variance share, modality gap, isomorphic inputs.")] = True,
    with_figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write figures.")] = True,
    static: Annotated[bool, typer.Option("--static/--no-static", help="PNG figures besides HTML (needs Chromium).")] = True,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads (default: torch's).")] = None,
    device_map: cli.DeviceMapOption = None,
    dtype: cli.DTypeOption = cli.DType.auto,
    remote: cli.RemoteOption = None,
) -> None:
    """Run the paper's whole pipeline and write a report folder (interp.demo.run_demo).

    Vectors by every method from text alone, the layer x strength x selector sweep chosen on
    train and reported on test with prompting and random-direction controls, what the vectors
    look like inside the model, figures, and summary.md.
    """
    from interp.demo import METHODS, run_demo
    from interp.vectors import get_method

    for name in methods or ():
        get_method(name)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    models = tuple(model) if model else None
    config = DemoConfig(
        model=models[0] if models and len(models) == 1 else models, replicate_top=replicate_top, benchmark=benchmark, benchmark_path=benchmark_path, out=str(out),
        methods=tuple(methods or METHODS), concepts=list(concepts) if concepts else None,
        layers=list(layers) if layers else None, selectors=tuple(s.value for s in selectors) if selectors else DemoConfig.selectors,
        n_train=n_train, n_test=n_test, n_random=n_random, n_replicate=n_replicate, specificity=specificity,
        halving_first=None if no_halving else halving_first, replicate_random=replicate_random, library=library,
        transfer=transfer, ceiling=ceiling, null_runs=null_runs,
        hint=hint, overwrite=overwrite, batch_size=batch_size, seed=seed,
        analyses=analyses, figures=with_figures, static=static, progress=True,
        device_map=device_map, dtype=None if dtype is cli.DType.auto else dtype.value, remote=cli.remote_value(remote),
    )
    if strengths:
        config.strengths = tuple(strengths)
    _inputs.check_out_dir(out)
    from interp.models.compat import quiet_progress

    with quiet_progress(enabled=cli.err_console.is_terminal):
        report = run_demo(config)
    for line in report_lines(report):
        cli.console.print(escape(line), soft_wrap=True)
