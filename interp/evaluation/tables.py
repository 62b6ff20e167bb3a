"""The sweep's result tables: per-cell train gains, the chosen cells on test with statistics,
and their markdown.

``_grid`` turns a store's train rows into one row per cell and task (accuracy and gain over the
unsteered model on the same items); ``_table`` reports each chosen cell on test with bootstrap
intervals, McNemar p (Holm-adjusted over the table), the prompting baseline, the random-direction
control and, when scored, the paper's generate-and-parse agreement; ``table_markdown`` formats it.

Example:
    >>> res = sweep(mllm, vs, layers=[0, 1], strengths=[-1, 1], train=train, test=test)  # doctest: +SKIP
    >>> print(table_markdown(res.table))                                       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from interp.evaluation.cells import Cell
from interp.evaluation.items import Item
from interp.evaluation.store import ResultStore
from interp.types import DataFrame


@dataclass(frozen=True)
class SweepResult:
    """What a sweep returns (all tables are pandas DataFrames).

    Attributes:
        rows: one row per item x cell of this sweep (train and test), joined with the cell's
            fields (``ResultStore.rows``).
        grid: one row per cell on train: accuracy and gain over unsteered on the same items.
        table: one row per (vector, task, selector): the chosen cell, its test accuracy, gain
            over unsteered with CI and McNemar p (and Holm-adjusted over the table), the
            prompting baseline and the random-direction control.
        config: the sweep's arguments, for the record.
    """

    rows: DataFrame
    grid: DataFrame
    table: DataFrame
    config: dict[str, object]

    def to_markdown(self, digits: int = 3) -> str:
        """The result table as a markdown table (needs ``tabulate``-free pandas formatting)."""
        return table_markdown(self.table, digits=digits)

def _grid(db: ResultStore, cells: Sequence[Cell], unsteered: Cell, items: Sequence[Item]) -> Any:
    """Per cell and task on train: n, correct, accuracy, gain over unsteered (same items)."""
    ids = {it.id for it in items}
    rows = db.rows([c.key for c in cells])
    rows = rows[rows["item_id"].isin(ids)]
    agg = rows.groupby(["cell", "task"], sort=False).agg(n=("correct", "size"), n_correct=("correct", "sum")).reset_index()
    base = agg[agg["cell"] == unsteered.key].set_index("task")
    meta = rows.drop_duplicates("cell").set_index("cell")[
        ["vector", "method", "concept", "condition", "layer", "selector", "strength", "alpha"]
    ]
    out = agg.join(meta, on="cell")
    out["accuracy"] = out["n_correct"] / out["n"]
    out["unsteered_accuracy"] = out["task"].map(base["n_correct"] / base["n"])
    out["gain"] = out["accuracy"] - out["unsteered_accuracy"]
    cols = ["vector", "method", "concept", "condition", "task", "layer", "selector", "strength", "alpha",
            "n", "n_correct", "accuracy", "unsteered_accuracy", "gain", "cell"]
    return out[cols].sort_values(["condition", "vector", "task", "selector", "layer", "strength"]).reset_index(drop=True)


def _table(
    db: ResultStore, chosen: Any, cells: Sequence[Cell], unsteered: Cell, items: Sequence[Item], n_cells: int
) -> Any:
    import pandas as pd

    from interp.evaluation import stats

    ids = {it.id for it in items}
    rows = db.rows([c.key for c in cells])
    rows = rows[rows["item_id"].isin(ids)]
    by_cell = {k: g.set_index("item_id")["correct"] for k, g in rows.groupby("cell")}
    preds = {k: g.set_index("item_id")["pred"] for k, g in rows.groupby("cell")}
    base = by_cell[unsteered.key]

    def twin_fields(c: Cell) -> tuple[Any, ...]:
        return (c.condition, c.vector, c.layer, c.selector, c.strength, c.seed, c.prefix)

    generated = {twin_fields(c): c.key for c in cells if c.scoring == "generate"}
    twins = {c.key: generated[twin_fields(c)] for c in cells if c.scoring != "generate" and twin_fields(c) in generated}

    def faithful(key: str, ids: list[str], prefix: str) -> dict[str, Any]:
        if key not in twins:
            return {}
        fast = preds[key].reindex(ids).to_numpy()
        slow = preds[twins[key]].reindex(ids).to_numpy()
        return {
            f"{prefix}accuracy_generate": float(by_cell[twins[key]].reindex(ids).to_numpy(dtype=float).mean()),
            f"{prefix}agreement": float((fast == slow).mean()),
            f"{prefix}unparsed": int((slow == -1).sum()),
        }

    prompt_cells = {c.concept: c.key for c in cells if c.condition == "prompt"}
    random_cells: dict[tuple[str, str, str], list[str]] = {}
    for c in cells:
        if c.condition == "random" and c.scoring == "logits":
            random_cells.setdefault((c.vector, c.tasks[0], c.selector), []).append(c.key)
    out = []
    for _, ch in chosen.iterrows():
        task_ids = sorted(set(rows.loc[rows["task"] == ch["task"], "item_id"]))
        steered = by_cell[ch["cell"]].reindex(task_ids).to_numpy(dtype=float)
        b = base.reindex(task_ids).to_numpy(dtype=float)
        acc = stats.accuracy(steered)
        diff = stats.paired_difference(steered, b)
        rec: dict[str, Any] = {
            "vector": ch["vector"], "method": ch["method"], "concept": ch["concept"], "task": ch["task"],
            "selector": ch["selector"], "layer": int(ch["layer"]), "strength": float(ch["strength"]),
            "alpha": float(ch["alpha"]), "n_cells": n_cells, "train_gain": float(ch["gain"]),
            "n_test": len(task_ids), "unsteered_accuracy": float(b.mean()),
            "accuracy": acc.value, "accuracy_low": acc.low, "accuracy_high": acc.high,
            "gain": diff.diff, "gain_low": diff.low, "gain_high": diff.high, "p_value": diff.p_value,
        }
        rec |= faithful(ch["cell"], task_ids, "") | faithful(unsteered.key, task_ids, "unsteered_")
        pkey = prompt_cells.get(ch["concept"])
        if pkey is not None:
            p = by_cell[pkey].reindex(task_ids).to_numpy(dtype=float)
            vs = stats.paired_difference(steered, p)
            rec |= {"prompt_accuracy": float(p.mean()), "gain_vs_prompt": vs.diff, "p_vs_prompt": vs.p_value}
        rkeys = random_cells.get((ch["vector"], ch["task"], ch["selector"]), [])
        if rkeys:
            rgains = [float(by_cell[k].reindex(task_ids).to_numpy(dtype=float).mean() - b.mean()) for k in rkeys]
            rc = stats.random_control(diff.diff, rgains)
            rec |= {"n_random": len(rgains), "random_mean_gain": rc.mean_random,
                    "random_q95_gain": rc.quantile_value, "random_p": rc.p_value, "beats_random": rc.beats_quantile}
        out.append(rec)
    table = pd.DataFrame(out)
    if len(table):
        table["p_holm"] = stats.holm(list(table["p_value"]))
        table["p_holm"] = table["p_holm"].astype(float)
    return table


def table_markdown(table: DataFrame | None, digits: int = 3) -> str:
    """A result table as markdown (gains in points with CIs, p-values), for reports.

    Example:
        >>> print(table_markdown(res.table))   # doctest: +SKIP
    """
    if table is None or len(table) == 0:
        return "(no test results)"
    head = ["vector", "task", "selector", "cell", "unsteered", "steered", "gain [95% CI]", "p", "p (Holm)"]
    has_prompt = "prompt_accuracy" in table
    has_random = "random_q95_gain" in table
    if has_prompt:
        head += ["prompting"]
    if has_random:
        head += ["random q95 gain", "beats random"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [
            r["vector"], r["task"], r["selector"], f"L{r['layer']} @ {r['strength']:+g}",
            f"{r['unsteered_accuracy']:.{digits}f}", f"{r['accuracy']:.{digits}f}",
            f"{100 * r['gain']:+.1f} [{100 * r['gain_low']:+.1f}, {100 * r['gain_high']:+.1f}]",
            f"{r['p_value']:.3g}", f"{r['p_holm']:.3g}",
        ]
        if has_prompt:
            cells.append(f"{r['prompt_accuracy']:.{digits}f}" if r["prompt_accuracy"] == r["prompt_accuracy"] else "-")
        if has_random:
            cells += [f"{100 * r['random_q95_gain']:+.1f}", str(bool(r["beats_random"]))]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


__all__ = ["SweepResult", "table_markdown"]
