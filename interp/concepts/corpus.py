"""Concept corpora: sentences with the anchor word that carries a visual concept.

A corpus is what textual steering vectors are built from (arXiv 2505.14071, section 3): for one
concept ("taxonomy"), a set of sentences, each with one anchor word, e.g.
``("He placed the shoes beneath the bed", "beneath")``. MeanShift contrasts the hidden states at the
anchor tokens with those at the other tokens; the probe labels anchor tokens 1; the SAE method reads
features at the anchor tokens. Contrast pairs (a sentence that expresses the concept and a minimally
different one that does not) feed DiffMean.

The package ships the ``"default"`` source (hand-written English sentences, eight taxonomies, in
``interp/concepts/data``); plugins register sources in their models' vocabularies
(``register_corpus_source``; the organism plugin's ``"organism"``: sentences about its world of
coloured shapes). Users can load their
own JSONL files by path.

File format, one JSON object per line (blank lines are skipped)::

    {"sentence": "He placed the shoes beneath the bed", "anchor": "beneath", "label": "below"}
    {"positive": "The cup is beneath the shelf", "negative": "The cup is on the shelf"}

``label`` and ``anchor_start`` (a character offset choosing one occurrence of the anchor) are
optional in corpus files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias, Union

from interp.io import read_jsonl
from interp.plugins import Registry

__all__ = [
    "CORPUS_SOURCES",
    "TAXONOMIES",
    "ConceptCorpus",
    "ConceptExample",
    "ConceptLike",
    "ContrastPairs",
    "corpus_from_examples",
    "corpus_sources",
    "find_anchor",
    "list_corpora",
    "list_pairs",
    "load_corpus",
    "load_pairs",
    "register_corpus_source",
]

TAXONOMIES: tuple[str, ...] = (
    "spatial_relationship",
    "counting",
    "attribute",
    "entity",
    "action",
    "temporal",
    "comparison",
    "negation",
)
"""The eight concept taxonomies of the paper, in the paper's order."""

#: Named corpus sources: name -> a function giving the directory of its ``<name>.jsonl`` and
#: ``<name>.pairs.jsonl`` files (checking them first). ``"default"`` is the package's own.
CORPUS_SOURCES: Registry[Callable[[], Path]] = Registry("corpus source")


def register_corpus_source(name: str, directory: Callable[[], Path]) -> None:
    """Make ``load_corpus(..., source=name)`` read the files in ``directory()`` (a plugin calls this).

    Example:
        >>> register_corpus_source("mine", lambda: Path("my_corpora"))   # doctest: +SKIP
    """
    if not callable(directory):
        raise ValueError(f"corpus source {name!r}: expected a function returning its directory, got {directory!r}")
    CORPUS_SOURCES.register(name, directory)


def corpus_sources() -> list[str]:
    """The names ``load_corpus``'s ``source`` takes.

    Example:
        >>> corpus_sources()[:2]
        ['default', 'organism']
    """
    return CORPUS_SOURCES.names()


CORPUS_SUFFIX = ".jsonl"
PAIRS_SUFFIX = ".pairs.jsonl"

_CORPUS_KEYS = frozenset({"sentence", "anchor", "label", "anchor_start"})
_PAIR_KEYS = frozenset({"positive", "negative"})
_HASH_SCHEMA = "interp.concepts/v1"


def find_anchor(sentence: str, anchor: str) -> list[tuple[int, int]]:
    """Character spans of the whole-word, case-insensitive occurrences of ``anchor`` in ``sentence``.

    "Whole word" means the occurrence is neither preceded nor followed by a word character
    (a letter, digit or underscore), so ``"seven"`` does not match inside ``"seventeen"`` but does
    match in ``"seven-year"`` or ``"(seven)"``. Matching ignores case, so ``"seven"`` matches
    ``"Seven birds..."``. Occurrences do not overlap.

    Example:
        >>> find_anchor("Seven cats and seventeen dogs; seven!", "seven")
        [(0, 5), (31, 36)]
    """
    if not anchor:
        return []
    pattern = re.compile(r"(?<!\w)" + re.escape(anchor) + r"(?!\w)", re.IGNORECASE)
    return [(m.start(), m.end()) for m in pattern.finditer(sentence)]


@dataclass(frozen=True)
class ConceptExample:
    """One sentence of a concept corpus and the anchor word that carries the concept.

    Args:
        sentence: the text, as it will be tokenized.
        anchor: the word (or short phrase) carrying the concept; it must occur in ``sentence`` as a
            whole word (case-insensitive, see :func:`find_anchor`).
        label: optional finer label (e.g. ``"below"`` for a spatial sentence).
        anchor_start: optional character offset of the one occurrence to use when the anchor
            occurs more than once. Without it, every occurrence is an anchor.

    Example:
        >>> ex = ConceptExample("He placed the shoes beneath the bed", "beneath")
        >>> ex.sentence[20:27]
        'beneath'
    """

    sentence: str
    anchor: str
    label: str | None = None
    anchor_start: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sentence, str) or not self.sentence.strip():
            raise ValueError(f"sentence must be a non-empty string, got {self.sentence!r}")
        if not isinstance(self.anchor, str) or not self.anchor.strip():
            raise ValueError(
                f"anchor must be a non-empty string, got {self.anchor!r} "
                f"for sentence {self.sentence!r}"
            )
        if self.anchor != self.anchor.strip():
            raise ValueError(
                f"anchor {self.anchor!r} has leading or trailing whitespace "
                f"(sentence {self.sentence!r}); expected the bare word"
            )
        if self.label is not None and not isinstance(self.label, str):
            raise ValueError(f"label must be a string or None, got {self.label!r}")
        spans = find_anchor(self.sentence, self.anchor)
        if not spans:
            raise ValueError(
                f"anchor {self.anchor!r} does not occur as a whole word in sentence "
                f"{self.sentence!r}"
            )
        if self.anchor_start is not None:
            if isinstance(self.anchor_start, bool) or not isinstance(self.anchor_start, int):
                raise ValueError(
                    f"anchor_start must be an int or None, got {self.anchor_start!r} "
                    f"for sentence {self.sentence!r}"
                )
            starts = [s for s, _ in spans]
            if self.anchor_start not in starts:
                raise ValueError(
                    f"anchor_start={self.anchor_start} is not the start of an occurrence of "
                    f"anchor {self.anchor!r} in sentence {self.sentence!r}; "
                    f"occurrences start at {starts}"
                )
        if self.anchor_start is not None:
            spans = [span for span in spans if span[0] == self.anchor_start]
        rest = "".join(
            self.sentence[end:start]
            for (_, end), (start, _) in zip([(0, 0), *spans], [*spans, (len(self.sentence), 0)])
        )
        if not re.search(r"\w", rest):
            raise ValueError(
                f"anchor {self.anchor!r} is the whole sentence {self.sentence!r}: the methods "
                "contrast the anchor's tokens with the other words of its sentence, so a sentence "
                "needs words besides its anchor"
            )

    def to_json(self) -> dict[str, object]:
        """The example as a JSON-ready dict, leaving out unset optional fields.

        Example:
            >>> ConceptExample("She won seven medals", "seven").to_json()
            {'sentence': 'She won seven medals', 'anchor': 'seven'}
        """
        out: dict[str, object] = {"sentence": self.sentence, "anchor": self.anchor}
        if self.label is not None:
            out["label"] = self.label
        if self.anchor_start is not None:
            out["anchor_start"] = self.anchor_start
        return out


def _sha256(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ConceptCorpus:
    """A named, immutable set of :class:`ConceptExample` for one concept.

    Args:
        name: the taxonomy name (or the file stem for a user file).
        examples: the examples, in file order.
        source: ``"default"``, ``"organism"``, ``"code"`` or the path of a user file.

    Example:
        >>> c = corpus_from_examples("counting", [("She won seven medals", "seven")])
        >>> len(c), c.anchors
        (1, ('seven',))
    """

    name: str
    examples: tuple[ConceptExample, ...]
    source: str

    def __post_init__(self) -> None:
        examples = tuple(self.examples)
        if not examples:
            raise ValueError(f"concept corpus {self.name!r} ({self.source}) has no examples")
        for i, ex in enumerate(examples):
            if not isinstance(ex, ConceptExample):
                raise ValueError(
                    f"example {i} of corpus {self.name!r} is a {type(ex).__name__}; expected a "
                    "ConceptExample (use corpus_from_examples for (sentence, anchor) pairs)"
                )
        object.__setattr__(self, "examples", examples)

    def __repr__(self) -> str:
        return (
            f"ConceptCorpus(name={self.name!r}, source={self.source!r}, "
            f"examples={len(self)}, hash={self.hash()[:12]})"
        )

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[ConceptExample]:
        return iter(self.examples)

    def __getitem__(self, index: int) -> ConceptExample:
        return self.examples[index]

    @property
    def sentences(self) -> tuple[str, ...]:
        """The sentences, in order."""
        return tuple(ex.sentence for ex in self.examples)

    @property
    def anchors(self) -> tuple[str, ...]:
        """The anchors, in order."""
        return tuple(ex.anchor for ex in self.examples)

    def hash(self) -> str:
        """A stable sha256 hex digest of the content (sentences, anchors, labels, anchor starts).

        The name and source are left out: the same sentences give the same hash wherever they
        were loaded from. Saved vectors record it to tie them to their data.

        Example:
            >>> a = corpus_from_examples("x", [("She won seven medals", "seven")])
            >>> b = corpus_from_examples("y", [("She won seven medals", "seven")])
            >>> a.hash() == b.hash()
            True
        """
        rows = [[ex.sentence, ex.anchor, ex.label, ex.anchor_start] for ex in self.examples]
        return _sha256([_HASH_SCHEMA, "corpus", rows])


@dataclass(frozen=True)
class ContrastPairs:
    """Contrast pairs for DiffMean: ``(positive, negative)`` sentences, minimally different.

    The positive expresses the concept, the negative does not.

    Example:
        >>> p = ContrastPairs("negation", (("The cat is not here", "The cat is here"),), "code")
        >>> p.positives, p.negatives
        (('The cat is not here',), ('The cat is here',))
    """

    name: str
    pairs: tuple[tuple[str, str], ...]
    source: str

    def __post_init__(self) -> None:
        if not self.pairs:
            raise ValueError(f"contrast pairs {self.name!r} ({self.source}) has no pairs")
        pairs = tuple((p, n) for p, n in self.pairs)
        for positive, negative in pairs:
            _check_pair(positive, negative)
        object.__setattr__(self, "pairs", pairs)

    def __repr__(self) -> str:
        return (
            f"ContrastPairs(name={self.name!r}, source={self.source!r}, "
            f"pairs={len(self)}, hash={self.hash()[:12]})"
        )

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    @property
    def positives(self) -> tuple[str, ...]:
        """The sentences that express the concept."""
        return tuple(p for p, _ in self.pairs)

    @property
    def negatives(self) -> tuple[str, ...]:
        """The minimally different sentences that do not."""
        return tuple(n for _, n in self.pairs)

    def hash(self) -> str:
        """A stable sha256 hex digest of the pairs (name and source left out).

        Example:
            >>> p = ContrastPairs("n", (("It is not red", "It is red"),), "code")
            >>> len(p.hash())
            64
        """
        return _sha256([_HASH_SCHEMA, "pairs", [list(p) for p in self.pairs]])


def _check_pair(positive: object, negative: object) -> None:
    for key, value in (("positive", positive), ("negative", negative)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    if positive == negative:
        raise ValueError(f"positive and negative are the same sentence: {positive!r}")


#: A concept to build a vector from: a taxonomy name (``"counting"``), a path to a JSONL file of
#: examples or pairs, a ``ConceptCorpus`` (anchored sentences) or ``ContrastPairs``.
ConceptLike: TypeAlias = Union[str, "os.PathLike[str]", ConceptCorpus, ContrastPairs]


def corpus_from_examples(
    name: str,
    examples: Iterable[tuple[str, str] | ConceptExample],
    source: str = "code",
) -> ConceptCorpus:
    """Build a corpus in code from ``(sentence, anchor)`` tuples or :class:`ConceptExample`.

    Example:
        >>> c = corpus_from_examples("spatial", [("The cup is under the table", "under")])
        >>> c.sentences
        ('The cup is under the table',)
    """
    built: list[ConceptExample] = []
    for i, item in enumerate(examples):
        if isinstance(item, ConceptExample):
            built.append(item)
            continue
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise ValueError(
                f"example {i} of corpus {name!r} must be a (sentence, anchor) pair or a "
                f"ConceptExample, got {item!r}"
            )
        built.append(ConceptExample(item[0], item[1]))
    return ConceptCorpus(name=name, examples=tuple(built), source=source)


# --------------------------------------------------------------------------- locating files


def _default_dir() -> Path:
    return Path(__file__).parent / "data"


CORPUS_SOURCES.register("default", _default_dir)


def _source_dir(source: str) -> Path:
    directory = CORPUS_SOURCES.find(source)
    if directory is None:
        raise ValueError(f"unknown corpus source {source!r}; expected one of {corpus_sources()}")
    return directory()


def list_corpora(source: str = "default") -> list[str]:
    """Names of the corpora a source ships (taxonomies first, in paper order).

    Example:
        >>> list_corpora()[:2]
        ['spatial_relationship', 'counting']
    """
    directory = _source_dir(source)
    names = {
        p.name[: -len(CORPUS_SUFFIX)]
        for p in directory.glob(f"*{CORPUS_SUFFIX}")
        if not p.name.endswith(PAIRS_SUFFIX)
    }
    ordered = [t for t in TAXONOMIES if t in names]
    return ordered + sorted(names - set(TAXONOMIES))


def list_pairs(source: str = "default") -> list[str]:
    """Names of the contrast-pair sets a source ships (``*.pairs.jsonl``; taxonomies first).

    Example:
        >>> "counting" in list_pairs()
        True
    """
    return _list_pairs(_source_dir(source))


def _list_pairs(directory: Path) -> list[str]:
    names = {p.name[: -len(PAIRS_SUFFIX)] for p in directory.glob(f"*{PAIRS_SUFFIX}")}
    return [t for t in TAXONOMIES if t in names] + sorted(names - set(TAXONOMIES))


def _looks_like_path(name_or_path: str | os.PathLike[str]) -> bool:
    if isinstance(name_or_path, os.PathLike):
        return True
    text = str(name_or_path)
    return text.endswith(".jsonl") or "/" in text or os.sep in text or Path(text).is_file()


def _resolve(
    name_or_path: str | os.PathLike[str], source: str, suffix: str, kind: str
) -> tuple[Path, str, str]:
    """Return (file, corpus name, source label)."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"{kind} file not found: {path}")
        stem = path.name
        for end in (PAIRS_SUFFIX, CORPUS_SUFFIX, path.suffix):
            if end and stem.endswith(end):
                stem = stem[: -len(end)]
                break
        return path, stem, str(path)
    name = str(name_or_path)
    directory = _source_dir(source)
    path = directory / f"{name}{suffix}"
    if not path.is_file():
        available = list_corpora(source) if suffix == CORPUS_SUFFIX else _list_pairs(directory)
        raise ValueError(
            f"unknown {kind} {name!r} in source {source!r}; available: {available} "
            "(or pass a path to a .jsonl file)"
        )
    return path, name, source


def load_corpus(name_or_path: str | os.PathLike[str], source: str = "default") -> ConceptCorpus:
    """Load a concept corpus by taxonomy name (from ``source``) or from a JSONL file path.

    Every line is checked: bad JSON, unknown or missing keys, empty fields, or an anchor that does
    not occur in its sentence as a whole word raise a ValueError naming the file, the line, the
    sentence and the anchor.

    Args:
        name_or_path: a taxonomy name such as ``"counting"``, or a path (str or Path; a string
            ending in ``.jsonl`` or containing a path separator is taken as a path).
        source: ``"default"`` or ``"organism"``; ignored for paths.

    Example:
        >>> corpus = load_corpus("counting")
        >>> len(corpus) >= 40
        True
    """
    path, name, label = _resolve(name_or_path, source, CORPUS_SUFFIX, "concept corpus")
    examples: list[ConceptExample] = []
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        unknown = set(row) - _CORPUS_KEYS
        if unknown:
            raise ValueError(
                f"{where}: unknown keys {sorted(unknown)}; expected 'sentence', 'anchor' and "
                "optionally 'label', 'anchor_start'"
            )
        for key in ("sentence", "anchor"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(
                    f"{where}: {key!r} must be a non-empty string, got {value!r} "
                    f"(sentence {row.get('sentence')!r}, anchor {row.get('anchor')!r})"
                )
        try:
            examples.append(
                ConceptExample(
                    sentence=row["sentence"],  # type: ignore[arg-type]
                    anchor=row["anchor"],  # type: ignore[arg-type]
                    label=row.get("label"),  # type: ignore[arg-type]
                    anchor_start=row.get("anchor_start"),  # type: ignore[arg-type]
                )
            )
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
    if not examples:
        raise ValueError(f"{path}: no examples (the file is empty)")
    return ConceptCorpus(name=name, examples=tuple(examples), source=label)


def load_pairs(name_or_path: str | os.PathLike[str], source: str = "default") -> ContrastPairs:
    """Load contrast pairs by taxonomy name (``<name>.pairs.jsonl`` in ``source``) or by path.

    Each line holds ``{"positive": ..., "negative": ...}``; bad lines raise a ValueError naming
    the file and line.

    Example:
        >>> pairs = load_pairs("negation")
        >>> len(pairs) >= 20
        True
    """
    path, name, label = _resolve(name_or_path, source, PAIRS_SUFFIX, "contrast pairs")
    pairs: list[tuple[str, str]] = []
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        if set(row) != _PAIR_KEYS:
            raise ValueError(
                f"{where}: keys {sorted(row)}; expected exactly 'positive' and 'negative'"
            )
        positive, negative = row["positive"], row["negative"]
        try:
            _check_pair(positive, negative)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        pairs.append((positive, negative))  # type: ignore[arg-type]
    if not pairs:
        raise ValueError(f"{path}: no contrast pairs (the file is empty)")
    return ContrastPairs(name=name, pairs=tuple(pairs), source=label)
