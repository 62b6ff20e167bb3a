"""VSR: the reference's prompt, answer and split, its subset variants, images and bad rows."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from bench_files import swatch

from interp.evaluation import list_benchmarks, load_benchmark
from interp.evaluation.benchmarks.vsr import SUBSET_RELATIONS

RELATIONS = ["on top of", "behind", "left of", "under", "touching", "right of"]


def vsr_rows(n: int) -> list[dict]:
    """Rows as the hub's jsonl files hold them: image file name, COCO link, caption, 0/1 label."""
    rows = []
    for k in range(n):
        rel = RELATIONS[k % len(RELATIONS)]
        name = f"{k:012d}.jpg"
        rows.append({
            "image": name,
            "image_link": f"http://images.cocodataset.org/train2017/{name}",
            "caption": f"The cat {k} is {rel} the laptop.",
            "label": k % 2,
            "relation": rel,
            "annotator_id": 7,
            "vote_true_validator_id": [1, 2],
            "vote_false_validator_id": [],
            "subj": "cat",
            "obj": "laptop",
        })
    return rows


def write_vsr(rows: list[dict], folder: Path, images: Path | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    images = images or folder
    images.mkdir(parents=True, exist_ok=True)
    for k, r in enumerate(rows):
        if isinstance(r.get("image"), str):
            swatch(k).save(images / r["image"], format="PNG")
    path = folder / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_registered():
    assert {"vsr", "vsr_zeroshot", "vsr_subset", "vsr_zeroshot_subset"} <= set(list_benchmarks())


def test_prompt_answer_and_fields(tmp_path):
    path = write_vsr(vsr_rows(6), tmp_path)
    bench = load_benchmark("vsr", path=path, split="all")
    assert len(bench) == 6 and not bench.skipped
    first, second = bench[0], bench[1]
    assert first.id == "vsr/1" and first.metadata["idx"] == 1
    assert first.prompt_text == (
        "Does the caption describe the image correctly?\nThe cat 0 is on top of the laptop.\n(A) Yes\n(B) No"
    )
    assert first.choices == ("Yes", "No")
    assert first.answer == 1 and second.answer == 0  # label 0 -> B, label 1 -> A
    assert first.metadata["relation"] == "on top of" and first.metadata["subj"] == "cat"
    assert first.images[0].getpixel((0, 0)) == swatch(0).getpixel((0, 0))


def test_split_is_the_references_train_test_split(tmp_path):
    rows = vsr_rows(20)
    path = write_vsr(rows, tmp_path)
    test = load_benchmark("vsr", path=path, split="test", n_val=5)
    val = load_benchmark("vsr", path=path, split="val", n_val=5)
    assert [it.id for it in load_benchmark("vsr", path=path, split="train", n_val=5)] == [it.id for it in val]
    assert len(test) == 15 and len(val) == 5
    assert not {it.id for it in test} & {it.id for it in val}
    import sklearn.model_selection as sklearn
    df = pd.DataFrame({"idx": range(1, 21)})
    ref_test, ref_val = sklearn.train_test_split(df, test_size=5, random_state=42)
    assert [it.metadata["idx"] for it in test] == list(ref_test["idx"])
    assert [it.metadata["idx"] for it in val] == list(ref_val["idx"])
    # default n_val=100 is more than 20 rows: the reference falls back to 20%
    with pytest.warns(UserWarning, match="20%"):
        assert len(load_benchmark("vsr", path=path, split="val")) == 4
    assert len(load_benchmark("vsr", path=path, split="test", n_val=0)) == 20


def test_subset_keeps_the_eight_relations_before_splitting(tmp_path):
    rows = vsr_rows(24)
    path = write_vsr(rows, tmp_path)
    kept = [k + 1 for k, r in enumerate(rows) if r["relation"] in SUBSET_RELATIONS]
    bench = load_benchmark("vsr_subset", path=path, split="all")
    assert [it.metadata["idx"] for it in bench] == kept
    test = load_benchmark("vsr_subset", path=path, split="test", n_val=4)
    import sklearn.model_selection as sklearn
    ref_test, _ = sklearn.train_test_split(pd.DataFrame({"idx": kept}), test_size=4, random_state=42)
    assert [it.metadata["idx"] for it in test] == list(ref_test["idx"])


def test_images_from_image_dir_and_parquet(tmp_path):
    rows = vsr_rows(4)
    path = write_vsr(rows, tmp_path / "data", images=tmp_path / "coco")
    with pytest.warns(UserWarning, match="4 rows skipped"):
        missing = load_benchmark("vsr", path=path, split="all")  # images are not beside the file
    assert "image_dir" in missing.skipped[0].reason
    bench = load_benchmark("vsr", path=path, split="all", image_dir=tmp_path / "coco")
    assert len(bench) == 4
    pq = tmp_path / "data" / "test.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    assert len(load_benchmark("vsr_zeroshot", path=pq, split="all", image_dir=str(tmp_path / "coco"))) == 4


def test_malformed_rows_are_reported(tmp_path):
    rows = vsr_rows(6)
    rows[1]["label"] = 2
    rows[2]["caption"] = " "
    rows[3]["label"] = None
    path = write_vsr(rows, tmp_path)
    (tmp_path / rows[4]["image"]).unlink()
    with pytest.warns(UserWarning, match="4 rows skipped"):
        bench = load_benchmark("vsr", path=path, split="all")
    reasons = {s.row: s.reason for s in bench.skipped}
    assert reasons[1] == "label 2 is not 0 or 1"
    assert reasons[2] == "missing caption"
    assert reasons[3] == "missing label"
    assert "is not in" in reasons[4]
    assert [it.id for it in bench] == ["vsr/1", "vsr/6"]
    (tmp_path / "bad.jsonl").write_text(json.dumps({"caption": "x", "label": 1}) + "\n")
    with pytest.raises(ValueError, match="missing \\['image'\\]"):
        load_benchmark("vsr", path=tmp_path / "bad.jsonl", split="all")


def test_hub_needs_images_and_downloads_links(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load(*args, split=None):
        calls.append((args, split))
        return datasets.Dataset.from_list(vsr_rows(3))

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    with pytest.raises(ValueError, match=r"image_dir= .* or download=True"):
        load_benchmark("vsr", split="all")

    fetched = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(url, timeout):
        fetched.append(url)
        buf = io.BytesIO()
        swatch(len(fetched)).save(buf, format="PNG")
        return Response(buf.getvalue())

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    bench = load_benchmark("vsr_zeroshot_subset", split="all", download=True)
    assert calls[-1] == (("cambridgeltl/vsr_zeroshot",), "train")
    assert len(bench) == 2  # "behind" is not one of the subset's relations
    assert fetched == [f"http://images.cocodataset.org/train2017/{k:012d}.jpg" for k in (0, 2)]
