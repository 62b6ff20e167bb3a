"""Batch encoding of corpora and texts: BOS policy, padding, content and anchor masks."""

from __future__ import annotations

import pytest
import torch
from concept_tokenizers import build_tokenizer

from interp.concepts import (
    ConceptExample,
    corpus_from_examples,
    encode_corpus,
    encode_texts,
    load_corpus,
    load_pairs,
)


def test_encode_corpus_batches_cover_the_corpus_with_consistent_masks(any_tokenizer):
    _kind, tok = any_tokenizer
    corpus = load_corpus("spatial_relationship")
    batches = list(encode_corpus(tok, corpus, batch_size=16))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    assert [len(b) for b in batches] == [16, 16, len(corpus) - 32]
    assert [i for b in batches for i in b.indices] == list(range(len(corpus)))
    for batch in batches:
        assert batch.anchor_mask is not None
        assert batch.input_ids.dtype == torch.long
        assert batch.anchor_mask.dtype == torch.bool and batch.content_mask.dtype == torch.bool
        assert batch.input_ids.shape == batch.attention_mask.shape == batch.content_mask.shape
        # anchors are content; content is attended; every row has an anchor.
        assert not (batch.anchor_mask & ~batch.content_mask).any()
        assert not (batch.content_mask & (batch.attention_mask == 0)).any()
        assert batch.anchor_mask.any(dim=1).all()
        # right padding: attention is a prefix of ones.
        lengths = batch.attention_mask.sum(dim=1)
        for row, n in enumerate(lengths.tolist()):
            assert batch.attention_mask[row, :n].all() and not batch.attention_mask[row, n:].any()
            assert (batch.input_ids[row, n:] == pad).all()
        assert batch.texts == tuple(corpus.sentences[i] for i in batch.indices)


def test_bos_is_present_once_and_never_content(any_tokenizer):
    _kind, tok = any_tokenizer
    batch = next(encode_corpus(tok, load_corpus("counting"), batch_size=8))
    if tok.bos_token_id is None:  # BERT style: [CLS] leads, and it is special
        assert tok.convert_ids_to_tokens(batch.input_ids[0, 0].item()) == "[CLS]"
    else:
        assert (batch.input_ids[:, 0] == tok.bos_token_id).all()
        assert (batch.input_ids[:, 1] != tok.bos_token_id).all()  # not doubled by the template
    assert not batch.content_mask[:, 0].any()


@pytest.mark.parametrize("kind", ["gpt2", "llama3", "wordlevel_whitespace"])
def test_add_bos_false_leaves_no_bos(kind):
    tok = build_tokenizer(kind)
    batch = next(encode_texts(tok, ["She won seven medals"], add_bos=False))
    assert tok.bos_token_id not in batch.input_ids[0].tolist()
    assert batch.content_mask[0, 0]


def test_template_bos_and_added_bos_give_the_same_content():
    with_template = build_tokenizer("bytelevel_prefix")  # template adds BOS
    text = "The red cube sits on the table"
    batch = next(encode_texts(with_template, [text]))
    assert batch.input_ids[0, 0].item() == with_template.bos_token_id
    assert batch.content_mask[0].sum().item() == batch.attention_mask[0].sum().item() - 1


def test_special_tokens_at_the_end_are_not_content():
    tok = build_tokenizer("wordpiece")
    batch = next(encode_corpus(tok, [ConceptExample("She won seven medals", "seven")]))
    n = int(batch.attention_mask[0].sum())
    assert tok.convert_ids_to_tokens(batch.input_ids[0, n - 1].item()) == "[SEP]"
    assert not batch.content_mask[0, n - 1]


def test_unknown_words_are_content_not_special():
    tok = build_tokenizer("wordlevel_whitespace")
    batch = next(encode_texts(tok, ["Zyxw sat"]))
    assert batch.input_ids[0, 1].item() == tok.unk_token_id
    assert batch.content_mask[0, 1]


def test_encode_texts_has_no_anchor_mask_and_encodes_pairs():
    tok = build_tokenizer("gemma")
    pairs = load_pairs("negation")
    batches = list(encode_texts(tok, pairs.positives, batch_size=10))
    assert all(b.anchor_mask is None for b in batches)
    assert sum(len(b) for b in batches) == len(pairs)
    assert all(not b.content_mask[:, 0].any() for b in batches)


def test_max_length_truncates_rows():
    tok = build_tokenizer("llama3")
    corpus = corpus_from_examples("c", [("Seven swans glided across the lake", "Seven")])
    batch = next(encode_corpus(tok, corpus, max_length=3))
    assert batch.input_ids.shape == (1, 3)


def test_anchor_cut_off_by_max_length_is_refused():
    tok = build_tokenizer("llama3")
    corpus = corpus_from_examples("c", [("The swans glided across the lake", "lake")])
    with pytest.raises(ValueError, match=r"anchor 'lake' covers no token of sentence 'The swans"):
        list(encode_corpus(tok, corpus, max_length=4))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size_is_refused(bad):
    tok = build_tokenizer("gpt2")
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        list(encode_texts(tok, ["a cat"], batch_size=bad))


def test_bad_max_length_and_empty_text_are_refused():
    tok = build_tokenizer("gpt2")
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        list(encode_texts(tok, ["a cat"], max_length=0))
    with pytest.raises(ValueError, match="non-empty strings"):
        list(encode_texts(tok, ["a cat", "  "]))


def test_encode_corpus_is_lazy():
    tok = build_tokenizer("gpt2")

    def examples():
        yield ConceptExample("She won seven medals", "seven")
        raise RuntimeError("read too far")

    first = next(encode_corpus(tok, examples(), batch_size=1))
    assert len(first) == 1


def test_batch_to_device_keeps_everything():
    tok = build_tokenizer("gpt2")
    batch = next(encode_corpus(tok, load_corpus("counting"), batch_size=3))
    moved = batch.to("cpu")
    assert moved.indices == batch.indices and moved.texts == batch.texts
    assert torch.equal(moved.input_ids, batch.input_ids)
    assert moved.anchor_mask is not None and batch.anchor_mask is not None
    assert torch.equal(moved.anchor_mask, batch.anchor_mask)
    assert next(encode_texts(tok, ["a cat"])).to("cpu").anchor_mask is None
