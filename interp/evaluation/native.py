"""Textual against native vectors: cosine per layer and the steering gain of each at the same cell.

The question a textual steering vector answers (arXiv 2505.14071) is whether an MLLM's textual side
can teach its visual side. ``compare_native`` sets a textual vector beside the *native* vector of
the same concept (``interp.vectors.native_vector``: built from the MLLM's own image-token
activations on a visual contrast): their cosine per layer, and the gain of each at the same cell
(same layer, selector, strength and edit norm) with the sweep's statistics and controls.

Example:
    >>> natives = {"native/counting": native_vector(mllm, visual_contrast("organism", "counting"))}  # doctest: +SKIP
    >>> df = compare_native(mllm, vectors, natives, test, cells=res)                                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

from interp.activations import resolve_layers
from interp.boundary import as_flag, check_cells, check_vectors
from interp.evaluation.cells import residual_norms
from interp.evaluation.controls import _steered_cell, check_unused, replicate
from interp.evaluation.store import ResultStore, opened
from interp.evaluation.tables import CELL_COLUMNS, SweepResult
from interp.items import ItemsLike, as_items
from interp.models.traced import MLLM
from interp.stats import paired_difference
from interp.vectors.vector import SteeringVector

if TYPE_CHECKING:
    from interp.types import DataFrame, LayerSpec, PathLike


def _partner(native: Mapping[str, SteeringVector], textual: SteeringVector) -> str | None:
    """The native vector paired with ``textual``: same concept, the same method where there is one."""
    same = [n for n, v in native.items() if v.meta.concept == textual.meta.concept]
    for n in same:
        if native[n].meta.method == f"native-{textual.meta.method}":
            return n
    return same[0] if same else None


def compare_native(
    mllm: MLLM,
    textual: Mapping[str, SteeringVector],
    native: Mapping[str, SteeringVector],
    items: ItemsLike,
    *,
    cells: SweepResult | DataFrame | None = None,
    layers: LayerSpec = None,
    selector: str = "image",
    strength: float = 1.0,
    tasks: Sequence[str] | None = None,
    n_random: int = 10,
    store: ResultStore | PathLike | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
) -> DataFrame:
    """Textual vs native vectors of the same concept: cosine per layer and the gain of each at the same cell.

    Each textual vector is paired with the native vector of its concept (the one of the same
    method, ``native-<method>``, where there is one). The gains are measured with the sweep's
    statistics on ``items``: accuracy minus the unsteered model's, a paired bootstrap 95% CI and
    the exact McNemar p (``interp.stats.paired_difference``), the textual vector against
    ``n_random`` random directions of the same norm, and native minus textual paired the same
    way. At a cell the native vector adds the *same edit norm* as the textual one (its multiplier
    is the textual ``alpha`` x ``|textual| / |native|``), so the random directions' q95 is one
    control for both.

    Args:
        mllm: the MLLM.
        textual: name -> textual vector (e.g. the sweep's vectors).
        native: name -> native vector (``native_vector``).
        items: the items to score on (test items, or fresh ones; not those the cells were chosen on).
        cells: a sweep's result (or its table): score each chosen cell of a paired textual vector
            (its layer, selector, strength, alpha and task). None: score every layer in ``layers``
            at ``selector`` and relative ``strength`` (relative to the mean residual norm of the
            selected tokens, as the sweep's), on ``tasks``.
        layers: the layers of the cosine table (and of the cells when ``cells`` is None).
        selector, strength, tasks: the cells when ``cells`` is None (tasks: all of ``items``').
        n_random: random directions per textual cell.
        store: a results store (file or object; None: in memory); a sweep's store reuses its rows.
        seed: first seed of the random directions.
        batch_size, progress: as the sweep's.
        allow_transfer: take textual or native vectors built on another model than ``mllm`` and its
            text backbone (a deliberate transfer experiment; ``interp.boundary``).

    Returns:
        One row per (textual, native, layer) with ``cosine``; where a cell was scored at that
        layer, one row per scored cell with ``task, selector, strength, n``, ``unsteered``,
        ``textual_gain`` / ``native_gain`` with ``_low`` / ``_high`` and ``_p``, ``random_q95_gain``,
        ``textual_beats_random`` / ``native_beats_random``, and ``native_minus_textual`` with its
        interval and p.

    Example:
        >>> natives = {"native/counting": native_vector(mllm, visual_contrast("organism", "counting"))}  # doctest: +SKIP
        >>> df = compare_native(mllm, vectors, natives, test, cells=res)                      # doctest: +SKIP
    """
    import pandas as pd

    if not isinstance(textual, Mapping) or not isinstance(native, Mapping):
        raise ValueError("textual and native must be mappings name -> SteeringVector")
    allow_transfer = as_flag(allow_transfer, "allow_transfer")
    check_vectors(mllm, textual, allow_transfer=allow_transfer, what="textual")
    check_vectors(mllm, native, allow_transfer=allow_transfer, what="native")
    for name, v in native.items():
        if not v.meta.params.get("native"):
            raise ValueError(f"native vector {name!r} is not native (its meta.params lacks native=True): build it with native_vector")
    pairs = {t: p for t, v in textual.items() if (p := _partner(native, v)) is not None}
    if not pairs:
        raise ValueError(
            f"no textual vector shares a concept with a native one (textual concepts "
            f"{sorted({v.meta.concept for v in textual.values()})}, native {sorted({v.meta.concept for v in native.values()})})"
        )
    pool = as_items(items, what="items to compare on")
    if not pool:
        raise ValueError("compare_native needs items to score on: got none")
    if isinstance(cells, SweepResult):
        check_unused(cells, pool, ("train",), "the items to compare on")
    if layers is None:
        common = sorted(set.intersection(*(set(textual[t].layers) & set(native[p].layers) for t, p in pairs.items())))
        chosen = [mllm.check_layer(x) for x in common]
    else:
        chosen = resolve_layers(mllm, layers)
    rows = []
    for t, p in pairs.items():
        for layer in chosen:
            for name, v in ((t, textual[t]), (p, native[p])):
                if layer not in v.layers:
                    raise ValueError(f"vector {name!r} has no direction at layer {layer} (it has {list(v.layers)})")
            a, b = textual[t].at(layer).double(), native[p].at(layer).double()
            rows.append({"textual": t, "native": p, "concept": textual[t].meta.concept, "layer": layer,
                         "cosine": float(torch.nn.functional.cosine_similarity(a, b, dim=0))})
    cos = pd.DataFrame(rows)

    # The textual cells to score.
    if cells is not None:
        table = cells.table if isinstance(cells, SweepResult) else cells
        if table is None or any(c not in table.columns for c in CELL_COLUMNS):
            raise ValueError(f"cells must be a sweep's result or table with columns {list(CELL_COLUMNS)}")
        tcells = table[table["vector"].isin(list(pairs))].reset_index(drop=True)
        if not len(tcells):
            raise ValueError(
                f"cells names none of the textual vectors paired with a native one ({sorted(pairs)}); its vectors are "
                f"{sorted({str(n) for n in table['vector']})}: pass the vectors the sweep ran, under its names"
            )
        check_cells(mllm, tcells, textual, what="cells")
        tcells = tcells[[c for c in CELL_COLUMNS]]
    else:
        task_list = sorted({it.task for it in pool}) if tasks is None else list(tasks)
        norms = residual_norms(mllm, pool[:32], chosen, [selector], batch_size=batch_size)
        recs = []
        for t in pairs:
            v = textual[t]
            for layer in chosen:
                vn = float(v.at(layer).norm())
                for task in task_list:
                    recs.append({"vector": t, "method": v.meta.method, "concept": v.meta.concept, "task": task,
                                 "selector": selector, "layer": layer, "strength": float(strength),
                                 "alpha": 0.0 if vn == 0 else float(strength) * norms[layer, selector] / vn})
        tcells = pd.DataFrame(recs, columns=list(CELL_COLUMNS))
    if not len(tcells):
        return cos
    ncells = tcells.copy()
    for i, r in ncells.iterrows():
        tv, nv = textual[str(r["vector"])], native[pairs[str(r["vector"])]]
        layer = int(r["layer"])
        if layer not in nv.layers:
            raise ValueError(f"native vector {pairs[str(r['vector'])]!r} has no direction at the cell's layer {layer}")
        nn_ = float(nv.at(layer).norm())
        ncells.loc[i, "alpha"] = 0.0 if nn_ == 0 else float(r["alpha"]) * float(tv.at(layer).norm()) / nn_
        ncells.loc[i, "vector"] = pairs[str(r["vector"])]
        ncells.loc[i, "method"] = nv.meta.method

    with opened(store) as db:
        rep_t = replicate(mllm, tcells, dict(textual), pool, store=db, n_random=n_random, seed=seed,
                          batch_size=batch_size, progress=progress, allow_transfer=allow_transfer)
        rep_n = replicate(mllm, ncells, dict(native), pool, store=db, n_random=0, seed=seed,
                          batch_size=batch_size, progress=progress, allow_transfer=allow_transfer)
        fp = mllm.fingerprint().store_key(mllm.name)
        out = []
        for (_, tr), (_, nr), (_, tc), (_, nc) in zip(rep_t.iterrows(), rep_n.iterrows(), tcells.iterrows(), ncells.iterrows()):
            ids = sorted(it.id for it in pool if it.task == tc["task"])
            got_native = db.correct(_steered_cell(nc, native, fp).key, ids)
            got_textual = db.correct(_steered_cell(tc, textual, fp).key, ids)
            diff = paired_difference(got_native, got_textual)
            q95 = float(tr.get("rep_random_q95_gain", float("nan")))
            out.append({
                "textual": tc["vector"], "native": nc["vector"], "layer": int(tc["layer"]), "task": tc["task"],
                "selector": tc["selector"], "strength": float(tc["strength"]), "n": int(tr["n_rep"]),
                "unsteered": float(tr["rep_unsteered_accuracy"]),
                "textual_gain": tr["rep_gain"], "textual_gain_low": tr["rep_gain_low"],
                "textual_gain_high": tr["rep_gain_high"], "textual_p": tr["rep_p"],
                "native_gain": nr["rep_gain"], "native_gain_low": nr["rep_gain_low"],
                "native_gain_high": nr["rep_gain_high"], "native_p": nr["rep_p"],
                "random_q95_gain": q95,
                "textual_beats_random": bool(tr["rep_gain"] > q95) if n_random else None,
                "native_beats_random": bool(nr["rep_gain"] > q95) if n_random else None,
                "native_minus_textual": diff.diff, "native_minus_textual_low": diff.low,
                "native_minus_textual_high": diff.high, "native_minus_textual_p": diff.p_value,
            })
    gains = pd.DataFrame(out)
    return cos.merge(gains, on=["textual", "native", "layer"], how="left")


__all__ = ["compare_native"]
