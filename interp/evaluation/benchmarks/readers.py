"""Table readers: a benchmark's rows from the hub (through ``datasets``) or from a local copy.

``_read_hub`` loads the spec's hub data set and split as an Arrow table; ``_read_local`` reads a
parquet file, a directory of parquet files (a hub snapshot: the spec's config and split are
picked out), a JSONL/JSON-lines file, or an HF image folder (``metadata.jsonl`` or
``metadata.csv`` naming image files). Every reader returns a ``_Table``: whole columns for
splitting, single rows for items, read lazily (parquet by row group, since image bytes are most
of a file).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("cvbench", path="data/cv-bench.parquet", split="test")  # doctest: +SKIP
"""

from __future__ import annotations

import bisect
import csv
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from interp.evaluation.benchmarks.core import _DATA_HINT, _LOCAL_FORMATS, BenchmarkSpec, _Table
from interp.io import read_jsonl


def _arrow_table(table: Any, base_dir: Path | None, where: str) -> _Table:
    return _Table(
        columns=list(table.column_names),
        n_rows=table.num_rows,
        column=lambda name: table.column(name).to_pylist(),
        row=lambda i: table.slice(i, 1).to_pylist()[0],
        base_dir=base_dir,
        where=where,
    )


def _dict_table(rows: list[dict[str, Any]], base_dir: Path, where: str) -> _Table:
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    return _Table(
        columns=list(columns),
        n_rows=len(rows),
        column=lambda name: [r.get(name) for r in rows],
        row=lambda i: {c: rows[i].get(c) for c in columns},
        base_dir=base_dir,
        where=where,
    )


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(f"reading parquet needs pyarrow: {_DATA_HINT}") from err
    return pa, pq


def _parquet_table(files: list[Path], base_dir: Path, where: str) -> _Table:
    """Parquet rows read by row group on first use: whole small columns for the split, then only
    the row groups holding the rows that become items (image bytes are most of a file)."""
    pa, pq = _pyarrow()
    readers, groups, starts, n = (
        [],
        [],
        [],
        0,
    )  # groups[k] = (reader, row group); starts[k] = first row
    names: list[str] | None = None
    for f in files:
        try:
            reader = pq.ParquetFile(f, memory_map=True)
        except (OSError, ValueError, pa.ArrowException) as err:
            raise ValueError(f"cannot read parquet file {f}: {err}") from err
        if names is None:
            names = list(reader.schema_arrow.names)
        elif set(reader.schema_arrow.names) != set(names):
            raise ValueError(
                f"the parquet files under {where} do not share one schema: {f.name} has "
                f"{sorted(reader.schema_arrow.names)}, {files[0].name} has {sorted(names)}"
            )
        readers.append(reader)
        for g in range(reader.num_row_groups):
            groups.append((reader, g))
            starts.append(n)
            n += reader.metadata.row_group(g).num_rows
    loaded: dict[int, Any] = {}

    def read(call: Callable[[], Any], what: str) -> Any:
        try:
            return call()
        except (OSError, ValueError, pa.ArrowException) as err:
            raise ValueError(f"cannot read {what} of {where}: {err}") from err

    def column(name: str) -> list[Any]:
        values: list[Any] = []
        for r in readers:
            values += read(partial(r.read, columns=[name]), name)[name].to_pylist()
        return values

    def row(i: int) -> dict[str, Any]:
        k = bisect.bisect_right(starts, i) - 1
        if k not in loaded:
            reader, g = groups[k]
            loaded[k] = read(partial(reader.read_row_group, g), f"row group {g}")
        return loaded[k].slice(i - starts[k], 1).to_pylist()[0]

    return _Table(names or [], n, column, row, base_dir, where)


def _read_image_folder(directory: Path, spec: BenchmarkSpec) -> list[dict[str, Any]]:
    """HF imagefolder layout: ``metadata.jsonl``/``metadata.csv`` whose ``file_name`` column (and
    any ``<field>_file_name`` column) names image files relative to the folder."""
    meta = directory / "metadata.jsonl"
    if meta.exists():
        rows = [row for _, row in read_jsonl(meta)]
    else:
        meta = directory / "metadata.csv"
        with open(meta, encoding="utf-8", newline="") as fh:
            rows = [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(fh)]
    out = []
    for r in rows:
        row = dict(r)
        for col in [c for c in r if c == "file_name" or c.endswith("_file_name")]:
            target = spec.image_fields[0] if col == "file_name" else col[: -len("_file_name")]
            if row.get(target) is not None:
                raise ValueError(f"{meta} has both {col!r} and {target!r}: keep one")
            value = row.pop(col)
            row[target] = (
                [value] if target in spec.list_image_fields and value is not None else value
            )
        out.append(row)
    return out


def _snapshot_files(files: list[Path], spec: BenchmarkSpec, root: Path) -> list[Path]:
    """In a hub snapshot, where configs and splits sit side by side (``Object_Localization/
    val-00000-of-00001.parquet``, ``test_2d.parquet``), the files of the benchmark's config and
    hub split; every file when none are named so."""
    if spec.config:
        files = [f for f in files if spec.config in f.relative_to(root).parts] or files
    if spec.hub_split:
        files = [f for f in files if f.name.startswith(spec.hub_split)] or files
    return files


def _read_local(spec: BenchmarkSpec, path: str | os.PathLike[str]) -> _Table:
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"no such file or directory: {p} (expected {_LOCAL_FORMATS})")
    if p.is_dir():
        if (p / "metadata.jsonl").exists() or (p / "metadata.csv").exists():
            return _dict_table(_read_image_folder(p, spec), p, str(p))
        files = _snapshot_files(sorted(p.rglob("*.parquet")), spec, p)
        if not files:
            raise ValueError(
                f"{p} holds no parquet files and no metadata.jsonl/metadata.csv "
                f"(expected {_LOCAL_FORMATS})"
            )
        return _parquet_table(files, p, str(p))
    if p.suffix == ".parquet":
        return _parquet_table([p], p.parent, str(p))
    if p.suffix in (".jsonl", ".json"):
        return _dict_table([row for _, row in read_jsonl(p)], p.parent, str(p))
    raise ValueError(f"cannot read {p}: expected {_LOCAL_FORMATS}")


def _read_hub(spec: BenchmarkSpec) -> _Table:
    assert spec.hub is not None
    try:
        import datasets
    except ImportError as err:
        raise ImportError(
            f"loading {spec.name} from the hub needs datasets: {_DATA_HINT} "
            "(or pass path= to a local copy)"
        ) from err
    args = (spec.hub,) if spec.config is None else (spec.hub, spec.config)
    try:
        ds = datasets.load_dataset(*args, split=spec.hub_split)
    except OSError as err:  # ConnectionError when offline, FileNotFoundError when not cached
        raise ValueError(
            f"cannot load {spec.name} from the Hugging Face hub ({spec.hub}): the hub is "
            f"unreachable or the data set is not cached ({err}); "
            f"pass path= to a local copy ({_LOCAL_FORMATS})"
        ) from err
    return _arrow_table(ds.with_format("arrow")[:], None, f"hub {spec.hub}")
