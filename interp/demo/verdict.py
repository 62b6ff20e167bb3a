"""The demo's verdict: one plain line per model, the replicated estimate first, then why.

Example:
    >>> verdict_line("organism", report.table, inside)   # doctest: +SKIP
    'organism: textual steering does not help: ...'
"""

from __future__ import annotations

from typing import Any


def verdict_line(model: str, table: Any, inside: dict[str, Any]) -> str:
    """One plain line: where textual steering helps on ``model`` (the replicated estimate), or
    that it does not, and what the model shows about why."""
    if table is None or not len(table):
        return f"{model}: no chosen cell was reported (no test items)."
    rep = table[table["rep_gain"].notna()] if "rep_gain" in table else table.iloc[0:0]
    helps = False
    if len(rep):
        n_rep = int(rep["n_rep"].max())
        held = rep[rep["replicated"].astype(bool) & (rep["rep_gain"] > 0)]
        if len(held):
            helps = True
            b = held.sort_values("rep_gain", ascending=False).iloc[0]
            above = "above" if bool(b.get("rep_above_random", False)) else "not above"
            head = (
                f"{model}: textual steering helps at {len(held)} of {len(rep)} replicated cells on {n_rep} fresh "
                f"scenes per task; best {_cell(b)}: {_points(b, 'rep_gain')}, Holm p {b['rep_p_holm']:.2g}, "
                f"{above} every random direction (q95 {100 * b['rep_random_q95_gain']:+.1f}), {_specific(b)}"
            )
        else:
            b = rep.sort_values("rep_gain", ascending=False).iloc[0]
            head = (
                f"{model}: textual steering does not help: none of the {len(rep)} best chosen cells replicates on "
                f"{n_rep} fresh scenes per task (best: {_cell(b)} {_points(b, 'rep_gain')})"
            )
    else:
        sig = table[(table["gain_low"] > 0) & (table["p_holm"] < 0.05)]
        head = (
            f"{model}: {len(sig)} of {len(table)} chosen cells gain on test (CI above 0, Holm p < 0.05); "
            "not replicated, so these test gains, each the best of many cells, are optimistic"
        )
    why = _why(table, inside)
    line = head + (("; elsewhere: " if helps else "; why: ") + "; ".join(why) if why else "")
    harms = table[(table["gain_high"] < 0) & (table["p_value"] < 0.05)]
    if len(harms):
        w = harms.sort_values("gain").iloc[0]
        line += (f"; {len(harms)} harm{'s' * (len(harms) > 1)} on test significant before correction (worst "
                 f"{_cell(w)}: {_points(w, 'gain')}, p {w['p_value']:.2g}, Holm p {w['p_holm']:.2g})")
    if len(rep):
        rep_harms = rep[(rep["rep_gain_high"] < 0) & (rep["rep_p_holm"] < 0.05)]
        if len(rep_harms):
            w = rep_harms.sort_values("rep_gain").iloc[0]
            line += (f"; {len(rep_harms)} significant harm{'s' * (len(rep_harms) > 1)} on the fresh scenes (worst "
                     f"{_cell(w)}: {_points(w, 'rep_gain')}, Holm p {w['rep_p_holm']:.2g})")
    return line + "."


def _cell(r: Any) -> str:
    return f"{r['vector']} on {r['task']} ({r['selector']} tokens, L{int(r['layer'])} @ {float(r['strength']):+g})"


def _points(r: Any, col: str) -> str:
    return f"{100 * r[col]:+.1f} points [{100 * r[col + '_low']:+.1f}, {100 * r[col + '_high']:+.1f}]"


def _specific(r: Any) -> str:
    if "specific" not in r or r["specific"] != r["specific"]:
        return "specificity not measured"
    if bool(r["specific"]):
        return "specific to its concept (beats the flipped sign and every other concept's vector)"
    who = [w for w, col in (("the flipped sign", "beats_flipped"), ("another concept's vector", "beats_other_concepts"))
           if r.get(col) == r.get(col) and not bool(r.get(col))]
    return "not specific: " + (" and ".join(who) or "a control") + " does about as well"


def _why(table: Any, inside: dict[str, Any]) -> list[str]:
    why = []
    by_task = table.drop_duplicates("task").set_index("task")["unsteered_accuracy"]
    ceiling = sorted(t for t, a in by_task.items() if a >= 0.98)
    if ceiling:
        why.append(f"{', '.join(ceiling)} {'is' if len(ceiling) == 1 else 'are'} at the ceiling unsteered "
                   "(accuracy >= 0.98: no gain possible)")
    if "variance_share" in inside:
        img = inside["variance_share"]
        img = img[img["kind"] == "image"]
        if len(img):
            why.append(f"the textual vectors hold {img['ratio'].min():.1f}-{img['ratio'].max():.1f}x a random "
                       "direction's share of image-token variance")
    if "lm_drift" in inside:
        drift = max(inside["lm_drift"].values())
        why.append(
            "its language model is the text backbone the vectors were built on (drift 0)" if drift == 0 else
            f"its language model drifted from the text backbone the vectors were built on (relative weight "
            f"distance up to {drift:.2f})"
        )
    if "isomorphic" in inside:
        alls = inside["isomorphic"].accuracy
        alls = alls[alls["task"] == "all"].set_index("run")["accuracy"]
        text = "mllm_text" if "mllm_text" in alls else "text"
        if "image" in alls and text in alls:
            why.append(f"modality gap: the same scenes are answered at {alls['image']:.2f} as images and "
                       f"{alls[text]:.2f} as text")
    return why


__all__ = ["verdict_line"]
