"""Exceptions a caller may want to catch by name.

Everything else that is wrong with an input raises a plain ``ValueError`` whose message names
what was wrong and what was expected (numbers and flags are converted and checked by
``interp.args``).

Example:
    >>> issubclass(CorruptArtifactError, ValueError)
    True
"""

from __future__ import annotations


class UnsupportedModelError(ValueError):
    """The checkpoint's ``model_type`` has no family adapter in ``interp.models``."""


class CorruptArtifactError(ValueError):
    """A saved artifact (vector, result table, shipped organism file) failed its checksum or
    could not be parsed."""


__all__ = ["CorruptArtifactError", "UnsupportedModelError"]
