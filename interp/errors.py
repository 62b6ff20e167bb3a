"""Exceptions a caller may want to catch by name.

Everything else that is wrong with an input raises a plain ``ValueError`` whose message names
what was wrong and what was expected.
"""

from __future__ import annotations


class UnsupportedModelError(ValueError):
    """The checkpoint's ``model_type`` has no family adapter in ``interp.models``."""


class CorruptArtifactError(ValueError):
    """A saved artifact (vector, result table) failed its checksum or could not be parsed."""
