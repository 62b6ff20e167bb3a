"""Fixtures for the reliability suites: the shipped organism (loaded once) and its scenes."""

from __future__ import annotations

import pytest

from interp import organism


@pytest.fixture(scope="session")
def mllm():
    import interp

    return interp.load_mllm("organism")


@pytest.fixture(scope="session")
def backbone():
    import interp

    return interp.load_text_backbone(mllm="organism")


@pytest.fixture(scope="session")
def scenes():
    """Two organism items (a Count and a Relation question) with their images."""
    from interp.organism.scenes import make_item

    return [make_item("test", "Count", 0), make_item("test", "Relation", 1)]


@pytest.fixture(scope="session")
def inputs(mllm, scenes):
    """A left-padded batch of the two scenes' prompts and images."""
    return mllm.encode([organism.format_prompt(s) for s in scenes], [s["image"] for s in scenes], chat=False)


@pytest.fixture(scope="session")
def small_corpus():
    """Ten sentences of the organism's counting corpus: enough for every method, fast."""
    from interp.concepts import corpus_from_examples, load_corpus

    full = load_corpus("counting", source="organism")
    return corpus_from_examples("counting", [(e.sentence, e.anchor) for e in full.examples[:10]])
