"""The demo's verdict per model: a line of numbers a reader takes in at a glance, then a line of why.

The numbers line gives, in this order: the replicated gain with its interval (or, when nothing
replicates, the smallest gain the replication could have detected: "no gain of at least X
points"), then each control of the claim: the answer-prior baseline, specificity against every
other concept of the model's corpora and the flipped sign, the random directions' q95, the cost on
the other tasks, the learned vector's ceiling, and the protocol's false-claim rate. The why line
says what the model shows about the result (tasks at the ceiling, where the vectors sit, drift,
the modality gap).

Example:
    >>> verdict_line("organism", report.table, inside)   # doctest: +SKIP
    'organism: no gain of at least 2.6 points (80% power; 1200 fresh scenes per task, 2 cells) · ...'
"""

from __future__ import annotations

from typing import Any

from interp.evaluation.tables import claimed_rows, measured
from interp.formatting import finite, interval_of, point_label, points

SEP = " · "


def _cell(r: Any) -> str:
    return f"{r['vector']} on {r['task']}, {r['selector']} tokens {point_label(r['layer'], r['strength'])}"


def _has(r: Any, col: str) -> bool:
    return col in r and r[col] == r[col]


def _controls(r: Any, null: Any, ceiling: Any) -> list[str]:
    parts = []
    if _has(r, "rep_prior_gain"):
        share = "" if not _has(r, "rep_prior_share") else f", {100 * r['rep_prior_share']:.0f}% of the gain"
        parts.append(f"answer-prior shift {points(r['rep_prior_gain'])}{share}: "
                     + ("beaten" if measured(r.get("rep_beats_prior")) else "not beaten"))
    if _has(r, "specific"):
        n_other = r.get("n_other_concepts")
        who = f" {int(n_other)} other concepts" if n_other == n_other and n_other is not None else " other concepts"
        if measured(r["specific"]):
            parts.append(f"specific (beats{who} and the flipped sign)")
        else:
            best = r.get("other_concepts_best")
            parts.append("not specific" + (f": {best} does about as well ({points(r['other_concepts_max_gain'])})"
                                           if isinstance(best, str) else ""))
    if _has(r, "rep_random_q95_gain"):
        parts.append(f"random q95 {points(r['rep_random_q95_gain'])} ({int(r['rep_n_random'])} directions): "
                     + ("above" if measured(r.get("rep_above_random")) else "not above"))
    elif _has(r, "rep_n_random"):
        parts.append(f"random directions {int(r['rep_n_random'])}: too few for a q95")
    if _has(r, "transfer_gain"):
        parts.append(f"transfer to {r['transfer_tasks'].replace(' ', '/')} {interval_of(r, 'transfer_gain')}")
    if ceiling is not None and len(ceiling):
        row = ceiling[(ceiling["vector"] == r["vector"]) & (ceiling["task"] == r["task"])
                      & (ceiling["selector"] == r["selector"])]
        if len(row) and _has(row.iloc[0], "learned_gain"):
            c = row.iloc[0]
            frac, low, high = c.get("textual_fraction"), c.get("textual_fraction_low"), c.get("textual_fraction_high")
            parts.append(f"learned vector there {points(c['learned_gain'])} on test"
                         + (f" (text reaches {100 * frac:.0f}% [{100 * low:.0f}%, {100 * high:.0f}%] of it)"
                            if all(map(finite, (frac, low, high)))
                            else " (no fraction: the learned gain's CI reaches 0)"))
    parts.append(false_claims(null))
    return parts


def false_claims(null: Any) -> str:
    """The false-claim rate of the protocol, from the demo's null pipeline runs (``null.csv``)."""
    if null is None or not len(null):
        return "false-claim rate not measured in this run (--null-runs N; docs/findings_null.md measures it)"
    from interp.evaluation.null import false_claim_rate

    r = false_claim_rate(list(null["claims_a_gain"].astype(bool)))
    return f"false-claim rate {r.claims}/{r.runs} [{100 * r.low:.0f}%, {100 * r.high:.0f}%]"


def verdict_line(model: str, table: Any, inside: dict[str, Any] | None = None, *, null: Any = None,
                 ceiling: Any = None, n_replicate: int = 0) -> str:
    """The numbers line: the replicated gain or what the replication could have detected, then the
    controls of the claim. ``inside`` is only read by ``why_line``; ``n_replicate``: the fresh items
    per task the run would have replicated on (0: none asked for)."""
    if table is None or not len(table):
        return f"{model}: no chosen cell was reported (no test items)."
    rep = table[table["rep_gain"].notna()] if "rep_gain" in table else table.iloc[0:0]
    if not len(rep) and n_replicate and not (table["gain"] > 0).any():
        return (f"{model}: no chosen cell gained on test, so none was replicated; {_test_power(table)}"
                + SEP + false_claims(null) + ".")
    if not len(rep):
        sig = table[(table["gain_low"] > 0) & (table["p_holm"] < 0.05)]
        return (f"{model}: {len(sig)} of {len(table)} chosen cells gain on test (CI above 0, Holm p < 0.05), "
                f"not replicated: each is the best of many cells, so optimistic; {_test_power(table)}.")
    n_rep = int(rep["n_rep"].max())
    held = claimed_rows(rep)
    if len(held):
        b = held.sort_values("rep_gain", ascending=False).iloc[0]
        head = (f"{model}: {interval_of(b, 'rep_gain')} points at {_cell(b)} ({n_rep} fresh scenes, Holm p "
                f"{b['rep_p_holm']:.2g}; {len(held)} of {len(rep)} replicated cells hold)")
    else:
        b = rep.sort_values("rep_gain", ascending=False).iloc[0]
        mde = rep["rep_mde"].max() if "rep_mde" in rep else float("nan")
        limit = (f"no gain of at least {100 * mde:.1f} points (80% power; " if mde == mde and mde != float("inf")
                 else "no gain detected, and too few items to detect one with 80% power (")
        head = (f"{model}: {limit}{n_rep} fresh scenes per task, {len(rep)} replicated cells); "
                f"best {_cell(b)} {interval_of(b, 'rep_gain')}")
    harms = rep[(rep["rep_gain_high"] < 0) & (rep["rep_p_holm"] < 0.05)]
    tail = []
    if len(harms):
        w = harms.sort_values("rep_gain").iloc[0]
        tail.append(f"{len(harms)} replicated harm{'s' * (len(harms) > 1)} (worst {_cell(w)} {interval_of(w, 'rep_gain')})")
    return SEP.join([head, *_controls(b, null, ceiling), *tail]) + "."


def _test_power(table: Any) -> str:
    """What the test could detect: the smallest ``mde`` of the table's rows (80% power)."""
    mde = table["mde"].min() if "mde" in table else float("nan")
    if mde == mde and mde < 1:
        return f"the test detects gains of at least {100 * mde:.1f} points (80% power)"
    return "the test has too few items to detect any gain with 80% power"


def why_line(model: str, table: Any, inside: dict[str, Any]) -> str:
    """What the model shows about the result, one clause per analysis ("" when none ran)."""
    why = []
    if table is not None and len(table):
        by_task = table.drop_duplicates("task").set_index("task")["unsteered_accuracy"]
        ceiling = sorted(t for t, a in by_task.items() if a >= 0.98)
        if ceiling:
            why.append(f"{', '.join(ceiling)} {'is' if len(ceiling) == 1 else 'are'} answered at >= 0.98 unsteered "
                       "(little room to gain)")
    if "variance_share" in inside:
        img = inside["variance_share"]
        img = img[img["kind"] == "image"]
        if len(img):
            why.append(f"the textual vectors hold {img['ratio'].min():.1f}-{img['ratio'].max():.1f}x a random "
                       "direction's share of image-token variance")
    if "lm_drift" in inside:
        drift = max(inside["lm_drift"].values())
        why.append("its language model is the text backbone the vectors were built on (drift 0)" if drift == 0 else
                   f"its language model drifted from the text backbone (relative weight distance up to {drift:.2f})")
    if "isomorphic" in inside:
        alls = inside["isomorphic"].accuracy
        n = int(alls["n"].max()) if "n" in alls else None
        alls = alls[alls["task"] == "all"].set_index("run")["accuracy"]
        text = "mllm_text" if "mllm_text" in alls else "text"
        if "image" in alls and text in alls:
            scenes = f"the same {n} scenes" if n else "the same scenes"
            why.append(f"modality gap: {scenes} answered at {alls['image']:.2f} as images, {alls[text]:.2f} as text"
                       + _gap_interval(getattr(inside["isomorphic"], "items", None), text))
    return f"{model}, why: " + "; ".join(why) + "." if why else ""


def _gap_interval(items: Any, text: str) -> str:
    """The text-minus-image difference on the same scenes: paired bootstrap 95% CI and McNemar p."""
    if items is None or not {"item", "run", "correct"} <= set(items.columns):
        return ""
    from interp.stats import paired_difference

    wide = items.pivot_table(index="item", columns="run", values="correct", aggfunc="first")
    if "image" not in wide or text not in wide:
        return ""
    wide = wide[["image", text]].dropna()
    if len(wide) < 2:
        return ""
    d = paired_difference(wide[text].astype(bool).tolist(), wide["image"].astype(bool).tolist())
    return (f" ({100 * d.diff:+.1f} points as text [{100 * d.low:+.1f}, {100 * d.high:+.1f}], "
            f"McNemar p {d.p_value:.2g})")


__all__ = ["false_claims", "verdict_line", "why_line"]
