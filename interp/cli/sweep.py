"""``interp sweep``: saved vectors over layers x strengths x selectors, chosen on train, reported on test.

Example:
    $ interp sweep --vector vectors/counting --tasks Count --layers 0 1 --strengths -1 1 --out runs/sweep
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from interp.cli import _app as cli
from interp.cli import _inputs
from interp.cli.render import show_result_table
from interp.io import IDENTITY_KEY, refuse_other_run, remove_stale, run_identity, write_file

SWEEP_EXAMPLE = (
    "[bold]Example[/]: a counting vector on the organism's Count items, layers 0-2, two strengths:\n\n"
    "  interp extract --concept counting --layers 0 1 2 --out vectors/counting\n\n"
    "  interp sweep --model organism --vector vectors/counting --benchmark organism --tasks Count "
    "--layers 0 1 2 --strengths -1 1 --selectors image text --out runs/counting\n\n"
    "Add --replicate 300 --specificity for the replicated estimate on fresh scenes (the headline) and the "
    "specificity control.\n\n"
    "Writes results.sqlite (rerun to resume), grid.csv, table.csv, table.md and config.json into --out "
    "(and replication.csv, specificity.csv)."
)


def _prompt_hints(model: str, vectors: dict[str, Any]) -> bool | dict[str, str]:
    """The prompting baseline: the model's own words for its concepts (its model source), else the default hint."""
    from interp.models.sources import prompting_hints

    own = prompting_hints(model, sorted({v.meta.concept for v in vectors.values()}))
    return own if own is not None else True


#: What ``interp sweep`` writes beside results.sqlite (the store keeps every run's rows): always,
#: and only with some options. A run removes the optional ones it did not write.
SWEEP_FILES = ("grid.csv", "table.csv", "table.md", "config.json")
OPTIONAL_FILES = ("replication.csv", "specificity.csv", "transfer.csv", "grid.parquet", "table.parquet")
#: The options that change no number of a sweep's tables (everything else is its identity).
NOT_IDENTITY = ("out", "overwrite", "parquet", "cells_per_forward", "max_batch_tokens", "vector", "control_vector")


def _check_replication(benchmark: str, n: int, split: str | None) -> None:
    from interp.evaluation.benchmarks import benchmark_spec

    if n and split:
        raise ValueError("give --replicate N (generated benchmarks: fresh items) or --replicate-split (fixed benchmarks), not both")
    if n and not benchmark_spec(benchmark).makes_fresh_items:
        raise ValueError(
            f"--replicate draws fresh items, which the fixed benchmark {benchmark} does not make; give "
            "--replicate-split with a split disjoint from train and test"
        )


def _replication_items(benchmark: str, path: str | None, tasks: list[str], n: int, split: str | None,
                       seed: int) -> Any:
    """The replication set: ``n`` fresh items per task of a generated benchmark, or a split of a fixed one."""
    _check_replication(benchmark, n, split)
    if n:
        from interp.evaluation.benchmarks import fresh_items

        return fresh_items(benchmark, tasks, n, seed=seed)
    if split:
        return list(_inputs.benchmark_items(benchmark, path, split, tasks, None, seed))
    return None


def _check_tables(out: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Refuse to replace the tables of a sweep of another identity (or files of unknown origin)."""
    refuse_other_run(
        out, (*SWEEP_FILES, *OPTIONAL_FILES), identity, overwrite=overwrite, what="sweep",
        replaced="its tables", kept=" (results.sqlite keeps both runs' rows)",
    )


@cli.app.command(cls=cli.multi_value("--vector", "--tasks", "--layers", "--strengths", "--selectors"), epilog=SWEEP_EXAMPLE)
@cli.user_errors
def sweep(
    vector: Annotated[
        list[Path], typer.Option("--vector", "-v", help="A saved vector directory (interp extract --out); several: --vector A B.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for results.sqlite and the CSV/markdown tables.")],
    layers: Annotated[list[int], typer.Option("--layers", "-l", help="Steered layers, e.g. --layers 0 1 2.")],
    strengths: Annotated[
        list[float], typer.Option("--strengths", "-s", help="Strength grid, e.g. --strengths -1 1 (relative to the residual norm unless --absolute).")
    ],
    model: cli.ModelOption = None,
    benchmark: cli.BenchmarkOption = None,
    benchmark_path: cli.BenchmarkPathOption = None,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", "-t", help="Tasks every vector is evaluated on. Default: the paper's pairing of concept and task.")
    ] = None,
    selectors: Annotated[list[cli.Selector] | None, typer.Option("--selectors", help="Token selectors, e.g. --selectors image text. Default: image.")] = None,
    n_train: Annotated[int | None, typer.Option("--n-train", help="Train items per task (cell selection). Default: a generated benchmark 60, else all.")] = None,
    n_test: Annotated[int | None, typer.Option("--n-test", help="Test items per task (reported). Default: a generated benchmark 150, else all.")] = None,
    n_random: Annotated[int, typer.Option("--n-random", min=0, help="Random directions of the same norm per chosen cell.")] = 20,
    absolute: Annotated[bool, typer.Option("--absolute", help="Strengths multiply the vector as saved (default: relative to the residual norm).")] = False,
    faithful: Annotated[bool, typer.Option("--faithful", help="Also score unsteered and chosen cells on test the paper's way (generate and parse).")] = False,
    prompt_baseline: Annotated[bool, typer.Option("--prompt-baseline/--no-prompt-baseline", help="Score a prompting baseline on test.")] = True,
    batch_size: cli.BatchSizeOption = 16,
    seed: cli.SeedOption = 0,
    dtype: cli.DTypeOption = cli.DType.auto,
    device_map: cli.DeviceMapOption = None,
    remote: cli.RemoteOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the tables a sweep with other settings wrote to --out.")] = False,
    parquet: Annotated[bool, typer.Option("--parquet", help="Also write grid.parquet and table.parquet (needs pyarrow).")] = False,
    replicate: Annotated[int, typer.Option("--replicate", min=0, help="Generated benchmarks: fresh items per task to replicate each chosen cell on (they play no part in choosing; a few hundred resolve a gain of a few points). 0: none.")] = 0,
    replicate_split: Annotated[str | None, typer.Option("--replicate-split", help="Fixed benchmarks: a split of the benchmark, disjoint from train and test, to replicate the chosen cells on.")] = None,
    replicate_top: Annotated[int | None, typer.Option("--replicate-top", min=1, help="Replicate only the chosen cells with the largest test gains (default: all).")] = None,
    specificity: Annotated[bool, typer.Option("--specificity/--no-specificity", help="At each chosen cell, the other concepts' vectors at the same norm and the flipped sign (on the replication set if any, else test).")] = False,
    cells_per_forward: Annotated[int, typer.Option("--cells-per-forward", min=1, help="Stack up to this many cells of one layer in one forward (same results; the throughput is on a GPU).")] = 1,
    max_batch_tokens: Annotated[int | None, typer.Option("--max-batch-tokens", min=1, help="Memory budget of a stacked forward (cells x items x padded positions); a stack over it is refused before any work.")] = None,
    transfer: Annotated[bool, typer.Option("--transfer/--no-transfer", help="Score each replicated (else reported) chosen cell on the tasks it was not chosen for: its transfer cost.")] = False,
    control_vector: Annotated[list[Path] | None, typer.Option("--control-vector", help="Saved vectors of concepts not swept that --specificity compares each chosen cell with (e.g. every concept of the library).")] = None,
    halving_first: Annotated[int | None, typer.Option("--halving-first", min=1, help="Choose by successive halving: every live cell on this many train items per task, the best third of each group on 3x more, until the train pool (--n-train) is spent. Default: every cell on every train item.")] = None,
    allow_transfer: cli.AllowTransferOption = False,
) -> None:
    """Sweep saved vectors over layers x strengths x selectors: choose on train, report on test.

    The paper's protocol (arXiv 2505.14071) with a prompting baseline, random directions of
    the same norm, bootstrap CIs, exact McNemar p-values and Holm's correction.
    """
    from interp.evaluation import sweep as run_sweep
    from interp.evaluation.halving import Halving

    options = dict(locals())
    _inputs.check_out_dir(out)
    model = _inputs.resolve_model(model)
    benchmark = _inputs.resolve_benchmark(benchmark, model)
    _check_replication(benchmark, replicate, replicate_split)
    if n_train is None and _inputs.is_generated(benchmark):
        n_train = 60
    vectors = _inputs.load_vectors(vector)
    controls = _inputs.load_vectors(control_vector)
    targets = _inputs.task_targets(vectors, benchmark, tasks)
    all_tasks = sorted({t for ts in targets.values() for t in ts})
    train = _inputs.benchmark_items(benchmark, benchmark_path, "train", all_tasks, _inputs.check_positive(n_train, "--n-train"), seed)
    test = _inputs.benchmark_items(benchmark, benchmark_path, "test", all_tasks, _inputs.check_positive(n_test, "--n-test"), seed)
    rep_items = _replication_items(benchmark, benchmark_path, all_tasks, replicate, replicate_split, seed)
    identity = run_identity(
        {**options, "model": model, "benchmark": benchmark, "n_train": len(train), "n_test": len(test),
         "n_replicate": len(rep_items) if rep_items is not None else 0, "targets": targets,
         "vectors": {name: v.digest() for name, v in sorted(vectors.items())},
         "control_vectors": {name: v.digest() for name, v in sorted(controls.items())}},
        exclude=NOT_IDENTITY,
    )
    _check_tables(out, identity, overwrite)
    _inputs.writable(out, "--out folder")
    mllm = _inputs.load_with_status(model, dtype, device_map, remote)
    for layer in layers:
        mllm.check_layer(layer)
    identity["model_fingerprint"] = mllm.fingerprint().store_key(mllm.name)
    _check_tables(out, identity, overwrite)  # the same name may now hold other weights
    out.mkdir(parents=True, exist_ok=True)
    res = run_sweep(
        mllm, vectors, layers, strengths, [s.value for s in selectors or [cli.Selector.image]], train, test,
        store=out / "results.sqlite", targets=targets, relative=not absolute, n_random=n_random,
        prompt_baseline=_prompt_hints(model, vectors) if prompt_baseline else False, batch_size=batch_size,
        faithful=faithful, seed=seed, progress=True, replicate=rep_items, replicate_top=replicate_top,
        specificity=specificity, cells_per_forward=cells_per_forward, max_batch_tokens=max_batch_tokens,
        allow_transfer=allow_transfer, transfer=transfer,
        control_vectors=controls or None,
        halving=Halving(first=halving_first) if halving_first is not None else None,
    )
    _check_tables(out, identity, overwrite)  # another run may have written meanwhile
    written = [
        write_file(out / "grid.csv", res.grid.to_csv(index=False), overwrite=True),
        write_file(out / "table.csv", res.table.to_csv(index=False), overwrite=True),
        write_file(out / "table.md", res.to_markdown() + "\n", overwrite=True),
    ]
    for name, frame in (("replication", res.replication), ("specificity", res.specificity), ("transfer", res.transfer)):
        if frame is not None:
            written.append(write_file(out / f"{name}.csv", frame.to_csv(index=False), overwrite=True))
    if parquet:
        from interp.evaluation.export import table_bytes

        written.append(write_file(out / "grid.parquet", table_bytes(res.grid, "parquet"), overwrite=True))
        written.append(write_file(out / "table.parquet", table_bytes(res.table, "parquet"), overwrite=True))
    written.append(write_file(out / "config.json", json.dumps(
        {**res.config, "benchmark": benchmark, "benchmark_path": benchmark_path, "model_name": model,
         "vector_dirs": {name: str(d) for name, d in zip(vectors, vector)}, IDENTITY_KEY: identity},
        indent=2, default=str) + "\n", overwrite=True))
    remove_stale(out, OPTIONAL_FILES, written)
    show_result_table(res.table)
    cli.console.print(f"{len(res.grid)} train cells and {len(res.table)} test rows written to {escape(str(out))}", soft_wrap=True)
