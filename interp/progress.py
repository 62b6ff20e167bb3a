"""Progress on long work: one utility for every loop in interp that a user waits on.

``track`` wraps an iterable, ``Progress`` is advanced by hand (the sweep counts cell x batch
units) or wraps a loop whose body reports on it (``Progress.track`` with ``status`` and ``note``:
the organism's training loops), ``stage`` announces a step of a long run. Library calls stay
silent unless asked (``progress=True``); the CLI and the demo turn them on. Where they are on,
what is printed depends on where standard error goes:

- a terminal: a rich progress bar (description, bar, done/total, time left), cleared when done;
- anything else (a log file, CI, a notebook cell): plain lines, flushed at once: one when a task
  starts, one every ``PLAIN_INTERVAL`` seconds with the count, the share done and an estimate of
  the time left, and one when it ends, so a run that is watched through a log is never silent.

Example:
    >>> list(track([1, 2], description="demo"))
    [1, 2]
    >>> with Progress(enabled=False) as bar:
    ...     bar.start("cells", total=3)
    ...     bar.advance(3)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

#: Seconds between two plain progress lines when standard error is not a terminal.
PLAIN_INTERVAL = 30.0


def _stream() -> IO[str]:
    return sys.stderr


def _on_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _duration(seconds: float) -> str:
    """``seconds`` as ``"42 s"``, ``"3 min 5 s"`` or ``"1 h 2 min"``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def stage(message: str, *, enabled: bool = True, prefix: str = "interp") -> None:
    """Announce a step of a long run on standard error (``prefix message``), flushed at once.

    Example:
        >>> stage("sweeping 24 cells", enabled=False)
    """
    if not enabled:
        return
    stream = _stream()
    if _on_terminal(stream):
        from rich.console import Console

        Console(file=stream).print(f"[bold cyan]{prefix}[/] {message}")
    else:
        print(f"{prefix} {message}", file=stream, flush=True)


class Progress:
    """Progress advanced by hand: ``start`` a task, ``advance`` it; silent unless ``enabled``.

    A rich bar on a terminal, plain periodic lines elsewhere (see the module's docstring).

    Example:
        >>> with Progress(enabled=False) as bar:
        ...     bar.start("scoring", total=2)
        ...     bar.advance()
    """

    def __init__(self, enabled: bool = True, *, interval: float | None = None):
        self.enabled = enabled
        self.interval = PLAIN_INTERVAL if interval is None else interval
        self._bar: Any = None
        self._task: Any = None
        self._plain: IO[str] | None = None
        self._description = ""
        self._status_text = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            stream = _stream()
            if _on_terminal(stream):
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeRemainingColumn,
                )
                from rich.progress import Progress as RichProgress

                self._bar = RichProgress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[status]}"), transient=True,
                )
                self._bar.__enter__()
            else:
                self._plain = stream
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
        if self._plain is not None:
            if exc[0] is None:
                self._finish()
            self._plain = None

    def start(self, description: str, total: int | None) -> None:
        """Begin a new task of ``total`` units (None: unknown) under ``description``."""
        self._status_text = ""
        if self._bar is not None:
            self._task = self._bar.add_task(description, total=total, status="")
        if self._plain is not None:
            self._finish()
            self._description, self._total, self._done = description, total, 0
            self._started = self._last = time.monotonic()
            of = f" 0/{total}" if total is not None else ""
            self._line(f"{description}:{of} started")

    def advance(self, n: int = 1) -> None:
        """Mark ``n`` more units of the current task done."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)
        if self._plain is not None and self._description:
            self._done += n
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self._line(self._status(now))

    def status(self, text: str) -> None:
        """Show ``text`` (e.g. the latest losses) beside the current task, until the next ``status``.

        On a terminal it follows the bar; in plain lines it ends each periodic line.
        """
        self._status_text = text
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, status=text)

    def note(self, message: str) -> None:
        """Print ``message`` as a line of its own that stays (above the bar on a terminal).

        For what a long loop finds on the way (a validation score); silent unless ``enabled``.
        """
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self._plain or _stream(), flush=True)

    def track(self, iterable: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """``iterable`` as one task of this display, open while the loop runs and closed when it
        ends or breaks; ``status`` and ``note`` report on it from inside the loop.

        ``total`` defaults to ``len(iterable)`` where it has one.

        Example:
            >>> bar = Progress(enabled=False)
            >>> for step in bar.track(range(3), "training"):
            ...     bar.status(f"loss {1 / (step + 1):.2f}")
            ...     if step == 1:
            ...         bar.note("step 1: validation 0.5")
        """
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        with self:
            self.start(description, total)
            for element in iterable:
                yield element
                self.advance()

    def _status(self, now: float) -> str:
        elapsed = now - self._started
        status = f"; {self._status_text}" if self._status_text else ""
        if not self._total:
            return f"{self._description}: {self._done} done, {_duration(elapsed)}{status}"
        share = self._done / self._total
        left = elapsed * (1 - share) / share if share > 0 else float("nan")
        eta = f", about {_duration(left)} left" if share > 0 else ""
        return f"{self._description}: {self._done}/{self._total} ({share:.0%}), {_duration(elapsed)}{eta}{status}"

    def _finish(self) -> None:
        if self._plain is not None and self._description:
            took = _duration(time.monotonic() - self._started)
            of = f"/{self._total}" if self._total is not None else ""
            status = f"; {self._status_text}" if self._status_text else ""
            self._line(f"{self._description}: {self._done}{of} done in {took}{status}")
            self._description = ""

    def _line(self, text: str) -> None:
        if self._plain is not None:
            print(text, file=self._plain, flush=True)


def track(
    iterable: Iterable[T], *, total: int | None = None, description: str = "", enabled: bool = False
) -> Iterator[T]:
    """``iterable`` behind a progress display when ``enabled`` (a plain pass-through otherwise).

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


__all__ = ["PLAIN_INTERVAL", "Progress", "stage", "track"]
