"""Exporting a results store: Parquet and CSV round-trips, refusing to replace files, bad inputs."""

import pandas as pd
import pytest

from interp.evaluation import ResultStore, export_store


def _fill(store):
    steered = store.add_cell({"vector": "v", "method": "meanshift", "concept": "count", "condition": "steered",
                              "layer": 2, "selector": "image", "strength": 1.0, "alpha": 3.0, "seed": -1,
                              "scoring": "logits", "model": "m"})
    prompt = store.add_cell({"condition": "prompting", "prefix": "Count carefully.", "scoring": "logits",
                             "model": "m"})
    rows = []
    for cell in (steered, prompt):
        for i, ok in enumerate([True, False, True]):
            rows.append({"cell": cell, "item_id": f"q{i}", "task": "Count", "split": "test", "answer": 1,
                         "pred": 1 if ok else 2, "correct": ok, "p_correct": 0.25 * (i + 1),
                         "probs": "[0.1, 0.9]"})
    store.add_rows(rows)
    return store.rows()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_from_a_path(tmp_path, fmt):
    db = tmp_path / "results.sqlite"
    with ResultStore(db) as store:
        expected = _fill(store)
    out = export_store(db, tmp_path / "out" / f"results.{fmt}", format=fmt)
    got = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == 6
    assert list(got["item_id"]) == list(expected["item_id"])
    assert list(got["correct"]) == list(expected["correct"])
    assert got["p_correct"].tolist() == pytest.approx(expected["p_correct"].tolist())
    # the prompting cell has no layer: missing, not a float NaN turned into 0
    layers = got.groupby("condition")["layer"].first()
    assert layers["steered"] == 2 and pd.isna(layers["prompting"])
    assert set(got.loc[got["condition"] == "prompting", "prefix"]) == {"Count carefully."}


def test_parquet_types_survive(tmp_path):
    store = ResultStore(":memory:")
    _fill(store)
    out = export_store(store, tmp_path / "r.parquet")
    got = pd.read_parquet(out)
    assert got["correct"].dtype == bool
    assert str(got["layer"].dtype) == "Int64"
    assert got["layer"].isna().sum() == 3


def test_existing_file_is_refused_unless_overwrite(tmp_path):
    store = ResultStore(":memory:")
    _fill(store)
    out = tmp_path / "r.csv"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_store(store, out, format="csv")
    assert out.read_text() == "keep me"
    export_store(store, out, format="csv", overwrite=True)
    assert len(pd.read_csv(out)) == 6


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results store"):
        export_store(tmp_path / "missing.sqlite", tmp_path / "r.parquet")
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ValueError, match="format"):
        export_store(ResultStore(":memory:"), tmp_path / "r.xlsx", format="xlsx")  # type: ignore[arg-type]
    with pytest.raises(IsADirectoryError):
        export_store(ResultStore(":memory:"), tmp_path)


def test_empty_store_exports_the_columns(tmp_path):
    out = export_store(ResultStore(":memory:"), tmp_path / "r.parquet")
    got = pd.read_parquet(out)
    assert len(got) == 0 and "item_id" in got.columns
