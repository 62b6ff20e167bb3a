"""Anchor location by character offsets, and batch encoding of corpora for activation statistics.

Tokenizers split words and mark leading spaces differently ("Ġbeneath", "▁beneath",
"bene" + "##ath", ...), so anchors are never found by matching token strings. Instead the anchor's
character spans in the sentence (:func:`anchor_char_spans`) are compared with each token's
character span from a fast tokenizer's ``return_offsets_mapping=True``:

* a token is an anchor token iff its span overlaps an anchor span; every token of a multi-token
  anchor counts;
* special tokens (BOS, EOS, ...) and zero-length spans never count;
* a token that is only a leading-space mark ("Ġ", "▁": it decodes to whitespace) never counts,
  even when the tokenizer aligns a prepended space mark onto the first character of the sentence
  (Metaspace with ``prepend_scheme="always"``, ByteLevel with ``add_prefix_space=True`` and
  ``trim_offsets=False`` give such a token the span of the first character);
* a token that glues the leading space to the word ("▁beneath" with span ``(19, 27)`` for the word
  at ``(20, 27)``) counts, and the token before it, which ends at 19, does not.

:func:`encode_corpus` and :func:`encode_texts` produce right-padded batches with a BOS token when
the tokenizer has one, and a ``content_mask`` of the real tokens that are not BOS, special or
padding: the "non-BOS tokens" over which MeanShift, the probe and DiffMean take statistics.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.concepts.corpus import ConceptCorpus, ConceptExample, find_anchor
from interp.items import check_batch_size

if TYPE_CHECKING:
    from interp.types import Tokenizer

T = TypeVar("T")

__all__ = [
    "EncodedBatch",
    "EncodedSentence",
    "anchor_char_spans",
    "encode_corpus",
    "encode_example",
    "encode_texts",
]


def anchor_char_spans(example: ConceptExample) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the anchor in the example's sentence.

    Matching is whole-word and case-insensitive (see :func:`interp.concepts.find_anchor`). If the
    anchor occurs more than once, every occurrence is an anchor, unless ``anchor_start`` picks one.

    Example:
        >>> anchor_char_spans(ConceptExample("Seven of the seven dwarfs", "seven"))
        [(0, 5), (13, 18)]
        >>> anchor_char_spans(ConceptExample("Seven of the seven dwarfs", "seven", anchor_start=13))
        [(13, 18)]
    """
    spans = find_anchor(example.sentence, example.anchor)
    if example.anchor_start is not None:
        spans = [span for span in spans if span[0] == example.anchor_start]
    return spans


@dataclass(frozen=True)
class EncodedSentence:
    """One tokenized sentence with per-token masks (plain Python, one entry per token).

    ``input_ids`` are what the model sees (BOS included when asked for); ``offsets`` are character
    spans into ``text`` (``(0, 0)`` for special tokens); ``anchor_mask`` is None for plain texts.
    """

    text: str
    input_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    special_mask: tuple[bool, ...]
    content_mask: tuple[bool, ...]
    anchor_mask: tuple[bool, ...] | None

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class EncodedBatch:
    """A right-padded batch of sentences ready for a forward pass.

    ``content_mask`` marks real tokens that are not BOS, special or padding; ``anchor_mask`` (None
    for :func:`encode_texts`) marks anchor tokens and is a subset of ``content_mask``;
    ``indices`` are the positions of the sentences in the corpus or text list.
    """

    input_ids: Int[Tensor, "batch pos"]
    attention_mask: Int[Tensor, "batch pos"]
    content_mask: Bool[Tensor, "batch pos"]
    anchor_mask: Bool[Tensor, "batch pos"] | None
    indices: tuple[int, ...]
    texts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def anchors(self) -> Bool[Tensor, "batch pos"]:
        """``anchor_mask`` of a batch of anchored sentences (``encode_corpus``); plain texts have none."""
        if self.anchor_mask is None:
            raise ValueError("this batch holds plain texts (encode_texts): it has no anchor tokens")
        return self.anchor_mask

    def to(self, device: torch.device | str) -> EncodedBatch:
        """The same batch with its tensors on ``device``.

        Example:
            >>> batch = batch.to("cuda")  # doctest: +SKIP
        """
        return EncodedBatch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            content_mask=self.content_mask.to(device),
            anchor_mask=None if self.anchor_mask is None else self.anchor_mask.to(device),
            indices=self.indices,
            texts=self.texts,
        )


# --------------------------------------------------------------------------- tokenization core


def _check_fast(tokenizer: Tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"anchor location needs a fast tokenizer with offset mapping, got "
            f"{type(tokenizer).__name__}; load it with AutoTokenizer.from_pretrained(..., "
            "use_fast=True)"
        )


def _tokenize(
    tokenizer: Tokenizer, texts: Sequence[str], add_bos: bool, max_length: int | None
) -> list[tuple[list[int], list[tuple[int, int]], list[bool]]]:
    """Token ids, offsets and special flags per text, with the BOS policy and truncation applied."""
    _check_fast(tokenizer)
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be a positive int or None, got {max_length}")
    enc = tokenizer(
        list(texts),
        add_special_tokens=True,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
        padding=False,
        truncation=False,
    )
    bos_id = tokenizer.bos_token_id
    unk_id = tokenizer.unk_token_id
    special_ids = set(tokenizer.all_special_ids) - {unk_id}
    out = []
    for ids, offsets, smask in zip(
        enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"], strict=True
    ):
        ids = list(ids)
        offsets = [(int(s), int(e)) for s, e in offsets]
        special = [bool(m) or i in special_ids for i, m in zip(ids, smask, strict=True)]
        has_bos = bool(ids) and bos_id is not None and ids[0] == bos_id and special[0]
        if add_bos and bos_id is not None and not has_bos:
            ids, offsets, special = [bos_id, *ids], [(0, 0), *offsets], [True, *special]
        elif not add_bos and has_bos:
            ids, offsets, special = ids[1:], offsets[1:], special[1:]
        if max_length is not None:
            ids, offsets, special = ids[:max_length], offsets[:max_length], special[:max_length]
        out.append((ids, offsets, special))
    return out


def _is_space_mark(tokenizer: Any, token_id: int) -> bool:
    """True for a token that decodes to whitespace only (a bare "Ġ" or "▁")."""
    text = tokenizer.decode(
        [token_id], skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    return not text.strip()


def _anchor_flags(
    tokenizer: Tokenizer,
    text: str,
    ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    spans: Sequence[tuple[int, int]],
) -> list[bool]:
    flags = []
    for token_id, (start, end), is_special in zip(ids, offsets, special, strict=True):
        hit = (
            not is_special
            and end > start
            and any(start < a_end and a_start < end for a_start, a_end in spans)
        )
        # A bare space mark aligned onto a word character is the phantom prefix space of
        # Metaspace / ByteLevel(add_prefix_space): it belongs before the word, not to it.
        if hit and text[start:end].strip() and _is_space_mark(tokenizer, token_id):
            hit = False
        flags.append(hit)
    return flags


def _encode(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]] | None,
    add_bos: bool,
    max_length: int | None,
    anchors: Sequence[str] | None = None,
) -> list[EncodedSentence]:
    encoded = []
    for i, (ids, offsets, special) in enumerate(_tokenize(tokenizer, texts, add_bos, max_length)):
        content = [not s for s in special]
        anchor_mask: list[bool] | None = None
        if spans is not None:
            anchor_mask = _anchor_flags(tokenizer, texts[i], ids, offsets, special, spans[i])
            if not any(anchor_mask):
                anchor = anchors[i] if anchors is not None else "?"
                why = f" after truncation to max_length={max_length}" if max_length else ""
                raise ValueError(
                    f"anchor {anchor!r} covers no token of sentence {texts[i]!r}{why}; "
                    "expected at least one anchor token"
                )
        encoded.append(
            EncodedSentence(
                text=texts[i],
                input_ids=tuple(ids),
                offsets=tuple(offsets),
                special_mask=tuple(special),
                content_mask=tuple(content),
                anchor_mask=None if anchor_mask is None else tuple(anchor_mask),
            )
        )
    return encoded


def _as_example(
    example_or_sentence: ConceptExample | str, anchor: str | None, anchor_start: int | None
) -> ConceptExample:
    if isinstance(example_or_sentence, ConceptExample):
        if anchor is not None or anchor_start is not None:
            raise ValueError("pass either a ConceptExample or a sentence with anchor=..., not both")
        return example_or_sentence
    if anchor is None:
        raise ValueError(
            f"anchor is required when passing a plain sentence ({example_or_sentence!r})"
        )
    return ConceptExample(example_or_sentence, anchor, anchor_start=anchor_start)


def encode_example(
    tokenizer: Tokenizer,
    example_or_sentence: ConceptExample | str,
    anchor: str | None = None,
    *,
    anchor_start: int | None = None,
    add_bos: bool = True,
    max_length: int | None = None,
) -> EncodedSentence:
    """Tokenize one example and mark its anchor tokens (same ids as :func:`encode_corpus` gives).

    Example:
        >>> from transformers import AutoTokenizer
        >>> tok = AutoTokenizer.from_pretrained("meta-llama/Llama-3.1-8B")  # any fast tokenizer
        >>> enc = encode_example(tok, "He placed the shoes beneath the bed", "beneath")
        >>> [t for t, a in zip(tok.convert_ids_to_tokens(enc.input_ids), enc.anchor_mask) if a]
        ['Ġbeneath']
    """
    example = _as_example(example_or_sentence, anchor, anchor_start)
    return _encode(
        tokenizer,
        [example.sentence],
        [anchor_char_spans(example)],
        add_bos,
        max_length,
        anchors=[example.anchor],
    )[0]


# --------------------------------------------------------------------------- batching


def _chunks(things: Iterable[T], batch_size: int) -> Iterator[tuple[int, list[T]]]:
    """``(index of the first, chunk)`` for consecutive chunks of ``batch_size`` (the last may be shorter)."""
    check_batch_size(batch_size)
    it = iter(things)
    index = 0
    while chunk := list(itertools.islice(it, batch_size)):
        yield index, chunk
        index += len(chunk)


def _pad_id(tokenizer: Tokenizer) -> int:
    for attr in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def _collate(
    encoded: Sequence[EncodedSentence], indices: Sequence[int], pad_id: int, with_anchor: bool
) -> EncodedBatch:
    width = max(len(e) for e in encoded)
    shape = (len(encoded), width)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    attention = torch.zeros(shape, dtype=torch.long)
    content = torch.zeros(shape, dtype=torch.bool)
    anchor = torch.zeros(shape, dtype=torch.bool) if with_anchor else None
    for row, enc in enumerate(encoded):
        n = len(enc)
        input_ids[row, :n] = torch.tensor(enc.input_ids, dtype=torch.long)
        attention[row, :n] = 1
        content[row, :n] = torch.tensor(enc.content_mask, dtype=torch.bool)
        if anchor is not None and enc.anchor_mask is not None:
            anchor[row, :n] = torch.tensor(enc.anchor_mask, dtype=torch.bool)
    return EncodedBatch(
        input_ids=input_ids,
        attention_mask=attention,
        content_mask=content,
        anchor_mask=anchor,
        indices=tuple(indices),
        texts=tuple(e.text for e in encoded),
    )


def encode_corpus(
    tokenizer: Tokenizer,
    corpus: ConceptCorpus | Iterable[ConceptExample],
    batch_size: int = 16,
    add_bos: bool = True,
    max_length: int | None = None,
) -> Iterator[EncodedBatch]:
    """Yield right-padded batches of a corpus with anchor and content masks.

    Args:
        tokenizer: a Hugging Face fast tokenizer.
        corpus: a :class:`ConceptCorpus` or any iterable of :class:`ConceptExample`.
        batch_size: sentences per batch.
        add_bos: make sure each row starts with BOS when the tokenizer has one (added if the
            tokenizer's template does not add it); False removes a BOS the template adds.
        max_length: truncate each row to this many tokens (BOS included).

    Raises:
        ValueError: a sentence whose anchor covers no token (e.g. cut off by ``max_length``).

    Example:
        >>> batch = next(encode_corpus(tok, load_corpus("counting"), batch_size=4))
        >>> batch.input_ids.shape[0], bool(batch.anchor_mask.any())
        (4, True)
    """
    pad_id = _pad_id(tokenizer)
    for index, chunk in _chunks(corpus, batch_size):
        encoded = _encode(
            tokenizer,
            [ex.sentence for ex in chunk],
            [anchor_char_spans(ex) for ex in chunk],
            add_bos,
            max_length,
            anchors=[ex.anchor for ex in chunk],
        )
        yield _collate(encoded, range(index, index + len(chunk)), pad_id, with_anchor=True)


def encode_texts(
    tokenizer: Tokenizer,
    texts: Iterable[str],
    batch_size: int = 16,
    add_bos: bool = True,
    max_length: int | None = None,
) -> Iterator[EncodedBatch]:
    """Like :func:`encode_corpus` for plain texts (e.g. contrast pairs): ``anchor_mask`` is None.

    Example:
        >>> batch = next(encode_texts(tok, load_pairs("negation").positives, batch_size=2))
        >>> batch.content_mask[:, 0].any().item()  # position 0 is BOS
        False
    """
    pad_id = _pad_id(tokenizer)
    for index, chunk in _chunks(texts, batch_size):
        for text in chunk:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"texts must be non-empty strings, got {text!r}")
        encoded = _encode(tokenizer, chunk, None, add_bos, max_length)
        yield _collate(encoded, range(index, index + len(chunk)), pad_id, with_anchor=False)
