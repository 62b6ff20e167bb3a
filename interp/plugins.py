"""Plugins: what other packages add to interp by name, found through Python entry points.

interp's core knows no particular model. A *plugin* (the model organism that ships with interp is
one; a lab's own organism or benchmark is another) registers what it brings into the core's
registries: model sources (``interp.models.sources``), corpus sources (``interp.concepts``),
benchmarks (``interp.evaluation.benchmarks``), visual contrast sets (``interp.vectors.native``)
and the analyses' per-benchmark helpers (``interp.analysis``). It declares one entry point in the
group ``interp.plugins`` whose value is a function of no arguments that does the registering::

    [project.entry-points."interp.plugins"]
    my_organism = "my_package.interp_plugin:register"

Every registry is a ``Registry``: a name that is not found makes it load the plugins' entry points
once (so ``import interp`` loads no plugin, and a plugin's import cost is paid only when one of
its names is asked for), then look again. Registering a name twice is an error.

Example:
    >>> colors = Registry("colour")
    >>> colors.register("red", (255, 0, 0))
    >>> colors.get("red")
    (255, 0, 0)
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

#: The entry-point group plugins declare their ``register`` function in.
PLUGIN_GROUP = "interp.plugins"

T = TypeVar("T")

_loaded: set[str] = set()
_loading = False


def plugin_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The entry points of group ``interp.plugins`` the installed packages declare.

    Example:
        >>> "organism" in [ep.name for ep in plugin_entry_points()]
        True
    """
    return sorted(importlib.metadata.entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name)


def load_plugins() -> list[str]:
    """Run every installed plugin's ``register`` function once; returns the plugins loaded so far.

    A plugin that fails to load raises an ``ImportError`` naming it (a broken plugin is a broken
    install, not a missing name).

    Example:
        >>> "organism" in load_plugins()
        True
    """
    global _loading
    if _loading:  # a plugin's own import asked a registry for a name: it is being registered now
        return sorted(_loaded)
    _loading = True
    try:
        for ep in plugin_entry_points():
            if ep.name in _loaded:
                continue
            try:
                register = ep.load()
                register()
            except Exception as err:
                raise ImportError(
                    f"the interp plugin {ep.name!r} ({ep.value}) failed to load: {type(err).__name__}: {err}"
                ) from err
            _loaded.add(ep.name)
    finally:
        _loading = False
    return sorted(_loaded)


class Registry(Generic[T]):
    """Named entries of one kind; a miss loads the installed plugins once and looks again.

    Args:
        what: what an entry is, for messages (``"model source"``).

    Example:
        >>> methods = Registry("method")
        >>> methods.register("double", lambda x: 2 * x)
        >>> methods.get("double")(3), methods.find("triple")
        (6, None)
    """

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> None:
        """Add ``entry`` under ``name``; a name already taken is refused."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.what} needs a non-empty string name, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's or a notebook's own entry); an unknown name is refused."""
        if name not in self._entries:
            raise ValueError(f"no {self.what} {name!r} is registered")
        del self._entries[name]

    def find(self, name: str) -> T | None:
        """The entry named ``name``, loading the plugins if it is not registered yet; None if absent."""
        if not isinstance(name, str):
            return None
        if name not in self._entries:
            load_plugins()
        return self._entries.get(name)

    def get(self, name: str) -> T:
        """The entry named ``name``; an unknown name raises a ValueError listing the known ones."""
        entry = self.find(name)
        if entry is None:
            raise ValueError(f"unknown {self.what} {name!r}: expected one of {self.names()}")
        return entry

    def names(self) -> list[str]:
        """Every registered name (after loading the plugins), in registration order."""
        load_plugins()
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) pairs, in registration order (after loading the plugins)."""
        load_plugins()
        return iter(list(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._entries)})"


def registering(registry: Registry[T], name: str) -> Callable[[T], T]:
    """A decorator that registers what it decorates under ``name`` and returns it unchanged.

    Example:
        >>> shapes = Registry("shape")
        >>> @registering(shapes, "unit")
        ... def unit():
        ...     return 1
        >>> shapes.get("unit")()
        1
    """

    def decorate(entry: T) -> T:
        registry.register(name, entry)
        return entry

    return decorate


__all__ = ["PLUGIN_GROUP", "Registry", "load_plugins", "plugin_entry_points", "registering"]
