"""The public API says what it accepts: no ``Any`` on the signatures of the faces' names.

Every function and class a face exports (its ``__all__``, or the public names defined in the module
when it has none) is checked: for a class, its ``__init__`` and the public methods defined on it.
Annotations are strings (``from __future__ import annotations``), so the check is a regex on them;
the aliases that replace ``Any`` live in ``interp.types``.

Faces not typed yet are in ``LATER``; enabling one is moving its name to ``FACES``. A name a
covered face re-exports from a ``LATER`` package (``interp.load_mllm`` from ``interp.models``) waits
with that package.
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
]

#: Faces not typed yet (issue 18's typing pass reached the faces above first): enabling one is
#: moving it to ``FACES`` once its signatures name what they accept.
LATER = [
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


def deferred(obj: object) -> bool:
    """Whether ``obj`` is defined in a package of ``LATER``."""
    home = getattr(obj, "__module__", "") or ""
    return any(home == later or home.startswith(later + ".") for later in LATER)


def callables(face: str) -> Iterator[tuple[str, Callable[..., object]]]:
    """(qualified name, function) for every exported function and class method of ``face``."""
    module = importlib.import_module(face)
    for name in public_names(module):
        obj = getattr(module, name)
        if face not in LATER and deferred(obj):
            continue
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


@pytest.mark.parametrize("face", LATER)
def test_later_faces(face: str) -> None:
    found = any_annotations(face)
    pytest.skip(f"{face} is not typed yet: {len(found)} annotations on its names still say Any")


def test_faces_are_listed_once() -> None:
    assert not set(FACES) & set(LATER)
