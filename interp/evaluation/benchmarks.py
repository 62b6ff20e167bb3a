"""Benchmark loaders: every evaluation set of arXiv 2505.14071 read into ``Item`` lists.

``load_benchmark(name, path=None, split="test")`` reads a benchmark from the Hugging Face hub
(through ``datasets``) or from a local copy (parquet, JSONL or an image folder with the hub's
field names) and returns a ``Benchmark``: the items of one split plus every row it had to skip
and why. The splits and prompts follow the paper's reference code (TextSteersVision,
``utils.py``):

- ``cvbench`` (``nyu-visionx/CV-Bench``, hub split ``test``): per task, the rows in file order are
  shuffled as ``pandas.DataFrame.sample(frac=1, random_state=42)`` does (that is
  ``numpy.random.RandomState(42).permutation``); the last ``n_test`` (150) are ``"test"``, the
  rest ``"train"``. ``shuffle="datasets"`` uses ``datasets.Dataset.shuffle(seed=42)``'s order
  (``numpy.random.default_rng(42).permutation``) instead. The row order of a local copy must be
  the hub's for the split to be the paper's. Items keep CV-Bench's own ``prompt``.
- ``whatsup_a`` / ``whatsup_b`` (``ServiceNow/whatsup_controlled_images_{a,b}_inference_test``:
  ``image_options``, ``caption_options``, ``TARGET``): as the reference builds them, row ``i``'s
  four captions are rotated left by ``i % 4`` (the true caption is always first in the data)
  and asked as "Please select the correct caption for the image:" with lettered options.
- ``blink_object_localization`` (``BLINK-Benchmark/BLINK``, config ``Object_Localization``,
  hub split ``val``): BLINK's ``prompt``, every non-empty ``image_1`` .. ``image_4``.
- ``clevr_count`` (``BUAADreamer/clevr_count_70k``, hub split ``test``: ``images``, ``problem``,
  ``answer``): counting items (kind ``"number"``), choices ``"0"`` .. ``"10"``.
- ``organism``: items generated on the shipped organism's scenes (``interp.organism.scenes``):
  ``"test"`` uses its test scenes, ``"train"`` / ``"val"`` its val scenes (its MLLM was trained on
  the train scenes, so a cell is selected on held-out val scenes); ``"all"`` is both.

Splits: ``"test"`` is what results are reported on; ``"train"`` and ``"val"`` both name the split
a layer x strength cell is selected on; ``"all"`` is every row unsplit. The out-of-distribution
sets are reported whole by default; ``n_val=K`` holds out ``K`` rows as their selection split the
way the reference does (scikit-learn's ``train_test_split(test_size=K, random_state=42)``).

Example:
    >>> bench = load_benchmark("organism", split="test", n_per_task=2, tasks=["Count"])
    >>> bench.summary()
    'organism/test: 2 items (Count 2)'
"""

from __future__ import annotations

import ast
import base64
import bisect
import csv
import io
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, overload

import numpy as np
from PIL import Image

from interp.evaluation.items import LETTERS, Item, from_organism

#: Splits every benchmark accepts (``"train"`` and ``"val"`` are the same selection split).
SPLITS = ("train", "val", "test", "all")
_DATA_HINT = "pip install 'interp[data]'"
_LOCAL_FORMATS = "a parquet file, a directory of parquet files, a JSONL file or an image folder"


@dataclass(frozen=True)
class Skipped:
    """A source row that did not become an item.

    Attributes:
        ref: where the row is (``"row 12 (idx 345)"``).
        reason: what was wrong with it.
        row: its 0-based row number in the source, when it has one.
    """

    ref: str
    reason: str
    row: int | None = None


@dataclass(frozen=True)
class Benchmark:
    """One split of a benchmark: its items (a sequence) and the rows skipped as malformed.

    Example:
        >>> bench = load_benchmark("organism", split="val", n_per_task=3, tasks=["Depth", "Count"])
        >>> len(bench), bench.tasks, len(bench.by_task()["Depth"])
        (6, ['Count', 'Depth'], 3)
    """

    name: str
    split: str
    items: list[Item]
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    @overload
    def __getitem__(self, index: int) -> Item: ...
    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...
    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        return self.items[index]

    @property
    def tasks(self) -> list[str]:
        """The tasks present, sorted."""
        return sorted({it.task for it in self.items})

    def by_task(self) -> dict[str, list[Item]]:
        """Items grouped by task, in load order."""
        groups: dict[str, list[Item]] = {}
        for it in self.items:
            groups.setdefault(it.task, []).append(it)
        return groups

    def summary(self) -> str:
        """One line: counts per task and the skipped rows with their reasons."""
        counts = ", ".join(f"{t} {len(its)}" for t, its in self.by_task().items())
        line = f"{self.name}/{self.split}: {len(self.items)} items" + (
            f" ({counts})" if counts else ""
        )
        if self.skipped:
            line += f", {_skip_note(self.skipped)}"
        return line


def _skip_note(skipped: Sequence[Skipped], show: int = 3) -> str:
    n = len(skipped)
    shown = "; ".join(f"{s.ref}: {s.reason}" for s in skipped[:show])
    more = f"; and {n - show} more" if n > show else ""
    return " ".join(f"{n} row{'s' if n != 1 else ''} skipped: {shown}{more}".split())


class _BadRow(Exception):
    """A row that cannot become an item (the message says why)."""


# ---------------------------------------------------------------- sources


@dataclass
class _Table:
    """Rows of a source, read lazily: whole columns for splitting, single rows for items."""

    columns: list[str]
    n_rows: int
    column: Callable[[str], list[Any]]
    row: Callable[[int], dict[str, Any]]
    base_dir: Path | None
    where: str


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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {n} is not valid JSON: {err}") from err
            if not isinstance(row, dict):
                raise ValueError(f"{path} line {n} is not a JSON object: {line.strip()[:80]}")
            rows.append(row)
    return rows


def _read_image_folder(directory: Path, spec: _Spec) -> list[dict[str, Any]]:
    """HF imagefolder layout: ``metadata.jsonl``/``metadata.csv`` whose ``file_name`` column (and
    any ``<field>_file_name`` column) names image files relative to the folder."""
    meta = directory / "metadata.jsonl"
    if meta.exists():
        rows = _read_jsonl(meta)
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


def _snapshot_files(files: list[Path], spec: _Spec, root: Path) -> list[Path]:
    """In a hub snapshot, where configs and splits sit side by side (``Object_Localization/
    val-00000-of-00001.parquet``, ``test_2d.parquet``), the files of the benchmark's config and
    hub split; every file when none are named so."""
    if spec.config:
        files = [f for f in files if spec.config in f.relative_to(root).parts] or files
    if spec.hub_split:
        files = [f for f in files if f.name.startswith(spec.hub_split)] or files
    return files


def _read_local(spec: _Spec, path: str | os.PathLike[str]) -> _Table:
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
        return _dict_table(_read_jsonl(p), p.parent, str(p))
    raise ValueError(f"cannot read {p}: expected {_LOCAL_FORMATS}")


def _read_hub(spec: _Spec) -> _Table:
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


# ---------------------------------------------------------------- fields


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(f"missing {name}")
    return str(value)


def _list(row: Mapping[str, Any], name: str) -> list[str]:
    value = row.get(name)
    if isinstance(value, str):  # CSV cells hold lists as text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError) as err:
                raise _BadRow(f"{name} is not a list: {row.get(name)!r}") from err
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise _BadRow(f"{name} is not a list: {value!r}")
    if len(value) < 2:
        raise _BadRow(f"{name} has {len(value)} entries, a question needs at least 2")
    if any(v is None for v in value):
        raise _BadRow(f"{name} has an empty entry: {value!r}")
    return [str(v) for v in value]


def _letter(row: Mapping[str, Any], n_choices: int) -> int:
    value = row.get("answer")
    if value is None:
        raise _BadRow("missing answer")
    m = re.fullmatch(r"\s*\(?\s*([A-Z])\s*\)?\s*", str(value))
    if m is None:
        raise _BadRow(f"answer {value!r} is not a letter such as '(A)'")
    index = ord(m.group(1)) - ord("A")
    if index >= n_choices:
        raise _BadRow(f"answer {value!r} is not among its {n_choices} choices")
    return index


def _whole(value: Any, name: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    raise _BadRow(f"{name} {value!r} is not a whole number")


def _image(value: Any, name: str, base_dir: Path | None) -> Image.Image:
    """An RGB image from a PIL image, a ``{"bytes", "path"}`` dict (``datasets``' storage),
    raw bytes or a path (relative paths are read from the source's directory)."""
    if value is None or value == "":
        raise _BadRow(f"missing {name}")

    def resolve(p: Any) -> Path:
        p = Path(p)
        return p if p.is_absolute() or base_dir is None else base_dir / p

    try:
        if isinstance(value, Image.Image):
            img = value
        elif isinstance(value, Mapping):
            data, p = value.get("bytes"), value.get("path")
            if data:
                data = base64.b64decode(data) if isinstance(data, str) else bytes(data)
                img = Image.open(io.BytesIO(data))
            elif p:
                img = Image.open(resolve(p))
            else:
                raise _BadRow(f"{name} has neither bytes nor a path")
        elif isinstance(value, (bytes, bytearray)):
            img = Image.open(io.BytesIO(value))
        elif isinstance(value, (str, os.PathLike)):
            img = Image.open(resolve(value))
        else:
            raise _BadRow(f"{name} is a {type(value).__name__}, not an image, bytes or a path")
        img.load()
        return img.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise _BadRow(f"unreadable image in {name}: {err}") from err


_PLAIN = (str, int, float, bool, type(None))


def _extras(row: Mapping[str, Any], spec: _Spec, used: Sequence[str]) -> dict[str, Any]:
    """The row's other plain fields (strings, numbers, lists of them) for ``Item.metadata``."""
    skip = set(used) | set(spec.image_fields)
    out = {}
    for k, v in row.items():
        if k in skip:
            continue
        if isinstance(v, _PLAIN) or (isinstance(v, list) and all(isinstance(e, _PLAIN) for e in v)):
            out[k] = v
    return out


def _ref(row: Mapping[str, Any], i: int) -> str:
    idx = row.get("idx")
    return f"row {i}" + (f" (idx {idx})" if idx is not None else "")


# ---------------------------------------------------------------- benchmarks


@dataclass(frozen=True)
class _Ctx:
    spec: _Spec
    split: str
    options: Mapping[str, Any]
    base_dir: Path | None


@dataclass(frozen=True)
class _Spec:
    """A registered benchmark: where it lives, its fields, tasks, options and row parser."""

    name: str
    tasks: tuple[str, ...]
    options: Mapping[str, Any]
    hub: str | None = None
    config: str | None = None
    hub_split: str | None = None
    required: tuple[str, ...] = ()
    image_fields: tuple[str, ...] = ()
    list_image_fields: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    parse: _Parse | None = None
    plan: _Plan | None = None
    generate: _Generate | None = None


# parse(row, row number, ctx) -> Item; plan(table, split, tasks, options) -> (rows per task,
# rows skipped before parsing); generate(split, tasks, limit, options) -> items
_Parse = Callable[[dict[str, Any], int, _Ctx], Item]
_Plan = Callable[
    [_Table, str, Sequence[str], Mapping[str, Any]], tuple[dict[str, list[int]], list[Skipped]]
]
_Generate = Callable[[str, Sequence[str], int | None, Mapping[str, Any]], list[Item]]


_SPECS: dict[str, _Spec] = {}


def _register(spec: _Spec) -> None:
    if spec.name in _SPECS:
        raise ValueError(f"benchmark {spec.name!r} is already registered")
    _SPECS[spec.name] = spec


_CVBENCH_TASKS = ("Count", "Relation", "Depth", "Distance")


def _permutation(n: int, seed: int, shuffle: str) -> list[int]:
    if shuffle == "pandas":  # DataFrame.sample(frac=1, random_state=seed), the reference's
        return np.random.RandomState(seed).permutation(n).tolist()
    return np.random.default_rng(seed).permutation(n).tolist()  # datasets.Dataset.shuffle(seed)


def _plan_cvbench(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any]
) -> tuple[dict[str, list[int]], list[Skipped]]:
    """Rows per task: each task's rows in file order, shuffled, the last ``n_test`` are test."""
    known = {t.lower(): t for t in _CVBENCH_TASKS}
    rows: dict[str, list[int]] = {t: [] for t in known.values()}
    bad = []
    for i, t in enumerate(table.column("task")):
        name = known.get(str(t).lower()) if t is not None else None
        if name is None:
            bad.append(Skipped(f"row {i}", f"task {t!r} is not one of {tuple(known.values())}", i))
        else:
            rows[name].append(i)
    n_test, seed, shuffle = options["n_test"], options["seed"], options["shuffle"]
    plan = {}
    for t in tasks:
        if split == "all" or not rows[t]:
            plan[t] = rows[t]
            continue
        if n_test >= len(rows[t]):
            raise ValueError(
                f"cvbench task {t} has {len(rows[t])} rows: n_test={n_test} leaves no train rows; "
                f"pass a smaller n_test"
            )
        order = [rows[t][j] for j in _permutation(len(rows[t]), seed, shuffle)]
        plan[t] = order[-n_test:] if split == "test" else order[:-n_test]
    return plan, bad


def _plan_holdout(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any]
) -> tuple[dict[str, list[int]], list[Skipped]]:
    """One task; with ``n_val`` > 0 the reference's ``train_test_split``: val = perm[:n_val]."""
    n, n_val = table.n_rows, options["n_val"]
    rows = list(range(n))
    if split == "all" or (split == "test" and n_val == 0):
        chosen = rows
    elif n_val == 0:
        raise ValueError(
            f"split {split!r} needs n_val: by default the whole set is the test split; "
            "pass n_val=K to hold out K rows as the selection split ('train'/'val'), "
            "as the reference code does"
        )
    elif n_val >= n:
        raise ValueError(f"n_val={n_val} leaves no test rows: the source has {n} rows")
    else:
        perm = np.random.RandomState(options["seed"]).permutation(n).tolist()
        chosen = perm[n_val:] if split == "test" else perm[:n_val]
    return {t: chosen for t in tasks}, []


def _parse_cvbench(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    if row.get("idx") is None:
        raise _BadRow("missing idx")
    choices = _list(row, "choices")
    image_field = "image" if row.get("image") is not None or "filename" not in row else "filename"
    task = {t.lower(): t for t in _CVBENCH_TASKS}[str(row["task"]).lower()]
    return Item(
        id=f"cvbench/{task}/{row['idx']}",
        images=(_image(row.get(image_field), image_field, ctx.base_dir),),
        question=_text(row, "question"),
        choices=tuple(choices),
        answer=_letter(row, len(choices)),
        task=task,
        source="cvbench",
        prompt_text=row.get("prompt") or None,
        metadata={
            **_extras(
                row,
                ctx.spec,
                ("idx", "task", "question", "choices", "answer", "prompt", image_field),
            ),
            "row": i,
            "split": ctx.split,
        },
    )


_WHATSUP_QUESTION = "Please select the correct caption for the image:"


def _parse_whatsup(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    captions = _list(row, "caption_options")
    value = row.get("TARGET")
    if value is None:
        raise _BadRow("missing TARGET")
    target = _whole(value, "TARGET")
    if target >= len(captions):
        raise _BadRow(f"TARGET {target} is not among its {len(captions)} captions")
    shift = i % len(captions)  # the reference rotates row i's captions left by i % n
    choices = captions[shift:] + captions[:shift]
    raw = row.get("image_options")
    images = raw if isinstance(raw, list) else [raw]
    if not images:
        raise _BadRow("missing image_options")
    opts = "\n".join(f"({LETTERS[j]}) {c}" for j, c in enumerate(choices))
    return Item(
        id=f"{ctx.spec.name}/{i}",
        images=tuple(_image(v, "image_options", ctx.base_dir) for v in images),
        question=_WHATSUP_QUESTION,
        choices=tuple(choices),
        answer=(target - shift) % len(captions),
        task="Relation",
        source=ctx.spec.name,
        prompt_text=f"{_WHATSUP_QUESTION}\n{opts}",
        metadata={
            **_extras(row, ctx.spec, ("caption_options", "TARGET")),
            "row": i,
            "split": ctx.split,
            "target_caption": captions[target],
        },
    )


def _parse_blink(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    if row.get("idx") is None:
        raise _BadRow("missing idx")
    choices = _list(row, "choices")
    present = [f for f in ctx.spec.image_fields if row.get(f) not in (None, "")]
    if "image_1" not in present:
        raise _BadRow("missing image_1")
    return Item(
        id=f"{ctx.spec.name}/{row['idx']}",
        images=tuple(_image(row[f], f, ctx.base_dir) for f in present),
        question=_text(row, "question"),
        choices=tuple(choices),
        answer=_letter(row, len(choices)),
        task="Object_Localization",
        source=ctx.spec.name,
        prompt_text=row.get("prompt") or None,
        metadata={
            **_extras(row, ctx.spec, ("idx", "question", "choices", "answer", "prompt")),
            "row": i,
            "split": ctx.split,
        },
    )


def _parse_clevr(row: dict[str, Any], i: int, ctx: _Ctx) -> Item:
    raw = row.get("images")
    images = raw if isinstance(raw, list) else ([] if raw is None else [raw])
    if not images:
        raise _BadRow("missing images")
    question = _text(row, "problem").replace("<image>", "").strip()
    if row.get("answer") is None:
        raise _BadRow("missing answer")
    count, top = _whole(row["answer"], "answer"), ctx.options["max_count"]
    if count > top:
        raise _BadRow(f"answer {count} is outside the choices 0..{top} (raise max_count)")
    return Item(
        id=f"{ctx.spec.name}/{i}",
        images=tuple(_image(v, "images", ctx.base_dir) for v in images),
        question=question,
        choices=tuple(str(k) for k in range(top + 1)),
        answer=count,
        task="Count",
        source=ctx.spec.name,
        kind="number",
        metadata={**_extras(row, ctx.spec, ("problem", "answer")), "row": i, "split": ctx.split},
    )


def _generate_organism(
    split: str, tasks: Sequence[str], limit: int | None, options: Mapping[str, Any]
) -> list[Item]:
    from interp.organism.scenes import make_item

    n = options["n_per_task"] if limit is None else min(options["n_per_task"], limit)
    scene_splits = {"test": ["test"], "train": ["val"], "val": ["val"], "all": ["val", "test"]}[
        split
    ]
    return [
        from_organism(make_item(s, t, options["start"] + i, options["seed"]))
        for t in tasks
        for s in scene_splits
        for i in range(n)
    ]


_register(
    _Spec(
        name="cvbench",
        tasks=_CVBENCH_TASKS,
        options={"n_test": 150, "seed": 42, "shuffle": "pandas"},
        hub="nyu-visionx/CV-Bench",
        hub_split="test",
        required=("idx", "task", "image", "question", "choices", "answer"),
        image_fields=("image",),
        aliases={"image": "filename"},
        parse=_parse_cvbench,
        plan=_plan_cvbench,
    )
)
for _part in ("a", "b"):
    _register(
        _Spec(
            name=f"whatsup_{_part}",
            tasks=("Relation",),
            options={"n_val": 0, "seed": 42},
            hub=f"ServiceNow/whatsup_controlled_images_{_part}_inference_test",
            hub_split=f"Controlled_Images_{_part.upper()}",
            required=("image_options", "caption_options", "TARGET"),
            image_fields=("image_options",),
            parse=_parse_whatsup,
            plan=_plan_holdout,
        )
    )
_register(
    _Spec(
        name="blink_object_localization",
        tasks=("Object_Localization",),
        options={"n_val": 0, "seed": 42},
        hub="BLINK-Benchmark/BLINK",
        config="Object_Localization",
        hub_split="val",
        required=("idx", "question", "image_1", "choices", "answer"),
        image_fields=("image_1", "image_2", "image_3", "image_4"),
        parse=_parse_blink,
        plan=_plan_holdout,
    )
)
_register(
    _Spec(
        name="clevr_count",
        tasks=("Count",),
        options={"n_val": 0, "seed": 42, "max_count": 10},
        hub="BUAADreamer/clevr_count_70k",
        hub_split="test",
        required=("images", "problem", "answer"),
        image_fields=("images",),
        list_image_fields=("images",),
        parse=_parse_clevr,
        plan=_plan_holdout,
    )
)
_register(
    _Spec(
        name="organism",
        tasks=("Count", "Relation", "Depth", "Distance", "Attribute"),
        options={"n_per_task": 150, "seed": 0, "start": 0},
        generate=_generate_organism,
    )
)


def list_benchmarks() -> list[str]:
    """Names ``load_benchmark`` knows.

    Example:
        >>> "cvbench" in list_benchmarks()
        True
    """
    return list(_SPECS)


def _check_options(spec: _Spec, options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(
            f"{spec.name} has no option {', '.join(map(repr, unknown))}: its options are "
            f"{', '.join(f'{k}={v!r}' for k, v in spec.options.items())}"
        )
    merged = {**spec.options, **options}
    floors = {"n_test": 1, "n_val": 0, "max_count": 1, "n_per_task": 0, "start": 0, "seed": 0}
    for k, v in merged.items():
        if k in floors and (isinstance(v, bool) or not isinstance(v, int) or v < floors[k]):
            raise ValueError(f"{spec.name}: {k} must be an integer >= {floors[k]}, got {v!r}")
    if merged.get("shuffle", "pandas") not in ("pandas", "datasets"):
        raise ValueError(
            f"{spec.name}: shuffle must be 'pandas' or 'datasets', got {merged['shuffle']!r}"
        )
    return merged


def _check_fields(spec: _Spec, table: _Table) -> None:
    have = set(table.columns)
    missing = [f for f in spec.required if f not in have and spec.aliases.get(f) not in have]
    if missing:
        raise ValueError(
            f"{table.where} lacks the fields {spec.name} needs: missing {missing}; "
            f"it has {sorted(have)}"
        )


def load_benchmark(
    name: str,
    path: str | os.PathLike[str] | None = None,
    split: str = "test",
    *,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    **options: Any,
) -> Benchmark:
    """Load one split of a benchmark as ``Item`` s.

    Args:
        name: one of ``list_benchmarks()``.
        path: a local copy (a parquet file, a directory of parquet files, a JSONL file whose image
            fields are paths relative to it, or an HF image folder) with the hub's field names;
            ``None`` reads the hub through ``datasets``. The organism is generated: no path.
        split: ``"test"`` (reported), ``"train"`` / ``"val"`` (the selection split), ``"all"``.
        tasks: keep only these tasks (default: all of the benchmark's).
        limit: keep the first ``limit`` items of each task after the split.
        **options: per benchmark: cvbench ``n_test=150, seed=42, shuffle="pandas"``; whatsup_a/b
            and blink_object_localization ``n_val=0, seed=42``; clevr_count ``n_val=0, seed=42,
            max_count=10``; organism ``n_per_task=150, seed=0, start=0`` ("test" = organism test
            scenes; "train"/"val" = its val scenes, held out from the MLLM's training).

    Rows that cannot become items (no answer, an answer outside the choices, an unreadable image,
    ...) are skipped, listed in ``Benchmark.skipped`` with their reason, and warned about.

    Example:
        >>> bench = load_benchmark("organism", split="test", tasks=["Relation"], limit=4)
        >>> len(bench), bench[0].task, bench[0].id
        (4, 'Relation', 'organism/test/Relation/0')
    """
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown benchmark {name!r}: expected one of {list_benchmarks()}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {SPLITS}")
    opts = _check_options(spec, options)
    if tasks is None:
        chosen = list(spec.tasks)
    else:
        if isinstance(tasks, str):
            tasks = [tasks]
        if not tasks:
            raise ValueError(
                f"tasks is empty: pass None for all of {name}'s tasks {list(spec.tasks)}"
            )
        unknown = [t for t in tasks if t not in spec.tasks]
        if unknown:
            raise ValueError(
                f"unknown tasks {unknown} for {name}: its tasks are {list(spec.tasks)}"
            )
        chosen = [t for t in spec.tasks if t in tasks]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")

    if spec.generate is not None:
        if path is not None:
            raise ValueError(
                f"{name} is generated from the shipped organism's scenes: it takes no path"
            )
        return Benchmark(
            name, split, spec.generate(split, chosen, limit, opts), [], "interp.organism.scenes"
        )

    table = _read_hub(spec) if path is None else _read_local(spec, path)
    _check_fields(spec, table)
    rows, skipped = _parse_rows(spec, table, split, chosen, limit, opts)
    if skipped:
        warnings.warn(
            f"{name}/{split}: {_skip_note(skipped)} (see Benchmark.skipped)", stacklevel=2
        )
    return Benchmark(name, split, rows, skipped, table.where)


def _parse_rows(
    spec: _Spec,
    table: _Table,
    split: str,
    tasks: Sequence[str],
    limit: int | None,
    options: Mapping[str, Any],
) -> tuple[list[Item], list[Skipped]]:
    """Items of the split's rows, task by task, up to ``limit`` each; bad rows are skipped."""
    assert spec.plan is not None and spec.parse is not None
    plan, skipped = spec.plan(table, split, tasks, options)
    ctx = _Ctx(spec, split, options, table.base_dir)
    items: list[Item] = []
    seen: set[str] = set()
    for rows in plan.values():
        kept = 0
        for i in rows:
            if limit is not None and kept >= limit:
                break
            row = table.row(i)
            try:
                item = spec.parse(row, i, ctx)
                if item.id in seen:
                    raise _BadRow(f"duplicate id {item.id!r}")
            except (_BadRow, ValueError) as err:
                skipped.append(Skipped(_ref(row, i), str(err), i))
                continue
            seen.add(item.id)
            items.append(item)
            kept += 1
    return items, skipped


__all__ = ["SPLITS", "Benchmark", "Skipped", "list_benchmarks", "load_benchmark"]
