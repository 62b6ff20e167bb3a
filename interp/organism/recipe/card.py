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


def replication_headline(record: Mapping[str, Any]) -> list[str]:
    """The card's headline section from a replication record (``scripts/llava_headline.py``).

    The record holds the rule's cells replicated on fresh scenes (``interp.evaluation.replicate``
    rows, with ``specific`` from ``interp.evaluation.specificity``). Every cell is listed; the
    sentence names those that replicate, none is picked as the best.

    Example:
        >>> rec = {"n_per_task": 400, "start": 30000, "n_random": 10, "command": "python x.py", "cells": [
        ...     {"vector": "sae/attribute", "task": "Attribute", "selector": "text", "layer": 0, "strength": 0.25,
        ...      "test_gain": 0.033, "rep_unsteered_accuracy": 0.9, "rep_accuracy": 0.94, "rep_gain": 0.04,
        ...      "rep_gain_low": 0.02, "rep_gain_high": 0.06, "rep_p": 1e-4, "rep_p_holm": 1e-3,
        ...      "rep_random_q95_gain": 0.004, "rep_beats_random": True, "replicated": True, "specific": True}]}
        >>> print(replication_headline(rec)[4])
        **1 of 1 cells replicate**: sae/attribute on Attribute, text tokens, L0 @ +0.25: +4.0 points [+2.0, +6.0], p (Holm) 0.001, above random (q95 +0.4), specific.
    """
    cells = list(record.get("cells", []))
    held = [c for c in cells if c.get("replicated")]

    def cell(c: Mapping[str, Any]) -> str:
        return f"{c['vector']} on {c['task']}, {c['selector']} tokens, L{int(c['layer'])} @ {float(c['strength']):+g}"

    def gain(c: Mapping[str, Any]) -> str:
        return (f"{100 * c['rep_gain']:+.1f} points [{100 * c['rep_gain_low']:+.1f}, {100 * c['rep_gain_high']:+.1f}], "
                f"p (Holm) {c['rep_p_holm']:.2g}, "
                + ("above random" if c.get("rep_above_random_q95", c.get("rep_beats_random")) else "not above random")
                + f" (q95 {100 * c['rep_random_q95_gain']:+.1f}), "
                + ("specific" if c.get("specific") else "not specific"))

    lines = [
        "## Headline: the helping cells replicated on fresh scenes",
        "",
        f"Every chosen cell that met the three bars on the 300 test items (the rule, fixed before this ran; "
        f"no cell added or dropped by its result), scored exactly as chosen on {record['n_per_task']} fresh test "
        f"scenes per task (scene indices from {record['start']}: no choice, test or confirm phase used them), "
        f"against the unsteered model and {record['n_random']} random directions of the same norm; Holm over "
        "the cells. *Specific*: the cell beats the flipped sign and each other concept's vector at the same "
        "norm on the same scenes (paired 95% CI of the difference above 0). These are the headline figures; "
        "the test gains below were what the cells were chosen by, and are inflated by that choice.",
        "",
    ]
    if held:
        lines.append(f"**{len(held)} of {len(cells)} cells replicate**: " + "; ".join(
            f"{cell(c)}: {gain(c)}" for c in held) + ".")
    else:
        lines.append(f"**None of the {len(cells)} cells replicates** (gain CI above 0, Holm p < 0.05, above random).")
    lines += ["", "A cell that does not replicate is not shown to have no effect: its interval says how large an "
              "effect these scenes can rule out."]
    lines += [
        "",
        "| vector | task | selector | cell | test gain | fresh: unsteered -> steered | replicated gain [95% CI] "
        "| p (Holm) | random q95 | replicated | specific |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c['vector']} | {c['task']} | {c['selector']} | L{int(c['layer'])} @ {float(c['strength']):+g} "
            f"| {100 * c['test_gain']:+.1f} | {c['rep_unsteered_accuracy']:.3f} -> {c['rep_accuracy']:.3f} "
            f"| {100 * c['rep_gain']:+.1f} [{100 * c['rep_gain_low']:+.1f}, {100 * c['rep_gain_high']:+.1f}] "
            f"| {c['rep_p_holm']:.3g} | {100 * c['rep_random_q95_gain']:+.1f} | {'yes' if c['replicated'] else 'no'} "
            f"| {'yes' if c.get('specific') else 'no'} |"
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
