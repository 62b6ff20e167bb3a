"""Concept corpora and anchor location for textual steering vectors (arXiv 2505.14071).

A concept corpus holds sentences with the anchor word that carries a visual concept
(``("He placed the shoes beneath the bed", "beneath")``); contrast pairs hold a sentence that
expresses the concept and a minimally different one that does not. Anchors are located in token
space by character offsets, so the same corpus works with every tokenizer family.

Example:
    >>> from interp.concepts import TAXONOMIES, load_corpus, load_pairs
    >>> corpus = load_corpus("spatial_relationship")
    >>> corpus.examples[0].anchor in corpus.examples[0].sentence
    True
"""

from interp.concepts.anchors import (
    EncodedBatch,
    EncodedSentence,
    anchor_char_spans,
    anchor_token_mask,
    encode_corpus,
    encode_example,
    encode_texts,
)
from interp.concepts.corpus import (
    CORPUS_SOURCES,
    TAXONOMIES,
    ConceptCorpus,
    ConceptExample,
    ConceptLike,
    ContrastPairs,
    corpus_from_examples,
    corpus_sources,
    find_anchor,
    list_corpora,
    load_corpus,
    load_pairs,
    register_corpus_source,
)

__all__ = [
    "CORPUS_SOURCES",
    "TAXONOMIES",
    "ConceptCorpus",
    "ConceptExample",
    "ConceptLike",
    "ContrastPairs",
    "EncodedBatch",
    "EncodedSentence",
    "anchor_char_spans",
    "anchor_token_mask",
    "corpus_from_examples",
    "corpus_sources",
    "encode_corpus",
    "encode_example",
    "encode_texts",
    "find_anchor",
    "list_corpora",
    "load_corpus",
    "load_pairs",
    "register_corpus_source",
]
