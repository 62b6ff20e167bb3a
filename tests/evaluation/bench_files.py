"""Small benchmark files with the hub sets' real field names, written the ways users keep them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image

LETTERS = "ABCD"


def swatch(k: int, mode: str = "RGB") -> Image.Image:
    """An 8 x 8 image whose colour encodes ``k`` (so a test can tell images apart)."""
    img = Image.new("RGB", (8, 8), ((37 * k) % 256, (91 * k + 20) % 256, (53 * k + 40) % 256))
    return img.convert(mode)


def cvbench_rows(counts: dict[str, int]) -> list[dict[str, Any]]:
    """CV-Bench rows (``idx, type, task, image, question, choices, answer, prompt, ...``), tasks
    interleaved as in a real file, ``idx`` counting up."""
    rows: list[dict[str, Any]] = []
    left = dict(counts)
    while any(left.values()):
        for task in counts:
            if left[task]:
                left[task] -= 1
                k = len(rows)
                choices = (
                    ["left", "right"] if task == "Relation" else [str(c) for c in range(k % 3 + 2)]
                )
                question = f"Question {k} about {task}?"
                rows.append(
                    {
                        "idx": k,
                        "type": "2D" if task in ("Count", "Relation") else "3D",
                        "task": task,
                        "image": swatch(k),
                        "question": question,
                        "choices": choices,
                        "answer": f"({LETTERS[k % len(choices)]})",
                        "prompt": question
                        + " Select from the following choices.\n"
                        + "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices)),
                        "filename": f"img/{task}/{k}.png",
                        "source": "ADE20K",
                        "bbox": [1, 2, 3, 4],
                    }
                )
    return rows


def whatsup_rows(n: int) -> list[dict[str, Any]]:
    """What'sUp controlled-image rows: ``image_options``, ``caption_options`` (true one first),
    ``TARGET`` (always 0 in the real sets)."""
    rel = ["on", "under", "left of", "right of"]
    return [
        {
            "image_options": swatch(k),
            "caption_options": [f"A mug {r} a table ({k})" for r in rel[k % 4 :] + rel[: k % 4]],
            "TARGET": 0,
        }
        for k in range(n)
    ]


def blink_rows(n_images: list[int]) -> list[dict[str, Any]]:
    """BLINK Object_Localization rows; row ``k`` has ``n_images[k]`` of ``image_1..image_4``."""
    rows = []
    for k, m in enumerate(n_images):
        row: dict[str, Any] = {
            "idx": f"val_Object_Localization_{k + 1}",
            "question": "Which bounding box more accurately localizes the car?",
            "sub_task": "Object_Localization",
            "choices": ["Box A", "Box B"],
            "answer": "(B)" if k % 2 else "(A)",
            "prompt": "Which bounding box more accurately localizes the car?\n"
            "Select from the following choices.\n(A) Box A\n(B) Box B",
            "explanation": "",
        }
        for j in range(1, 5):
            row[f"image_{j}"] = swatch(10 * k + j) if j <= m else None
        rows.append(row)
    return rows


def clevr_rows(answers: list[Any]) -> list[dict[str, Any]]:
    """clevr_count_70k rows: ``images`` (a list), ``problem`` (with ``<image>``), ``answer``."""
    return [
        {
            "images": [swatch(k)],
            "problem": "<image>How many items are there in the image?",
            "answer": a,
        }
        for k, a in enumerate(answers)
    ]


def to_dataset(rows: list[dict[str, Any]]) -> Any:
    """A ``datasets.Dataset`` of the rows, images as ``datasets.Image`` features (as on the hub)."""
    import datasets

    return datasets.Dataset.from_list(rows)


def write_parquet(rows: list[dict[str, Any]], path: Path) -> Path:
    """The rows as ``datasets`` writes parquet (images as ``{"bytes", "path"}`` structs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    to_dataset(rows).to_parquet(str(path))
    return path


def _save(img: Image.Image, directory: Path, name: str) -> str:
    (directory / "images").mkdir(parents=True, exist_ok=True)
    img.save(directory / "images" / name)
    return f"images/{name}"


def _jsonable(rows: list[dict[str, Any]], directory: Path) -> list[dict[str, Any]]:
    out = []
    for k, row in enumerate(rows):
        r = {}
        for key, v in row.items():
            if isinstance(v, Image.Image):
                r[key] = _save(v, directory, f"{k}_{key}.png")
            elif isinstance(v, list) and v and isinstance(v[0], Image.Image):
                r[key] = [_save(e, directory, f"{k}_{key}_{j}.png") for j, e in enumerate(v)]
            else:
                r[key] = v
        out.append(r)
    return out


def write_jsonl(rows: list[dict[str, Any]], directory: Path, name: str = "data.jsonl") -> Path:
    """The rows as JSONL, each image saved as a PNG and named by its path relative to the file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("".join(json.dumps(r) + "\n" for r in _jsonable(rows, directory)))
    return path


def write_image_folder(
    rows: list[dict[str, Any]], directory: Path, image_field: str, csv: bool = False
) -> Path:
    """HF imagefolder layout: images beside ``metadata.jsonl`` (or ``.csv``), ``file_name`` naming
    each row's ``image_field`` image."""
    directory.mkdir(parents=True, exist_ok=True)
    meta = []
    for k, row in enumerate(rows):
        img = row[image_field][0] if isinstance(row[image_field], list) else row[image_field]
        img.save(directory / f"{k}.png")
        r = {key: v for key, v in row.items() if key != image_field}
        meta.append({"file_name": f"{k}.png", **r})
    if csv:
        import pandas as pd

        frame = pd.DataFrame(
            [{k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in meta]
        )
        frame.to_csv(directory / "metadata.csv", index=False)
    else:
        (directory / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in meta))
    return directory
