"""Visual Spatial Reasoning (Liu, Emerson and Collier, TACL 2023, arXiv 2205.00363).

The hub sets ``cambridgeltl/vsr_random`` and ``cambridgeltl/vsr_zeroshot`` hold one caption
per row about a COCO image: ``image`` (the COCO file name), ``image_link`` (its URL),
``caption``, ``label`` (1 if the caption is true of the image, 0 if not), ``relation``,
``subj`` and ``obj``. As the paper's reference code builds it (TextSteersVision ``utils.py``,
its VSR loader):

- each row is asked as "Does the caption describe the image correctly?", the caption, then
  "(A) Yes" and "(B) No"; the answer is A when ``label`` is 1;
- ``vsr`` / ``vsr_zeroshot`` read the hub split ``test``; ``vsr_subset`` /
  ``vsr_zeroshot_subset`` read the hub split ``train`` keeping only the eight relations
  ``SUBSET_RELATIONS`` (its ``random_subset`` / ``zeroshot_subset``);
- the split is scikit-learn's ``train_test_split(test_size=n_val, random_state=seed)`` over the
  rows kept: the held-out ``n_val`` rows (100 by default, the loader's default; the reference's
  ``eval.py`` passes its ``--test_size``, 150 by default) are the selection split
  (``"train"``/``"val"``), the rest ``"test"``; when ``n_val`` is not below the number of rows,
  20% of them are held out instead, as the reference does; ``n_val=0`` reports the whole set;
- an item's id ends with the reference's ``idx``: the row's position in the hub split plus one.

Images: VSR ships links, not pixels. An ``image`` that names a file is read from ``image_dir``
(a folder of the COCO images) or else the local copy's folder; an embedded image (PIL, bytes,
``{"bytes", "path"}``) is used as is. With ``download=True`` a file that is not there is fetched
from ``image_link``, as the reference does; from the hub without ``image_dir`` or ``download``
the load is refused before any row is read.

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("vsr", path="data/vsr_random/test.jsonl", image_dir="data/coco")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import urllib.request
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from interp.evaluation.benchmarks.core import BenchmarkSpec, Skipped, _BadRow, _Ctx, _Table
from interp.evaluation.benchmarks.fields import _extras, _image, _text, _whole
from interp.items import Item

#: The question the reference asks before each caption.
VSR_QUESTION = "Does the caption describe the image correctly?"
#: The relations the reference's ``*_subset`` variants keep (from the hub's ``train`` split).
SUBSET_RELATIONS = (
    "on top of", "above", "at the left side of", "at the right side of", "left of", "right of",
    "under", "below",
)
_CHOICES = ("Yes", "No")
_DOWNLOAD_TIMEOUT = 30.0


def _plan_vsr(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any], subset: bool = False
) -> tuple[dict[str, list[int]], list[Skipped]]:
    """Rows kept (the relation subset for ``*_subset``), then the reference's holdout split."""
    if table.base_dir is None and options["image_dir"] is None and not options["download"]:
        raise ValueError(
            "VSR on the hub holds image links, not images: pass image_dir= (a folder of the COCO "
            "images its 'image' field names) or download=True (fetch each 'image_link')"
        )
    bad: list[Skipped] = []
    if subset:
        relations = table.column("relation")
        rows = []
        for i, r in enumerate(relations):
            if r is None:
                bad.append(Skipped(f"row {i} (idx {i + 1})", "missing relation", i))
            elif r in SUBSET_RELATIONS:
                rows.append(i)
    else:
        rows = list(range(table.n_rows))
    n, n_val = len(rows), options["n_val"]
    if split == "all" or (split == "test" and n_val == 0):
        chosen = rows
    elif n_val == 0:
        raise ValueError(
            f"split {split!r} needs n_val > 0: n_val=0 reports the whole set as 'test'"
        )
    else:
        if n_val >= n:
            held = int(n * 0.2)  # the reference's fallback
            warnings.warn(
                f"VSR: n_val={n_val} is not below the {n} rows kept; holding out 20% ({held}) "
                "as the reference does",
                stacklevel=4,
            )
            n_val = held
        perm = np.random.RandomState(options["seed"]).permutation(n).tolist()  # train_test_split's
        chosen = [rows[j] for j in (perm[n_val:] if split == "test" else perm[:n_val])]
    return {t: chosen for t in tasks}, bad


def _plan_vsr_subset(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any]
) -> tuple[dict[str, list[int]], list[Skipped]]:
    return _plan_vsr(table, split, tasks, options, subset=True)


def _fetch(url: str) -> Image.Image:
    try:
        with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT) as resp:
            data = resp.read()
        img = Image.open(io.BytesIO(data))
        img.load()
        return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise _BadRow(f"cannot download image_link {url}: {err}") from err


def _vsr_image(row: Mapping[str, Any], ctx: _Ctx) -> Image.Image:
    value = row.get("image")
    link = row.get("image_link")
    folder = ctx.options["image_dir"]
    base = Path(folder).expanduser() if folder is not None else ctx.base_dir
    if isinstance(value, str) and value:
        path = Path(value) if Path(value).is_absolute() or base is None else base / value
        if path.is_file() or not ctx.options["download"]:
            if not path.is_file():
                raise _BadRow(
                    f"image {value!r} is not in {base if base is not None else 'any folder'}: pass "
                    "image_dir= (the COCO images) or download=True"
                )
            return _image(str(path), "image", None)
    elif value not in (None, ""):
        return _image(value, "image", base)  # embedded: PIL, bytes or {"bytes", "path"}
    if not isinstance(link, str) or not link:
        raise _BadRow("missing image and image_link")
    if not ctx.options["download"]:
        return _image(link, "image_link", base)  # a local path in image_link
    if not link.startswith(("http://", "https://")):
        raise _BadRow(f"image_link {link!r} is not an http(s) URL")
    return _fetch(link)


def _parse_vsr(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    caption = _text(row, "caption").strip()
    value = row.get("label")
    if value is None:
        raise _BadRow("missing label")
    label = _whole(value, "label")
    if label not in (0, 1):
        raise _BadRow(f"label {value!r} is not 0 or 1")
    image = _vsr_image(row, ctx)
    question = f"{VSR_QUESTION}\n{caption}"
    return Item(
        id=f"{ctx.spec.name}/{i + 1}",
        images=(image,),
        question=question,
        choices=_CHOICES,
        answer=0 if label == 1 else 1,
        task="Relation",
        source=ctx.spec.name,
        prompt_text=f"{question}\n(A) Yes\n(B) No",
        metadata={
            **_extras(row, ctx.spec, ("caption", "label")),
            "idx": i + 1,
            "row": i,
            "split": ctx.split,
        },
    )


def _spec(name: str, hub: str, hub_split: str, subset: bool) -> BenchmarkSpec:
    return BenchmarkSpec(
        name=name,
        tasks=("Relation",),
        options={"n_val": 100, "seed": 42, "image_dir": None, "download": False},
        concept_tasks={"spatial_relationship": ("Relation",)},
        hub=hub,
        hub_split=hub_split,
        required=("caption", "label", "image") + (("relation",) if subset else ()),
        image_fields=("image",),
        aliases={"image": "image_link"},
        parse=_parse_vsr,
        plan=_plan_vsr_subset if subset else _plan_vsr,
    )


#: vsr, vsr_zeroshot, vsr_subset, vsr_zeroshot_subset (the reference's random, zeroshot,
#: random_subset and zeroshot_subset), in that order.
SPECS = (
    _spec("vsr", "cambridgeltl/vsr_random", "test", False),
    _spec("vsr_zeroshot", "cambridgeltl/vsr_zeroshot", "test", False),
    _spec("vsr_subset", "cambridgeltl/vsr_random", "train", True),
    _spec("vsr_zeroshot_subset", "cambridgeltl/vsr_zeroshot", "train", True),
)

__all__ = ["SPECS", "SUBSET_RELATIONS", "VSR_QUESTION"]
