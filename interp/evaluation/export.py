"""Export a results store's rows to one file that pandas, DuckDB, R or a spreadsheet can read.

The SQLite store (``interp.evaluation.store``) is made for resuming sweeps; this writes its
joined rows (``ResultStore.rows``: one row per item x cell, with the cell's fields) to a
Parquet or CSV file, atomically, and never over an existing file unless ``overwrite=True``.

Example:
    >>> export_store("runs/results.sqlite", "runs/results.parquet")     # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from interp.evaluation.store import ResultStore
from interp.io import refuse_existing, write_file

#: Columns that hold whole numbers but may be missing (a prompting-baseline cell has no layer):
#: exported as nullable integers rather than floats.
_NULLABLE_INT = ("layer", "seed", "answer", "pred")

if TYPE_CHECKING:
    from interp.types import DataFrame

FORMATS = ("parquet", "csv")


def _frame(store_or_path: ResultStore | str | os.PathLike[str]) -> Any:
    if isinstance(store_or_path, ResultStore):
        return store_or_path.rows()
    path = Path(store_or_path)
    if not path.is_file():
        # ResultStore would create an empty store here; an export of nothing is a mistake.
        raise FileNotFoundError(f"no results store at {path}: give the .sqlite file a sweep wrote")
    with ResultStore(path, read_only=True) as store:  # reading writes nothing, not even a log
        return store.rows()


def _parquet_bytes(df: Any) -> bytes:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError(
            "writing Parquet needs pyarrow: pip install 'interp[parquet]' (or pip install pyarrow), "
            "or export with format='csv'"
        ) from None
    buf = io.BytesIO()
    df.to_parquet(buf, engine="pyarrow", index=False)
    return buf.getvalue()


def table_bytes(df: DataFrame, format: Literal["parquet", "csv"] = "csv") -> bytes:
    """A table as the bytes of a CSV or Parquet file (Parquet needs pyarrow).

    Example:
        >>> import pandas as pd
        >>> table_bytes(pd.DataFrame({"a": [1]}))
        b'a\\n1\\n'
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}, got {format!r}")
    return _parquet_bytes(df) if format == "parquet" else df.to_csv(index=False).encode()


def export_store(
    store_or_path: ResultStore | str | os.PathLike[str],
    out: str | os.PathLike[str],
    format: Literal["parquet", "csv"] = "parquet",
    *,
    overwrite: bool = False,
) -> Path:
    """Write every result row of a store, joined with its cell, to a Parquet or CSV file.

    Args:
        store_or_path: an open ``ResultStore`` or the path of its SQLite file (which must exist).
        out: the file to write; its folder is created.
        format: ``"parquet"`` (needs pyarrow: ``pip install 'interp[parquet]'``) or ``"csv"``.
        overwrite: replace ``out`` if it exists (otherwise ``FileExistsError``).

    Returns:
        The path written. Columns are the store's ``CELL_FIELDS`` then its result fields
        (``item_id, task, split, answer, pred, correct, p_correct, probs``); ``correct`` is a
        boolean, ``layer``/``seed``/``answer``/``pred`` nullable integers, ``probs`` the JSON text
        of the option probabilities.

    Example:
        >>> path = export_store(store, "results.parquet")                  # doctest: +SKIP
        >>> import duckdb; duckdb.sql("SELECT condition, avg(correct::INT) FROM 'results.parquet' GROUP BY 1")  # doctest: +SKIP
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    out = Path(out)
    if out.is_dir():
        raise IsADirectoryError(f"{out} is a folder: give a file path, e.g. {out / ('results.' + format)}")
    refuse_existing(out, overwrite)  # before reading the store: a refused export costs nothing
    df = _frame(store_or_path)
    for col in _NULLABLE_INT:
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    if "correct" in df.columns:
        df["correct"] = df["correct"].astype(bool)
    data = _parquet_bytes(df) if format == "parquet" else df.to_csv(index=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_file(out, data, overwrite=overwrite)


__all__ = ["FORMATS", "export_store", "table_bytes"]
