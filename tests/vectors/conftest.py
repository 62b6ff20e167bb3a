import pytest

from interp.concepts import corpus_from_examples, load_corpus, load_pairs
from interp.models import load_text_backbone
from interp.testing import tiny_text_dir


@pytest.fixture(scope="session")
def backbone(tiny_root):
    return load_text_backbone(tiny_text_dir("gemma2", tiny_root))


@pytest.fixture(scope="session")
def counting():
    corpus = load_corpus("counting")
    return corpus_from_examples("counting", [(e.sentence, e.anchor) for e in corpus.examples[:12]])


@pytest.fixture(scope="session")
def negation_pairs():
    return load_pairs("negation")
