"""What the commands that run an MLLM read: the model, saved vectors, benchmark items, checks.

Each helper turns options into interp's public API calls (``interp.load_mllm``,
``SteeringVector.load``, ``load_benchmark``) and refuses bad values with a ValueError, which
``user_errors`` shows as one line.

Example:
    >>> benchmark_items("organism", None, "test", ["Count"], 2)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import interp
from interp.cli._app import DType, Remote, err_console, remote_value


def resolve_model(model: str | None) -> str:
    """``--model``, or the first model a plugin ships when it is not given.

    Example:
        >>> resolve_model(None)   # doctest: +SKIP
        'organism'
    """
    from interp.models.sources import default_model

    return model if model is not None else default_model()


def resolve_benchmark(benchmark: str | None, model: str) -> str:
    """``--benchmark``, or the model's own benchmark (its model source's), checked.

    Example:
        >>> resolve_benchmark(None, "organism")   # doctest: +SKIP
        'organism'
    """
    if benchmark is None:
        from interp.models.sources import source_of

        source = source_of(model)
        if source is None or source.benchmark is None:
            from interp.evaluation import list_benchmarks

            raise ValueError(f"{model} has no benchmark of its own: pass --benchmark (one of {list_benchmarks()})")
        benchmark = source.benchmark
    return check_benchmark(benchmark)


def is_generated(benchmark: str) -> bool:
    """Whether a benchmark's items are generated (a plugin's world) rather than read from a data set."""
    from interp.evaluation.benchmarks import benchmark_spec

    return benchmark_spec(benchmark).generate is not None


def load_with_status(
    model: str, dtype: DType = DType.auto, device_map: str | None = None, remote: Remote | None = None
) -> Any:
    """``interp.load_mllm`` for a command: the options as the CLI parses them, a spinner while it loads."""
    import torch

    from interp.models.compat import quiet_progress

    kwargs: dict[str, Any] = {"device_map": device_map, "remote": remote_value(remote)}
    if dtype is not DType.auto:
        kwargs["dtype"] = getattr(torch, dtype.value)
    with err_console.status(f"loading {model}..."), quiet_progress(enabled=err_console.is_terminal):
        return interp.load_mllm(model, **kwargs)


def load_vectors(directories: Sequence[Path] | None) -> dict[str, Any]:
    """Saved vectors by name: ``method/concept``, or the directory where two share that name."""
    from interp.vectors import SteeringVector

    loaded = [(d, SteeringVector.load(d)) for d in directories or ()]
    names = [f"{v.meta.method}/{v.meta.concept}" for _, v in loaded]
    out: dict[str, Any] = {}
    for (directory, v), name in zip(loaded, names):
        key = name if names.count(name) == 1 else str(directory)
        if key in out:
            raise ValueError(f"--vector {directory} is given twice")
        out[key] = v
    return out


def check_positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise ValueError(f"{flag} must be a positive number of items, got {value}")
    return value


def benchmark_items(
    benchmark: str, path: str | None, split: str, tasks: Sequence[str] | None, n: int | None, seed: int = 0
) -> Any:
    """A benchmark split; ``n`` items per task (a generated benchmark makes ``n``; others keep the first ``n``)."""
    from interp.evaluation import load_benchmark

    if is_generated(benchmark):
        options: dict[str, Any] = {"seed": seed} if n is None else {"seed": seed, "n_per_task": n}
        return load_benchmark(benchmark, path, split=split, tasks=tasks or None, **options)
    bench = load_benchmark(benchmark, path, split=split, tasks=tasks or None, limit=n)
    if not len(bench) and bench.skipped:
        from interp.evaluation.benchmarks.core import _skip_note

        raise ValueError(
            f"{benchmark}/{split} from {bench.source or path} has no items: every row was skipped "
            f"({_skip_note(bench.skipped)}); expected rows that can be read as items"
        )
    return bench


def check_benchmark(name: str) -> str:
    from interp.evaluation import list_benchmarks

    if name not in list_benchmarks():
        raise ValueError(f"unknown benchmark {name!r}: expected one of {list_benchmarks()}")
    return name


def writable(folder: Path, what: str) -> Path:
    """Refuse a folder that cannot be written, before any work; creates nothing.

    A folder that does not exist yet is judged by its nearest existing parent (it is made only
    when the command writes).
    """
    from interp.io import check_writable

    try:
        check_writable(folder, what=what, create=False)
    except OSError as err:
        raise ValueError(str(err)) from None
    return folder


def check_vector_out(out: Path, overwrite: bool) -> None:
    """Refuse a vector ``--out`` that is a file, or already holds a saved vector (without --overwrite)."""
    from interp.vectors import CONFIG_FILE, TENSORS_FILE

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: expected a directory for {TENSORS_FILE} and {CONFIG_FILE}")
    if not overwrite and ((out / CONFIG_FILE).exists() or (out / TENSORS_FILE).exists()):
        raise ValueError(f"{out} already holds a saved vector: pass --overwrite to replace it")


def check_csv_out(out: Path, overwrite: bool = False) -> Path:
    """Refuse a table ``--out`` that is a folder, not .csv/.parquet, already a file (without
    --overwrite) or unwritable."""
    if out.is_dir():
        raise ValueError(f"--out {out} is a directory: expected a .csv (or .parquet) file to write")
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {out} must end in .csv (or .parquet for a Parquet table)")
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out {out} already exists: pass --overwrite to replace it, or choose another file")
    writable(out.parent, "folder of --out")
    return out


def write_csv(df: Any, path: Path, overwrite: bool = False) -> Path:
    """Write a table atomically, as CSV or (a ``.parquet`` path) Parquet; an existing file is
    replaced only with ``overwrite`` (--overwrite)."""
    from interp.evaluation.export import table_bytes
    from interp.io import write_file

    data = table_bytes(df, "parquet") if path.suffix.lower() == ".parquet" else table_bytes(df, "csv")
    try:
        return write_file(path, data, overwrite=overwrite)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists: pass --overwrite to replace it, or choose another --out") from None


def check_out_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: expected a directory")
    return out


def task_targets(vectors: dict[str, Any], benchmark: str, tasks: Sequence[str] | None) -> dict[str, list[str]]:
    """Tasks per vector: ``--tasks`` for every vector, else the benchmark's pairing of concept and task."""
    if tasks:
        return {name: list(tasks) for name in vectors}
    from interp.evaluation import concept_tasks

    pairs = concept_tasks(benchmark)
    out = {}
    for name, v in vectors.items():
        if v.meta.concept not in pairs:
            raise ValueError(
                f"vector {name!r}: concept {v.meta.concept!r} has no default task on {benchmark} "
                f"(defaults: {pairs or 'none'}): pass --tasks"
            )
        out[name] = pairs[v.meta.concept]
    return out


__all__ = [
    "benchmark_items",
    "check_benchmark",
    "check_csv_out",
    "check_out_dir",
    "check_positive",
    "check_vector_out",
    "is_generated",
    "load_vectors",
    "load_with_status",
    "resolve_benchmark",
    "resolve_model",
    "task_targets",
    "writable",
    "write_csv",
]
