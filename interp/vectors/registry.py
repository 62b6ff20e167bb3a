"""A registry of vector methods: factories registered by name, looked up by the CLI and sweeps.

A factory takes the method's parameters and returns a callable with one signature::

    method(model, data, *, layers=None, batch_size=16, backend="auto", progress=False)
        -> SteeringVector

where ``model`` is a text backbone (or an MLLM run on text), ``data`` a ``ConceptCorpus`` (or
``ContrastPairs`` for contrastive methods).

Example:
    >>> sorted(list_methods())
    ['diffmean', 'meanshift', 'pca', 'probe', 'sae']
    >>> method = get_method("probe", n_components=10)   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from interp.vectors.vector import SteeringVector

if TYPE_CHECKING:
    from interp.concepts import ConceptCorpus, ContrastPairs
    from interp.models.traced import TracedModel
    from interp.types import LayerSpec


class VectorMethod(Protocol):
    def __call__(
        self,
        model: TracedModel,
        data: ConceptCorpus | ContrastPairs,
        *,
        layers: LayerSpec = None,
        batch_size: int = 16,
        backend: str = "auto",
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


def method_params(name: str) -> list[str]:
    """The parameter names of method ``name``'s factory.

    Example:
        >>> method_params("probe")
        ['n_components', 'held_out', 'seed', 'max_iter']
    """
    _check_name(name)
    return list(inspect.signature(_METHODS[name]).parameters)


def check_params(name: str, params: Iterable[str], *, also: Iterable[str] = ()) -> None:
    """Refuse parameter names that method ``name`` does not take, suggesting the closest one.

    ``also`` lists names the caller takes itself (``compute``'s ``layers``, ...), offered as
    suggestions too.
    """
    _check_name(name)
    signature = inspect.signature(_METHODS[name]).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
        return
    known, extra = list(signature), list(also)
    for key in params:
        if key in known:
            continue
        close = difflib.get_close_matches(key, known + extra, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"vector method {name!r} has no parameter {key!r}: its parameters are {known}{hint}"
        )


def _check_name(name: str) -> None:
    if name not in _METHODS:
        close = difflib.get_close_matches(str(name), list(_METHODS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown vector method {name!r}: registered methods are {list_methods()}{hint}")


def get_method(name: str, **params: object) -> VectorMethod:
    """The method ``name`` built with ``params``.

    Raises:
        ValueError: unknown name or parameter (with the closest match), or a parameter of the
            wrong type or range.
    """
    check_params(name, params)
    return _METHODS[name](**params)
