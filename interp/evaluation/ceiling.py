"""The ceiling of one vector at a sweep's chosen cells: textual gain as a fraction of a learned one.

A textual vector's test gain at its chosen cell (layer, token set) says how much text found; the
ceiling says how much one additive vector there could have done at all. ``ceiling`` trains, per
chosen cell, a vector by gradient on the task's labelled *train* items
(``interp.vectors.learned_vector``: Subramani et al. 2022, arXiv 2205.05124; ReFT, Wu et al.
2024, arXiv 2404.03592, train interventions on the residual stream the same way), scores it on the
very test items the sweep's table reports, and sets the two side by side:

- ``learned_gain``: the learned vector's test gain over the unsteered model, with the paired
  bootstrap 95% CI and exact McNemar p (``interp.stats.paired_difference``, as the table's gain).
- ``textual_fraction`` = textual gain / learned gain, with a paired bootstrap interval over items
  (``gain_fraction``: items resampled once for all three conditions). The rule where the ratio
  means nothing: a learned gain <= 0 gives NaN and a reason (the ceiling is not above unsteered,
  so there is nothing to be a fraction of); where more than (1 - level) / 2 of the resamples have
  a learned gain <= 0 the data cannot bound the ratio (Fieller's unbounded case) and the interval
  is (-inf, +inf), with a reason; otherwise those few resamples are left out and the interval is
  the percentile interval of the rest.
- ``learned_cosine``: the cosine between the learned vector and the textual vector at the layer
  (``learned_edit_cosine``: with the textual vector's sign as added, i.e. times the sign of alpha).

One learned vector per (task, layer, selector) is trained and shared by every textual vector
chosen at that cell; pass a dict as ``learned`` to keep them (and to reuse them in a later call).
Where the unsteered model is right on every test item of a task no vector can gain, so the
fraction is NaN whatever is learned: such cells are not trained unless ``train_at_top=True``.

Example:
    >>> res = sweep(mllm, vs, layers, strengths, train=train, test=test, store=db)   # doctest: +SKIP
    >>> ceil = ceiling(mllm, res, vs, train, test, store=db)                         # doctest: +SKIP
    >>> ceil[["vector", "task", "textual_gain", "learned_gain", "textual_fraction"]]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from interp.args import as_bool, as_float, as_int
from interp.boundary import DIGEST_COLUMN, MODEL_COLUMN, check_prompts, check_vectors
from interp.evaluation.cells import Cell, _keyed
from interp.evaluation.controls import (
    _as_dict,
    _inputs,
    _run,
    _steered_cell,
    _unsteered,
    check_unused,
)
from interp.evaluation.scoring import check_items
from interp.evaluation.store import opened
from interp.evaluation.tables import CELL_COLUMNS, SweepResult
from interp.items import Item
from interp.models.traced import MLLM
from interp.progress import Progress
from interp.stats import check_level, check_n_boot, paired_difference
from interp.tokens import dead_cell
from interp.vectors.learned import Training, items_digest, learned_vector, min_items
from interp.vectors.vector import SteeringVector

if TYPE_CHECKING:
    from interp.evaluation.store import ResultStore
    from interp.items import ItemsLike
    from interp.types import DataFrame, PathLike

#: A learned vector's cell: (task, layer, selector).
CellKey = tuple[str, int, str]

#: Why a fraction is NaN or its interval unbounded (``textual_fraction_reason``).
NO_CEILING = "learned gain <= 0 on test: the ceiling is not above unsteered, so there is nothing to be a fraction of"
AT_TOP = "unsteered is already right on every test item: no vector can gain here"
UNBOUNDED = ("the learned gain is <= 0 in more than (1 - level) / 2 of the bootstrap resamples: "
             "the data cannot bound the fraction, its interval is (-inf, +inf)")

#: The columns ``ceiling`` adds to a chosen cell's fields.
CEILING_COLUMNS = (
    "n_train", "n_test", "unsteered_accuracy", "test_gain",
    "textual_gain", "textual_gain_low", "textual_gain_high", "textual_p",
    "learned_gain", "learned_gain_low", "learned_gain_high", "learned_p",
    "learned_minus_textual", "learned_minus_textual_low", "learned_minus_textual_high", "learned_minus_textual_p",
    "textual_fraction", "textual_fraction_low", "textual_fraction_high", "textual_fraction_reason",
    "learned_cosine", "learned_edit_cosine", "learned_norm_bound", "learned_relative_norm", "textual_relative_norm",
    "learned_best_step", "learned_steps_run", "learned_val_accuracy_unsteered", "learned_val_accuracy",
)


@dataclass(frozen=True)
class Fraction:
    """A ratio of two paired gains with its bootstrap interval.

    Attributes:
        value: textual gain / learned gain (NaN where ``reason`` says why).
        low, high: the percentile interval (``-inf, +inf`` where unbounded, NaN with the value).
        reason: "" where both are finite, else why not.
        undefined_share: the share of bootstrap resamples whose learned gain was <= 0.
    """

    value: float
    low: float
    high: float
    reason: str
    undefined_share: float


def gain_fraction(
    textual: Sequence[float] | np.ndarray,
    learned: Sequence[float] | np.ndarray,
    unsteered: Sequence[float] | np.ndarray,
    *,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> Fraction:
    """``(mean(textual) - mean(unsteered)) / (mean(learned) - mean(unsteered))`` with a paired bootstrap interval.

    The three are per-item 0/1 correctness on the same items in the same order; each resample
    draws items once for all three. The rule: a learned gain <= 0 gives NaN (``NO_CEILING``, or
    ``AT_TOP`` where unsteered is right on every item); where more than ``(1 - level) / 2`` of
    the resamples have a learned gain <= 0 the interval is unbounded (``UNBOUNDED``); otherwise
    those resamples are left out and the interval is the percentile interval of the others.

    Example:
        >>> f = gain_fraction([1, 1, 0, 0] * 25, [1, 1, 1, 1] * 25, [1, 0, 0, 0] * 25, n_boot=2000)
        >>> round(f.value, 3), f.low < f.value < f.high, f.reason
        (0.333, True, '')
        >>> gain_fraction([1, 0], [0, 1], [0, 1], n_boot=200).reason.startswith("learned gain <= 0")
        True
    """
    t, le, b = (np.asarray(x, dtype=float).reshape(-1) for x in (textual, learned, unsteered))
    if not (t.size == le.size == b.size) or t.size == 0:
        raise ValueError(
            f"textual, learned and unsteered must hold one 0/1 value per item of the same items: got {t.size}, "
            f"{le.size} and {b.size} values"
        )
    for name, x in (("textual", t), ("learned", le), ("unsteered", b)):
        if not np.isin(x, (0.0, 1.0)).all():
            raise ValueError(f"{name} must be per-item 0/1 correctness, got values {sorted(set(x.tolist()))[:5]}")
    check_level(level)
    check_n_boot(n_boot)
    nan = float("nan")
    t_gain, l_gain = float(t.mean() - b.mean()), float(le.mean() - b.mean())
    if l_gain <= 0:
        return Fraction(nan, nan, nan, AT_TOP if b.all() else NO_CEILING, nan)
    n = t.size
    rng = np.random.default_rng(seed)
    t_boot = np.empty(n_boot)
    l_boot = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        base = b[idx].mean(axis=1)
        t_boot[start : start + len(idx)] = t[idx].mean(axis=1) - base
        l_boot[start : start + len(idx)] = le[idx].mean(axis=1) - base
    defined = l_boot > 0
    undefined_share = float(1.0 - defined.mean())
    value = t_gain / l_gain
    if undefined_share > (1.0 - level) / 2:
        return Fraction(value, -math.inf, math.inf, UNBOUNDED, undefined_share)
    ratios = t_boot[defined] / l_boot[defined]
    tail = 100 * (1.0 - level) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Fraction(value, float(low), float(high), "", undefined_share)


def _extra(v: SteeringVector, name: str, default: float = float("nan")) -> float:
    """A number ``learned_vector`` recorded in ``meta.extra`` (``default`` where absent)."""
    value: Any = v.meta.extra.get(name, default)
    return float(value)


def _cell_key(row: Any) -> CellKey:
    return (str(row["task"]), int(row["layer"]), str(row["selector"]))


def _describe(key: CellKey) -> str:
    return f"task {key[0]!r}, layer {key[1]}, tokens {key[2]!r}"


def _check_given(mllm: MLLM, key: CellKey, v: Any, items: Sequence[Item]) -> SteeringVector:
    """A learned vector passed in ``learned``: learned, at this layer and token set, on these train items."""
    where = _describe(key)
    if not isinstance(v, SteeringVector):
        raise ValueError(f"learned[{key!r}] is a {type(v).__name__}, not a SteeringVector")
    check_vectors(mllm, {f"learned[{key!r}]": v})
    if not v.meta.params.get("learned"):
        raise ValueError(f"learned[{key!r}] is not a learned vector (meta.params lacks learned=True): "
                         "train it with learned_vector, or leave it out and ceiling trains it")
    if key[1] not in v.layers or v.meta.params.get("tokens") != key[2]:
        raise ValueError(f"learned[{key!r}] was trained at layer(s) {list(v.layers)} on tokens "
                         f"{v.meta.params.get('tokens')!r}, not at {where}")
    if v.meta.corpus_hash != items_digest(items):
        raise ValueError(
            f"learned[{key!r}] was not trained on this call's train items of task {key[0]!r} (its corpus digest "
            f"{v.meta.corpus_hash} differs from theirs, {items_digest(items)}): a learned vector must be trained on "
            "the task's train items only; leave it out and ceiling trains it"
        )
    return v


def _split_items(
    result: SweepResult | DataFrame, table: DataFrame, train: list[Item], test: list[Item], min_train: int
) -> dict[str, tuple[list[Item], list[Item]]]:
    """Per task of the table: its train and test items, checked (before any training)."""
    shared = sorted({it.id for it in train} & {it.id for it in test})
    if shared:
        raise ValueError(
            f"{len(shared)} train items are also test items (e.g. {shared[0]!r}): the learned vector must be "
            "trained on items it is not reported on"
        )
    if isinstance(result, SweepResult):
        check_unused(result, train, ("test",), "train items")
    out = {}
    for task in sorted({str(t) for t in table["task"]}):
        tr = [it for it in train if it.task == task]
        te = [it for it in test if it.task == task]
        if len(tr) < min_train:
            raise ValueError(
                f"task {task!r} has {len(tr)} train items: learned_vector needs at least {min_train} for its "
                "validation split; give more train items of that task"
            )
        if not te:
            raise ValueError(f"the test items hold no item of task {task!r}, which the table reports")
        rows = table[table["task"] == task]
        if "n_test" in table.columns:
            reported = sorted({int(n) for n in rows["n_test"] if n == n})
            if reported and reported != [len(te)]:
                raise ValueError(
                    f"the table reports task {task!r} on {reported[0]} test items, the test items given hold "
                    f"{len(te)}: pass the sweep's own test items, so that the learned and textual gains are "
                    "measured on the items the table reports"
                )
        if isinstance(result, SweepResult) and result.rows is not None and "split" in result.rows:
            r = result.rows
            ids = set(r[(r["split"] == "test") & (r["task"] == task)]["item_id"])
            if ids and ids != {it.id for it in te}:
                raise ValueError(
                    f"the test items of task {task!r} are not the sweep's ({len(ids)} reported, {len(te)} given, "
                    f"{len(ids ^ {it.id for it in te})} differ): pass the sweep's own test items"
                )
        out[task] = (tr, te)
    return out


def ceiling(
    mllm: MLLM,
    result: SweepResult | DataFrame,
    vectors: Mapping[str, SteeringVector],
    train: ItemsLike,
    test: ItemsLike,
    *,
    training: Training | None = None,
    learned: MutableMapping[CellKey, SteeringVector] | None = None,
    train_at_top: bool = False,
    store: ResultStore | PathLike | None = None,
    level: float = 0.95,
    n_boot: int = 10_000,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
) -> DataFrame:
    """Per chosen cell of a sweep: the learned vector's test gain there, and the textual gain as a fraction of it.

    For each distinct (task, layer, selector) among the table's chosen cells, one vector is
    trained with ``learned_vector`` on the task's train items (never a test item: shared ids are
    refused, and so are train items that were the sweep's test items); every textual vector
    chosen at that cell is compared with it. The textual cell (exactly as chosen), the learned
    vector (added as is, ``alpha`` 1) and the unsteered model are scored on the task's test items,
    which must be the ones the table reports (checked against its ``n_test`` and, for a
    ``SweepResult``, its test rows); a sweep's store reuses the rows it already holds.

    Args:
        mllm: the model the sweep ran on (local: the learned vector needs gradients).
        result: the sweep's result or its table of chosen cells.
        vectors: name -> vector, the vectors the sweep ran (checked against the table's digests).
        train: the labelled items to train on (the sweep's train items; grouped by task).
        test: the sweep's test items.
        training: how every cell's vector is trained (``interp.vectors.Training``; default
            ``Training()``). Its ``norm`` bounds the learned vector at ``norm`` x the mean
            residual norm of the selected train tokens (the sweep's relative strengths mean the
            same): give the largest |strength| of the sweep's grid, so the learned vector has
            the budget the textual one was chosen within.
        learned: a dict (task, layer, selector) -> learned vector: entries there are used (checked:
            learned, at that layer and token set, trained on exactly this call's train items of
            the task), missing ones are trained and added to it.
        train_at_top: also train where the unsteered model is right on every test item of the
            task. No vector can gain there, so the fraction is NaN whatever is learned; by default
            such cells are not trained, their learned columns are NaN and the reason says so.
        store: a results store (file or object; None: in memory).
        level, n_boot: the fraction's interval (the gains' are ``paired_difference``'s 95%).
        batch_size: items per forward pass (scoring and training).
        progress: progress lines or a bar (training, then scoring).
        allow_transfer: accept textual vectors built on another model (as the sweep did).

    Returns:
        One row per chosen cell: its fields (``CELL_COLUMNS``), ``learned_key``, and
        ``CEILING_COLUMNS``: ``n_train`` / ``n_test`` (the task's items), the unsteered accuracy,
        the table's own ``test_gain``, ``textual_gain`` and ``learned_gain`` with
        ``_low`` / ``_high`` / ``_p``, ``learned_minus_textual`` paired the same way,
        ``textual_fraction`` with ``_low`` / ``_high`` and ``_reason`` (see ``gain_fraction``),
        ``learned_cosine`` and ``learned_edit_cosine``, the learned vector's bound and norm and
        the textual edit's norm (relative to the same residual norm), and the learned training's
        best step, steps run and validation accuracy unsteered and with it.

    Example:
        >>> res = sweep(mllm, vs, [0, 1, 2], [-1, 1], train=train, test=test, store="runs/o.sqlite")  # doctest: +SKIP
        >>> kept = {}                                                                              # doctest: +SKIP
        >>> ceil = ceiling(mllm, res, vs, train, test, training=Training(norm=1.0), learned=kept,
        ...                store="runs/o.sqlite")  # doctest: +SKIP
        >>> ceil[["vector", "task", "learned_gain", "textual_fraction", "textual_fraction_reason"]]  # doctest: +SKIP
    """
    table, test_items = _inputs(mllm, result, vectors, test, "the test items", allow_transfer)
    vecs = _as_dict(vectors)
    train_items = check_items(train)
    check_prompts(mllm, train_items, what="the train items")
    if training is None:
        training = Training()
    elif not isinstance(training, Training):
        raise ValueError(
            f"training must be an interp.vectors.Training (e.g. Training(norm=1.0, steps=100)), got {type(training).__name__}"
        )
    progress = as_bool(progress, "progress")
    train_at_top = as_bool(train_at_top, "train_at_top")
    n_boot = as_int(n_boot, "n_boot", minimum=100)
    level = as_float(level, "level")
    check_level(level)
    if learned is not None and not isinstance(learned, MutableMapping):
        raise ValueError(f"learned must be a dict (task, layer, selector) -> learned vector, got {type(learned).__name__}")
    by_task = _split_items(result, table, train_items, test_items, min_items(training.val_fraction))
    keys = list(dict.fromkeys(_cell_key(row) for _, row in table.iterrows()))
    for key in keys:
        if dead_cell(mllm.n_layers, key[1], key[2]):
            raise ValueError(f"the table's cell at {_describe(key)} is a dead cell: no vector there can change the answer")
    cache: MutableMapping[CellKey, SteeringVector] = learned if learned is not None else {}
    for key in keys:
        if key in cache:
            _check_given(mllm, key, cache[key], by_task[key[0]][0])

    with opened(store) as db:
        fp, unsteered = _unsteered(mllm, by_task)
        textual_cells = [_steered_cell(row, vecs, fp) for _, row in table.iterrows()]
        # The unsteered model first: where it is right on every test item of a task no vector can
        # gain, the fraction is NaN whatever a learned vector does, and training it is skipped.
        _run(mllm, test_items, [unsteered], db, "test", batch_size, progress)
        base = {task: db.correct(unsteered.key, sorted(it.id for it in te)) for task, (_, te) in by_task.items()}
        at_top = {task for task, b in base.items() if b.all()} if not train_at_top else set()
        todo = [k for k in keys if k not in cache and k[0] not in at_top]
        with Progress(enabled=progress and bool(todo)) as bar:
            bar.start("ceiling: learned vectors", len(todo))
            for key in todo:
                task, layer, selector = key
                cache[key] = learned_vector(mllm, by_task[task][0], layer=layer, tokens=selector,
                                            batch_size=batch_size, **asdict(training))
                bar.advance()
        learned_cells = {}
        for key in keys:
            if key not in cache:
                continue
            v = cache[key]
            task, layer, selector = key
            learned_cells[key] = _keyed(Cell(
                "steered", f"learned/{task}/L{layer}/{selector}", "learned", v.meta.concept, layer, selector,
                _extra(v, "relative_norm"), 1.0, v.at(layer), tasks=(task,),
            ), fp)
        _run(mllm, test_items, [unsteered, *textual_cells, *learned_cells.values()], db, "test", batch_size, progress)
        out = []
        for (_, row), tc in zip(table.iterrows(), textual_cells):
            key = _cell_key(row)
            ids = sorted(it.id for it in by_task[key[0]][1])
            b = db.correct(unsteered.key, ids)
            t = db.correct(tc.key, ids)
            t_diff = paired_difference(t, b)
            rec = {k: row[k] for k in CELL_COLUMNS}
            rec |= {k: row[k] for k in (DIGEST_COLUMN, MODEL_COLUMN) if k in row}
            rec |= {
                "learned_key": f"{key[0]}/L{key[1]}/{key[2]}" if key in cache else "",
                "n_train": len(by_task[key[0]][0]), "n_test": len(ids), "unsteered_accuracy": float(b.mean()),
                "test_gain": float(row["gain"]) if "gain" in row else float("nan"),
                "textual_gain": t_diff.diff, "textual_gain_low": t_diff.low, "textual_gain_high": t_diff.high,
                "textual_p": t_diff.p_value,
            }
            assert tc.direction is not None
            tv = tc.direction.double()
            if key not in cache:
                rec |= {c: float("nan") for c in CEILING_COLUMNS if c not in rec}
                rec["textual_fraction_reason"] = AT_TOP
                out.append(rec)
                continue
            v = cache[key]
            le = db.correct(learned_cells[key].key, ids)
            l_diff, lt = paired_difference(le, b), paired_difference(le, t)
            frac = gain_fraction(t, le, b, level=level, n_boot=n_boot)
            cos = float(torch.nn.functional.cosine_similarity(v.at(key[1]).double(), tv, dim=0))
            sign = -1.0 if float(row["alpha"]) < 0 else 1.0
            residual = _extra(v, "residual_norm")
            rec |= {
                "learned_gain": l_diff.diff, "learned_gain_low": l_diff.low, "learned_gain_high": l_diff.high,
                "learned_p": l_diff.p_value,
                "learned_minus_textual": lt.diff, "learned_minus_textual_low": lt.low,
                "learned_minus_textual_high": lt.high, "learned_minus_textual_p": lt.p_value,
                "textual_fraction": frac.value, "textual_fraction_low": frac.low, "textual_fraction_high": frac.high,
                "textual_fraction_reason": frac.reason,
                "learned_cosine": cos, "learned_edit_cosine": sign * cos,
                "learned_norm_bound": _extra(v, "norm_bound") / residual,
                "learned_relative_norm": _extra(v, "relative_norm"),
                "textual_relative_norm": abs(float(row["alpha"])) * float(tv.norm()) / residual,
                "learned_best_step": int(_extra(v, "best_step", -1)),
                "learned_steps_run": int(_extra(v, "steps_run", -1)),
                "learned_val_accuracy_unsteered": _extra(v, "val_accuracy_unsteered"),
                "learned_val_accuracy": _extra(v, "val_accuracy"),
            }
            out.append(rec)
    return pd.DataFrame(out)


def learned_cosines(learned: Mapping[CellKey, SteeringVector], vectors: Mapping[str, SteeringVector]) -> DataFrame:
    """The cosine of each learned vector with every textual vector at its layer, one row per pair.

    Columns: ``task``, ``layer``, ``selector``, ``vector``, ``method``, ``concept``, ``cosine``.

    Example:
        >>> kept = {}
        >>> _ = ceiling(mllm, res, vs, train, test, learned=kept)   # doctest: +SKIP
        >>> learned_cosines(kept, vs).pivot_table(index="vector", columns="layer", values="cosine")  # doctest: +SKIP
    """
    rows = []
    for (task, layer, selector), lv in learned.items():
        a = lv.at(layer).double()
        for name, v in vectors.items():
            if layer not in v.layers:
                continue
            rows.append({"task": task, "layer": layer, "selector": selector, "vector": name,
                         "method": v.meta.method, "concept": v.meta.concept,
                         "cosine": float(torch.nn.functional.cosine_similarity(a, v.at(layer).double(), dim=0))})
    return pd.DataFrame(rows, columns=["task", "layer", "selector", "vector", "method", "concept", "cosine"])


__all__ = ["CEILING_COLUMNS", "CellKey", "Fraction", "ceiling", "gain_fraction", "learned_cosines"]
