"""The public API says what it accepts: no ``Any`` on the signatures of the faces' names.

Every function and class a face exports (its ``__all__``, or the public names defined in the module
when it has none) is checked: for a class, its ``__init__`` and the public methods defined on it.
Annotations are strings (``from __future__ import annotations``), so the check is a regex on them;
the aliases that replace ``Any`` live in ``interp.types``.

Every face is covered, names it re-exports included (``interp.load_mllm`` is checked on ``interp``
and on ``interp.models``).
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator

import pytest

FACES = [
    "interp",
    "interp.steering",
    "interp.tokens",
    "interp.vectors",
    "interp.concepts",
    "interp.figures",
    "interp.answers",
    "interp.stats",
    "interp.organism",
    "interp.items",
    "interp.models",
    "interp.evaluation",
    "interp.analysis",
]

ANY = re.compile(r"\bAny\b")


def public_names(module: object) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__  # type: ignore[attr-defined]
    ]


def callables(face: str) -> Iterator[tuple[str, Callable[..., object]]]:
    """(qualified name, function) for every exported function and class method of ``face``."""
    module = importlib.import_module(face)
    for name in public_names(module):
        obj = getattr(module, name)
        if inspect.isfunction(obj):
            yield f"{face}.{name}", obj
        elif inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr != "__init__" and attr.startswith("_"):
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                elif isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    yield f"{face}.{name}.{attr}", member


def any_annotations(face: str) -> list[str]:
    """``qualified name: parameter: annotation`` for each annotation naming ``Any``."""
    found = []
    for qualname, fn in callables(face):
        for param, annotation in inspect.get_annotations(fn).items():
            if ANY.search(str(annotation)):
                found.append(f"{qualname}: {param}: {annotation}")
    return found


@pytest.mark.parametrize("face", FACES)
def test_public_signatures_name_what_they_accept(face: str) -> None:
    found = any_annotations(face)
    assert not found, f"{len(found)} annotations on {face} say Any:\n" + "\n".join(found)


def test_faces_are_listed_once() -> None:
    assert len(set(FACES)) == len(FACES)
