"""``interp learn``: a learned steering vector (the ceiling of one vector at a cell), trained and saved.

Example:
    $ interp learn --model organism --concept counting --layer 1 --tokens image --out vectors/learned-counting
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import interp
from interp.cli import _app as cli
from interp.cli import _inputs
from interp.cli.render import show_vector

LEARN_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp learn --model organism --concept counting --layer 1 --tokens image --out vectors/learned-counting\n\n"
    "  interp learn --model organism --tasks Relation --layer 2 --tokens both --norm 0.5 --out vectors/learned-relation"
)


def _tasks(concept: str | None, tasks: list[str] | None, benchmark: str) -> list[str]:
    """``--tasks``, or the tasks ``--concept`` pairs with on the benchmark (the sweep's default pairing)."""
    if tasks:
        return list(tasks)
    if concept is None:
        raise ValueError("give --tasks (the items to train on) or --concept (its tasks on the benchmark)")
    from interp.evaluation import concept_tasks

    pairs = concept_tasks(benchmark)
    if concept not in pairs:
        raise ValueError(f"concept {concept!r} has no default task on {benchmark} (defaults: {pairs or 'none'}): pass --tasks")
    return list(pairs[concept])


@cli.app.command(cls=cli.multi_value("--tasks"), epilog=LEARN_EXAMPLE)
@cli.user_errors
def learn(
    layer: Annotated[int, typer.Option("--layer", "-l", help="The layer whose output the vector is added to (0-based).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write vector.safetensors and vector.json into.")],
    model: cli.ModelOption = None,
    tokens: Annotated[cli.Selector, typer.Option("--tokens", help="The tokens it is added on.")] = cli.Selector.image,
    concept: Annotated[
        str | None,
        typer.Option("--concept", "-c", help="The concept it stands for; without --tasks, it trains on the tasks this concept pairs with (as the sweep does)."),
    ] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="Tasks whose train items it is trained on, e.g. --tasks Count.")] = None,
    benchmark: cli.BenchmarkOption = None,
    benchmark_path: cli.BenchmarkPathOption = None,
    n_train: Annotated[
        int | None,
        typer.Option("--n-train", help="Labelled train items per task (a quarter of them stop the training). Default: a generated benchmark 60, else all."),
    ] = None,
    norm: Annotated[float, typer.Option("--norm", help="Bound on the vector's norm, relative to the mean residual norm of the selected tokens (absolute with --absolute).")] = 1.0,
    absolute: Annotated[bool, typer.Option("--absolute", help="--norm is an absolute norm.")] = False,
    steps: Annotated[int, typer.Option("--steps", min=1, help="At most this many full-batch steps.")] = 100,
    patience: Annotated[int, typer.Option("--patience", min=1, help="Stop after this many steps without a better validation loss.")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the train/validation split (and of generated items).")] = 0,
    batch_size: cli.BatchSizeOption = 16,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a vector already saved at --out.")] = False,
    dtype: cli.DTypeOption = cli.DType.auto,
    device_map: cli.DeviceMapOption = None,
) -> None:
    """Train one steering vector at a layer and token set on the MLLM's labelled train items, and save it.

    The vector maximises the right option's log-probability under a norm bound, with early stopping on a held-out quarter of the items: the ceiling a textual vector at that cell is measured against.

    It sweeps like any saved vector (interp sweep --vector DIR).
    """
    model = _inputs.resolve_model(model)
    _inputs.check_vector_out(out, overwrite)
    benchmark = _inputs.resolve_benchmark(benchmark, model)
    train_tasks = _tasks(concept, tasks, benchmark)
    if n_train is None and _inputs.is_generated(benchmark):
        n_train = 60
    items = _inputs.benchmark_items(benchmark, benchmark_path, "train", train_tasks, _inputs.check_positive(n_train, "--n-train"), seed)
    mllm = _inputs.load_with_status(model, dtype, device_map)
    vector = interp.learned_vector(
        mllm,
        list(items),
        layer=layer,
        tokens=tokens.value,
        norm=norm,
        relative=not absolute,
        steps=steps,
        patience=patience,
        batch_size=batch_size,
        seed=seed,
        concept=concept,
        progress=cli.err_console.is_terminal,
    )
    saved = vector.save(out, overwrite=overwrite)
    show_vector(vector, saved)
