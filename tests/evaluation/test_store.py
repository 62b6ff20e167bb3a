"""The results store: idempotent writes, reads joined with cells, and refusing files it does not own."""

import math
import sqlite3

import pytest

from interp.errors import CorruptArtifactError
from interp.evaluation.store import ResultStore, cell_key, opened


def _row(cell, item, correct=True):
    return {"cell": cell, "item_id": item, "task": "Count", "split": "train", "answer": 1,
            "pred": 1 if correct else 0, "correct": correct, "p_correct": 0.7, "probs": "[0.3, 0.7]"}


def test_rows_are_written_once_and_read_back_with_their_cell(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        key = store.add_cell({"vector": "v", "condition": "steered", "layer": 2, "selector": "image",
                              "strength": 1.0, "alpha": 3.0, "seed": -1, "model": "m"})
        assert key == store.add_cell({"vector": "v", "condition": "steered", "layer": 2, "selector": "image",
                                      "strength": 1.0, "alpha": 3.0, "seed": -1, "model": "m"})
        store.add_rows([_row(key, "a"), _row(key, "b", False)])
        store.add_rows([_row(key, "a", False)])  # already there: kept, not duplicated
        assert store.count() == 2
        assert store.done(key, ["a", "b", "c"]) == {"a", "b"}
    with ResultStore(path) as again:
        rows = again.rows()
    assert list(rows["item_id"]) == ["a", "b"]
    assert list(rows["correct"]) == [True, False]
    assert set(rows["layer"]) == {2}


def test_correct_reads_one_cell_in_the_order_asked_with_nan_for_missing_items():
    with ResultStore(":memory:") as store:
        key = store.add_cell({"condition": "unsteered", "model": "m"})
        other = store.add_cell({"condition": "prompt", "model": "m"})
        store.add_rows([_row(key, "a"), _row(key, "b", False), _row(other, "c")])
        got = store.correct(key, ["b", "c", "a"])
    assert got[0] == 0.0 and math.isnan(got[1]) and got[2] == 1.0


def test_opened_closes_only_the_store_it_opened(tmp_path):
    with opened(tmp_path / "s.sqlite") as mine:
        mine.add_cell({"condition": "unsteered"})
    with pytest.raises(sqlite3.ProgrammingError):
        mine.count()  # closed on leaving
    given = ResultStore(":memory:")
    with opened(given) as same:
        assert same is given
    assert given.count() == 0  # still open: the caller owns it


def test_cell_keys_depend_on_every_field():
    base = {"condition": "steered", "layer": 1, "alpha": 2.0}
    assert cell_key(base) != cell_key({**base, "layer": 2})
    assert cell_key(base) != cell_key({**base, "alpha": 2.0000001})
    assert cell_key(base) == cell_key(dict(reversed(list(base.items()))))


def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path):
    other = tmp_path / "notes.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.execute("INSERT INTO notes VALUES ('keep me')")
    con.commit()
    con.close()
    before = other.read_bytes()
    with pytest.raises(CorruptArtifactError, match="not an interp results store"):
        ResultStore(other)
    assert other.read_bytes() == before

    text = tmp_path / "results.sqlite"
    text.write_text("these are my results, in prose\n" * 20)
    with pytest.raises(CorruptArtifactError, match="not a readable interp results store"):
        ResultStore(text)
    assert text.read_text().startswith("these are my results")


def test_a_damaged_store_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as store:
        key = store.add_cell({"condition": "unsteered"})
        store.add_rows([_row(key, f"i{k}") for k in range(2000)])
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 4096] = b"\x00" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError):
        ResultStore(path).rows()


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(CorruptArtifactError, match="schema 99"):
        ResultStore(path)


def test_a_directory_is_not_a_store(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        ResultStore(tmp_path)


def test_a_store_whose_creation_fails_leaves_nothing_behind(tmp_path, monkeypatch):
    """Once a store created on a full disk was refused forever after space was freed."""
    import interp.evaluation.store as store_module

    path = tmp_path / "results.sqlite"
    monkeypatch.setattr(store_module, "_SCHEMA", "CREATE TABLE meta (; -- as if the disk were full")
    with pytest.raises(CorruptArtifactError):
        ResultStore(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.undo()
    ResultStore(path).close()  # space freed: the store is created


def test_a_store_copied_without_its_wal_says_to_copy_both(tmp_path):
    import shutil

    path = tmp_path / "results.sqlite"
    store = ResultStore(path)
    key = store.add_cell({"vector": "v", "condition": "steered", "layer": 2, "selector": "image",
                          "strength": 1.0, "alpha": 3.0, "seed": -1, "model": "m"})
    store.add_rows([_row(key, "a")])
    copy = tmp_path / "copy" / "results.sqlite"
    copy.parent.mkdir()
    shutil.copy(path, copy)  # the store is still open: its tables are in results.sqlite-wal
    store.close()
    assert (copy.parent / "results.sqlite-wal").exists() is False
    with pytest.raises(CorruptArtifactError, match=r"copy.results\.sqlite is an SQLite file with no tables, as a results store is when copied "
                       r"without its write-ahead log results\.sqlite-wal .*copy results\.sqlite together with "
                       r"results\.sqlite-wal, or checkpoint first"):
        ResultStore(copy)


def _immutable_store(tmp_path):
    """A finished store, chmod 0o444 in a 0o555 folder (root ignores both: read-only is proven by
    what the store does, opened with sqlite's read-only URI modes)."""
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "r.sqlite"
    with ResultStore(path) as store:
        key = store.add_cell({"condition": "unsteered", "model": "m"})
        store.add_rows([_row(key, "a"), _row(key, "b", False)])
    path.chmod(0o444)
    folder.chmod(0o555)
    return path, key


def test_an_immutable_store_is_read_without_writing_anything(tmp_path):
    from interp.evaluation import export_store

    path, key = _immutable_store(tmp_path)
    before = sorted(p.name for p in path.parent.iterdir()), path.read_bytes()
    try:
        with ResultStore(path, read_only=True) as store:
            assert store.read_only and store.count() == 2
            assert store.done(key, ["a", "c"]) == {"a"}
            assert list(store.rows()["item_id"]) == ["a", "b"]
            with pytest.raises(ValueError, match=r"r\.sqlite is open read-only .* so it cannot store result rows"):
                store.add_rows([_row(key, "c")])
            with pytest.raises(sqlite3.OperationalError, match="readonly"):  # sqlite itself refuses too
                store.conn.execute("DELETE FROM results")
        out = export_store(path, tmp_path / "rows.csv", "csv")  # export only reads
        assert out.read_text().count("\n") == 3
        assert (sorted(p.name for p in path.parent.iterdir()), path.read_bytes()) == before
    finally:
        path.parent.chmod(0o755)


def test_a_store_that_cannot_be_written_opens_read_only_by_itself(tmp_path, monkeypatch):
    import os

    path, _ = _immutable_store(tmp_path)
    try:
        with ResultStore(path) as store:  # as root, os.access says it can be written
            assert not store.read_only
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: mode != os.W_OK)
        with ResultStore(path) as store:
            assert store.read_only and store.count() == 2
        with pytest.raises(FileNotFoundError, match=r"no results store at .*nowhere\.sqlite to open read-only"):
            ResultStore(tmp_path / "nowhere.sqlite", read_only=True)
    finally:
        path.parent.chmod(0o755)


def test_a_store_still_being_written_is_read_through_its_log(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultStore(path) as writer:
        key = writer.add_cell({"condition": "unsteered", "model": "m"})
        writer.add_rows([_row(key, "a")])
        assert (tmp_path / "r.sqlite-wal").stat().st_size > 0  # the row lives in the log for now
        with ResultStore(path, read_only=True) as reader:  # sqlite's mode=ro, through the log
            assert reader.done(key, ["a"]) == {"a"}
