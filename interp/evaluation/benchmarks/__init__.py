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
- ``organism`` (registered by the organism plugin, :mod:`interp.organism.benchmark`): items
  generated on the shipped organism's scenes; plugins register benchmarks of their own with
  ``register_benchmark``.
- ``vsr``, ``vsr_zeroshot``, ``vsr_subset``, ``vsr_zeroshot_subset`` (``cambridgeltl/vsr_random``
  / ``vsr_zeroshot``): a yes/no question about each caption, split as the reference's VSR loader
  does (see ``vsr``).

Splits: ``"test"`` is what results are reported on; ``"train"`` and ``"val"`` both name the split
a layer x strength cell is selected on; ``"all"`` is every row unsplit. The out-of-distribution
sets are reported whole by default; ``n_val=K`` holds out ``K`` rows as their selection split the
way the reference does (scikit-learn's ``train_test_split(test_size=K, random_state=42)``).

The package: ``core`` (splits, ``Skipped``, the lazy row table and the registry), ``readers``
(hub and local tables), ``fields`` (row values to item fields), ``splits`` (the holdout split),
one module per data set (``cvbench``, ``whatsup``, ``blink``, ``clevr``, ``vsr``), and here
``load_benchmark``, ``list_benchmarks``, ``concept_tasks`` and ``Benchmark``.

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

from interp.evaluation.benchmarks import blink, clevr, cvbench, vsr, whatsup
from interp.evaluation.benchmarks.core import (
    BENCHMARKS,
    SPLITS,
    BenchmarkSpec,
    Skipped,
    _BadRow,
    _Ctx,
    _skip_note,
    _Table,
    register_benchmark,
)
from interp.evaluation.benchmarks.fields import _ref
from interp.evaluation.benchmarks.readers import _read_hub, _read_local
from interp.items import Item

# Registered in this order, which is list_benchmarks()'s (plugins' benchmarks come after).
for _spec in (cvbench.SPEC, *whatsup.SPECS, blink.SPEC, clevr.SPEC):
    register_benchmark(_spec)
for _spec in vsr.SPECS:  # Visual Spatial Reasoning, after the paper's own sets
    register_benchmark(_spec)
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
    return BENCHMARKS.names()


def benchmark_spec(name: str) -> BenchmarkSpec:
    """The registered spec of benchmark ``name`` (its tasks, options and concept pairing).

    Example:
        >>> benchmark_spec("cvbench").tasks
        ('Count', 'Relation', 'Depth', 'Distance')
    """
    return BENCHMARKS.get(name)


def concept_tasks(name: str) -> dict[str, list[str]]:
    """Concept -> the tasks of benchmark ``name`` a vector of that concept is evaluated on.

    The paper pairs spatial relations with CV-Bench's Relation/Depth/Distance and counting with
    Count; each benchmark declares its own pairing.

    Example:
        >>> concept_tasks("cvbench")["counting"]
        ['Count']
    """
    return {c: list(tasks) for c, tasks in benchmark_spec(name).concept_tasks.items()}


#: Where fresh items start on a generated benchmark: far from the indices its train and test items
#: use, so they are new items with their own ids that played no part in choosing or reporting a cell.
FRESH_START = 10_000


def fresh_items(
    name: str, tasks: Sequence[str], n_per_task: int, *, seed: int = 0, start: int = FRESH_START
) -> list[Item]:
    """``n_per_task`` new items per task of a generated benchmark (a replication set), from ``start``.

    Only a benchmark that makes items (``BenchmarkSpec.makes_fresh_items``, e.g. the organism's)
    has fresh ones; a fixed benchmark's replication set is one of its splits.

    Example:
        >>> [it.id for it in fresh_items("organism", ["Count"], 2)]
        ['organism/test/Count/10000', 'organism/test/Count/10001']
    """
    spec = benchmark_spec(name)
    if not spec.makes_fresh_items:
        raise ValueError(
            f"{name} is a fixed benchmark: it has no fresh items to draw (generated benchmarks that do: "
            f"{[n for n, s in BENCHMARKS.items() if s.makes_fresh_items]}); replicate on one of its splits instead"
        )
    return list(load_benchmark(name, split="test", tasks=list(tasks), n_per_task=n_per_task, seed=seed, start=start))


def _check_options(spec: BenchmarkSpec, options: Mapping[str, Any]) -> dict[str, Any]:
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


def _check_fields(spec: BenchmarkSpec, table: _Table) -> None:
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
    spec = BENCHMARKS.find(name)
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
            raise ValueError(f"{name} is generated ({spec.generator or 'by its plugin'}): it takes no path")
        return Benchmark(name, split, spec.generate(split, chosen, limit, opts), [], spec.generator)

    table = _read_hub(spec) if path is None else _read_local(spec, path)
    _check_fields(spec, table)
    rows, skipped = _parse_rows(spec, table, split, chosen, limit, opts)
    if skipped:
        warnings.warn(
            f"{name}/{split}: {_skip_note(skipped)} (see Benchmark.skipped)", stacklevel=2
        )
    return Benchmark(name, split, rows, skipped, table.where)


def _parse_rows(
    spec: BenchmarkSpec,
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


__all__ = [
    "FRESH_START",
    "SPLITS",
    "Benchmark",
    "BenchmarkSpec",
    "Skipped",
    "benchmark_spec",
    "concept_tasks",
    "fresh_items",
    "list_benchmarks",
    "load_benchmark",
    "register_benchmark",
]
