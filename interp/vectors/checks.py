"""Checks of what a vector is built from and of the model it is used on.

Data (before any forward pass): repeated sentences are counted once, with a warning; a sentence
longer than the model's positions is refused; a corpus whose anchors all tokenize to the unknown
token is refused; many unknown tokens give a warning. What was found is returned as a record that
the vector keeps in ``meta.checks``, so a number read later can be traced to its data.

Which model a vector may meet is the boundary's to say (``interp.boundary.check_vector``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from interp.boundary import check_lengths
from interp.types import JSONDict

if TYPE_CHECKING:
    from interp.concepts import ConceptCorpus, ContrastPairs

#: Above this fraction of unknown tokens among the tokens a method reads, a warning is given:
#: a few out-of-vocabulary words in a real corpus stay well under 1%; at 10% a tenth of the
#: statistics come from one shared embedding and say little about the concept (the default
#: corpus on the organism's small world vocabulary gives 62%).
UNKNOWN_WARN_FRACTION = 0.10

class DataQualityWarning(UserWarning):
    """The data a vector is built from is suspect (repeats, unknown tokens); see ``meta.checks``."""


# --------------------------------------------------------------------------- data


def dedupe_corpus(corpus: ConceptCorpus) -> tuple[ConceptCorpus, int]:
    """The corpus with repeated examples (same sentence, anchor and occurrence) kept once."""
    from interp.concepts import ConceptCorpus

    seen: set[tuple[str, str, int | None]] = set()
    kept = []
    for ex in corpus.examples:
        key = (ex.sentence, ex.anchor, ex.anchor_start)
        if key not in seen:
            seen.add(key)
            kept.append(ex)
    n_dup = len(corpus) - len(kept)
    if not n_dup:
        return corpus, 0
    return ConceptCorpus(name=corpus.name, examples=tuple(kept), source=corpus.source), n_dup


def dedupe_pairs(pairs: ContrastPairs) -> tuple[ContrastPairs, int]:
    """The pairs with repeated ``(positive, negative)`` pairs kept once."""
    from interp.concepts import ContrastPairs

    kept = list(dict.fromkeys(pairs.pairs))
    n_dup = len(pairs) - len(kept)
    if not n_dup:
        return pairs, 0
    return ContrastPairs(name=pairs.name, pairs=tuple(kept), source=pairs.source), n_dup


def _warn_duplicates(kind: str, name: str, n_dup: int, n_given: int) -> None:
    warnings.warn(
        f"{kind} {name!r} repeats {n_dup} of its {n_given} entries: each is counted once "
        f"({n_given - n_dup} distinct), recorded as meta.checks['n_duplicates']",
        DataQualityWarning,
        stacklevel=4,
    )


def check_corpus(model: Any, corpus: ConceptCorpus, method: str) -> tuple[ConceptCorpus, JSONDict]:
    """Check a corpus against ``model``'s tokenizer; return the corpus to use and the record.

    Raises:
        ValueError: a sentence longer than the model's positions, or every anchor token unknown.
    """
    from interp.concepts import encode_example

    given = len(corpus)
    corpus, n_dup = dedupe_corpus(corpus)
    if n_dup:
        _warn_duplicates("corpus", corpus.name, n_dup, given)
    encoded = [encode_example(model.tokenizer, ex) for ex in corpus.examples]
    check_lengths(model, corpus.sentences, [len(e) for e in encoded], f"{method}: corpus {corpus.name!r}")
    record: dict[str, object] = {"n_duplicates": n_dup}
    unk = getattr(model.tokenizer, "unk_token_id", None)
    if unk is None:
        return corpus, record
    n_content = n_unknown = n_anchor = n_anchor_unknown = 0
    for enc in encoded:
        assert enc.anchor_mask is not None
        for token, content, anchor in zip(enc.input_ids, enc.content_mask, enc.anchor_mask, strict=True):
            if not content:
                continue
            n_content += 1
            n_unknown += token == unk
            if anchor:
                n_anchor += 1
                n_anchor_unknown += token == unk
    if n_anchor and n_anchor_unknown == n_anchor:
        raise ValueError(
            f"{method}: every anchor token of corpus {corpus.name!r} ({n_anchor} tokens, anchors "
            f"such as {corpus.anchors[0]!r}) is {model.name}'s unknown token: the vector would "
            "describe the unknown token, not the concept; use a corpus in the model's vocabulary"
        )
    fraction = n_unknown / n_content if n_content else 0.0
    record["unknown_token_fraction"] = round(fraction, 4)
    record["anchor_unknown_fraction"] = round(n_anchor_unknown / n_anchor, 4) if n_anchor else 0.0
    _warn_unknown(model, corpus.name, fraction, n_unknown, n_content)
    return corpus, record


def check_pairs(model: Any, pairs: ContrastPairs, method: str) -> tuple[ContrastPairs, JSONDict]:
    """``check_corpus`` for contrast pairs (repeats, lengths, unknown tokens)."""
    from interp.concepts.anchors import _encode

    given = len(pairs)
    pairs, n_dup = dedupe_pairs(pairs)
    if n_dup:
        _warn_duplicates("contrast pairs", pairs.name, n_dup, given)
    texts = [*pairs.positives, *pairs.negatives]
    encoded = _encode(model.tokenizer, texts, None, True, None)
    labels = [f"{side} {i}" for side in ("positive", "negative") for i in range(len(pairs))]
    check_lengths(model, texts, [len(e) for e in encoded], f"{method}: pairs {pairs.name!r}", labels)
    record: dict[str, object] = {"n_duplicates": n_dup}
    unk = getattr(model.tokenizer, "unk_token_id", None)
    if unk is None:
        return pairs, record
    tokens = [t for e in encoded for t, c in zip(e.input_ids, e.content_mask, strict=True) if c]
    n_unknown = sum(t == unk for t in tokens)
    fraction = n_unknown / len(tokens) if tokens else 0.0
    record["unknown_token_fraction"] = round(fraction, 4)
    _warn_unknown(model, pairs.name, fraction, n_unknown, len(tokens))
    return pairs, record


def _warn_unknown(model: Any, name: str, fraction: float, n_unknown: int, n_content: int) -> None:
    if fraction > UNKNOWN_WARN_FRACTION:
        warnings.warn(
            f"{n_unknown} of the {n_content} tokens of {name!r} ({fraction:.0%}) are {model.name}'s "
            f"unknown token (warned above {UNKNOWN_WARN_FRACTION:.0%}): the vector mostly reflects "
            "words the model cannot read; recorded as meta.checks['unknown_token_fraction']",
            DataQualityWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------- provenance
