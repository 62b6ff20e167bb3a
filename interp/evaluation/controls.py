"""Controls for a sweep's chosen cells: replication on fresh items, and specificity.

A chosen cell is the best of many on train, so its gain on test is the figure the choice was made
to look good on only indirectly; with many cells, some test gain is expected by chance alone.
Two controls say how much of it belongs to the vector's concept:

- ``replicate``: score each chosen cell, exactly as chosen (same layer, selector, strength and
  absolute multiplier), on a *replication set* that played no part in choosing or reporting it
  (fresh scenes on the organisms; a third split or an out-of-distribution set for fixed
  benchmarks), with the unsteered model and random directions of the same norm on the same
  items: the replicated gain, its paired bootstrap interval and exact McNemar p (Holm over the
  table) are the headline a selection-inflated test gain is not.
- ``specificity``: at each chosen cell, the same edit norm and strength with each *other*
  concept's vector (its direction at that layer rescaled to the chosen vector's norm) and with the
  chosen vector's sign flipped. A vector is called specific when its gain beats every one of these
  on the same items; a concept-blind push of the same size that helps as much says the gain is
  not about the concept.

Both read the cells from a ``SweepResult``'s table and write rows into a ``ResultStore``, so a
rerun reuses what is done.

Example:
    >>> res = sweep(mllm, vs, layers, strengths, train=train, test=test, store=db)     # doctest: +SKIP
    >>> rep = replicate(mllm, res, vs, fresh_items, store=db)                         # doctest: +SKIP
    >>> spec = specificity(mllm, res, vs, test, store=db)                             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from interp.boundary import as_flag, check_cells, check_prompts, check_vectors
from interp.evaluation.cells import Cell, _keyed, random_direction, run_cells
from interp.evaluation.power import detectable_gain, discordance_rate
from interp.evaluation.prior import fit_priors, prior_columns
from interp.evaluation.scoring import check_items
from interp.evaluation.store import ResultStore, opened
from interp.evaluation.tables import CELL_COLUMNS, GROUP_COLUMNS, SweepResult, random_columns
from interp.items import Item, n_batches
from interp.models.traced import MLLM
from interp.progress import Progress
from interp.stats import accuracy, holm, paired_difference

if TYPE_CHECKING:
    from interp.items import ItemsLike
    from interp.types import DataFrame, PathLike
    from interp.vectors.vector import SteeringVector



def _chosen(mllm: MLLM, result: SweepResult | DataFrame, vectors: Mapping[str, SteeringVector], *,
            allow_transfer: bool = False) -> DataFrame:
    """The chosen cells of a sweep's result, checked at the boundary: the vectors may steer this
    model, and the table's cells were made by these very vectors on this model."""
    table = result.table if isinstance(result, SweepResult) else result
    if table is None or not hasattr(table, "columns"):
        raise ValueError(f"expected a sweep's result or its table of chosen cells, got {type(result).__name__}")
    missing = [c for c in CELL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"expected a sweep's result table with the chosen cells: it lacks columns {missing}")
    if len(table) == 0:
        raise ValueError("the sweep's table has no chosen cell: run the sweep with test items first")
    check_vectors(mllm, _as_dict(vectors), allow_transfer=as_flag(allow_transfer, "allow_transfer"))
    check_cells(mllm, table, vectors, what="the sweep's table")
    return table


def _inputs(mllm: MLLM, result: SweepResult | DataFrame, vectors: Mapping[str, SteeringVector], items: ItemsLike,
            what: str, allow_transfer: bool) -> tuple[DataFrame, list[Item]]:
    """A control's inputs, checked at the boundary: the chosen cells (``_chosen``) and the items."""
    table = _chosen(mllm, result, vectors, allow_transfer=allow_transfer)
    checked = check_items(items)
    check_prompts(mllm, checked, what=what)
    return table, checked


def _unsteered(mllm: MLLM, tasks: Any) -> tuple[str, Cell]:
    """The model's store key and its unsteered cell over ``tasks``."""
    fp = mllm.fingerprint().store_key(mllm.name)
    return fp, _keyed(Cell("unsteered", tasks=tuple(sorted({str(t) for t in tasks}))), fp)


def check_unused(result: SweepResult, items: Sequence[Item], splits: Sequence[str], what: str) -> None:
    """Refuse items the sweep already used in ``splits`` (its train items chose the cells, its test
    items reported them): a replication or comparison set must play no part in that.

    Example:
        >>> check_unused(res, fresh, ("train", "test"), "replication items")   # doctest: +SKIP
    """
    rows = result.rows
    if rows is None or "item_id" not in rows:
        return
    used = set(rows[rows["split"].isin(list(splits))]["item_id"]) if "split" in rows else set(rows["item_id"])
    shared = sorted(used & {it.id for it in items})
    if shared:
        role = " or ".join(f"{s} items" for s in splits)
        raise ValueError(
            f"{len(shared)} {what} were the sweep's {role} (e.g. {shared[0]!r}): a set to score the chosen "
            "cells on must play no part in choosing or reporting them"
        )


def _vector(vectors: Mapping[str, SteeringVector], name: str) -> SteeringVector:
    if name not in vectors:
        raise ValueError(f"the table names vector {name!r}, which is not among the vectors given {sorted(vectors)}")
    return vectors[name]


def _run(mllm: MLLM, items: Sequence[Item], cells: Sequence[Cell], db: ResultStore, split: str,
         batch_size: int, progress: bool) -> None:
    """Score ``cells`` on ``items`` into ``db`` (rows already there are reused), with progress."""
    with Progress(enabled=progress) as bar:
        groups: dict[str, int] = {}
        for it in items:
            groups[it.task] = groups.get(it.task, 0) + 1
        bar.start(split, sum(sum(task in c.tasks for c in cells) * n_batches(k, batch_size) for task, k in groups.items()))
        run_cells(mllm, items, cells, db, split=split, batch_size=batch_size, advance=bar.advance)


def _task_ids(items: Sequence[Item], task: str, what: str) -> list[str]:
    ids = sorted(it.id for it in items if it.task == task)
    if not ids:
        raise ValueError(f"{what} has no items of task {task!r}")
    return ids


def _steered_cell(row: pd.Series, vectors: Mapping[str, SteeringVector], fp: str) -> Cell:
    v = _vector(vectors, str(row["vector"]))
    layer = int(row["layer"])
    return _keyed(Cell(
        "steered", str(row["vector"]), str(row["method"]), str(row["concept"]), layer, str(row["selector"]),
        float(row["strength"]), float(row["alpha"]), v.at(layer), tasks=(str(row["task"]),),
    ), fp)


def _prior_offsets(mllm: MLLM, result: SweepResult | DataFrame, train: ItemsLike | None, unsteered: Cell,
                   db: ResultStore, batch_size: int, progress: bool) -> dict[str, np.ndarray] | None:
    """Per task, the answer-prior offset fitted on the unsteered train answers (None: no train rows)."""
    if train is not None:
        train_items = check_items(train)
        check_prompts(mllm, train_items, what="the train items")
        _run(mllm, train_items, [unsteered], db, "train", batch_size, progress)
        ids = {it.id for it in train_items}
        rows = db.rows([unsteered.key])
        rows = rows[rows["item_id"].isin(ids)]
    elif isinstance(result, SweepResult) and result.rows is not None and "condition" in result.rows:
        rows = result.rows
        rows = rows[(rows["condition"] == "unsteered") & (rows["split"] == "train") & (rows["scoring"] == "logits")]
    else:
        return None
    return fit_priors(rows)


def _mde(n: int, churn: float, comparisons: int) -> float:
    """The smallest gain a Holm-corrected paired test over ``comparisons`` rows detects with 80%
    power, steering's wins added to the churn random directions show (``power.detectable_gain``)."""
    if churn != churn:
        return float("nan")
    return detectable_gain(n, churn, comparisons=comparisons)


def replicate(
    mllm: MLLM,
    result: SweepResult | DataFrame,
    vectors: Mapping[str, SteeringVector],
    items: ItemsLike,
    *,
    store: ResultStore | PathLike | None = None,
    n_random: int = 20,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
    train: ItemsLike | None = None,
) -> DataFrame:
    """Score each chosen cell of a sweep on a replication set that played no part in the choice.

    Args:
        mllm: the model the sweep ran on.
        result: the sweep's result (or its table): one chosen cell per row.
        vectors: name -> vector, the vectors the sweep was given.
        items: the replication items (their ids must not be among the sweep's train or test items
            when ``result`` is a ``SweepResult``).
        store: a results store (file or object; None: in memory).
        n_random: random directions of the chosen vector's norm per cell, on the same items
            (a 95th percentile is reported from ``MIN_RANDOM_Q95`` = 20 of them or more).
        seed: first seed of the random directions (the sweep's seeds are ``seed ..``; give
            another range to draw fresh ones).
        batch_size: items per forward pass.
        progress: progress lines or a bar.
        allow_transfer: accept vectors built on another model (as the sweep did).
        train: the items the answer-prior baseline is fitted on (the sweep's train items);
            default: a ``SweepResult``'s own unsteered train rows (a bare table without
            ``train`` gets no prior columns).

    Returns:
        One row per chosen cell: its fields, ``n_rep``, unsteered and steered accuracy on the
        replication set, ``rep_gain`` with its 95% interval, McNemar ``rep_p`` and Holm's
        ``rep_p_holm`` over the table, the random directions' 95th-percentile gain
        (``rep_random_q95_gain``), whether the gain exceeds it (``rep_above_random_q95``) and
        ``rep_above_random``: it exceeds it AND its own interval lies above 0 (a gain whose
        interval includes 0 is never called above random); and ``replicated``: the interval
        excludes 0 on the side of the test gain, p (Holm) < 0.05, and it exceeds the random q95
        (where measured). The answer-prior baseline (``interp.evaluation.prior``: the best
        constant per-option offset, fitted on the unsteered train answers) on the same items:
        ``rep_prior_gain`` with its interval, ``rep_gain_over_prior`` with its interval and p,
        ``rep_beats_prior`` and ``rep_prior_share`` (the share of the gain a prior shift reaches).
        Power: ``rep_discordance`` (the churn: how often random directions of the same norm
        change an item's correctness against unsteered; without them, the cell's own discordance
        less its gain) and ``rep_mde``, the smallest gain the Holm-corrected test over the table
        detects with 80% power on these ``n_rep`` items, steering's wins added to that churn
        (``interp.evaluation.power.detectable_gain``).

    Example:
        >>> rep = replicate(mllm, res, vs, fresh, store="runs/organism.sqlite")   # doctest: +SKIP
    """
    table, rep_items = _inputs(mllm, result, vectors, items, "the replication items", allow_transfer)
    if isinstance(result, SweepResult):
        check_unused(result, rep_items, ("train", "test"), "replication items")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    with opened(store) as db:
        fp, unsteered = _unsteered(mllm, table["task"])
        offsets = _prior_offsets(mllm, result, train, unsteered, db, batch_size, progress)
        cells: list[Cell] = [unsteered]
        plan = []
        for _, row in table.iterrows():
            c = _steered_cell(row, _as_dict(vectors), fp)
            randoms = [
                _keyed(replace(c, condition="random", direction=random_direction(c.direction, seed + k), seed=seed + k, key=""), fp)
                for k in range(n_random)
            ] if c.direction is not None else []
            cells += [c, *randoms]
            plan.append((row, c, randoms))
        _run(mllm, rep_items, cells, db, "replicate", batch_size, progress)
        out = []
        for row, c, randoms in plan:
            ids = _task_ids(rep_items, row["task"], "the replication set")
            steered = db.correct(c.key, ids)
            base = db.correct(unsteered.key, ids)
            diff = paired_difference(steered, base)
            rec = {k: row[k] for k in CELL_COLUMNS}
            rec |= {
                "test_gain": float(row["gain"]) if "gain" in row else float("nan"),
                "n_rep": len(ids), "rep_unsteered_accuracy": float(base.mean()),
                "rep_accuracy": accuracy(steered).value, "rep_gain": diff.diff,
                "rep_gain_low": diff.low, "rep_gain_high": diff.high, "rep_p": diff.p_value,
            }
            if randoms:
                outcomes = [db.correct(r.key, ids) for r in randoms]
                rec |= random_columns(diff, [float(o.mean() - base.mean()) for o in outcomes], prefix="rep_")
                rec["rep_discordance"] = discordance_rate(np.stack(outcomes), base)
            else:  # no random directions: the cell's own discordance less its gain
                rec["rep_discordance"] = max(discordance_rate(steered, base) - abs(diff.diff), 0.0)
            if offsets is not None:
                rec |= prior_columns(db, unsteered.key, c.key, ids, offsets.get(str(row["task"])), diff, prefix="rep_")
            out.append(rec)
    frame = pd.DataFrame(out)
    frame["rep_p_holm"] = holm(list(frame["rep_p"]))
    frame["rep_mde"] = [_mde(int(n), float(d), len(frame)) for n, d in zip(frame["n_rep"], frame["rep_discordance"])]
    sign = frame["test_gain"].apply(lambda g: -1.0 if g < 0 else 1.0)
    # the random control counts where it was measured (MIN_RANDOM_Q95 directions or more)
    beats = frame["rep_above_random_q95"].map(lambda x: x is True or x == 1.0 or x != x) if "rep_above_random_q95" in frame else True
    frame["replicated"] = (
        ((sign > 0) & (frame["rep_gain_low"] > 0)) | ((sign < 0) & (frame["rep_gain_high"] < 0))
    ) & (frame["rep_p_holm"] < 0.05) & beats
    return frame


def specificity(
    mllm: MLLM,
    result: SweepResult | DataFrame,
    vectors: Mapping[str, SteeringVector],
    items: ItemsLike,
    *,
    store: ResultStore | PathLike | None = None,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
    others: Mapping[str, SteeringVector] | None = None,
) -> DataFrame:
    """At each chosen cell, the other concepts' vectors and the flipped sign at the same norm.

    The controls are built per chosen row: for each other concept among ``vectors`` and
    ``others`` (one vector per concept: the one of the chosen vector's method if there is one,
    else the first), its
    direction at the chosen layer rescaled to the chosen direction's norm, added with the chosen
    multiplier on the chosen tokens; and the chosen direction with its sign flipped.

    Args:
        mllm: the model the sweep ran on.
        result: the sweep's result (or its table).
        vectors: name -> vector (the sweep's vectors; other concepts come from here).
        items: the items to compare on (the sweep's test items, or a replication set).
        store: a results store (file or object; None: in memory).
        batch_size: items per forward pass.
        progress: progress lines or a bar.
        allow_transfer: accept vectors built on another model (as the sweep did).
        others: control-only vectors, name -> vector: concepts that were not swept but must be
            beaten at the chosen cell (e.g. every concept of the library for this backbone);
            a name also in ``vectors`` is taken from ``vectors``.

    Returns:
        One row per chosen cell and control: the cell's fields, ``control`` (``"flipped"`` or the
        other concept's vector name), ``control_cosine`` (cosine of the control's direction with
        the chosen one), the chosen gain and the control's gain over unsteered on the same items,
        ``gain_over_control`` with its paired interval and McNemar p; and per chosen cell
        ``specific``: its gain beats every control's (the paired interval of the difference
        excludes 0) on these items.

    Example:
        >>> spec = specificity(mllm, res, vs, test, store="runs/organism.sqlite")   # doctest: +SKIP
    """
    table, spec_items = _inputs(mllm, result, vectors, items, "the specificity items", allow_transfer)
    vecs = _as_dict(vectors)
    pool = {**_as_dict(others or {}), **vecs}
    if others:
        check_vectors(mllm, _as_dict(others), allow_transfer=as_flag(allow_transfer, "allow_transfer"), what="others")
    with opened(store) as db:
        fp, unsteered = _unsteered(mllm, table["task"])
        cells: list[Cell] = [unsteered]
        plan = []
        for _, row in table.iterrows():
            chosen = _steered_cell(row, vecs, fp)
            assert chosen.direction is not None
            d = chosen.direction
            controls: list[tuple[str, Cell]] = [
                ("flipped", _keyed(replace(chosen, vector=f"{chosen.vector} (flipped)", direction=-d, key=""), fp))
            ]
            for name, other in _other_concepts(pool, chosen).items():
                if chosen.layer not in other.layers:
                    raise ValueError(
                        f"vector {name!r} (concept {other.meta.concept!r}) has no direction at layer {chosen.layer}, "
                        f"where {chosen.vector!r} was chosen: the specificity control compares every other "
                        f"concept's vector at the chosen cell; give vectors with that layer (it has {list(other.layers)})"
                    )
                o = other.at(chosen.layer).to(d.dtype)
                on = float(o.norm())
                if on == 0.0:
                    raise ValueError(
                        f"vector {name!r} is zero at layer {chosen.layer}: it cannot be rescaled to the chosen "
                        "vector's norm as a specificity control"
                    )
                controls.append((name, _keyed(replace(
                    chosen, vector=name, method=other.meta.method, concept=other.meta.concept,
                    direction=o * (float(d.norm()) / on), key="",
                ), fp)))
            cells += [chosen, *(c for _, c in controls)]
            plan.append((row, chosen, controls))
        _run(mllm, spec_items, cells, db, "specificity", batch_size, progress)
        out = []
        for row, chosen, controls in plan:
            ids = _task_ids(spec_items, row["task"], "the specificity set")
            base = db.correct(unsteered.key, ids)
            steered = db.correct(chosen.key, ids)
            assert chosen.direction is not None
            for name, c in controls:
                ctrl = db.correct(c.key, ids)
                vs = paired_difference(steered, ctrl)
                assert c.direction is not None
                cos = float(torch.nn.functional.cosine_similarity(
                    c.direction.double(), chosen.direction.double(), dim=0))
                rec = {k: row[k] for k in CELL_COLUMNS}
                rec |= {
                    "control": name, "control_cosine": cos, "n": len(ids),
                    "gain": float(steered.mean() - base.mean()), "control_gain": float(ctrl.mean() - base.mean()),
                    "gain_over_control": vs.diff, "gain_over_control_low": vs.low,
                    "gain_over_control_high": vs.high, "p_over_control": vs.p_value,
                }
                out.append(rec)
    frame = pd.DataFrame(out)
    if len(frame):
        frame["specific"] = frame.groupby(list(GROUP_COLUMNS))["gain_over_control_low"].transform(lambda s: bool((s > 0).all()))
    return frame


def specificity_columns(spec: DataFrame) -> DataFrame:
    """One row per chosen cell (vector, task, selector) from ``specificity``'s per-control rows.

    Columns: ``flipped_gain`` (the flipped sign's gain over unsteered), ``other_concepts_max_gain``
    (the best other concept's), ``other_concepts_best`` (which vector that is), ``n_other_concepts``,
    ``beats_flipped`` and ``beats_other_concepts`` (the paired 95% CI
    of the chosen gain minus the control's lies above 0, for the flipped sign and for every other
    concept; NaN where there is no such control) and ``specific`` (it beats them all).

    Example:
        >>> spec = pd.DataFrame({"vector": ["v", "v"], "task": ["T", "T"], "selector": ["image"] * 2,
        ...                      "control": ["flipped", "w"], "control_gain": [-0.1, 0.02],
        ...                      "gain_over_control_low": [0.05, -0.01]})
        >>> specificity_columns(spec)[["beats_flipped", "beats_other_concepts", "specific"]].values.tolist()
        [[True, False, False]]
    """
    def fold(g: DataFrame) -> dict[str, Any]:
        flipped = g[g["control"] == "flipped"]
        others = g[g["control"] != "flipped"]
        return {
            "flipped_gain": float(flipped["control_gain"].iloc[0]) if len(flipped) else float("nan"),
            "other_concepts_max_gain": float(others["control_gain"].max()) if len(others) else float("nan"),
            "other_concepts_best": str(others.loc[others["control_gain"].idxmax(), "control"]) if len(others) else None,
            "n_other_concepts": len(others),
            "beats_flipped": bool((flipped["gain_over_control_low"] > 0).all()) if len(flipped) else float("nan"),
            "beats_other_concepts": bool((others["gain_over_control_low"] > 0).all()) if len(others) else float("nan"),
            "specific": bool((g["gain_over_control_low"] > 0).all()),
        }

    return _per_chosen_cell(spec, fold, ["flipped_gain", "other_concepts_max_gain", "other_concepts_best",
                                         "n_other_concepts", "beats_flipped", "beats_other_concepts", "specific"])


def transfer(
    mllm: MLLM,
    result: SweepResult | DataFrame,
    vectors: Mapping[str, SteeringVector],
    items: ItemsLike,
    *,
    store: ResultStore | PathLike | None = None,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
) -> DataFrame:
    """Each chosen cell's effect on the tasks it was NOT chosen for: its transfer cost.

    A cell chosen to help one task edits every item it is applied to; a researcher who steers a
    model with it pays whatever it does to the rest. This scores each chosen cell, exactly as
    chosen, on the items of every other task among ``items``, beside the unsteered model.

    Args:
        mllm: the model the sweep ran on.
        result: the sweep's result (or its table).
        vectors: name -> vector (the sweep's vectors).
        items: items of several tasks (a replication set, or the sweep's test items).
        store: a results store (file or object; None: in memory).
        batch_size: items per forward pass.
        progress: progress lines or a bar.
        allow_transfer: accept vectors built on another model (as the sweep did).

    Returns:
        One row per chosen cell and other task: the cell's fields, ``other_task``, ``n``,
        unsteered and steered accuracy there and ``gain`` with its paired interval and McNemar
        ``p`` (``transfer_columns`` folds them into one row per chosen cell).

    Example:
        >>> cost = transfer(mllm, res, vs, fresh, store="runs/organism.sqlite")   # doctest: +SKIP
        >>> transfer_columns(cost)                                                 # doctest: +SKIP
    """
    table, its = _inputs(mllm, result, vectors, items, "the transfer items", allow_transfer)
    all_tasks = sorted({it.task for it in its})
    with opened(store) as db:
        fp, unsteered = _unsteered(mllm, all_tasks)
        cells: list[Cell] = [unsteered]
        plan = []
        for _, row in table.iterrows():
            others = tuple(t for t in all_tasks if t != str(row["task"]))
            if not others:
                continue
            c = replace(_steered_cell(row, _as_dict(vectors), fp), tasks=others)
            cells.append(c)
            plan.append((row, c, others))
        _run(mllm, its, cells, db, "transfer", batch_size, progress)
        out = []
        for row, c, others in plan:
            for task in others:
                ids = _task_ids(its, task, "the transfer set")
                steered = db.correct(c.key, ids)
                base = db.correct(unsteered.key, ids)
                diff = paired_difference(steered, base)
                out.append({k: row[k] for k in CELL_COLUMNS} | {
                    "other_task": task, "n": len(ids), "unsteered_accuracy": float(base.mean()),
                    "accuracy": float(steered.mean()), "gain": diff.diff, "gain_low": diff.low,
                    "gain_high": diff.high, "p": diff.p_value,
                })
    return pd.DataFrame(out, columns=[*CELL_COLUMNS, "other_task", "n", "unsteered_accuracy", "accuracy", "gain",
                                      "gain_low", "gain_high", "p"])


def transfer_columns(cost: DataFrame) -> DataFrame:
    """One row per chosen cell (vector, task, selector) from ``transfer``'s per-task rows:
    ``transfer_tasks``, ``transfer_n``, ``transfer_gain`` (the item-weighted mean gain over the
    other tasks) with ``transfer_gain_low``/``_high`` (the per-task intervals combined as
    independent: each task's half-widths added in quadrature, weighted like the mean),
    ``transfer_worst_task`` and ``transfer_worst_gain``, and ``transfer_costly``: some other task's
    interval lies wholly below 0.

    Example:
        >>> cost = pd.DataFrame({"vector": ["v", "v"], "task": ["T", "T"], "selector": ["image"] * 2,
        ...                      "other_task": ["U", "W"], "n": [100, 100], "gain": [-0.02, 0.0],
        ...                      "gain_low": [-0.04, -0.01], "gain_high": [-0.005, 0.01]})
        >>> transfer_columns(cost)[["transfer_gain", "transfer_worst_task", "transfer_costly"]].values.tolist()
        [[-0.01, 'U', True]]
    """
    def fold(g: DataFrame) -> dict[str, Any]:
        w = g["n"].to_numpy(dtype=float) / float(g["n"].sum())
        mean = float((w * g["gain"]).sum())
        half_low = float(np.sqrt(((w * (g["gain"] - g["gain_low"])) ** 2).sum()))
        half_high = float(np.sqrt(((w * (g["gain_high"] - g["gain"])) ** 2).sum()))
        worst = g.loc[g["gain"].idxmin()]
        return {"transfer_tasks": " ".join(map(str, g["other_task"])),
                "transfer_n": int(g["n"].sum()), "transfer_gain": round(mean, 12),
                "transfer_gain_low": mean - half_low, "transfer_gain_high": mean + half_high,
                "transfer_worst_task": str(worst["other_task"]), "transfer_worst_gain": float(worst["gain"]),
                "transfer_costly": bool((g["gain_high"] < 0).any())}

    return _per_chosen_cell(cost, fold, ["transfer_tasks", "transfer_n", "transfer_gain", "transfer_gain_low",
                                         "transfer_gain_high", "transfer_worst_task", "transfer_worst_gain",
                                         "transfer_costly"])


def _per_chosen_cell(rows: DataFrame | None, fold: Callable[[DataFrame], dict[str, Any]],
                     columns: Sequence[str]) -> DataFrame:
    """One row per chosen cell (``GROUP_COLUMNS``) from per-control or per-task ``rows``: ``fold`` of
    each cell's rows gives its ``columns``; no rows give an empty table with those columns."""
    key = list(GROUP_COLUMNS)
    if rows is None or not len(rows):
        return pd.DataFrame(columns=[*key, *columns])
    out = [{**dict(zip(key, k)), **fold(g)} for k, g in rows.groupby(key, sort=False)]
    return pd.DataFrame(out, columns=[*key, *columns])


def _as_dict(vectors: Mapping[str, SteeringVector]) -> dict[str, SteeringVector]:
    if not isinstance(vectors, Mapping):
        raise ValueError(
            f"vectors must be a mapping name -> SteeringVector (the names in the sweep's table), got {type(vectors).__name__}"
        )
    return dict(vectors)


def _other_concepts(vectors: Mapping[str, SteeringVector], chosen: Cell) -> dict[str, SteeringVector]:
    """One vector per concept other than the chosen one's: of the same method where there is one."""
    by_concept: dict[str, tuple[str, SteeringVector]] = {}
    for name, v in vectors.items():
        concept = v.meta.concept
        if concept == chosen.concept:
            continue
        if concept not in by_concept or (v.meta.method == chosen.method and by_concept[concept][1].meta.method != chosen.method):
            by_concept[concept] = (name, v)
    return {name: v for name, v in by_concept.values()}


__all__ = ["check_unused", "replicate", "specificity", "specificity_columns", "transfer",
           "transfer_columns"]
