"""The one item type every benchmark loads into, the prompts the paper scores it with, and batching.

An ``Item`` is a multiple-choice (or counting) question about one or more images. Benchmarks
differ in field names (CV-Bench's ``choices`` and ``"(A)"`` answers, What'sUp's caption
options, CLEVR's integer answers); the loaders in ``interp.evaluation.benchmarks`` turn each
row into an ``Item`` so scoring, the sweep and the analyses never see those differences. Every
function that takes items checks them with ``as_items`` (one rule: ``Item``s, or CV-Bench-style
records converted with ``from_record``) and cuts them with ``batches``.

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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypedDict, TypeVar, cast

from interp.prompts import LETTERS, MC_PREFIX, NUMBER_PREFIX
from interp.types import ImageLike

ItemKind = Literal["mc", "number"]
T = TypeVar("T")


class ItemRecord(TypedDict, total=False):
    """A CV-Bench-style record, as CV-Bench rows and generated scenes come (``from_record``).

    Required: ``idx``, ``task``, ``image``, ``question``, ``choices`` (the option texts) and
    ``answer`` (the right option's letter in parentheses, ``"(A)"``). Optional: ``prompt`` (the
    prompt body), ``source`` (the benchmark), ``split``; any other field goes to the item's
    ``metadata``.
    """

    idx: int
    task: str
    image: ImageLike
    question: str
    choices: Sequence[str]
    answer: str
    prompt: str
    source: str
    split: str


#: The fields a CV-Bench-style record must have to become an ``Item``.
RECORD_FIELDS = ("idx", "task", "image", "question", "choices", "answer")


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


def from_record(record: ItemRecord | Mapping[str, object], *, id_prefix: str | None = None) -> Item:
    """An ``Item`` from a CV-Bench-style record (``RECORD_FIELDS``, answer ``"(A)"``).

    Its id is ``"<id_prefix>/<split>/<task>/<idx>"`` (``id_prefix`` defaults to the record's
    ``source``); fields beyond the item's go to ``metadata``.

    Example:
        >>> from PIL import Image
        >>> rec = {"idx": 3, "task": "Count", "image": Image.new("RGB", (8, 8)), "question": "How many?",
        ...        "choices": ["1", "2"], "answer": "(B)", "source": "toy", "split": "test"}
        >>> it = from_record(rec)
        >>> it.id, it.answer_letter, it.source
        ('toy/test/Count/3', 'B', 'toy')
    """
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        raise ValueError(f"a record lacks the fields {missing} of a CV-Bench-style item ({list(RECORD_FIELDS)})")
    rec = cast(ItemRecord, record)
    letter = str(rec["answer"]).strip("()")
    if letter not in LETTERS:
        raise ValueError(f"record {rec['idx']!r}: answer must be a letter in parentheses like '(A)', got {rec['answer']!r}")
    used = {*RECORD_FIELDS, "prompt", "source"}
    source = str(rec.get("source", ""))
    return Item(
        id=f"{source if id_prefix is None else id_prefix}/{rec.get('split', '')}/{rec['task']}/{rec['idx']}",
        images=(rec["image"],),
        question=rec["question"],
        choices=tuple(rec["choices"]),
        answer=LETTERS.index(letter),
        task=rec["task"],
        source=source,
        prompt_text=rec.get("prompt"),
        metadata={k: v for k, v in record.items() if k not in used},
    )


#: A benchmark item: an ``Item`` or a CV-Bench-style record (an ``ItemRecord``, or any
#: string-keyed mapping with its fields: ``as_items`` converts it with ``from_record``).
ItemLike: TypeAlias = Item | ItemRecord | Mapping[str, object]

#: The items a scoring, sweep or analysis function takes: one ``ItemLike`` or several.
ItemsLike: TypeAlias = ItemLike | Iterable[ItemLike]

#: A set to pool hidden states over: items (``ItemsLike``) or prompt strings (one or several), not
#: a mix.
ItemsOrPrompts: TypeAlias = ItemsLike | str | Sequence[str]


def as_items(
    items: ItemsLike,
    *,
    what: str = "items",
    unique_ids: bool = False,
) -> list[Item]:
    """A non-empty list of ``Item``; CV-Bench-style records are converted with ``from_record``.

    The one check every function that takes items runs (scoring, the sweep, the analyses).

    Args:
        items: ``Item``s (a ``Benchmark`` works too) or CV-Bench-style records, or one of either.
        what: how the items are named in error messages.
        unique_ids: refuse two items with the same id (scoring keys its rows by item id).

    Example:
        >>> as_items([Item("0", (), "Is it red?", ("yes", "no"), 0, task="Attribute")])[0].task
        'Attribute'
    """
    if isinstance(items, (Item, Mapping)):
        items = [items]  # type: ignore[list-item]
    out: list[Item] = []
    for i, it in enumerate(items):  # type: ignore[arg-type]
        if isinstance(it, Item):
            out.append(it)
        elif isinstance(it, Mapping):
            missing = [k for k in RECORD_FIELDS if k not in it]
            if missing:
                raise ValueError(
                    f"{what}[{i}] is a mapping without a CV-Bench-style record's fields {missing}: "
                    "expected interp.items.Item (use load_benchmark) or a record with "
                    f"{list(RECORD_FIELDS)}"
                )
            out.append(from_record(it))
        else:
            raise ValueError(
                f"{what}[{i}] is a {type(it).__name__}: expected an interp.items.Item (or a "
                "CV-Bench-style record, see from_record)"
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
    "RECORD_FIELDS",
    "Item",
    "ItemKind",
    "ItemLike",
    "ItemRecord",
    "ItemsLike",
    "ItemsOrPrompts",
    "as_items",
    "batches",
    "check_batch_size",
    "format_choices",
    "from_record",
    "n_batches",
]
