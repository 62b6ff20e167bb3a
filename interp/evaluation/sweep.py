"""The paper's layer x strength x selector sweep, fast, resumable, with controls and statistics.

Protocol (arXiv 2505.14071, section 4): add ``alpha * v`` at one decoder layer on the selected
tokens; score every (layer, strength, selector) cell on the train split; choose, per vector,
task and selector, the cell with the best gain over the unsteered model (ties go to the smaller
strength); report that cell on the held-out test split. interp adds what the paper did not
report: a prompting baseline, random directions of the same norm at the chosen cell (several
seeds), bootstrap confidence intervals, exact McNemar tests and the number of cells searched.

Speed comes from sharing the grid's work (the answers equal those of scoring every cell on its
own; a test holds them to it): per batch of items, the vision tower and the decoder run once
("base pass") keeping the residual stream at every swept layer and the inputs each layer
above receives; a cell at layer ``l`` then edits the kept state and runs only the layers
above ``l``, the last layer's MLP and the output head at the answer position only;
strength-0 cells reuse the base pass. Every (item, cell) result goes to a SQLite ``ResultStore`` as soon as its batch is
done, so a killed sweep resumes where it stopped and a rerun reuses every finished row.

This module holds the sweep and its choosing rule; the cells and the shared base pass live in
``interp.evaluation.cells``, the result tables in ``interp.evaluation.tables``, and their names
are importable from here as well.

Example:
    >>> from interp.evaluation import load_benchmark, sweep                   # doctest: +SKIP
    >>> train = load_benchmark("organism", split="train", tasks=["Count"])    # doctest: +SKIP
    >>> test = load_benchmark("organism", split="test", tasks=["Count"])      # doctest: +SKIP
    >>> res = sweep(mllm, {"meanshift": v}, layers=[0, 1, 2], strengths=[-1, 1],
    ...             selectors=["image"], train=train, test=test, store="runs/sweep.sqlite")  # doctest: +SKIP
    >>> res.table                                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from torch import Tensor

from interp.args import as_int
from interp.boundary import DIGEST_COLUMN, MODEL_COLUMN, as_flag, check_prompts, check_vectors
from interp.evaluation.cells import (
    Cell,
    _group_by_task,
    _keyed,
    _refuse_remote_stacking,
    check_cell_batching,
    check_stack_budget,
    random_direction,
    residual_norms,
    run_cells,
)
from interp.evaluation.halving import Halving, choose_by_halving, schedule_note
from interp.evaluation.scoring import check_items
from interp.evaluation.store import ResultStore, opened
from interp.evaluation.tables import (
    GROUP_COLUMNS,
    MIN_RANDOM_Q95,
    SweepResult,
    _grid,
    _table,
    ranked_cells,
)
from interp.items import Item, n_batches
from interp.models.traced import MLLM
from interp.progress import Progress
from interp.prompts import check_hint, prompting_prefix
from interp.tokens import OFF_ANSWER_SELECTORS, SELECTOR_NAMES, dead_cell
from interp.vectors.vector import SteeringVector, SteeringVectors


# -- the sweep -----------------------------------------------------------------------------------
def _vectors(vectors: Any) -> dict[str, Any]:
    from interp.vectors import SteeringVector

    if isinstance(vectors, SteeringVector):
        vectors = [vectors]
    if isinstance(vectors, Mapping):
        out = dict(vectors)
    else:
        out = {}
        for v in vectors:
            if not isinstance(v, SteeringVector):
                raise ValueError(f"vectors must be SteeringVectors, got {type(v).__name__}")
            name = f"{v.meta.method}/{v.meta.concept}"
            if name in out:
                raise ValueError(f"two vectors are both named {name!r}: pass a dict of names to vectors")
            out[name] = v
    if not out:
        raise ValueError("no vectors given")
    for name, v in out.items():
        if not isinstance(v, SteeringVector):
            raise ValueError(f"vector {name!r} is a {type(v).__name__}, expected a SteeringVector")
    return out


def _numbers(values: Any, what: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list of numbers, got {values!r}")
    out = []
    for x in values:
        try:
            f = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be numbers, got {x!r}") from None
        if isinstance(x, bool) or not math.isfinite(f):
            raise ValueError(f"{what} must be finite numbers, got {x!r}")
        out.append(f)
    if not out:
        raise ValueError(f"no {what} given")
    return out


def _selectors(selectors: Any) -> list[str]:
    sels = [selectors] if isinstance(selectors, str) else list(selectors)
    if not sels:
        raise ValueError("no selectors given")
    for s in sels:
        if s not in SELECTOR_NAMES:
            raise ValueError(f"the sweep takes named selectors {list(SELECTOR_NAMES)}, got {s!r}")
    return sels


def _skipped_rows(grid: Any, skipped: Sequence[tuple[Any, ...]]) -> Any:
    """Grid rows for the skipped cells: by construction the unsteered model's accuracy, gain 0."""
    import pandas as pd

    if not skipped:
        return grid.assign(skipped=False)
    base = grid[grid["condition"] == "unsteered"].set_index("task")
    rows = []
    for name, v, layer, sel, s, tasks in skipped:
        for t in tasks:
            if t not in base.index:
                continue
            b = base.loc[t]
            rows.append({
                "vector": name, "method": v.meta.method, "concept": v.meta.concept, "condition": "steered",
                "task": t, "layer": layer, "selector": sel, "strength": s, "alpha": float("nan"),
                "n": int(b["n"]), "n_correct": int(b["n_correct"]), "accuracy": float(b["accuracy"]),
                "unsteered_accuracy": float(b["accuracy"]), "gain": 0.0, "cell": "",
            })
    extra = pd.DataFrame(rows, columns=list(grid.columns)).assign(skipped=True)
    out = pd.concat([grid.assign(skipped=False), extra], ignore_index=True)
    return out.sort_values(["condition", "vector", "task", "selector", "layer", "strength"]).reset_index(drop=True)


def _choose(grid: Any) -> Any:
    """Per (vector, task, selector): best train gain, ties to smaller |strength|, then layer.

    Skipped (structurally dead) cells are never chosen: they are the unsteered model.
    """
    if "skipped" in grid:
        grid = grid[~grid["skipped"].astype(bool)]
    return ranked_cells(grid).groupby(list(GROUP_COLUMNS), sort=True).head(1)


def sweep(
    mllm: MLLM,
    vectors: SteeringVectors,
    layers: Iterable[int],
    strengths: Iterable[float],
    selectors: Iterable[str] | str = ("image",),
    train: Iterable[Item] | None = None,
    test: Iterable[Item] | None = None,
    store: str | os.PathLike[str] | ResultStore | None = None,
    *,
    targets: Mapping[str, Sequence[str]] | None = None,
    relative: bool = True,
    n_random: int = 20,
    prompt_baseline: bool | str | Mapping[str, str] = True,
    n_calibration: int = 32,
    batch_size: int = 16,
    naive: bool = False,
    faithful: bool = False,
    seed: int = 0,
    progress: bool = True,
    cells_per_forward: int = 1,
    max_batch_tokens: int | None = None,
    cells_per_request: int | None = None,
    replicate: Iterable[Item] | None = None,
    replicate_top: int | None = None,
    specificity: bool = False,
    allow_transfer: bool = False,
    control_vectors: Mapping[str, SteeringVector] | None = None,
    transfer: bool = False,
    replicate_random: int | None = None,
    halving: Halving | None = None,
) -> SweepResult:
    """Sweep layers x strengths x selectors on train, choose per (vector, task, selector), report on test.

    Args:
        mllm: the model.
        vectors: a ``SteeringVector``, a list of them (named ``method/concept``) or a dict
            name -> vector (methods x concepts in one call).
        layers: the steered layers (each vector needs a direction there).
        strengths: the strength grid (both signs welcome; 0 is the unsteered model).
        selectors: token selectors: ``"image"``, ``"text"``, ``"both"`` (``"last"``, ``"all"``).
        train: items the cell is chosen on (e.g. ``load_benchmark(..., split="train")``).
        test: held-out items the chosen cells are reported on (None: train only, no table).
        store: a results SQLite file (resumable; reruns reuse rows), a ``ResultStore``, or None
            for an in-memory one.
        targets: vector name -> the tasks it is evaluated on (default: every task of train).
        relative: strengths are relative to the mean residual norm of the selected tokens at
            the layer (measured on the first ``n_calibration`` train items); False: absolute
            multipliers of the vector.
        n_random: random directions of the chosen vector's norm at each chosen cell (seeds
            ``seed .. seed + n_random - 1``), scored on test: the "any push of this size"
            control.
        prompt_baseline: True: the hint ``prompting_prefix(concept)`` per vector's concept; a
            template string with ``{concept}``; a dict concept -> full prefix; False: none.
        batch_size: items per forward pass.
        naive: score every cell with its own full forward (the reference path; on a remote
            model one request per cell per batch, against one per batch without it).
        faithful: also score the unsteered model and each chosen cell on test the paper's way
            (greedy generation of up to 20 tokens and its parser) and add to the table how
            often it agrees with the logit scoring and how many answers it could not read.
        progress: a rich progress bar with ETA (plain progress lines when not on a terminal).
        cells_per_forward: stack up to this many cells of one layer (other strengths, selectors,
            vectors, random directions) along the batch dimension in one run of the layers above
            it (1: one cell at a time). Equal to one at a time within float rounding (same
            predictions); on a GPU it is where the throughput is, on a CPU it gains little.
        max_batch_tokens: a memory budget for a stacked forward (cells x items x padded
            positions); a stack over it is refused before anything runs (None: no bound).
        cells_per_request: a remote model: the most cells one request (one batch's session)
            holds (None: ``interp.evaluation.remote.CELLS_PER_REQUEST``).
        replicate: a replication set that plays no part in choosing or reporting (fresh scenes
            on the organisms; a third split or an out-of-distribution set for fixed benchmarks;
            no id may be among train or test). Each chosen cell, exactly as chosen, is scored on
            it beside the unsteered model and ``n_random`` random directions
            (``interp.evaluation.replicate``); the table gains the replicated estimate, the
            headline: ``n_rep``, ``rep_gain`` [``rep_gain_low``, ``rep_gain_high``],
            ``rep_p_holm`` (Holm over the replicated rows), ``rep_random_q95_gain``,
            ``rep_above_random`` and ``replicated``.
        replicate_top: replicate only the chosen cells with the largest positive test gains
            (None: all; a cell that did not gain on test is not replicated: ties at 0 would make
            the pick arbitrary); the others get NaN replication columns. Choosing them on test
            is fair: the replication set still played no part.
        specificity: at each (replicated, if ``replicate_top``) chosen cell, the other concepts'
            vectors at the same norm and multiplier and the flipped sign
            (``interp.evaluation.specificity``), on the replication set when there is one, else
            on test; the table gains ``flipped_gain``, ``other_concepts_max_gain``,
            ``beats_flipped``, ``beats_other_concepts`` (each: the paired 95% CI of the chosen
            vector's gain minus the control's lies above 0; NaN when there is no other concept)
            and ``specific`` (beats them all).
        allow_transfer: steer with vectors built on another model than ``mllm`` and its paired
            text backbone (a deliberate transfer experiment; refused otherwise).
        control_vectors: name -> vector of concepts that are not swept but that the specificity
            control compares each chosen cell with (e.g. every concept of the library for this
            backbone: ``interp.vectors.library_vectors``).
        transfer: score each (replicated, if ``replicate_top``) chosen cell on the tasks it was
            not chosen for (``interp.evaluation.transfer``), on the replication set when there
            is one, else on test; the table gains ``transfer_gain`` [``_low``, ``_high``],
            ``transfer_worst_task``, ``transfer_worst_gain`` and ``transfer_costly``.
        replicate_random: random directions per replicated cell (default: ``n_random``, at
            least ``MIN_RANDOM_Q95`` = 20 so the replication's q95 is measured).
        halving: choose by successive halving (``interp.evaluation.halving.Halving``) on the
            train pool ``train`` instead of scoring every cell on all of it: the grid then has
            ``rounds`` and ``finalist`` columns and ``n`` is the items each cell was scored on;
            ``config["halving"]`` (also a note in the store) records the schedule and the item x
            cell evaluations it spent against the full grid's at the same final n.

    Every table also carries the answer-prior baseline (``interp.evaluation.prior``): the best
    constant per-option offset fitted on the unsteered train answers, applied to the test items:
    ``prior_gain`` [``_low``, ``_high``], ``gain_over_prior`` [``_low``, ``_high``],
    ``p_over_prior``, ``beats_prior`` and ``prior_share`` (with ``rep_`` on the replication set).

    Cells that cannot change the answer (``dead_cell``: a selector without the answer position
    at the last decoder layer) are not run: the grid lists them with ``skipped`` True and the
    unsteered accuracy, they are never chosen, ``n_cells`` counts only the live ones and
    ``config["skipped"]`` names them.

    Returns:
        ``SweepResult`` with ``rows``, ``grid`` (train, per cell) and ``table`` (test, per
        vector x task x selector, with statistics: see ``SweepResult``), plus ``replication``
        and ``specificity`` (the controls' own tables) when asked for.

    Example:
        >>> res = sweep(mllm, vs, layers=[0, 1, 2, 3], strengths=[-2, -1, 1, 2],
        ...             selectors=["image", "text", "both"], train=train, test=test,
        ...             store="runs/organism.sqlite")                    # doctest: +SKIP
        >>> print(res.to_markdown())                                      # doctest: +SKIP
    """
    vecs = _vectors(vectors)
    layer_list = sorted({mllm.check_layer(as_int(x, "layer")) for x in _as_list(layers, "layers")})
    strength_list = _numbers(strengths, "strengths")
    selector_list = _selectors(selectors)
    if train is None:
        raise ValueError("sweep needs train items to choose the cell on")
    train_items = check_items(train)
    test_items = check_items(test) if test is not None else []
    if test_items and {it.id for it in train_items} & {it.id for it in test_items}:
        raise ValueError("train and test share items: the cell must be chosen on items it is not reported on")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    check_cell_batching(cells_per_forward, max_batch_tokens, naive)
    if mllm.remote:
        _refuse_remote_stacking(cells_per_forward)
    if cells_per_request is not None:
        from interp.evaluation.remote import check_cells_per_request

        check_cells_per_request(cells_per_request)
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    rep_items = check_items(replicate) if replicate is not None else None
    if rep_items is not None:
        shared = sorted({it.id for it in rep_items} & ({it.id for it in train_items} | {it.id for it in test_items}))
        if shared:
            raise ValueError(
                f"{len(shared)} replication items are also train or test items (e.g. {shared[0]!r}): a "
                "replication set must play no part in choosing or reporting the cell"
            )
        if not test_items:
            raise ValueError("replicate needs test items: it replicates the cells reported on test")
    if replicate_top is not None and (isinstance(replicate_top, bool) or not isinstance(replicate_top, int)
                                      or replicate_top < 1):
        raise ValueError(f"replicate_top must be a positive int or None, got {replicate_top!r}")
    transfer = as_flag(transfer, "transfer")
    n_rep_random = max(n_random, MIN_RANDOM_Q95) if replicate_random is None else as_int(
        replicate_random, "replicate_random", minimum=0)
    controls_only = dict(control_vectors or {})
    tasks = sorted({it.task for it in train_items})
    targets = dict(targets or {})
    for name in targets:
        if name not in vecs:
            raise ValueError(f"targets names vector {name!r}, which is not among the vectors {sorted(vecs)}")
    vec_tasks = {name: tuple(targets.get(name, tasks)) for name in vecs}
    for name, ts in vec_tasks.items():
        missing = [t for t in ts if t not in tasks]
        if missing:
            raise ValueError(f"vector {name!r} targets tasks {missing} with no train items (train has {tasks})")
        v = vecs[name]
        absent = [layer for layer in layer_list if layer not in v.layers]
        if absent:
            raise ValueError(f"vector {name!r} has no direction at layers {absent} (it has {list(v.layers)})")

    allow_transfer = as_flag(allow_transfer, "allow_transfer")
    check_vectors(mllm, vecs, allow_transfer=allow_transfer)
    if controls_only:
        check_vectors(mllm, controls_only, allow_transfer=allow_transfer, what="control_vectors")
    prefixes = _prompt_prefixes(prompt_baseline, vecs)
    check_prompts(mllm, train_items, what="the train items")
    check_prompts(mllm, test_items, [None, *prefixes.values()], what="the test items")
    if rep_items is not None:
        check_prompts(mllm, rep_items, what="the replication items")
    if cells_per_forward > 1 and max_batch_tokens is not None:  # the largest stack the grid can form
        per_layer = len(vecs) * len(selector_list) * max(len(strength_list), len(tasks) * (1 + n_random))
        for its in (train_items, test_items):
            check_stack_budget(mllm, its, batch_size, min(cells_per_forward, per_layer), max_batch_tokens)

    if halving is not None and not isinstance(halving, Halving):
        raise ValueError(f"halving must be an interp.evaluation.halving.Halving or None, got {type(halving).__name__}")
    halving_record: dict[str, Any] | None = None
    with opened(store) as db:
        fp = mllm.fingerprint().store_key(mllm.name)
        norms = (
            residual_norms(mllm, train_items[:n_calibration], layer_list, selector_list, batch_size=batch_size)
            if relative else {}
        )
        unsteered = _keyed(Cell("unsteered", tasks=tuple(tasks)), fp)

        def alpha_of(v: Tensor, layer: int, sel: str, s: float) -> float:
            if not relative:
                return float(s)
            vn = float(v.float().norm())  # in float32 whatever the vector's own precision
            return 0.0 if vn == 0.0 else float(s) * norms[layer, sel] / vn

        grid_cells = [unsteered]
        skipped: list[tuple[Any, ...]] = []
        for name, v in vecs.items():
            for sel in selector_list:
                for layer in layer_list:
                    d = v.at(layer)
                    for s in strength_list:
                        if dead_cell(mllm.n_layers, layer, sel):
                            skipped.append((name, v, layer, sel, s, vec_tasks[name]))
                            continue
                        grid_cells.append(_keyed(Cell(
                            "steered", name, v.meta.method, v.meta.concept, layer, sel, s,
                            alpha_of(d, layer, sel, s), d, tasks=vec_tasks[name],
                        ), fp))
        with Progress(enabled=progress) as bar:
            run_kw: dict[str, Any] = {"batch_size": batch_size, "naive": naive, "cells_per_forward": cells_per_forward,
                                      "max_batch_tokens": max_batch_tokens, "cells_per_request": cells_per_request}
            if halving is None:
                bar.start("sweep: train grid", _cell_batches(train_items, batch_size, grid_cells))
                run_cells(mllm, train_items, grid_cells, db, split="train", advance=bar.advance, **run_kw)
                grid = _skipped_rows(_grid(db, grid_cells, unsteered, train_items), skipped)
                chosen = _choose(grid[grid["condition"] == "steered"])
            else:
                import pandas as pd

                def score_round(items: list[Item], cells: list[Cell], r: int) -> None:
                    bar.start(f"sweep: train round {r}", _cell_batches(items, batch_size, cells))
                    run_cells(mllm, items, cells, db, split="train", advance=bar.advance, **run_kw)

                steered_grid, schedule = choose_by_halving(
                    grid_cells[1:], unsteered, train_items, halving, score_round,
                    lambda cells, items: _grid(db, cells, unsteered, items),
                )
                full = sum(len(c.tasks) for c in grid_cells[1:]) * min(Counter(it.task for it in train_items).values())
                db.note(f"halving:{_schedule_key(grid_cells, train_items)}", schedule_note(halving, schedule, full))
                halving_record = json.loads(schedule_note(halving, schedule, full))
                base_rows = _grid(db, [unsteered], unsteered, train_items).assign(rounds=0, finalist=False)
                grid = _skipped_rows(pd.concat([base_rows, steered_grid], ignore_index=True), skipped)
                chosen = _choose(grid[(grid["condition"] == "steered") & grid["finalist"].astype(bool)])

            test_cells: list[Cell] = []
            table = None
            if test_items:
                test_tasks = sorted({t for ts in vec_tasks.values() for t in ts})
                test_cells.append(replace(unsteered, tasks=tuple(test_tasks)))
                by_key = {c.key: c for c in grid_cells}
                for _, row in chosen.iterrows():
                    c = replace(by_key[row["cell"]], tasks=(row["task"],))
                    test_cells.append(c)
                    if c.direction is None:
                        continue
                    for k in range(n_random):
                        r = random_direction(c.direction, seed + k)
                        test_cells.append(_keyed(replace(
                            c, condition="random", direction=r, seed=seed + k, key=""), fp))
                for concept, prefix in prefixes.items():
                    concept_tasks = sorted({t for n, v in vecs.items() if v.meta.concept == concept for t in vec_tasks[n]})
                    test_cells.append(_keyed(Cell("prompt", concept=concept, prefix=prefix, tasks=tuple(concept_tasks)), fp))
                if faithful:
                    test_cells += [replace(c, scoring="generate", key="") for c in test_cells
                                   if c.condition in ("unsteered", "steered")]
                    test_cells = [c if c.key else _keyed(c, fp) for c in test_cells]
                bar.start("sweep: test", _cell_batches(test_items, batch_size, test_cells))
                run_cells(mllm, test_items, test_cells, db, split="test", batch_size=batch_size,
                          naive=naive, advance=bar.advance,
                          cells_per_forward=cells_per_forward, max_batch_tokens=max_batch_tokens,
                          cells_per_request=cells_per_request)
                live = {sel: sum(not dead_cell(mllm.n_layers, x, sel) for x in layer_list) * len(strength_list)
                        for sel in selector_list}
                table = _stamped(_table(db, chosen, test_cells, unsteered, test_items, n_cells=live), vecs, fp)
                table = _with_prior(db, table, chosen, unsteered, train_items, test_items)
        replication = spec = cost = None
        if table is not None and len(table) and (rep_items is not None or specificity or transfer):
            table, replication, spec, cost = _controls(
                mllm, table, vecs, rep_items, test_items, db, specificity=specificity, top=replicate_top,
                n_random=n_rep_random, seed=seed, batch_size=batch_size, progress=progress,
                allow_transfer=allow_transfer, train_items=train_items, others=controls_only, transfer=transfer,
            )
        keys = [c.key for c in grid_cells] + [c.key for c in test_cells]
        ids = {it.id for it in train_items} | {it.id for it in test_items}
        rows = db.rows(sorted(set(keys)))
        rows = rows[rows["item_id"].isin(ids)].reset_index(drop=True)
    config = {
        "model": fp, "vectors": sorted(vecs), "layers": layer_list, "strengths": strength_list,
        "selectors": selector_list, "relative": relative, "n_random": n_random, "seed": seed,
        "n_train": len(train_items), "n_test": len(test_items), "targets": {k: list(v) for k, v in vec_tasks.items()},
        "norms": {f"{k[0]}/{k[1]}": v for k, v in norms.items()},
        "skipped": sorted({(layer, sel) for _, _, layer, sel, _, _ in skipped}),
        "n_replicate": len(rep_items) if rep_items is not None else 0, "replicate_top": replicate_top,
        "specificity": specificity, "allow_transfer": allow_transfer, "control_vectors": sorted(controls_only),
        "transfer": transfer, "replicate_random": n_rep_random if rep_items is not None else 0,
        "halving": halving_record,
    }
    return SweepResult(rows=rows, grid=grid, table=table, config=config, replication=replication, specificity=spec,
                       transfer=cost)


def _stamped(table: Any, vecs: Mapping[str, Any], fp: str) -> Any:
    """The table with what made each row: its vector's content digest and the model's fingerprint
    (``interp.boundary.check_cells`` reads them back before a control scores the cells again)."""
    table = table.copy()
    table[DIGEST_COLUMN] = [vecs[str(name)].digest() for name in table["vector"]]
    table[MODEL_COLUMN] = fp
    return table


#: The replication columns ``sweep(replicate=...)`` adds to its table.
REPLICATION_COLUMNS = ("n_rep", "rep_unsteered_accuracy", "rep_accuracy", "rep_gain", "rep_gain_low", "rep_gain_high",
                       "rep_p", "rep_p_holm", "rep_random_q95_gain", "rep_above_random", "replicated")


def _controls(mllm: MLLM, table: Any, vecs: dict[str, Any], rep_items: list[Item] | None, test_items: list[Item],
              db: ResultStore, *, specificity: bool, top: int | None, n_random: int, seed: int, batch_size: int,
              progress: bool, allow_transfer: bool, train_items: list[Item], others: Mapping[str, Any],
              transfer: bool) -> tuple[Any, Any, Any, Any]:
    """Replication, specificity and transfer cost at the chosen cells, merged into the table as columns."""
    from interp.evaluation import controls

    rows = table if top is None else table[table["gain"] > 0].sort_values("gain", ascending=False, kind="mergesort").head(top)
    if not len(rows):  # nothing gained on test: the replication columns say it was not replicated
        return table.assign(**{c: float("nan") for c in REPLICATION_COLUMNS if c not in table}), None, None, None
    on = rep_items if rep_items is not None else test_items
    common: dict[str, Any] = {"store": db, "batch_size": batch_size, "progress": progress, "allow_transfer": allow_transfer}
    replication = spec = cost = None
    if rep_items is not None:
        replication = controls.replicate(mllm, rows, vecs, rep_items, n_random=n_random, seed=seed,
                                         train=train_items, **common)
        cols = [c for c in replication.columns if c.startswith("rep_") or c in ("n_rep", "replicated")]
        table = table.merge(replication[[*GROUP_COLUMNS, *cols]], on=list(GROUP_COLUMNS), how="left")
    if specificity:
        spec = controls.specificity(mllm, rows, vecs, on, others=others, **common)
        table = table.merge(controls.specificity_columns(spec), on=list(GROUP_COLUMNS), how="left")
    if transfer:
        cost = controls.transfer(mllm, rows, vecs, on, **common)
        table = table.merge(controls.transfer_columns(cost), on=list(GROUP_COLUMNS), how="left")
    return table, replication, spec, cost


def _with_prior(db: ResultStore, table: Any, chosen: Any, unsteered: Cell, train: list[Item], test: list[Item]) -> Any:
    """The test table with the answer-prior baseline's columns (fitted on the unsteered train rows)."""
    import pandas as pd

    from interp.evaluation.prior import fit_priors, prior_columns

    rows = db.rows([unsteered.key])
    offsets = fit_priors(rows[rows["item_id"].isin({it.id for it in train})])
    if offsets is None or not len(table):
        return table
    cell_of = {(r["vector"], r["task"], r["selector"]): r["cell"] for _, r in chosen.iterrows()}
    extra = []
    for _, r in table.iterrows():
        ids = sorted(it.id for it in test if it.task == r["task"])
        extra.append(prior_columns(db, unsteered.key, cell_of[(r["vector"], r["task"], r["selector"])], ids,
                                   offsets.get(str(r["task"])), float(r["gain"])))
    return pd.concat([table.reset_index(drop=True), pd.DataFrame(extra)], axis=1)


def _as_list(x: Any, what: str) -> list[Any]:
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{what} must be a list of ints, got the string {x!r}")
    if isinstance(x, int):
        return [x]
    try:
        return list(x)
    except TypeError:
        raise ValueError(f"{what} must be a list of ints, got {x!r}") from None


def _prompt_prefixes(prompt_baseline: Any, vecs: Mapping[str, Any]) -> dict[str, str]:
    concepts = sorted({v.meta.concept for v in vecs.values()})
    if prompt_baseline is False or prompt_baseline is None:
        return {}
    if prompt_baseline is True:
        return {c: prompting_prefix(c) for c in concepts}
    if isinstance(prompt_baseline, str):
        return {c: prompting_prefix(c, prompt_baseline) for c in concepts}
    if isinstance(prompt_baseline, Mapping):
        missing = [c for c in concepts if c not in prompt_baseline]
        if missing:
            raise ValueError(f"prompt_baseline has no prefix for concepts {missing}")
        return {c: check_hint(prompt_baseline[c], what=f"prompt_baseline[{c!r}]") for c in concepts}
    raise ValueError(f"prompt_baseline must be a bool, a template string or a dict, got {prompt_baseline!r}")


def _schedule_key(cells: Sequence[Cell], items: Sequence[Item]) -> str:
    """What a halving schedule note is stored under: the grid's cells and the train pool."""
    from interp.evaluation.store import cell_key

    return cell_key({"cells": sorted(c.key for c in cells), "items": [it.id for it in items]})


def _cell_batches(items: Sequence[Item], batch_size: int, cells: Sequence[Cell]) -> int:
    """How many (cell, batch) units ``run_cells`` runs: the progress bar's total."""
    return sum(
        sum(1 for c in cells if task in c.tasks) * n_batches(len(group), batch_size)
        for task, group in _group_by_task(items).items()
    )


__all__ = ["OFF_ANSWER_SELECTORS", "REPLICATION_COLUMNS", "dead_cell", "sweep"]
