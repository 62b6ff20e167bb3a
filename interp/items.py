"""The one item type every benchmark loads into, the prompts the paper scores it with, and batching.

An ``Item`` is a multiple-choice (or counting) question about one or more images. Benchmarks
differ in field names (CV-Bench's ``choices`` and ``"(A)"`` answers, What'sUp's caption
options, CLEVR's integer answers); the loaders in ``interp.evaluation.benchmarks`` turn each
row into an ``Item`` so scoring, the sweep and the analyses never see those differences. Every
function that takes items checks them with ``as_items`` (one rule: ``Item``s, or organism item
dicts converted with ``from_organism``) and cuts them with ``batches``.

Prompts follow the reference evaluation of arXiv 2505.14071: multiple-choice items get
``MC_PREFIX`` + the CV-Bench prompt (question, "Select from the following choices." and the
lettered options); counting items get ``NUMBER_PREFIX`` + the question. The family's own format
(PaliGemma's ``"answer en "``, a chat template) is added by the model adapter in
``MLLM.encode``.

Example:
    >>> it = Item("0", (), "Is it red?", ("yes", "no"), 0, task="Attribute", source="toy")
    >>> it.answer_letter, it.prompt()
    ('A', 'Answer the multiple choice question by only responding the letter of the correct answer. Is it red? Select from the following choices.\\n(A) yes\\n(B) no')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar, cast

from interp.prompts import LETTERS, MC_PREFIX, NUMBER_PREFIX
from interp.types import ImageLike, ItemsLike, OrganismItem

ItemKind = Literal["mc", "number"]
T = TypeVar("T")


def format_choices(question: str, choices: Sequence[str]) -> str:
    """CV-Bench's prompt layout: the question, the instruction line and the lettered options.

    Example:
        >>> format_choices("Which?", ["x", "y"])
        'Which? Select from the following choices.\\n(A) x\\n(B) y'
    """
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices are supported, got {len(choices)}")
    opts = "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question} Select from the following choices.\n{opts}"


@dataclass(frozen=True, eq=False)
class Item:
    """One benchmark question.

    Attributes:
        id: unique within its benchmark (``"cvbench/Count/12"``).
        images: the item's images (PIL images), usually one.
        question: the question alone, without options.
        choices: the option texts, in order (option ``i`` is letter ``LETTERS[i]``); for a
            counting item, the numbers the fast scorer compares (``("0", "1", ..., "10")``).
        answer: index of the right choice.
        task: the benchmark's task name (``"Count"``, ``"Relation"``, ...).
        source: the benchmark (``"cvbench"``, ``"organism"``, ...).
        kind: ``"mc"`` (answer with a letter) or ``"number"`` (answer with a number).
        prompt_text: the benchmark's own prompt body when it ships one (CV-Bench's ``prompt``
            field); otherwise it is built from question and choices.
        metadata: anything else a row carries (split, scene, source dataset fields).
    """

    id: str
    images: tuple[ImageLike, ...]
    question: str
    choices: tuple[str, ...]
    answer: int
    task: str = ""
    source: str = ""
    kind: ItemKind = "mc"
    prompt_text: str | None = None
    metadata: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        object.__setattr__(self, "choices", tuple(str(c) for c in self.choices))
        if self.kind not in ("mc", "number"):
            raise ValueError(f"item {self.id!r}: kind must be 'mc' or 'number', got {self.kind!r}")
        if len(self.choices) < 2:
            raise ValueError(f"item {self.id!r}: needs at least 2 choices, got {len(self.choices)}")
        if self.kind == "mc" and len(self.choices) > len(LETTERS):
            raise ValueError(
                f"item {self.id!r}: at most {len(LETTERS)} choices are supported, got {len(self.choices)}"
            )
        if isinstance(self.answer, bool) or not isinstance(self.answer, int) or not 0 <= self.answer < len(self.choices):
            raise ValueError(
                f"item {self.id!r}: answer must be a choice index in 0..{len(self.choices) - 1}, "
                f"got {self.answer!r}"
            )

    @property
    def image(self) -> ImageLike | None:
        """The first image (most benchmarks have exactly one)."""
        return self.images[0] if self.images else None

    @property
    def answer_letter(self) -> str:
        """The right option's letter (``"A"``...)."""
        return LETTERS[self.answer]

    @property
    def answer_text(self) -> str:
        return self.choices[self.answer]

    @property
    def n_choices(self) -> int:
        return len(self.choices)

    def prompt(self, prefix: str | None = None) -> str:
        """The reference prompt: instruction prefix + prompt body (before the family's format).

        Args:
            prefix: replaces the instruction (``MC_PREFIX`` or ``NUMBER_PREFIX`` by kind); the
                prompting baseline puts its concept hint here.
        """
        if prefix is None:
            prefix = NUMBER_PREFIX if self.kind == "number" else MC_PREFIX
        if self.kind == "number":
            body = self.question
        else:
            body = self.prompt_text or format_choices(self.question, self.choices)
        return prefix + body


def from_organism(item: OrganismItem | Mapping[str, object], *, id_prefix: str = "organism") -> Item:
    """An ``Item`` from an organism item dict (``interp.organism.scenes.make_item``, which is typed
    as a plain dict, hence the mapping).

    Example:
        >>> from interp.organism.scenes import make_item
        >>> it = from_organism(make_item("test", "Count", 0))
        >>> it.task, it.source, it.kind
        ('Count', 'organism', 'mc')
    """
    item = cast(OrganismItem, item)  # the organism's fields (ORGANISM_FIELDS); KeyError otherwise
    letter = item["answer"].strip("()")
    meta: dict[str, object] = {k: item[k] for k in ("scene", "split", "refs", "type") if k in item}
    return Item(
        id=f"{id_prefix}/{item.get('split', '')}/{item['task']}/{item['idx']}",
        images=(item["image"],),
        question=item["question"],
        choices=tuple(item["choices"]),
        answer=LETTERS.index(letter),
        task=item["task"],
        source="organism",
        prompt_text=item.get("prompt"),
        metadata=meta,
    )


#: The fields an organism item dict (``interp.organism.scenes.make_item``) must have.
ORGANISM_FIELDS = ("idx", "task", "image", "question", "choices", "answer")


def as_items(
    items: ItemsLike,
    *,
    what: str = "items",
    unique_ids: bool = False,
) -> list[Item]:
    """A non-empty list of ``Item``; organism item dicts are converted with ``from_organism``.

    The one check every function that takes items runs (scoring, the sweep, the analyses).

    Args:
        items: ``Item``s (a ``Benchmark`` works too) or organism item dicts, or one of either.
        what: how the items are named in error messages.
        unique_ids: refuse two items with the same id (scoring keys its rows by item id).

    Example:
        >>> from interp.organism.scenes import make_item
        >>> as_items([make_item("test", "Count", 0)])[0].task
        'Count'
    """
    if isinstance(items, (Item, Mapping)):
        items = [items]  # type: ignore[list-item]
    out: list[Item] = []
    for i, it in enumerate(items):  # type: ignore[arg-type]
        if isinstance(it, Item):
            out.append(it)
        elif isinstance(it, Mapping):
            missing = [k for k in ORGANISM_FIELDS if k not in it]
            if missing:
                raise ValueError(
                    f"{what}[{i}] is a mapping without an organism item's fields {missing}: expected "
                    "interp.evaluation.Item (use load_benchmark) or an organism item dict from "
                    "interp.organism.scenes.make_item"
                )
            # the fields from_organism reads were checked just above
            out.append(from_organism(cast(OrganismItem, it)))
        else:
            raise ValueError(
                f"{what}[{i}] is a {type(it).__name__}: expected an interp.evaluation.items.Item "
                "(or an organism item dict from interp.organism.scenes.make_item)"
            )
    if not out:
        raise ValueError(f"no {what} given: expected a non-empty list of Items")
    if unique_ids:
        ids = [it.id for it in out]
        if len(set(ids)) != len(ids):
            dup = next(x for x in ids if ids.count(x) > 1)
            raise ValueError(f"item ids must be unique: {dup!r} appears more than once")
    return out


def check_batch_size(batch_size: int) -> int:
    """Return ``batch_size`` if it is a positive int, else raise a ValueError.

    Example:
        >>> check_batch_size(8)
        8
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return batch_size


def batches(seq: Sequence[T], batch_size: int) -> Iterator[list[T]]:
    """Consecutive chunks of ``seq`` of at most ``batch_size`` elements (items of one batch may
    differ in their number of images).

    Example:
        >>> [b for b in batches([1, 2, 3], 2)]
        [[1, 2], [3]]
    """
    check_batch_size(batch_size)
    for start in range(0, len(seq), batch_size):
        yield list(seq[start : start + batch_size])


def n_batches(n: int, batch_size: int) -> int:
    """How many batches ``batches`` cuts ``n`` elements into.

    Example:
        >>> n_batches(5, 2)
        3
    """
    return -(-n // check_batch_size(batch_size))


__all__ = [
    "LETTERS",
    "MC_PREFIX",
    "NUMBER_PREFIX",
    "ORGANISM_FIELDS",
    "Item",
    "ItemKind",
    "as_items",
    "batches",
    "check_batch_size",
    "format_choices",
    "from_organism",
    "n_batches",
]
