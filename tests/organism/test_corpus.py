"""Concept corpora shipped as JSONL in the world's vocabulary."""

from __future__ import annotations

import json
import re

import pytest

from interp import organism
from interp.organism.corpus import TAXONOMIES, concept_sentences


@pytest.mark.parametrize("taxonomy", TAXONOMIES)
def test_concept_corpus_has_anchored_sentences(taxonomy):
    rows = [json.loads(line) for line in (organism.path("concepts") / f"{taxonomy}.jsonl").read_text().splitlines()]
    assert len(rows) >= 40
    for r in rows:
        assert re.search(rf"\b{re.escape(r['anchor'])}\b", r["sentence"])
    pairs = (organism.path("concepts") / f"{taxonomy}.pairs.jsonl").read_text().splitlines()
    assert len(pairs) >= 20
    assert set(json.loads(pairs[0])) == {"positive", "negative"}


def test_concept_words_are_in_the_vocabulary(text_model):
    _, tok = text_model
    for tx in TAXONOMIES:
        for r in concept_sentences(tx, 60):
            assert tok.unk_token_id not in tok(r["sentence"]).input_ids


def test_unknown_taxonomy_is_refused():
    with pytest.raises(ValueError, match="unknown taxonomy"):
        concept_sentences("temporal")
