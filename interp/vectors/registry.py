"""A registry of vector methods: factories registered by name, looked up by the CLI and sweeps.

A factory takes the method's parameters and returns a callable with one signature::

    method(model, data, *, layers=None, batch_size=16, backend="auto", progress=False)
        -> SteeringVector

where ``model`` is a text backbone (or an MLLM run on text), ``data`` a ``ConceptCorpus`` (or
``ContrastPairs`` for contrastive methods). ``reading(body)`` builds that callable around a body
``body(model, data, read)``, where ``read`` (an ``interp.activations.Reader``) says which layers,
backend and batches the caller asked for. Plugins may register methods of their own.

Example:
    >>> sorted(list_methods())
    ['diffmean', 'meanshift', 'pca', 'probe', 'sae']
    >>> method = get_method("probe", n_components=10)   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, cast

from interp.activations import Reader
from interp.plugins import Registry
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
Body = Callable[["TracedModel", object, Reader], SteeringVector]
METHODS: Registry[Factory] = Registry("vector method")


def register_method(name: str) -> Callable[[Factory], Factory]:
    """Decorator registering a method factory under ``name``; a second registration is an error."""

    def deco(factory: Factory) -> Factory:
        METHODS.register(name, factory)
        return factory

    return deco


def reading(body: Body) -> VectorMethod:
    """A method with the registered signature (``VectorMethod``) around ``body(model, data, read)``:
    the keyword options become the ``interp.activations.Reader`` the body reads activations with.

    Example:
        >>> run = reading(lambda model, data, read: read.batch_size)
        >>> run(None, None, batch_size=4)
        4
    """

    def run(model: TracedModel, data: ConceptCorpus | ContrastPairs, **options: Any) -> SteeringVector:
        unknown = sorted(set(options) - (set(inspect.signature(Reader).parameters) - {"model"}))
        if unknown:
            raise TypeError(f"a vector method takes layers, batch_size, backend and progress, not {unknown}")
        return body(model, data, Reader(model, **options))

    return cast(VectorMethod, run)


def list_methods() -> list[str]:
    return sorted(METHODS.names())


def method_params(name: str) -> list[str]:
    """The parameter names of method ``name``'s factory.

    Example:
        >>> method_params("probe")
        ['n_components', 'held_out', 'seed', 'max_iter']
    """
    _check_name(name)
    return list(inspect.signature(METHODS.get(name)).parameters)


def check_params(name: str, params: Iterable[str], *, also: Iterable[str] = ()) -> None:
    """Refuse parameter names that method ``name`` does not take, suggesting the closest one.

    ``also`` lists names the caller takes itself (``compute``'s ``layers``, ...), offered as
    suggestions too.
    """
    _check_name(name)
    signature = inspect.signature(METHODS.get(name)).parameters
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
    if METHODS.find(name) is None:
        close = difflib.get_close_matches(str(name), METHODS.names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown vector method {name!r}: registered methods are {list_methods()}{hint}")


def get_method(name: str, **params: object) -> VectorMethod:
    """The method ``name`` built with ``params``.

    Raises:
        ValueError: unknown name or parameter (with the closest match), or a parameter of the
            wrong type or range.
    """
    check_params(name, params)
    return METHODS.get(name)(**params)
