"""A registry of vector methods: factories registered by name, looked up by the CLI and sweeps.

A factory takes the method's parameters and returns a callable with one signature::

    method(model, data, *, layers=None, batch_size=16, backend="nnsight", progress=False)
        -> SteeringVector

where ``model`` is a text backbone (or an MLLM run on text), ``data`` a ``ConceptCorpus`` (or
``ContrastPairs`` for contrastive methods).

Example:
    >>> sorted(list_methods())
    ['diffmean', 'meanshift', 'probe', 'sae']
    >>> method = get_method("probe", n_components=10)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from interp.vectors.vector import SteeringVector


class VectorMethod(Protocol):
    def __call__(
        self,
        model: Any,
        data: Any,
        *,
        layers: Any = None,
        batch_size: int = 16,
        backend: str = "nnsight",
        progress: bool = False,
    ) -> SteeringVector: ...


Factory = Callable[..., VectorMethod]
_METHODS: dict[str, Factory] = {}


def register_method(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering a method factory under ``name``; a second registration is an error."""

    def deco(factory: Factory) -> Factory:
        if name in _METHODS:
            raise ValueError(f"a vector method named {name!r} is already registered")
        _METHODS[name] = factory
        return factory

    return deco


def list_methods() -> list[str]:
    return sorted(_METHODS)


def get_method(name: str, **params: Any) -> VectorMethod:
    """The method ``name`` built with ``params``.

    Raises:
        ValueError: unknown name, listing the registered ones.
    """
    if name not in _METHODS:
        raise ValueError(f"unknown vector method {name!r}: registered methods are {list_methods()}")
    return _METHODS[name](**params)
