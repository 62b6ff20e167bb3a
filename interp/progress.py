"""Progress on long work: one utility for every loop in interp that a user waits on.

``track`` wraps an iterable, ``Progress`` is advanced by hand (the sweep counts cell x batch
units). Both draw a rich progress bar when ``enabled`` and do nothing otherwise, so library calls
stay silent unless asked (``progress=True``); the CLI and the demo turn them on.

Example:
    >>> list(track([1, 2], description="demo"))
    [1, 2]
    >>> with Progress(enabled=False) as bar:
    ...     bar.start("cells", total=3)
    ...     bar.advance(3)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class Progress:
    """A progress bar advanced by hand: ``start`` a task, ``advance`` it; silent unless ``enabled``.

    Example:
        >>> with Progress(enabled=False) as bar:
        ...     bar.start("scoring", total=2)
        ...     bar.advance()
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def start(self, description: str, total: int | None) -> None:
        """Begin a new task of ``total`` units (None: unknown) under ``description``."""
        if self._bar is not None:
            self._task = self._bar.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units of the current task done."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)


def track(
    iterable: Iterable[T], *, total: int | None = None, description: str = "", enabled: bool = False
) -> Iterator[T]:
    """``iterable`` behind a progress bar when ``enabled`` (a plain pass-through otherwise).

    Example:
        >>> list(track(range(3), total=3, description="batches"))
        [0, 1, 2]
    """
    if not enabled:
        yield from iterable
        return
    with Progress(enabled=True) as bar:
        bar.start(description, total)
        for element in iterable:
            yield element
            bar.advance()


__all__ = ["Progress", "track"]
