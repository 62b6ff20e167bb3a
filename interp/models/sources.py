"""Model sources: models a plugin ships under a name, such as ``load_mllm("organism")``.

A ``ModelSource`` says where each part of a named model is (the MLLM, its text backbone, its
SAEs), how a part is checked before it loads, and what goes with the model: the corpus source in
its vocabulary, the prompting baseline's hints in its own words, the benchmark it is evaluated on.
Plugins register sources (``register_model_source``, see :mod:`interp.plugins`); the loaders, the
SAE method and the demo ask this module, so the core names no model of its own.

The text backbone of a source named ``X`` is called ``X-text`` (what ``load_text_backbone(mllm=X)``
names it, and what a vector built on it records as its source model).

Example:
    >>> src = model_source("organism")
    >>> src.path("mllm").name, backbone_name(src)
    ('mllm', 'organism-text')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from interp.plugins import Registry
from interp.prompts import MC_PREFIX, prompting_prefix

#: What ``load_text_backbone(mllm=X)`` appends to a source's name ``X`` to name its backbone.
TEXT_SUFFIX = "-text"


@dataclass(frozen=True)
class ModelSource:
    """A named model a plugin ships, as local directories in hub layout.

    Attributes:
        name: what ``load_mllm`` and ``load_text_backbone`` take (``"organism"``).
        locate: part kind -> its directory (raises ``FileNotFoundError`` when it is not built).
        kinds: the parts it has: ``"mllm"``, ``"text"`` (the text backbone), ``"sae"`` (a folder
            of ``layer_{l}`` sae-lens SAEs) and any of its own.
        verify: part kind -> None, raising ``CorruptArtifactError`` for a damaged part; called
            before a part loads.
        corpus_source: the corpus source written in the model's vocabulary (``load_corpus``'s
            ``source``), or None for the default sentences.
        hints: concept -> the prompting baseline's hint in the model's own words.
        benchmark: the benchmark the model is evaluated on by default.
        demo: its place among the models ``interp demo`` runs by default (None: not one of them).
    """

    name: str
    locate: Callable[[str], Path]
    kinds: tuple[str, ...] = ("mllm", "text")
    verify: Callable[[str], None] | None = None
    corpus_source: str | None = None
    hints: Mapping[str, str] = field(default_factory=dict)
    benchmark: str | None = None
    demo: int | None = None

    def path(self, kind: str, *, check: bool = True) -> Path:
        """The directory of part ``kind``, checked with ``verify`` first unless ``check=False``.

        Example:
            >>> model_source("organism").path("text").name
            'text'
        """
        if kind not in self.kinds:
            raise ValueError(f"model source {self.name!r} has no part {kind!r}: it has {list(self.kinds)}")
        directory = self.locate(kind)
        if check and self.verify is not None:
            self.verify(kind)
        return directory


MODEL_SOURCES: Registry[ModelSource] = Registry("model source")


def register_model_source(source: ModelSource) -> ModelSource:
    """Make ``source`` loadable by its name (a plugin's ``register`` calls this).

    Example:
        >>> register_model_source(ModelSource("mine", lambda kind: Path("/models/mine") / kind))  # doctest: +SKIP
    """
    if not isinstance(source, ModelSource):
        raise ValueError(f"expected a ModelSource, got {type(source).__name__}")
    if source.name.endswith(TEXT_SUFFIX):
        raise ValueError(
            f"a model source's name cannot end in {TEXT_SUFFIX!r} ({source.name!r}): that suffix names "
            "its text backbone"
        )
    MODEL_SOURCES.register(source.name, source)
    return source


def model_source(name: object) -> ModelSource | None:
    """The source registered as ``name``, or None (hub ids and paths are not sources).

    Example:
        >>> model_source("organism").kinds
        ('mllm', 'text', 'sae', 'concepts')
    """
    if not isinstance(name, str) or not name:
        return None
    return MODEL_SOURCES.find(name)


def backbone_name(source: ModelSource) -> str:
    """The name a source's text backbone is loaded under (and its vectors record).

    Example:
        >>> backbone_name(model_source("organism-llava"))
        'organism-llava-text'
    """
    return source.name + TEXT_SUFFIX


def part_owner(path: str | os.PathLike[str], kind: str) -> ModelSource | None:
    """The source whose part ``kind`` is the directory ``path``, or None.

    Example:
        >>> part_owner(model_source("organism").path("text"), "text").name
        'organism'
    """
    try:
        target = Path(path).resolve()
    except (OSError, ValueError, TypeError):
        return None
    for _, source in MODEL_SOURCES.items():
        if kind not in source.kinds:
            continue
        try:
            if source.locate(kind).resolve() == target:
                return source
        except (OSError, ValueError):
            continue
    return None


def source_of(model_name: str) -> ModelSource | None:
    """The source a loaded model comes from, by its name (``X``, ``X-text``) or its directory.

    Example:
        >>> source_of("organism-text").name
        'organism'
    """
    name = str(model_name)
    base = name[: -len(TEXT_SUFFIX)] if name.endswith(TEXT_SUFFIX) else name
    if (found := model_source(base)) is not None:
        return found
    for kind in ("mllm", "text"):
        if (found := part_owner(name, kind)) is not None:
            return found
    return None


def prompting_hints(model_name: str, concepts: Iterable[str]) -> dict[str, str] | None:
    """The prompting baseline's prefix per concept in the model's own words, or None for the default.

    A source's ``hints`` give the words (followed by the paper's instruction ``MC_PREFIX``); a
    concept it has no hint for gets the default template (``interp.prompts.prompting_prefix``).
    None when the model has no hints of its own (the sweep then uses the default for every concept).

    Example:
        >>> prompting_hints("organism", ["counting"])["counting"][:26]
        'count the objects in the i'
    """
    source = source_of(model_name)
    if source is None or not source.hints:
        return None
    return {c: source.hints[c] + MC_PREFIX if c in source.hints else prompting_prefix(c) for c in concepts}


def default_model() -> str:
    """The model a command runs when none is given: the first model source a plugin registered.

    Example:
        >>> default_model()
        'organism'
    """
    names = MODEL_SOURCES.names()
    if not names:
        raise ValueError("no model given and no installed plugin ships a model: pass a hub id or a checkpoint directory")
    return names[0]


def demo_models() -> list[str]:
    """The models ``interp demo`` runs when none is given: the sources with a ``demo`` place, in its order.

    Example:
        >>> demo_models()
        ['organism-llava', 'organism']
    """
    placed = [(source.demo, name) for name, source in MODEL_SOURCES.items() if source.demo is not None]
    return [name for _, name in sorted(placed)]


__all__ = [
    "MODEL_SOURCES",
    "TEXT_SUFFIX",
    "ModelSource",
    "backbone_name",
    "default_model",
    "demo_models",
    "model_source",
    "part_owner",
    "prompting_hints",
    "register_model_source",
    "source_of",
]
