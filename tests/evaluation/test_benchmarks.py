"""Benchmark loaders: the paper's splits, every local format, bad rows and clear errors."""

from __future__ import annotations

import base64
import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from bench_files import (
    blink_rows,
    clevr_rows,
    cvbench_rows,
    swatch,
    to_dataset,
    whatsup_rows,
    write_image_folder,
    write_jsonl,
    write_parquet,
)
from PIL import Image

from interp.evaluation.benchmarks import Benchmark, Skipped, list_benchmarks, load_benchmark
from interp.organism.scenes import scene_split
from interp.prompts import MC_PREFIX, NUMBER_PREFIX

COUNTS = {"Count": 7, "Relation": 6, "Depth": 5, "Distance": 4}


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == "RGB" and np.array_equal(np.asarray(a), np.asarray(b.convert("RGB")))


@pytest.fixture(scope="module")
def cv_rows():
    return cvbench_rows(COUNTS)


@pytest.fixture(scope="module")
def cv_parquet(cv_rows, tmp_path_factory):
    return write_parquet(cv_rows, tmp_path_factory.mktemp("cv") / "test.parquet")


def reference_split(rows, task, n_test, order):
    """What the paper's code does for one task: its rows in file order, shuffled, last n_test."""
    frame = pd.DataFrame([{"idx": r["idx"]} for r in rows if r["task"] == task])
    if order == "pandas":  # TextSteersVision utils.load_cvbench_dataset
        shuffled = list(frame.sample(frac=1, random_state=42)["idx"])
    else:
        shuffled = list(to_dataset(frame.to_dict("records")).shuffle(seed=42)["idx"])
    return shuffled[:-n_test], shuffled[-n_test:]


@pytest.mark.parametrize("order", ["pandas", "datasets"])
def test_cvbench_split_is_the_reference_shuffle_per_task(cv_rows, cv_parquet, order):
    train = load_benchmark("cvbench", cv_parquet, "train", n_test=2, shuffle=order)
    test = load_benchmark("cvbench", cv_parquet, "test", n_test=2, shuffle=order)
    for task in COUNTS:
        want_train, want_test = reference_split(cv_rows, task, 2, order)
        assert [it.id for it in train.by_task()[task]] == [
            f"cvbench/{task}/{i}" for i in want_train
        ]
        assert [it.id for it in test.by_task()[task]] == [f"cvbench/{task}/{i}" for i in want_test]
    assert len(test) == 2 * len(COUNTS) and len(train) + len(test) == sum(COUNTS.values())
    assert not {it.id for it in train} & {it.id for it in test}


def test_pandas_and_datasets_shuffles_differ(cv_rows):
    # the option matters: the reference code's pandas order is not datasets' order
    assert reference_split(cv_rows, "Count", 2, "pandas") != reference_split(
        cv_rows, "Count", 2, "datasets"
    )


def test_cvbench_items_keep_fields_prompt_and_images(cv_rows, cv_parquet):
    bench = load_benchmark("cvbench", cv_parquet, "all")
    assert len(bench) == len(cv_rows) and not bench.skipped
    by_idx = {r["idx"]: r for r in cv_rows}
    for it in bench:
        row = by_idx[int(it.id.rsplit("/", 1)[1])]
        assert it.task == row["task"] and it.source == "cvbench" and it.kind == "mc"
        assert list(it.choices) == row["choices"] and f"({it.answer_letter})" == row["answer"]
        assert it.prompt_text == row["prompt"] and it.prompt() == MC_PREFIX + row["prompt"]
        assert len(it.images) == 1 and same_pixels(it.image, row["image"])
        assert it.metadata["source"] == "ADE20K" and it.metadata["bbox"] == [1, 2, 3, 4]
    assert bench.tasks == sorted(COUNTS)


def test_every_local_format_gives_the_same_items(cv_rows, cv_parquet, tmp_path):
    jsonl = write_jsonl(cv_rows, tmp_path / "jsonl")
    folder = write_image_folder(cv_rows, tmp_path / "folder", "image")
    folder_csv = write_image_folder(cv_rows, tmp_path / "folder_csv", "image", csv=True)
    ref = load_benchmark("cvbench", cv_parquet, "test", n_test=2)
    for path in (jsonl, folder, folder_csv, cv_parquet.parent):
        got = load_benchmark("cvbench", path, "test", n_test=2)
        assert [it.id for it in got] == [it.id for it in ref], path
        assert [it.answer for it in got] == [it.answer for it in ref]
        assert [it.choices for it in got] == [it.choices for it in ref]
        assert all(same_pixels(a.image, b.image) for a, b in zip(got, ref))


def test_cvbench_jsonl_as_the_hub_ships_it_reads_images_from_filename(tmp_path):
    # the hub repo's test_2d.jsonl has no image column: "filename" points into its img/ folder
    rows = cvbench_rows({"Count": 3, "Depth": 3})
    for r in rows:
        (tmp_path / r["filename"]).parent.mkdir(parents=True, exist_ok=True)
        r.pop("image").save(tmp_path / r["filename"])
    (tmp_path / "test_2d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench = load_benchmark("cvbench", tmp_path / "test_2d.jsonl", "all")
    assert len(bench) == 6 and not bench.skipped
    assert all(same_pixels(it.image, swatch(int(it.id.rsplit("/", 1)[1]))) for it in bench)


def test_a_benchmark_jsonl_reads_with_a_byte_order_mark_and_names_the_line_it_cannot_read(tmp_path):
    # the same reader as corpora and contrast pairs (interp.io.read_jsonl)
    rows = cvbench_rows({"Count": 2})
    for r in rows:
        (tmp_path / r["filename"]).parent.mkdir(parents=True, exist_ok=True)
        r.pop("image").save(tmp_path / r["filename"])
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(load_benchmark("cvbench", tmp_path / "bom.jsonl", "all")) == 2
    (tmp_path / "latin1.jsonl").write_bytes(text.encode() + b'{"question": "caf\xe9"}\n')
    with pytest.raises(ValueError, match=r"latin1\.jsonl:3: not valid UTF-8 \(byte 0xe9"):
        load_benchmark("cvbench", tmp_path / "latin1.jsonl", "all")
    (tmp_path / "list.jsonl").write_text(text + "[1, 2]\n")
    with pytest.raises(ValueError, match=r"list\.jsonl:3: expected a JSON object, got '\[1, 2\]'"):
        load_benchmark("cvbench", tmp_path / "list.jsonl", "all")


def test_parquet_directory_reads_the_hub_snapshot_split(cv_rows, tmp_path):
    # the hub repo keeps test_2d / test_3d side by side; a train file there is another split
    write_parquet([r for r in cv_rows if r["type"] == "2D"], tmp_path / "test_2d.parquet")
    write_parquet([r for r in cv_rows if r["type"] == "3D"], tmp_path / "test_3d.parquet")
    write_parquet(cvbench_rows({"Count": 3}), tmp_path / "train-00000.parquet")
    bench = load_benchmark("cvbench", tmp_path, "all")
    assert len(bench) == len(cv_rows)
    assert {t: len(v) for t, v in bench.by_task().items()} == COUNTS


def test_parquet_rows_across_row_groups_and_files_keep_file_order(cv_rows, cv_parquet, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(cv_parquet)
    pq.write_table(table.slice(0, 13), tmp_path / "test-00000-of-00002.parquet", row_group_size=4)
    pq.write_table(table.slice(13), tmp_path / "test-00001-of-00002.parquet", row_group_size=3)
    got = load_benchmark("cvbench", tmp_path, "test", n_test=2)
    ref = load_benchmark("cvbench", cv_parquet, "test", n_test=2)
    assert [it.id for it in got] == [it.id for it in ref]
    assert all(same_pixels(a.image, b.image) for a, b in zip(got, ref))
    pq.write_table(table.drop_columns(["bbox"]).slice(0, 2), tmp_path / "test-extra.parquet")
    with pytest.raises(ValueError, match=r"do not share one schema: test-extra\.parquet has"):
        load_benchmark("cvbench", tmp_path)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match=r"cannot read parquet file .*broken\.parquet"):
        load_benchmark("cvbench", tmp_path / "broken.parquet")


def test_images_come_back_rgb_from_any_storage(tmp_path):
    rows = cvbench_rows({"Count": 4})
    rows[0]["image"] = swatch(0, "L")
    rows[1]["image"] = swatch(1, "RGBA")
    path = write_jsonl(rows, tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[2]["image"] = {"bytes": None, "path": lines[2]["image"]}  # datasets' dict, path only
    png = (tmp_path / lines[3]["image"]).read_bytes()
    lines[3]["image"] = {"bytes": base64.b64encode(png).decode(), "path": None}
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    bench = load_benchmark("cvbench", path, "all")
    assert len(bench) == 4
    for it, row in zip(bench, rows):
        assert it.image.mode == "RGB" and same_pixels(it.image, row["image"])


def test_malformed_rows_are_skipped_with_reasons(tmp_path):
    rows = cvbench_rows({"Count": 8})
    rows[1]["answer"] = None
    rows[2]["answer"] = "(E)"
    rows[3]["choices"] = []
    rows[4]["answer"] = "maybe"
    rows[6]["idx"] = rows[5]["idx"]
    path = write_jsonl(rows, tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[7]["image"] = "images/not_there.png"
    (tmp_path / "images" / "broken.png").write_bytes(b"not a png")
    lines[0]["image"] = "images/broken.png"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.warns(UserWarning, match="7 rows skipped"):
        bench = load_benchmark("cvbench", path, "all")
    assert [it.id for it in bench] == ["cvbench/Count/5"]
    reasons = {s.row: s.reason for s in bench.skipped}
    assert set(reasons) == {0, 1, 2, 3, 4, 6, 7}
    assert "unreadable image" in reasons[0] and "unreadable image" in reasons[7]
    assert reasons[1] == "missing answer"
    assert "not among its 4 choices" in reasons[2]
    assert "choices has 0 entries" in reasons[3]
    assert "not a letter" in reasons[4]
    assert "duplicate id 'cvbench/Count/5'" in reasons[6]
    assert all(isinstance(s, Skipped) and s.ref.startswith(f"row {s.row}") for s in bench.skipped)
    assert bench.summary().startswith(
        "cvbench/all: 1 items (Count 1), 7 rows skipped: row 0 (idx 0): unreadable"
    )


def test_row_with_unknown_task_is_skipped(tmp_path):
    rows = cvbench_rows({"Count": 3})
    rows[1]["task"] = "Colour"
    with pytest.warns(UserWarning, match="1 row skipped"):
        bench = load_benchmark("cvbench", write_parquet(rows, tmp_path / "t.parquet"), "all")
    assert len(bench) == 2 and "task 'Colour' is not one of" in bench.skipped[0].reason


def test_file_lacking_fields_is_refused_naming_them(cv_rows, tmp_path):
    rows = [{k: v for k, v in r.items() if k not in ("answer", "choices")} for r in cv_rows[:3]]
    path = write_parquet(rows, tmp_path / "t.parquet")
    with pytest.raises(
        ValueError, match=r"missing \['choices', 'answer'\]; it has \['bbox', .*'task'"
    ):
        load_benchmark("cvbench", path)
    with pytest.raises(
        ValueError, match=r"missing \['image_options', 'caption_options', 'TARGET'\]"
    ):
        load_benchmark("whatsup_a", path)


def test_whatsup_rotates_captions_as_the_reference_does(tmp_path):
    rows = whatsup_rows(6)
    bench = load_benchmark("whatsup_b", write_parquet(rows, tmp_path / "w.parquet"))
    assert len(bench) == 6 and bench.tasks == ["Relation"]
    for i, (it, row) in enumerate(zip(bench, rows)):
        caps = row["caption_options"]
        shifted = caps[i % 4 :] + caps[: i % 4]  # TextSteersVision utils.load_whatsup_dataset
        assert list(it.choices) == shifted and it.answer == shifted.index(caps[row["TARGET"]])
        assert it.prompt_text == "Please select the correct caption for the image:\n" + "\n".join(
            f"({'ABCD'[j]}) {c}" for j, c in enumerate(shifted)
        )
        assert it.id == f"whatsup_b/{i}" and same_pixels(it.image, row["image_options"])
    assert sorted(it.answer for it in bench) == [0, 0, 1, 2, 3, 3]


def test_holdout_split_is_sklearns_train_test_split(tmp_path):
    import sklearn.model_selection as sklearn
    path = write_parquet(whatsup_rows(9), tmp_path / "w.parquet")
    test_rows, val_rows = sklearn.train_test_split(list(range(9)), test_size=3, random_state=42)
    assert [it.metadata["row"] for it in load_benchmark("whatsup_a", path, n_val=3)] == test_rows
    assert [
        it.metadata["row"] for it in load_benchmark("whatsup_a", path, "val", n_val=3)
    ] == val_rows
    assert [
        it.metadata["row"] for it in load_benchmark("whatsup_a", path, "train", n_val=3)
    ] == val_rows
    assert [it.metadata["row"] for it in load_benchmark("whatsup_a", path)] == list(range(9))
    with pytest.raises(ValueError, match="split 'train' needs n_val"):
        load_benchmark("whatsup_a", path, "train")
    with pytest.raises(ValueError, match="n_val=9 leaves no test rows"):
        load_benchmark("whatsup_a", path, n_val=9)


def test_blink_rows_keep_every_image(tmp_path):
    rows = blink_rows([3, 1, 4])
    for path in (write_parquet(rows, tmp_path / "b.parquet"), write_jsonl(rows, tmp_path / "j")):
        bench = load_benchmark("blink_object_localization", path)
        assert [len(it.images) for it in bench] == [3, 1, 4]
        for it, row in zip(bench, rows):
            assert all(same_pixels(a, row[f"image_{j + 1}"]) for j, a in enumerate(it.images))
            assert it.prompt_text == row["prompt"] and it.task == "Object_Localization"
        assert [it.answer for it in bench] == [0, 1, 0]
        assert bench[1].id == "blink_object_localization/val_Object_Localization_2"


def test_blink_hub_snapshot_reads_only_its_config_and_split(tmp_path):
    write_parquet(
        blink_rows([1, 2]), tmp_path / "Object_Localization" / "val-00000-of-00001.parquet"
    )
    write_parquet(
        blink_rows([1, 1, 1]), tmp_path / "Object_Localization" / "test-00000-of-00001.parquet"
    )
    write_parquet(blink_rows([4]), tmp_path / "Art_Style" / "val-00000-of-00001.parquet")
    bench = load_benchmark("blink_object_localization", tmp_path)
    assert [len(it.images) for it in bench] == [1, 2]


def test_clevr_answers_become_number_items(tmp_path):
    rows = clevr_rows(["3", 0, "10", "12", "three"])
    with pytest.warns(UserWarning, match="2 rows skipped"):
        bench = load_benchmark("clevr_count", write_jsonl(rows, tmp_path))
    assert [it.answer for it in bench] == [3, 0, 10]
    it = bench[0]
    assert (
        it.kind == "number"
        and it.choices == tuple(str(k) for k in range(11))
        and it.task == "Count"
    )
    assert it.prompt() == NUMBER_PREFIX + "How many items are there in the image?"
    assert same_pixels(it.image, rows[0]["images"][0])
    assert "answer 12 is outside the choices 0..10" in bench.skipped[0].reason
    assert "'three' is not a whole number" in bench.skipped[1].reason
    with pytest.warns(UserWarning, match="1 row skipped: row 4: answer 'three'"):
        wide = load_benchmark("clevr_count", tmp_path / "data.jsonl", max_count=12, tasks=["Count"])
    assert [it.answer for it in wide] == [3, 0, 10, 12] and wide[0].n_choices == 13


def test_clevr_image_folder_puts_the_file_in_images(tmp_path):
    rows = clevr_rows(["2", "5"])
    bench = load_benchmark("clevr_count", write_image_folder(rows, tmp_path, "images"))
    assert [it.answer for it in bench] == [2, 5]
    assert same_pixels(bench[1].image, rows[1]["images"][0])


def test_organism_splits_come_from_held_out_scene_splits():
    train = load_benchmark("organism", split="train", n_per_task=6)
    val = load_benchmark("organism", split="val", n_per_task=6)
    test = load_benchmark("organism", split="test", n_per_task=6)
    assert len(train) == len(test) == 30 and train.tasks == test.tasks
    assert [it.id for it in val] == [it.id for it in train]
    assert {it.metadata["split"] for it in train} == {"val"} and {
        it.metadata["split"] for it in test
    } == {"test"}
    assert all(scene_split(it.metadata["scene"]) == it.metadata["split"] for it in [*train, *test])
    assert not {it.metadata["scene"].key for it in train} & {
        it.metadata["scene"].key for it in test
    }
    assert len({it.id for it in [*train, *test]}) == 60
    shifted = load_benchmark("organism", split="test", n_per_task=2, start=6, tasks=["Count"])
    assert shifted[0].id == "organism/test/Count/6"


def test_tasks_and_limit_select_the_first_items_of_each_task(cv_parquet):
    full = load_benchmark("cvbench", cv_parquet, "train", n_test=2)
    some = load_benchmark(
        "cvbench", cv_parquet, "train", n_test=2, tasks=["Depth", "Count"], limit=2
    )
    assert some.tasks == ["Count", "Depth"]
    assert [it.id for it in some] == [
        it.id for t in ("Count", "Depth") for it in full.by_task()[t][:2]
    ]


def test_benchmark_is_a_sequence_with_a_summary():
    bench = load_benchmark("organism", split="test", n_per_task=2, tasks=["Relation", "Count"])
    assert isinstance(bench, Benchmark) and len(bench) == 4 and list(bench) == bench.items
    assert bench[0] is bench.items[0] and bench[1:3] == bench.items[1:3]
    assert bench.summary() == "organism/test: 4 items (Count 2, Relation 2)"
    assert list(bench.by_task()) == ["Count", "Relation"]


def test_hub_offline_says_so_and_points_at_path(monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"hub is unreachable.*pass path= to a local copy"):
        load_benchmark("cvbench")


def test_hub_rows_are_what_load_dataset_returns(monkeypatch, cv_rows):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake(*args, **kwargs):
        calls.append((args, kwargs))
        return to_dataset(blink_rows([2, 1]) if args[0] == "BLINK-Benchmark/BLINK" else cv_rows)

    monkeypatch.setattr(datasets, "load_dataset", fake)
    bench = load_benchmark("cvbench", split="test", n_test=2)
    assert bench.source == "hub nyu-visionx/CV-Bench" and len(bench) == 8
    blink = load_benchmark("blink_object_localization")
    assert [len(it.images) for it in blink] == [2, 1]
    assert calls == [
        (("nyu-visionx/CV-Bench",), {"split": "test"}),
        (("BLINK-Benchmark/BLINK", "Object_Localization"), {"split": "val"}),
    ]


def test_missing_datasets_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'interp\[data\]'"):
        load_benchmark("clevr_count")


def test_bad_arguments_are_refused_plainly(cv_parquet, tmp_path):
    assert list_benchmarks() == [
        "cvbench",
        "whatsup_a",
        "whatsup_b",
        "blink_object_localization",
        "clevr_count",
        "vsr",
        "vsr_zeroshot",
        "vsr_subset",
        "vsr_zeroshot_subset",
        "organism",  # a plugin's benchmarks come after interp's own
    ]
    with pytest.raises(
        ValueError, match=r"unknown benchmark 'cv-bench': expected one of \['cvbench'"
    ):
        load_benchmark("cv-bench")
    with pytest.raises(
        ValueError, match=r"unknown tasks \['Colour'\] for cvbench: its tasks are \['Count'"
    ):
        load_benchmark("cvbench", cv_parquet, tasks=["Count", "Colour"])
    with pytest.raises(ValueError, match=r"no such file or directory: .*nowhere\.parquet"):
        load_benchmark("cvbench", tmp_path / "nowhere.parquet")
    with pytest.raises(
        ValueError, match=r"unknown split 'dev': expected one of \('train', 'val', 'test', 'all'\)"
    ):
        load_benchmark("cvbench", cv_parquet, "dev")
    with pytest.raises(
        ValueError, match="cvbench has no option 'n_val': its options are n_test=150"
    ):
        load_benchmark("cvbench", cv_parquet, n_val=3)
    with pytest.raises(ValueError, match="n_test=150 leaves no train rows"):
        load_benchmark("cvbench", cv_parquet)
    with pytest.raises(ValueError, match="shuffle must be 'pandas' or 'datasets'"):
        load_benchmark("cvbench", cv_parquet, shuffle="numpy")
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        load_benchmark("organism", limit=0)
    with pytest.raises(ValueError, match=r"organism is generated .* it takes no path"):
        load_benchmark("organism", cv_parquet)
    (tmp_path / "rows.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"cannot read .*rows\.csv: expected a parquet file"):
        load_benchmark("cvbench", tmp_path / "rows.csv")


def test_no_warning_when_nothing_is_skipped(cv_parquet):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_benchmark("cvbench", cv_parquet, "all").skipped == []
