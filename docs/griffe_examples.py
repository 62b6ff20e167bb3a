"""Griffe extension for the API reference: interp's docstrings say ``Example:`` (singular).

Griffe's Google-style parser only treats ``Examples:`` as an examples section, so without this
the ``>>>`` lines would be rendered as prose. The extension renames the heading before parsing.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section headings to ``Examples:`` in every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
