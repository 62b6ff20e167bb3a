"""Griffe extensions for the API reference, fitting interp's docstrings to griffe's Google parser.

- ``ExampleSections``: interp's docstrings say ``Example:`` (singular); griffe's Google-style
  parser only treats ``Examples:`` as an examples section, so without this the ``>>>`` lines would
  be rendered as prose. The extension renames the heading before parsing.
- ``GroupedParams``: interp documents parameters that go together on one line
  (``clean, corrupt: pairs of items``); griffe reads that as one parameter named
  ``"clean, corrupt"`` and warns that the signature has no such parameter. The extension writes
  one entry per name, each with the shared description, before parsing.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.MULTILINE)
_PARAM_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Keyword Arguments):[ \t]*$")
_GROUPED = re.compile(r"^(\s+)(\w+(?:\s*,\s*\w+)+)(\s*:.*)$")


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headings to ``Examples:`` in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # The top-level package is not passed to on_object: its docstring (interp's own
        # Example) would otherwise render as an admonition of nested quotes.
        self.on_object(obj=pkg)


def split_grouped_params(text: str) -> str:
    """``a, b: text`` in a parameter section -> ``a: text`` and ``b: text`` (continuations kept).

    Example:
        >>> split_grouped_params("Args:\\n    a, b: two numbers\\n        to add.\\n    c: one more.")
        'Args:\\n    a: two numbers\\n        to add.\\n    b: two numbers\\n        to add.\\n    c: one more.'
    """
    lines = text.split("\n")
    out: list[str] = []
    section: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = _PARAM_SECTION.match(line)
        if heading:
            section = heading.group(1)
            out.append(line)
            i += 1
            continue
        if section is not None and line.strip() and len(line) - len(line.lstrip()) <= len(section):
            section = None
        grouped = _GROUPED.match(line) if section is not None else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        indent, names, rest = grouped.groups()
        body = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            if not lines[i].strip() and (i + 1 >= len(lines) or len(lines[i + 1]) - len(lines[i + 1].lstrip()) <= len(indent)):
                break
            body.append(lines[i])
            i += 1
        for name in re.split(r"\s*,\s*", names):
            out += [f"{indent}{name}{rest}", *body]
    return "\n".join(out)


class GroupedParams(griffe.Extension):
    """Split parameters documented together (``a, b: ...``) into one entry per name."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = split_grouped_params(obj.docstring.value)
