"""Anchor tokens located by character offsets, on every tokenizer family."""

from __future__ import annotations

import os
import re

import pytest
from concept_tokenizers import ANCHORS, KINDS, WORDS, build_tokenizer
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from interp.concepts import (
    ConceptExample,
    anchor_char_spans,
    encode_example,
    find_anchor,
)

WORD_CHAR = re.compile(r"\w")


@st.composite
def anchored_sentences(draw: st.DrawFn) -> ConceptExample:
    """Random words with an anchor inserted once or twice, maybe capitalised or punctuated."""
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
    rare = st.text(alphabet="bcdfghjklmnpqrstvwxz", min_size=10, max_size=16)
    anchor = draw(st.one_of(st.sampled_from(ANCHORS), rare))
    # At least one other word: an anchor that is the whole sentence is refused.
    assume(any(w.casefold() != anchor.casefold() for w in words))
    for _ in range(draw(st.integers(1, 2))):
        prefix = draw(st.sampled_from(["", "", "", "(", '"']))
        suffix = draw(st.sampled_from(["", "", "", ",", ".", "!", "?", ")", '"', ";"]))
        words.insert(draw(st.integers(0, len(words))), prefix + anchor + suffix)
    if draw(st.booleans()):
        words[0] = words[0][:1].upper() + words[0][1:]
    sentence = " ".join(words)
    if draw(st.booleans()):
        sentence += draw(st.sampled_from([".", "!", " ."]))
    return ConceptExample(sentence, anchor)


def check_anchor_tokens(tokenizer, example: ConceptExample) -> None:
    """The anchor tokens carry exactly the anchor's characters and nothing of any other word."""
    enc = encode_example(tokenizer, example)
    assert enc.anchor_mask is not None
    text = example.sentence
    spans = anchor_char_spans(example)
    in_anchor = [False] * len(text)
    for start, end in spans:
        for c in range(start, end):
            in_anchor[c] = True
    covered = [False] * len(text)
    for token_id, (start, end), is_anchor, is_content in zip(
        enc.input_ids, enc.offsets, enc.anchor_mask, enc.content_mask, strict=True
    ):
        decoded = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
        touches = any(in_anchor[c] for c in range(start, end))
        if is_anchor:
            assert is_content, "an anchor token must be a content token"
            assert touches, f"anchor token {decoded!r} {start, end} misses the anchor"
            assert decoded.strip(), f"bare space mark {decoded!r} counted as anchor"
            stray = [text[c] for c in range(start, end) if not in_anchor[c]]
            assert not any(WORD_CHAR.match(ch) for ch in stray), (
                f"anchor token {decoded!r} covers other word characters {stray}"
            )
            for c in range(start, end):
                covered[c] = True
        elif is_content and touches and end > start:
            # Only a phantom prefix-space mark may touch the anchor without counting.
            assert not decoded.strip(), f"token {decoded!r} {start, end} of the anchor missed"
    # Spaces inside a phrase anchor may fall between tokens (trimmed offsets); letters may not.
    missing = [
        text[c]
        for c in range(len(text))
        if in_anchor[c] and not covered[c] and not text[c].isspace()
    ]
    assert not missing, f"anchor characters not covered by anchor tokens: {missing}"


def check_decoded_anchor(tokenizer, example: ConceptExample) -> None:
    """Decoding each occurrence's anchor tokens gives the anchor text back."""
    enc = encode_example(tokenizer, example)
    assert enc.anchor_mask is not None
    for start, end in anchor_char_spans(example):
        ids = [
            i
            for i, (s, e), a in zip(enc.input_ids, enc.offsets, enc.anchor_mask, strict=True)
            if a and s < end and start < e
        ]
        decoded = tokenizer.decode(ids, clean_up_tokenization_spaces=False).strip()
        assert decoded.casefold() == example.sentence[start:end].casefold()


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=int(os.environ.get("CONCEPTS_MAX_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(example=anchored_sentences())
def test_anchor_tokens_cover_exactly_the_anchor_on_every_tokenizer(kind, example):
    tokenizer = build_tokenizer(kind)
    check_anchor_tokens(tokenizer, example)
    if not kind.startswith("wordlevel"):  # word-level vocabularies decode rare words as <unk>
        check_decoded_anchor(tokenizer, example)


@settings(max_examples=30, deadline=None)
@given(example=anchored_sentences(), data=st.data())
def test_anchor_start_selects_one_occurrence(example, data):
    spans = find_anchor(example.sentence, example.anchor)
    start = data.draw(st.sampled_from([s for s, _ in spans]))
    picked = ConceptExample(example.sentence, example.anchor, anchor_start=start)
    tokenizer = build_tokenizer("llama3")
    enc = encode_example(tokenizer, picked)
    assert enc.anchor_mask is not None
    end = start + len(example.anchor)
    for (s, e), a in zip(enc.offsets, enc.anchor_mask, strict=True):
        if a:
            assert s < end and start < e
    check_anchor_tokens(tokenizer, picked)


def test_find_anchor_is_whole_word_and_case_insensitive():
    text = "Seven cats, seventeen dogs and (seven) birds; seven-year-old"
    assert [text[s:e] for s, e in find_anchor(text, "seven")] == ["Seven", "seven", "seven"]
    assert find_anchor("seventeen", "seven") == []
    assert find_anchor("He is unseen", "seen") == []


def test_every_occurrence_is_an_anchor_without_anchor_start():
    ex = ConceptExample("The box under the bed is under the lamp", "under")
    assert anchor_char_spans(ex) == [(8, 13), (25, 30)]
    tok = build_tokenizer("wordlevel_whitespace")
    assert sum(encode_example(tok, ex).anchor_mask) == 2


def test_glued_leading_space_counts_but_previous_token_does_not():
    tok = build_tokenizer("bytelevel_prefix")  # trim_offsets=False: "Ġbeneath" spans the space
    enc = encode_example(tok, "He placed the shoes beneath the bed", "beneath")
    tokens = tok.convert_ids_to_tokens(list(enc.input_ids))
    i = tokens.index("Ġbeneath")
    assert enc.offsets[i] == (19, 27)  # the space at 19 is inside the token's span
    assert enc.anchor_mask is not None
    assert [t for t, a in zip(tokens, enc.anchor_mask, strict=True) if a] == ["Ġbeneath"]
    assert enc.offsets[i - 1][1] == 19 and not enc.anchor_mask[i - 1]


@pytest.mark.parametrize("kind", ["bytelevel_prefix", "llama2", "llama_hf", "metaspace_always"])
def test_phantom_prefix_space_on_first_word_is_not_an_anchor(kind):
    tok = build_tokenizer(kind)
    enc = encode_example(tok, "Zyxw sat near the cube", "Zyxw")
    tokens = tok.convert_ids_to_tokens(list(enc.input_ids))
    # The tokenizer aligns its prepended space mark onto the first character...
    assert tokens[1] in {"Ġ", "▁"} and enc.offsets[1] == (0, 1)
    assert enc.anchor_mask is not None
    # ...but it is not part of the word.
    assert not enc.anchor_mask[1]
    assert all(enc.anchor_mask[2:6]) and not any(enc.anchor_mask[6:])


def test_trim_offsets_gives_zero_length_space_tokens_that_are_never_anchors():
    tok = build_tokenizer("bytelevel_prefix_trim")
    enc = encode_example(tok, "Zyxw sat", "Zyxw")
    assert enc.offsets[1] == (0, 0)  # a real token, not special, with an empty span
    assert enc.anchor_mask is not None and enc.content_mask[1] and not enc.anchor_mask[1]


def test_multi_token_anchor_marks_every_piece():
    tok = build_tokenizer("wordpiece")
    enc = encode_example(tok, "A zyxwvq sat here", "zyxwvq")
    assert enc.anchor_mask is not None
    pieces = [
        t
        for t, a in zip(
            tok.convert_ids_to_tokens(list(enc.input_ids)), enc.anchor_mask, strict=True
        )
        if a
    ]
    assert len(pieces) > 1 and all(p.startswith("##") for p in pieces[1:])


def test_anchor_mask_is_aligned_with_ids():
    tok = build_tokenizer("gemma")
    enc = encode_example(tok, "She won seven medals", "seven")
    assert len(enc.anchor_mask) == len(enc.input_ids)
    assert not enc.anchor_mask[0]  # BOS
    assert "".join(t for t, a in zip(tok.convert_ids_to_tokens(list(enc.input_ids)), enc.anchor_mask) if a) == "▁seven"


def test_encode_example_argument_errors():
    tok = build_tokenizer("gpt2")
    with pytest.raises(ValueError, match="anchor is required"):
        encode_example(tok, "She won seven medals")
    with pytest.raises(ValueError, match="not both"):
        encode_example(tok, ConceptExample("She won seven medals", "seven"), "seven")
    with pytest.raises(ValueError, match="does not occur as a whole word"):
        encode_example(tok, "She won seventeen medals", "seven")


def test_truncated_anchor_is_refused():
    tok = build_tokenizer("llama3")
    with pytest.raises(ValueError, match=r"anchor 'medals' covers no token .*max_length=3"):
        encode_example(tok, "She won seven medals", "medals", max_length=3)


def test_slow_tokenizer_is_refused():
    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="needs a fast tokenizer"):
        encode_example(Slow(), "She won seven medals", "seven")


def test_phrase_anchor_marks_every_token_of_the_phrase(any_tokenizer):
    _kind, tok = any_tokenizer
    ex = ConceptExample("A tall man stood in front of the mural", "in front of")
    enc = encode_example(tok, ex)
    assert enc.anchor_mask is not None
    ids = [i for i, a in zip(enc.input_ids, enc.anchor_mask, strict=True) if a]
    decoded = tok.decode(ids, clean_up_tokenization_spaces=False).strip()
    assert decoded.casefold() == "in front of"
    check_anchor_tokens(tok, ex)
