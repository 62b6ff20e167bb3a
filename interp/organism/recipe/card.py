"""The organisms' cards: a Markdown writer both training scripts fill with their own sections.

Example:
    >>> card = Card("A card", "Written by a script.")
    >>> card.section("Numbers", "Two of them:")
    >>> card.table(["n", "square"], [["2", "4"], ["3", "9"]])
    >>> card.rebuild(["python make.py"])
    >>> print(card.text())
    # A card
    <BLANKLINE>
    Written by a script.
    <BLANKLINE>
    ## Numbers
    <BLANKLINE>
    Two of them:
    | n | square |
    |---|---|
    | 2 | 4 |
    | 3 | 9 |
    <BLANKLINE>
    ## Rebuild
    <BLANKLINE>
    ```
    python make.py
    ```
    <BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from interp.evaluation.tables import GROUP_COLUMNS
from interp.formatting import flag, interval_of, point_label, points


class Card:
    """Lines of a Markdown card: a title and intro, then sections, tables and raw lines in order.

    ``text()`` joins the lines with newlines (no newline is added at the end: a card that should
    end with one ends with an empty line, as :meth:`rebuild` does).

    Example:
        >>> Card("T").text()
        '# T\\n'
    """

    def __init__(self, title: str, *intro: str):
        self.lines: list[str] = [f"# {title}", "", *intro]

    def add(self, *lines: str) -> None:
        """Append lines as they are.

        Example:
            >>> card = Card("T"); card.add("x", ""); card.lines[-2:]
            ['x', '']
        """
        self.lines += lines

    def section(self, heading: str, *body: str) -> None:
        """A blank line, ``## heading``, a blank line, then ``body``.

        Example:
            >>> card = Card("T"); card.section("S", "x"); card.lines[-4:]
            ['', '## S', '', 'x']
        """
        self.lines += ["", f"## {heading}", "", *body]

    def table(self, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
        """A Markdown table: ``header``, its rule and one line per row of cells.

        Example:
            >>> card = Card("T"); card.table(["a", "b"], [["1", "2"]]); card.lines[-3:]
            ['| a | b |', '|---|---|', '| 1 | 2 |']
        """
        self.lines += [row(header), "|---" * len(header) + "|", *(row(r) for r in rows)]

    def rebuild(self, commands: Sequence[str]) -> None:
        """The closing ``## Rebuild`` section: ``commands`` in a code block, then a final newline.

        Example:
            >>> card = Card("T"); card.rebuild(["python x.py"]); card.lines[-3:]
            ['python x.py', '```', '']
        """
        self.section("Rebuild", "```", *commands, "```", "")

    def text(self) -> str:
        """The card's Markdown.

        Example:
            >>> Card("T", "x").text()
            '# T\\n\\nx'
        """
        return "\n".join(self.lines)

    def write(self, path: Path) -> Path:
        """Write the card to ``path`` and return it.

        Example:
            >>> Card("T").write(Path("CARD.md"))   # doctest: +SKIP
            PosixPath('CARD.md')
        """
        path.write_text(self.text())
        return path


_DIGITS = 2  # the card's points have two decimals (+2.75): on 400 scenes a point is 4 of them


def _same_group(row: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
    """Whether a per-control row belongs to the chosen cell ``c`` (the same vector, task, selector)."""
    return all(row[k] == c[k] for k in GROUP_COLUMNS)


def _controls(record: Mapping[str, Any], c: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The cell's other-concept rows of ``specificity`` (not the flipped sign), best gain first."""
    rows = [r for r in record.get("specificity", []) if _same_group(r, c) and r["control"] != "flipped"]
    return sorted(rows, key=lambda r: -r["control_gain"])


def _best_other(record: Mapping[str, Any], c: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The other concept whose vector gains most at the cell (``specificity`` rows), or None."""
    rows = _controls(record, c)
    return rows[0] if rows else None


def replication_headline(record: Mapping[str, Any]) -> list[str]:
    """The card's headline section from a replication record (``scripts/llava_headline.py``).

    The record holds the rule's cells replicated on fresh scenes with the complete controls
    (``interp.evaluation.replicate`` rows with the answer-prior baseline's ``rep_prior_*`` and the
    ``transfer_*`` columns, ``specific`` from ``interp.evaluation.specificity``, and its
    ``specificity`` rows against every concept of the corpora, named in ``concepts``). Every cell
    is listed; the sentence names those that replicate, none is picked as the best, and says for
    each what the controls found.

    Example:
        >>> rec = {"n_per_task": 400, "start": 30000, "n_random": 20, "concepts": ["attribute", "counting"],
        ...        "command": "python x.py", "specificity": [], "cells": [
        ...     {"vector": "sae/attribute", "task": "Attribute", "selector": "text", "layer": 0, "strength": 0.25,
        ...      "test_gain": 0.033, "rep_unsteered_accuracy": 0.9, "rep_accuracy": 0.94, "rep_gain": 0.04,
        ...      "rep_gain_low": 0.02, "rep_gain_high": 0.06, "rep_p": 1e-4, "rep_p_holm": 1e-3,
        ...      "rep_random_q95_gain": 0.004, "rep_above_random_q95": True, "replicated": True, "specific": True}]}
        >>> print(replication_headline(rec)[4])
        **1 of 1 cells replicate**: sae/attribute on Attribute, text tokens, L0 @ +0.25: +4.00 [+2.00, +6.00] points (0.9 -> 0.94), p (Holm) 0.001, above 20 random directions of the same norm (q95 +0.40, max -); specific: it beats the flipped sign and every other concept's vector at the same norm.
    """
    missing = [k for k in ("cells", "concepts", "specificity", "n_per_task", "start", "n_random", "command") if k not in record]
    if missing:
        raise ValueError(
            f"the replication record lacks {missing}: the headline reads a record of the complete controls "
            "(every concept, the answer prior, transfer), as scripts/llava_headline.py writes; rerun it"
        )
    cells = list(record["cells"])
    held = [c for c in cells if c.get("replicated")]

    def cell(c: Mapping[str, Any]) -> str:
        return f"{c['vector']} on {c['task']}, {c['selector']} tokens, {point_label(c['layer'], c['strength'])}"

    def gain(c: Mapping[str, Any]) -> str:
        text = (f"{interval_of(c, 'rep_gain', _DIGITS)} points "
                f"({c['rep_unsteered_accuracy']:.4g} -> {c['rep_accuracy']:.4g}), p (Holm) {c['rep_p_holm']:.2g}, ")
        text += (("above" if c.get("rep_above_random_q95") else "not above") + f" {int(c.get('rep_n_random', record['n_random']))} random "
                 f"directions of the same norm (q95 {points(c.get('rep_random_q95_gain'), _DIGITS)}, max "
                 f"{points(c.get('rep_random_max_gain'), _DIGITS)})")
        unbeaten = [r for r in _controls(record, c) if not r["gain_over_control_low"] > 0]
        flipped = [r for r in record.get("specificity", []) if r["control"] == "flipped" and _same_group(r, c)]
        if c.get("specific"):
            text += "; specific: it beats the flipped sign and every other concept's vector at the same norm"
        elif unbeaten:
            named = [f"{r['control'].split('/')[-1]} ({points(r['control_gain'], _DIGITS)}; margin {interval_of(r, 'gain_over_control', _DIGITS)})" for r in unbeaten]
            text += "; **not specific**: at the same norm and cell it does not beat " + (
                ", ".join(named[:-1]) + " or " + named[-1] if len(named) > 1 else named[0])
        else:
            text += "; **not specific**: it does not beat the flipped sign"
        if flipped and not c.get("specific") and unbeaten:
            text += f" (it beats the flipped sign, which gains {points(flipped[0]['control_gain'], _DIGITS)})"
        if c.get("rep_prior_gain") is not None:
            share = c.get("rep_prior_share")
            text += (f"; a pure answer-prior shift gains {interval_of(c, 'rep_prior_gain', _DIGITS)}"
                     + (f" ({100 * share:.0f}% of the gain)" if share is not None and share == share else "")
                     + (", and the cell beats it by " if c.get("rep_beats_prior") else ", and the cell does not beat it: ")
                     + interval_of(c, "rep_gain_over_prior", _DIGITS)
                     + (f" (McNemar p {c['rep_p_over_prior']:.2g})" if c.get("rep_p_over_prior") is not None else ""))
        if c.get("transfer_gain") is not None:
            text += (f"; on the tasks it was not chosen for ({', '.join(str(c['transfer_tasks']).split())}) it changes accuracy by "
                     f"{interval_of(c, 'transfer_gain', _DIGITS)} "
                     f"(worst: {c['transfer_worst_task']} {points(c['transfer_worst_gain'], _DIGITS)})")
        return text

    concepts = ", ".join(record["concepts"])
    controls = (
        f"against the unsteered model and {record['n_random']} random directions of the same norm (a 95th "
        "percentile is reported from 20 or more); Holm over the cells. On the same scenes, the complete "
        f"controls: *specific* = the cell beats the flipped sign and the vector of every other concept of the "
        f"organism corpora ({concepts}; the cell's method, at the same norm and cell) -- paired 95% CI of the "
        "difference above 0; the *answer prior* = the unsteered model with the best constant per-option "
        f"logit offset, fitted on its answers to the sweep's own train items "
        f"({record.get('prior_train_items_per_task', '?')} val scenes per task): how much of the gain a pure "
        "change of answer prior reaches, and whether the cell beats it; *transfer* = the cell's effect on the "
        "fresh scenes of every task it was not chosen for. "
    )
    lines = [
        "## Headline: the helping cells replicated on fresh scenes",
        "",
        f"Every chosen cell that met the three bars on the 300 test items (the rule, fixed before this ran; "
        f"no cell added or dropped by its result), scored exactly as chosen on {record['n_per_task']} fresh test "
        f"scenes per task (scene indices from {record['start']}: no choice, test or confirm phase used them), "
        + controls + "These are the headline figures; "
        "the test gains below were what the cells were chosen by, and are inflated by that choice.",
        "",
    ]
    if held:
        lines.append(f"**{len(held)} of {len(cells)} cells replicate**: " + "; ".join(
            f"{cell(c)}: {gain(c)}" for c in held) + ".")
    else:
        lines.append(f"**None of the {len(cells)} cells replicates** (gain CI above 0, Holm p < 0.05, above random).")
    specific = [c for c in cells if c.get("specific")]
    beats = [c for c in held if c.get("specific") and c.get("rep_beats_prior")]
    lines += ["", f"Specific against all {len(record['concepts'])} concepts: {len(specific)} of {len(cells)} cells"
              + (f" ({'; '.join(cell(c) for c in specific)})" if specific else "")
              + f". Replicated, specific and beyond the answer prior: {len(beats)} of {len(cells)}"
              + (f" ({'; '.join(cell(c) for c in beats)})" if beats else "") + "."]
    lines += ["", "A cell that does not replicate is not shown to have no effect: its interval says how large an "
              "effect these scenes can rule out."]
    lines += [
        "",
        "| vector | task | selector | cell | test gain | fresh: unsteered -> steered | replicated gain [95% CI] "
        "| p (Holm) | random q95 (max) | replicated | best other concept: its gain | specific | prior-shift gain "
        "[95% CI] | share | beats prior | transfer [95% CI] | worst other task |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        other = _best_other(record, c)
        share = c.get("rep_prior_share")
        lines.append(
            f"| {c['vector']} | {c['task']} | {c['selector']} | {point_label(c['layer'], c['strength'])} "
            f"| {points(c['test_gain'], _DIGITS)} | {c['rep_unsteered_accuracy']:.3f} -> {c['rep_accuracy']:.3f} "
            f"| {interval_of(c, 'rep_gain', _DIGITS)} | {c['rep_p_holm']:.3g} "
            f"| {points(c.get('rep_random_q95_gain'), _DIGITS)} ({points(c.get('rep_random_max_gain'), _DIGITS)}) | {flag(c['replicated'])} "
            f"| {(other['control'].split('/')[-1] + ': ' + points(other['control_gain'], _DIGITS)) if other else '-'} "
            f"| {flag(c.get('specific'))} | {interval_of(c, 'rep_prior_gain', _DIGITS)} "
            f"| {'-' if share is None or share != share else f'{100 * share:.0f}%'} | {flag(c.get('rep_beats_prior'))} "
            f"| {interval_of(c, 'transfer_gain', _DIGITS)} "
            f"| {c.get('transfer_worst_task', '-')} {points(c.get('transfer_worst_gain'), _DIGITS)} |"
        )
    return [*lines, "", f"Produced by `{record['command']}` (then `--phases card` of the training script).", ""]


def row(cells: Sequence[str]) -> str:
    """One Markdown table row.

    Example:
        >>> row(["a", "b"])
        '| a | b |'
    """
    return "| " + " | ".join(cells) + " |"


__all__ = ["Card", "replication_headline", "row"]
