"""A results store: one SQLite row per item x cell, committed as computed, so sweeps resume.

A *cell* is one scored condition: unsteered, a steering vector at (layer, strength, selector),
the prompting baseline, or a random direction at a chosen cell. Its key is a hash of
everything that determines its answers (model fingerprint, the vector's values at the layer,
absolute strength, selector, prompt prefix, scoring method), so rerunning a sweep with the same
arguments finds every finished row, a changed argument makes new rows, and nothing is scored
twice. Rows are written in one transaction per batch: a sweep killed at any point (Ctrl-C,
``kill -9``) loses at most the batch in flight and resumes from there.

Example:
    >>> store = ResultStore(":memory:")
    >>> store.done("cell", ["a", "b"])
    set()
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from interp.errors import CorruptArtifactError
from interp.types import DataFrame, JSONDict

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1

#: Fields of a stored cell (what was scored) and of a result row (how one item fared in it).
CELL_FIELDS = (
    "cell", "vector", "method", "concept", "condition", "layer", "selector", "strength", "alpha",
    "seed", "prefix", "scoring", "model",
)
ROW_FIELDS = ("cell", "item_id", "task", "split", "answer", "pred", "correct", "p_correct", "probs")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    cell TEXT PRIMARY KEY, vector TEXT, method TEXT, concept TEXT, condition TEXT NOT NULL,
    layer INTEGER, selector TEXT, strength REAL, alpha REAL, seed INTEGER, prefix TEXT,
    scoring TEXT, model TEXT
);
CREATE TABLE IF NOT EXISTS results (
    cell TEXT NOT NULL, item_id TEXT NOT NULL, task TEXT, split TEXT, answer INTEGER,
    pred INTEGER, correct INTEGER, p_correct REAL, probs TEXT,
    PRIMARY KEY (cell, item_id)
);
"""


def _disk_full(err: sqlite3.Error) -> bool:
    """Whether SQLite failed because the device is full (SQLITE_FULL)."""
    return getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(err)


def cell_key(spec: Mapping[str, Any]) -> str:
    """A stable hash of a cell's defining fields (JSON with sorted keys).

    Example:
        >>> cell_key({"a": 1}) == cell_key({"a": 1})
        True
    """
    blob = json.dumps(spec, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _unwritable(p: Path) -> bool:
    """Whether an existing store file, or the folder its log and lock files go in, is read-only."""
    return p.is_file() and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK))


class ResultStore:
    """SQLite file of sweep results (``":memory:"`` for a throwaway one).

    Args:
        path: the file; created with its parent directory if missing. A file that is not an
            interp results store is refused, never overwritten.
        read_only: open an existing store for reading only (nothing is written, not even its
            write-ahead log), e.g. a store on a read-only disk or shared as an immutable file.
            ``None`` (default): read-only exactly when the file exists but it or its folder
            cannot be written; writing to a read-only store raises ``ValueError``.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool | None = None):
        self.path = str(path)
        if read_only is None:
            read_only = self.path != ":memory:" and _unwritable(Path(self.path))
        self.read_only = bool(read_only)
        if self.read_only:
            self._open_read_only()
            return
        if self.path != ":memory:":
            p = Path(self.path)
            if p.is_dir():
                raise ValueError(f"results store {p} is a directory: give a file path, e.g. {p / 'results.sqlite'}")
            p.parent.mkdir(parents=True, exist_ok=True)
            existed = p.exists() and p.stat().st_size > 0
            self._had_wal = Path(self.path + "-wal").exists()  # opening it makes an empty one
        else:
            existed = False
        try:
            self.conn = sqlite3.connect(self.path)
            if existed:
                # Checked before anything is written: a file that is not ours stays as it was.
                try:
                    self._check_existing()
                except CorruptArtifactError:
                    self.conn.close()
                    raise
            self.conn.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:" else "PRAGMA journal_mode=MEMORY")
            self.conn.executescript(_SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self.conn.commit()
        except sqlite3.DatabaseError as err:
            self._forget_new(existed)
            if _disk_full(err):
                raise self._full() from None
            raise CorruptArtifactError(
                f"{self.path} is not a readable interp results store ({err}): move it away or "
                "give another path; interp does not overwrite it"
            ) from None
        except BaseException:
            self._forget_new(existed)
            raise

    def _open_read_only(self) -> None:
        p = Path(self.path)
        if self.path == ":memory:" or not p.is_file():
            raise FileNotFoundError(
                f"no results store at {self.path} to open read-only: give the .sqlite file a sweep wrote"
            )
        uri = p.resolve().as_uri()
        # A closed store has no write-ahead log: read it as immutable, which needs no lock or
        # -shm file beside it (a read-only folder allows neither). With a log (a sweep still
        # writing, or killed), read through it with mode=ro, so its last rows are not missed.
        wal = Path(self.path + "-wal")
        mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "immutable=1"
        try:
            self.conn = sqlite3.connect(f"{uri}?{mode}", uri=True)
            self._check_existing()
        except sqlite3.DatabaseError as err:
            if getattr(self, "conn", None) is not None:
                self.conn.close()
            raise CorruptArtifactError(
                f"{self.path} cannot be read as an interp results store read-only ({err})"
                + (f": its write-ahead log {wal.name} needs a writable folder to be read; copy "
                   f"{p.name} and {wal.name} somewhere writable" if mode == "mode=ro" else "")
            ) from None
        except BaseException:
            if getattr(self, "conn", None) is not None:
                self.conn.close()
            raise

    def _full(self) -> OSError:
        return OSError(
            errno.ENOSPC,
            f"no space left on the device of the results store {self.path}: free some and run again; the rows "
            "written so far are kept and the run resumes where it stopped",
        )

    def _write(self, sql: str, values: Any, many: bool = False) -> None:
        """One transaction; a full disk is said as such (the store itself is intact)."""
        try:
            with self.conn:
                (self.conn.executemany if many else self.conn.execute)(sql, values)
        except sqlite3.OperationalError as err:
            if _disk_full(err):
                raise self._full() from None
            raise

    def _refuse_read_only(self, what: str) -> None:
        if self.read_only:
            raise ValueError(
                f"results store {self.path} is open read-only (it or its folder cannot be written, "
                f"or read_only=True), so it cannot {what}: give a store path that can be written"
            )

    def _forget_new(self, existed: bool) -> None:
        """Remove a store this call began to create (e.g. on a full disk), so a later run can."""
        if existed or self.path == ":memory:":
            return
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(self.path + suffix).unlink(missing_ok=True)

    def _check_existing(self) -> None:
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "cells", "results"} <= tables:
            wal = Path(self.path + "-wal")
            if not tables and not getattr(self, "_had_wal", True):
                raise CorruptArtifactError(
                    f"{self.path} is an SQLite file with no tables, as a results store is when copied without its "
                    f"write-ahead log {wal.name} (its rows live there until a checkpoint): copy "
                    f"{Path(self.path).name} together with {wal.name}, or checkpoint first (sqlite3 "
                    f"{Path(self.path).name} 'PRAGMA wal_checkpoint') and copy again; interp does not overwrite it"
                )
            raise CorruptArtifactError(
                f"{self.path} is an SQLite file but not an interp results store (tables: "
                f"{sorted(tables)}); give another path, interp does not overwrite it"
            )
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise CorruptArtifactError(
                f"{self.path} has results store schema {row[0] if row else 'unknown'}, this interp "
                f"reads schema {SCHEMA_VERSION}"
            )
        check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise CorruptArtifactError(f"{self.path} is damaged (SQLite quick_check: {check})")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------
    def add_cell(self, spec: JSONDict) -> str:
        """Record a cell (idempotent) and return its key."""
        # a spec's "cell" is the key cell_key made for it (a str), when it carries one
        self._refuse_read_only("record a cell")
        key = cast(str, spec.get("cell") or cell_key({k: v for k, v in spec.items() if k != "cell"}))
        values = [key] + [spec.get(c) for c in CELL_FIELDS[1:]]
        self._write(f"INSERT OR IGNORE INTO cells VALUES ({', '.join('?' * len(CELL_FIELDS))})", values)
        return key

    def add_rows(self, rows: Iterable[JSONDict]) -> None:
        """Insert result rows in one transaction; a row already there is kept, not duplicated."""
        self._refuse_read_only("store result rows")
        # result rows (interp.evaluation.cells) hold ints for answer/pred and a float p_correct
        values = [
            (
                r["cell"], r["item_id"], r.get("task"), r.get("split"), int(cast(int, r["answer"])),
                int(cast(int, r["pred"])), int(bool(r["correct"])), float(cast(float, r["p_correct"])),
                r.get("probs", ""),
            )
            for r in rows
        ]
        self._write("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", values, many=True)

    # -- reading -------------------------------------------------------------------------------
    def done(self, cell: str, item_ids: Sequence[str]) -> set[str]:
        """The ids among ``item_ids`` that already have a row for ``cell``."""
        found: set[str] = set()
        ids = list(item_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            q = f"SELECT item_id FROM results WHERE cell=? AND item_id IN ({', '.join('?' * len(chunk))})"
            found.update(r[0] for r in self.conn.execute(q, [cell, *chunk]))
        return found

    def rows(self, cells: Sequence[str] | None = None) -> DataFrame:
        """Result rows joined with their cells, as a pandas DataFrame (all, or these cells)."""
        import pandas as pd

        cols = ", ".join([f"c.{c}" for c in CELL_FIELDS] + [f"r.{c}" for c in ROW_FIELDS[1:]])
        q = f"SELECT {cols} FROM results r JOIN cells c ON r.cell = c.cell"
        params: list[Any] = []
        if cells is not None:
            cells = list(cells)
            if not cells:
                return pd.DataFrame(columns=list(CELL_FIELDS) + list(ROW_FIELDS[1:]))
            q += f" WHERE r.cell IN ({', '.join('?' * len(cells))})"
            params = cells
        df = pd.read_sql_query(q + " ORDER BY r.rowid", self.conn, params=params)
        df["correct"] = df["correct"].astype(bool)
        return df

    def correct(self, cell: str, item_ids: Sequence[str]) -> np.ndarray:
        """Per-item correctness of ``cell`` on ``item_ids``, in that order: 1.0 or 0.0, NaN for an
        item without a row.

        Example:
            >>> ResultStore(":memory:").correct("cell", ["a"])
            array([nan])
        """
        by_item = self.rows([cell]).set_index("item_id")["correct"]
        return by_item.reindex(list(item_ids)).to_numpy(dtype=float)

    def note(self, key: str, value: str | None = None) -> str | None:
        """Read (``value`` None) or write a note kept with the results, e.g. a choosing schedule.

        Notes live in the store's ``meta`` table under ``note:<key>``; writing replaces the note.

        Example:
            >>> db = ResultStore(":memory:")
            >>> db.note("halving", "{}"); db.note("halving")
            '{}'
        """
        name = f"note:{key}"
        if value is None:
            row = self.conn.execute("SELECT value FROM meta WHERE key=?", (name,)).fetchone()
            return None if row is None else str(row[0])
        self._refuse_read_only("write a note")
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, str(value)))
        return None

    def count(self) -> int:
        """Number of result rows."""
        return int(self.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])


@contextmanager
def opened(store: ResultStore | str | os.PathLike[str] | None) -> Iterator[ResultStore]:
    """The caller's store as given, or one opened here (in memory for None) and closed after.

    Example:
        >>> with opened(None) as db:
        ...     db.count()
        0
    """
    if isinstance(store, ResultStore):
        yield store
        return
    db = ResultStore(":memory:" if store is None else store)
    try:
        yield db
    finally:
        db.close()


__all__ = ["CELL_FIELDS", "ROW_FIELDS", "SCHEMA_VERSION", "ResultStore", "cell_key", "opened"]
