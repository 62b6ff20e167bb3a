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
- ``vsr``, ``vsr_zeroshot``, ``vsr_subset``, ``vsr_zeroshot_subset`` (``cambridgeltl/vsr_random``
  / ``vsr_zeroshot``): a yes/no question about each caption, split as the reference's VSR loader
  does (see ``vsr``).

Splits: ``"test"`` is what results are reported on; ``"train"`` and ``"val"`` both name the split
a layer x strength cell is selected on; ``"all"`` is every row unsplit. The out-of-distribution
sets are reported whole by default; ``n_val=K`` holds out ``K`` rows as their selection split the
way the reference does (scikit-learn's ``train_test_split(test_size=K, random_state=42)``).

The package: ``core`` (splits, ``Skipped``, the lazy row table and the registry), ``readers``
(hub and local tables), ``fields`` (row values to item fields), ``splits`` (the holdout split),
one module per data set (``cvbench``, ``whatsup``, ``blink``, ``clevr``, ``organism``), and here
``load_benchmark``, ``list_benchmarks`` and ``Benchmark``. Every name the single module had is
importable from the package.

Example:
    >>> bench = load_benchmark("organism", split="test", n_per_task=2, tasks=["Count"])
    >>> bench.summary()
    'organism/test: 2 items (Count 2)'
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from interp.evaluation.benchmarks import blink, clevr, cvbench, organism, whatsup
from interp.evaluation.benchmarks import vsr as vsr

# Every name the single module had stays importable here. A patch on one of these re-exports
# reaches only load_benchmark and what is defined in this file (_read_hub, _read_local, ...
# are looked up here); patch a helper in the module that calls it (e.g. fields._image).
from interp.evaluation.benchmarks.blink import _parse_blink as _parse_blink
from interp.evaluation.benchmarks.clevr import _parse_clevr as _parse_clevr
from interp.evaluation.benchmarks.core import _DATA_HINT as _DATA_HINT
from interp.evaluation.benchmarks.core import _LOCAL_FORMATS as _LOCAL_FORMATS
from interp.evaluation.benchmarks.core import _SPECS as _SPECS
from interp.evaluation.benchmarks.core import SPLITS as SPLITS
from interp.evaluation.benchmarks.core import Skipped as Skipped
from interp.evaluation.benchmarks.core import _BadRow as _BadRow
from interp.evaluation.benchmarks.core import _Ctx as _Ctx
from interp.evaluation.benchmarks.core import _Generate as _Generate
from interp.evaluation.benchmarks.core import _Parse as _Parse
from interp.evaluation.benchmarks.core import _Plan as _Plan
from interp.evaluation.benchmarks.core import _register as _register
from interp.evaluation.benchmarks.core import _skip_note as _skip_note
from interp.evaluation.benchmarks.core import _Spec as _Spec
from interp.evaluation.benchmarks.core import _Table as _Table
from interp.evaluation.benchmarks.cvbench import _CVBENCH_TASKS as _CVBENCH_TASKS
from interp.evaluation.benchmarks.cvbench import _parse_cvbench as _parse_cvbench
from interp.evaluation.benchmarks.cvbench import _permutation as _permutation
from interp.evaluation.benchmarks.cvbench import _plan_cvbench as _plan_cvbench
from interp.evaluation.benchmarks.fields import _PLAIN as _PLAIN
from interp.evaluation.benchmarks.fields import _extras as _extras
from interp.evaluation.benchmarks.fields import _image as _image
from interp.evaluation.benchmarks.fields import _letter as _letter
from interp.evaluation.benchmarks.fields import _list as _list
from interp.evaluation.benchmarks.fields import _ref as _ref
from interp.evaluation.benchmarks.fields import _text as _text
from interp.evaluation.benchmarks.fields import _whole as _whole
from interp.evaluation.benchmarks.organism import _generate_organism as _generate_organism
from interp.evaluation.benchmarks.readers import _arrow_table as _arrow_table
from interp.evaluation.benchmarks.readers import _dict_table as _dict_table
from interp.evaluation.benchmarks.readers import _parquet_table as _parquet_table
from interp.evaluation.benchmarks.readers import _pyarrow as _pyarrow
from interp.evaluation.benchmarks.readers import _read_hub as _read_hub
from interp.evaluation.benchmarks.readers import _read_image_folder as _read_image_folder
from interp.evaluation.benchmarks.readers import _read_jsonl as _read_jsonl
from interp.evaluation.benchmarks.readers import _read_local as _read_local
from interp.evaluation.benchmarks.readers import _snapshot_files as _snapshot_files
from interp.evaluation.benchmarks.splits import _plan_holdout as _plan_holdout
from interp.evaluation.benchmarks.whatsup import _WHATSUP_QUESTION as _WHATSUP_QUESTION
from interp.evaluation.benchmarks.whatsup import _parse_whatsup as _parse_whatsup
from interp.evaluation.items import Item

# Registered in this order, which is list_benchmarks()'s.
for _spec in (cvbench.SPEC, *whatsup.SPECS, blink.SPEC, clevr.SPEC, organism.SPEC):
    _register(_spec)
for _spec in vsr.SPECS:  # Visual Spatial Reasoning, after the paper's own sets
    _register(_spec)
del _spec


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
    **options: object,
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
            scenes; "train"/"val" = its val scenes, held out from the MLLM's training); vsr and
            its variants ``n_val=100, seed=42, image_dir=None, download=False``.

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
