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

from collections.abc import Iterable, Sequence
from pathlib import Path


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


def row(cells: Sequence[str]) -> str:
    """One Markdown table row.

    Example:
        >>> row(["a", "b"])
        '| a | b |'
    """
    return "| " + " | ".join(cells) + " |"


__all__ = ["Card", "row"]
