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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, Union

from interp.evaluation.cells import Cell
from interp.evaluation.store import ResultStore
from interp.formatting import flag, interval, missing, point_label, points
from interp.items import Item
from interp.types import DataFrame

#: Columns that name a chosen cell in a sweep's table (what replication, specificity and the native
#: comparator read back to score the very cell again).
CELL_COLUMNS = ("vector", "method", "concept", "task", "selector", "layer", "strength", "alpha")

#: The group a cell competes in: the sweep chooses one cell (a layer and strength) per vector, task
#: and selector, and every per-chosen-cell table (replication, specificity, transfer) is keyed by them.
GROUP_COLUMNS = ("vector", "task", "selector")


def ranked_cells(grid: DataFrame) -> DataFrame:
    """A grid's rows sorted by group (``GROUP_COLUMNS``), each group's best cell first: the sweep's rule.

    Best is the most right answers (``n_correct``) on the items the cells were scored on; ties go to
    the smaller |strength|, then the lower layer, then the positive sign, so a choice never rests on
    the row order. The sweep (and each round of successive halving) takes the first rows of a group.

    Example:
        >>> import pandas as pd
        >>> grid = pd.DataFrame({"vector": "v", "task": "T", "selector": "image", "layer": [2, 0, 0],
        ...                      "strength": [1.0, -1.0, 1.0], "n_correct": [5, 5, 5]})
        >>> ranked_cells(grid)[["layer", "strength"]].values.tolist()
        [[0.0, 1.0], [0.0, -1.0], [2.0, 1.0]]
    """
    g = grid.assign(_abs=grid["strength"].abs(), _neg=grid["strength"] < 0)
    g = g.sort_values([*GROUP_COLUMNS, "n_correct", "_abs", "layer", "_neg"],
                      ascending=[True] * len(GROUP_COLUMNS) + [False, True, True, True], kind="mergesort")
    return g.drop(columns=["_abs", "_neg"])


@dataclass(frozen=True)
class SweepResult:
    """What a sweep returns (all tables are pandas DataFrames).

    Attributes:
        rows: one row per item x cell of this sweep (train and test), joined with the cell's
            fields (``ResultStore.rows``).
        grid: one row per cell on train: accuracy and gain over unsteered on the same items.
        table: one row per (vector, task, selector): the chosen cell, its test accuracy, gain
            over unsteered with CI and McNemar p (and Holm-adjusted over the table), the
            prompting baseline and the random-direction control: ``random_q95_gain`` (the 95th
            percentile of the random directions' gains), ``above_random_q95`` (the gain exceeds
            it) and ``above_random`` (it exceeds it AND the gain's own 95% CI lies above 0: a
            gain whose CI includes 0 is never called above random); ``discordance`` (how often
            the chosen cell changes an item's correctness) and ``mde``, the smallest gain a
            Holm-corrected test over the table's rows detects with 80% power on these items,
            steering's wins added to the cell's churn (its discordance less its gain;
            ``interp.evaluation.power.detectable_gain``). With ``sweep(replicate=...)``
            the replicated estimate (``rep_gain`` and its CI, ``rep_p_holm``, ``replicated``...),
            with ``specificity=True`` ``beats_flipped``, ``beats_other_concepts`` and ``specific``.
        config: the sweep's arguments, for the record (``skipped``: the (layer, selector) cells
            not run because they cannot change the answer).
        replication: ``interp.evaluation.replicate``'s own table, when asked for.
        specificity: ``interp.evaluation.specificity``'s per-control table, when asked for.
        transfer: ``interp.evaluation.transfer``'s per-task table, when asked for.
    """

    rows: DataFrame
    grid: DataFrame
    table: DataFrame
    config: dict[str, object]
    replication: DataFrame | None = None
    specificity: DataFrame | None = None
    transfer: DataFrame | None = None

    def to_markdown(self, digits: int = 3) -> str:
        """The result table as markdown, with footnotes on what its control columns mean and on
        the cells the sweep skipped.

        Example:
            >>> print(res.to_markdown())   # doctest: +SKIP
        """
        skipped = self.config.get("skipped")
        return table_markdown(self.table, digits=digits, skipped=skipped if isinstance(skipped, list) else None)

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


#: A sweep's results to draw: a ``SweepResult``, a ``{"grid": ..., "table": ...}`` mapping of its
#: tables, or one of the tables.
SweepLike: TypeAlias = Union[SweepResult, Mapping[str, Union[DataFrame, None]], DataFrame]  # noqa: UP007 (DataFrame is a forward reference)


def _table(
    db: ResultStore, chosen: Any, cells: Sequence[Cell], unsteered: Cell, items: Sequence[Item],
    n_cells: int | Mapping[str, int],
) -> Any:
    import pandas as pd

    from interp import stats
    from interp.evaluation.power import detectable_gain, discordance_rate

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
            "alpha": float(ch["alpha"]),
            "n_cells": n_cells if isinstance(n_cells, int) else n_cells[ch["selector"]], "train_gain": float(ch["gain"]),
            "n_test": len(task_ids), "unsteered_accuracy": float(b.mean()),
            "accuracy": acc.value, "accuracy_low": acc.low, "accuracy_high": acc.high,
            "gain": diff.diff, "gain_low": diff.low, "gain_high": diff.high, "p_value": diff.p_value,
            "discordance": discordance_rate(steered, b),
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
            rec |= random_columns(diff, rgains)
        out.append(rec)
    table = pd.DataFrame(out)
    if len(table):
        table["p_holm"] = stats.holm(list(table["p_value"]))
        table["p_holm"] = table["p_holm"].astype(float)
        table["mde"] = [  # the churn: the cell's discordance less its gain (power.detectable_gain)
            detectable_gain(int(n), max(float(d) - abs(float(g)), 0.0), comparisons=len(table))
            for n, d, g in zip(table["n_test"], table["discordance"], table["gain"])
        ]
    return table


#: Random directions a reported 95th percentile needs: the largest of n random gains estimates at
#: best the (1 - 1/n) quantile, so with fewer than 20 the q95 columns are NaN (not measured) and
#: only the mean and the largest random gain are reported.
MIN_RANDOM_Q95 = 20


def random_columns(diff: Any, gains: Sequence[float], prefix: str = "") -> dict[str, Any]:
    """The random-direction control's columns for one cell: ``n_random``, ``random_mean_gain``,
    ``random_max_gain``, ``random_p``, and with at least ``MIN_RANDOM_Q95`` directions
    ``random_q95_gain``, ``above_random_q95`` (the gain exceeds it) and ``above_random`` (it
    does AND the gain's own 95% CI lies above 0); NaN there with fewer. ``diff`` is the cell's
    ``stats.paired_difference`` against unsteered, ``gains`` the random directions' gains.

    Example:
        >>> from types import SimpleNamespace
        >>> random_columns(SimpleNamespace(diff=0.05, low=0.01), [0.0] * 5)["above_random"]
        nan
        >>> random_columns(SimpleNamespace(diff=0.05, low=0.01), [0.0] * 20)["above_random"]
        True
    """
    from interp import stats

    rc = stats.random_control(diff.diff, list(gains))
    enough = len(gains) >= MIN_RANDOM_Q95
    nan = float("nan")
    return {
        f"{prefix}n_random": len(gains), f"{prefix}random_mean_gain": rc.mean_random,
        f"{prefix}random_max_gain": float(max(gains)), f"{prefix}random_p": rc.p_value,
        f"{prefix}random_q95_gain": rc.quantile_value if enough else nan,
        f"{prefix}above_random_q95": rc.beats_quantile if enough else nan,
        f"{prefix}above_random": bool(rc.beats_quantile and diff.low > 0) if enough else nan,
    }


def claimed_rows(table: Any) -> Any:
    """The rows of a sweep's table that claim a replicated gain: ``replicated`` with ``rep_gain`` > 0
    (none when the table was not replicated)."""
    if table is None or not len(table) or "replicated" not in table or "rep_gain" not in table:
        return table.iloc[0:0] if table is not None else None
    return table[table["replicated"].map(measured) & (table["rep_gain"] > 0)]


def measured(x: Any) -> bool:
    """True only for a flag that was measured and holds (NaN or None: not measured, False)."""
    return not missing(x) and bool(x)


def table_markdown(table: DataFrame | None, digits: int = 3, skipped: Sequence[tuple[int, str]] | None = None) -> str:
    """A result table as markdown (gains in points with CIs, p-values, n per row), for reports.

    When the table has them: the prompting baseline, the random-direction control, the
    replicated estimate (the headline: a gain chosen as the best of many cells is optimistic on
    test) and the specificity control, with footnotes saying what each column means; ``skipped``
    (the sweep's ``config["skipped"]``) adds a footnote naming the cells not run.

    Example:
        >>> print(table_markdown(res.table))   # doctest: +SKIP
    """
    if table is None or len(table) == 0:
        return "(no test results)"
    has_prompt = "prompt_accuracy" in table
    has_random = "random_q95_gain" in table
    has_rep = "rep_gain" in table
    has_spec = "specific" in table
    head = ["vector", "task", "selector", "cell", "n", "unsteered", "steered", "test gain [95% CI]", "p", "p (Holm)"]
    if has_rep:
        head = [*head[:4], "replicated gain [95% CI] (n)", "rep p (Holm)", "replicated", *head[4:]]
    if has_prompt:
        head += ["prompting"]
    if has_random:
        head += ["random q95 gain", "above random"]
    if has_spec:
        head += ["beats flipped sign", "beats other concepts", "specific"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [r["vector"], r["task"], r["selector"], point_label(r["layer"], r["strength"])]
        if has_rep:
            n_rep = r.get("n_rep", float("nan"))
            cells += [
                "-" if missing(r["rep_gain"]) else f"{interval(r['rep_gain'], r['rep_gain_low'], r['rep_gain_high'])} ({int(n_rep)})",
                "-" if missing(r["rep_p_holm"]) else f"{r['rep_p_holm']:.3g}", flag(r["replicated"]),
            ]
        cells += [
            str(int(r["n_test"])) if "n_test" in r else "-",
            f"{r['unsteered_accuracy']:.{digits}f}", f"{r['accuracy']:.{digits}f}",
            interval(r["gain"], r["gain_low"], r["gain_high"]), f"{r['p_value']:.3g}", f"{r['p_holm']:.3g}",
        ]
        if has_prompt:
            cells.append(f"{r['prompt_accuracy']:.{digits}f}" if r["prompt_accuracy"] == r["prompt_accuracy"] else "-")
        if has_random:
            above = r["above_random"] if "above_random" in r else r.get("beats_random")
            cells += [points(r["random_q95_gain"]), flag(above)]
        if has_spec:
            cells += [flag(r["beats_flipped"]), flag(r["beats_other_concepts"]), flag(r["specific"])]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = ["Gains in points over the unsteered model on the same items; n: test items per row."]
    if has_rep:
        notes.append("Replicated: the chosen cell, as chosen, on a replication set that played no part in "
                     "choosing or reporting it (the headline estimate); 'replicated' = its CI excludes 0 on the "
                     "test gain's side, Holm p < 0.05 and above the random directions' q95 there; '-': not replicated.")
    if has_random:
        notes.append("Above random: the test gain exceeds the 95th percentile of random directions of the same "
                     "norm at the same cell AND its own 95% CI lies above 0.")
    if has_spec:
        notes.append("Specificity: the same cell with the flipped sign and with each other concept's vector "
                     "rescaled to the same norm; 'beats' = the paired 95% CI of the difference lies above 0.")
    if skipped:
        where = ", ".join(f"L{int(layer)} {sel}" for layer, sel in skipped)
        notes.append(f"Skipped (not run, never chosen): {where}: an edit of tokens other than the answer position "
                     "at the last decoder layer cannot change the answer (prefill-only steering, answer read at the "
                     "last position), so these cells equal the unsteered model.")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes)


__all__ = ["CELL_COLUMNS", "GROUP_COLUMNS", "MIN_RANDOM_Q95", "SweepLike", "SweepResult", "claimed_rows", "measured", "random_columns", "ranked_cells", "table_markdown"]
