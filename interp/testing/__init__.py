"""Test helpers: tiny random-initialised models of every supported family, saved like hub checkpoints.

The names are those ``interp.testing.tiny`` declares in its ``__all__``.
"""

from interp.testing import tiny
from interp.testing.tiny import *  # noqa: F403  (tiny.__all__, declared there once)

__all__ = list(tiny.__all__)
