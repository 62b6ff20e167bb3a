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

The names are those ``interp.concepts.corpus`` and ``interp.concepts.anchors`` declare in their
``__all__``.
"""

from interp.concepts import anchors, corpus
from interp.concepts.anchors import *  # noqa: F403  (anchors.__all__, declared there once)
from interp.concepts.corpus import *  # noqa: F403  (corpus.__all__, declared there once)

__all__ = [*corpus.__all__, *anchors.__all__]
