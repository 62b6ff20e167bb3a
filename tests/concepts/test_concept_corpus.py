"""Shipped concept corpora, JSONL loading and validation, hashes and the organism source."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import interp.concepts.corpus as corpus_module
from interp.concepts import (
    TAXONOMIES,
    ConceptCorpus,
    ConceptExample,
    ContrastPairs,
    corpus_from_examples,
    find_anchor,
    list_corpora,
    load_corpus,
    load_pairs,
)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- shipped corpora


def test_taxonomies_are_the_papers_eight_in_order():
    assert TAXONOMIES == (
        "spatial_relationship",
        "counting",
        "attribute",
        "entity",
        "action",
        "temporal",
        "comparison",
        "negation",
    )
    assert list_corpora() == list(TAXONOMIES)


@pytest.mark.parametrize("name", TAXONOMIES)
def test_shipped_corpus_is_large_varied_and_valid(name):
    corpus = load_corpus(name)
    assert corpus.name == name and corpus.source == "default"
    assert len(corpus) >= 40
    assert len(set(corpus.sentences)) == len(corpus)
    assert len({a.casefold() for a in corpus.anchors}) >= 10
    for ex in corpus:
        assert find_anchor(ex.sentence, ex.anchor), (ex.sentence, ex.anchor)


@pytest.mark.parametrize("name", TAXONOMIES)
def test_shipped_pairs_are_minimal_contrasts(name):
    pairs = load_pairs(name)
    assert pairs.name == name and len(pairs) >= 20
    assert len(set(pairs.positives)) == len(pairs)
    for positive, negative in pairs:
        assert positive != negative and positive.strip() and negative.strip()


def test_shipped_data_is_package_data():
    data = Path(corpus_module.__file__).parent / "data"
    names = sorted(p.name for p in data.glob("*.jsonl"))
    assert len(names) == 16


def test_unknown_taxonomy_lists_available():
    with pytest.raises(ValueError, match=r"unknown concept corpus 'colour'.*spatial_relationship"):
        load_corpus("colour")
    with pytest.raises(ValueError, match=r"unknown contrast pairs 'colour'.*negation"):
        load_pairs("colour")


def test_unknown_source_is_refused():
    with pytest.raises(ValueError, match=r"unknown corpus source 'web'.*'default', 'organism'"):
        load_corpus("counting", source="web")


# --------------------------------------------------------------------------- user files


def test_user_file_loads_with_labels_and_anchor_start(tmp_path):
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"sentence": "She won seven medals", "anchor": "seven", "label": "7"},
            "",
            {"sentence": "Seven of the seven", "anchor": "seven", "anchor_start": 13},
        ],
    )
    corpus = load_corpus(path)
    assert corpus.name == "mine" and corpus.source == str(path) and len(corpus) == 2
    assert corpus[0].label == "7" and corpus[1].anchor_start == 13
    assert load_corpus(str(path)) == corpus


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"mine\.jsonl:2: not valid JSON"),
        ('["a", "b"]', r"mine\.jsonl:2: expected a JSON object"),
        ('{"sentence": "A cat"}', r"mine\.jsonl:2: 'anchor' must be a non-empty string"),
        ('{"sentence": "A cat", "anchor": ""}', r":2: 'anchor' must be a non-empty string"),
        ('{"sentence": "", "anchor": "cat"}', r":2: 'sentence' must be a non-empty string"),
        ('{"sentence": "A cat", "anchor": 3}', r":2: 'anchor' must be a non-empty string"),
        (
            '{"sentence": "She won seventeen medals", "anchor": "seven"}',
            r"mine\.jsonl:2: anchor 'seven' does not occur as a whole word in sentence "
            r"'She won seventeen medals'",
        ),
        (
            '{"sentence": "A cat", "anchor": "cat", "colour": "red"}',
            r":2: unknown keys \['colour'\]",
        ),
        ('{"sentence": "A cat", "anchor": " cat"}', r":2: anchor ' cat' has leading or trailing"),
        ('{"sentence": "A cat", "anchor": "cat", "anchor_start": 0}', r":2: anchor_start=0 is not"),
        ('{"sentence": "A cat", "anchor": "cat", "label": 5}', r":2: label must be a string"),
    ],
)
def test_bad_corpus_line_names_file_and_line(tmp_path, line, message):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"sentence": "A dog", "anchor": "dog"}, line])
    with pytest.raises(ValueError, match=message):
        load_corpus(path)


def test_empty_or_missing_user_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no examples"):
        load_corpus(empty)
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        load_corpus(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", r"p\.pairs\.jsonl:2: not valid JSON"),
        ('{"positive": "A cat"}', r":2: keys \['positive'\]; expected exactly"),
        ('{"positive": "A cat", "negative": ""}', r":2: negative must be a non-empty string"),
        ('{"positive": "A cat", "negative": "A cat"}', r":2: positive and negative are the same"),
    ],
)
def test_bad_pairs_line_names_file_and_line(tmp_path, line, message):
    path = write_jsonl(
        tmp_path / "p.pairs.jsonl", [{"positive": "No cat", "negative": "A cat"}, line]
    )
    with pytest.raises(ValueError, match=message):
        load_pairs(path)


def test_user_pairs_load(tmp_path):
    path = write_jsonl(tmp_path / "neg.pairs.jsonl", [{"positive": "No cat", "negative": "A cat"}])
    pairs = load_pairs(path)
    assert pairs.name == "neg" and pairs.positives == ("No cat",) and pairs.negatives == ("A cat",)


# --------------------------------------------------------------------------- values and hashes


def test_corpus_from_examples_and_errors():
    corpus = corpus_from_examples(
        "c", [("She won seven medals", "seven"), ConceptExample("A red cube", "red", label="c")]
    )
    assert corpus.source == "code" and corpus.anchors == ("seven", "red")
    assert list(corpus) == list(corpus.examples)
    with pytest.raises(ValueError, match=r"example 0 of corpus 'c' must be a \(sentence, anchor\)"):
        corpus_from_examples("c", ["just a sentence"])
    with pytest.raises(ValueError, match="has no examples"):
        corpus_from_examples("c", [])


def test_values_are_frozen():
    corpus = corpus_from_examples("c", [("She won seven medals", "seven")])
    with pytest.raises(dataclasses.FrozenInstanceError):
        corpus.name = "d"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        corpus.examples[0].anchor = "won"  # type: ignore[misc]


def test_corpus_hash_is_stable_and_content_only(tmp_path):
    corpus = corpus_from_examples("c", [("She won seven medals", "seven")])
    # Pinned: saved vectors record this value, so it must not drift between versions.
    assert corpus.hash() == PINNED_CORPUS_HASH
    path = write_jsonl(
        tmp_path / "other.jsonl", [{"sentence": "She won seven medals", "anchor": "seven"}]
    )
    assert load_corpus(path).hash() == corpus.hash()
    changed = [
        corpus_from_examples("c", [("She won seven medals", "won")]),
        corpus_from_examples("c", [("She won Seven medals", "seven")]),
        ConceptCorpus("c", (ConceptExample("She won seven medals", "seven", label="x"),), "code"),
    ]
    assert len({c.hash() for c in changed} | {corpus.hash()}) == 4
    assert load_corpus("counting").hash() == load_corpus("counting").hash()


def test_pairs_hash_is_stable_and_order_sensitive():
    a = ContrastPairs("n", (("No cat", "A cat"), ("No dog", "A dog")), "code")
    b = ContrastPairs("m", (("No cat", "A cat"), ("No dog", "A dog")), "elsewhere")
    c = ContrastPairs("n", (("No dog", "A dog"), ("No cat", "A cat")), "code")
    assert a.hash() == b.hash() == PINNED_PAIRS_HASH
    assert a.hash() != c.hash()
    assert a.hash() != corpus_from_examples("n", [("No cat", "cat")]).hash()


PINNED_CORPUS_HASH = "ccf2427d652d3c1569e4f5ce2c74651fbc2766179199199bcceaf7aae09b3aa0"
PINNED_PAIRS_HASH = "10fed9154af1b97030244d5e5a62140ccc58f2e3a03fd79db8bfc77c64b5c58e"


# --------------------------------------------------------------------------- corpus sources


def test_organism_source_missing_names_the_build_command(tmp_path, monkeypatch):
    from interp import organism

    monkeypatch.setitem(organism.DATA_DIRS, "organism", tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=r"organism part 'concepts' is missing.*scripts/train_organism\.py"):
        load_corpus("counting", source="organism")
    with pytest.raises(FileNotFoundError, match=r"train_organism\.py"):
        list_corpora("organism")
    with pytest.raises(FileNotFoundError, match=r"train_organism\.py"):
        load_pairs("counting", source="organism")


@pytest.fixture
def own_source(tmp_path):
    """A corpus source registered as a plugin would, reading ``tmp_path``; removed afterwards."""
    from interp.concepts import CORPUS_SOURCES, register_corpus_source

    register_corpus_source("mine", lambda: tmp_path)
    yield tmp_path
    CORPUS_SOURCES.unregister("mine")


def test_a_registered_source_reads_its_directory(own_source):
    write_jsonl(own_source / "counting.jsonl", [{"sentence": "There are three red cubes", "anchor": "three"}])
    write_jsonl(own_source / "counting.pairs.jsonl", [{"positive": "three cubes", "negative": "red cubes"}])
    write_jsonl(own_source / "shape.jsonl", [{"sentence": "a blue circle", "anchor": "circle"}])
    assert list_corpora("mine") == ["counting", "shape"]
    corpus = load_corpus("counting", source="mine")
    assert corpus.source == "mine" and corpus.anchors == ("three",)
    assert load_pairs("counting", source="mine").positives == ("three cubes",)
    with pytest.raises(ValueError, match=r"unknown concept corpus 'negation' in source 'mine'"):
        load_corpus("negation", source="mine")


def test_sources_are_the_defaults_and_the_plugins_and_a_name_is_taken_once(own_source):
    from interp.concepts import corpus_sources, register_corpus_source

    assert corpus_sources()[:2] == ["default", "organism"] and "mine" in corpus_sources()
    with pytest.raises(ValueError, match="corpus source 'mine' is already registered"):
        register_corpus_source("mine", lambda: own_source)
    with pytest.raises(ValueError, match=r"unknown corpus source 'nope'; expected one of \['default', 'organism'"):
        load_corpus("counting", source="nope")


def test_repr_is_short_and_names_the_hash():
    corpus = load_corpus("counting")
    assert repr(corpus) == (
        f"ConceptCorpus(name='counting', source='default', examples={len(corpus)}, "
        f"hash={corpus.hash()[:12]})"
    )
    assert repr(load_pairs("counting")).startswith("ContrastPairs(name='counting'")


def test_corpus_refuses_non_examples():
    with pytest.raises(
        ValueError, match="example 0 of corpus 'c' is a tuple; expected a ConceptExample"
    ):
        ConceptCorpus("c", (("She won seven medals", "seven"),), "code")  # type: ignore[arg-type]


ORGANISM_DATA = Path(corpus_module.__file__).resolve().parent.parent / "organism" / "data"


@pytest.mark.skipif(
    not (ORGANISM_DATA / "concepts").is_dir(),
    reason="organism not built (scripts/train_organism.py)",
)
def test_shipped_organism_corpora_load_and_encode_with_its_tokenizer():
    from interp.concepts import encode_corpus, encode_texts

    names = list_corpora("organism")
    assert names and set(names) <= set(TAXONOMIES)
    tokenizer = None
    if (ORGANISM_DATA / "text" / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(ORGANISM_DATA / "text"))
    for name in names:
        corpus = load_corpus(name, source="organism")
        pairs = load_pairs(name, source="organism")
        assert corpus.source == pairs.source == "organism"
        if tokenizer is not None:
            for batch in encode_corpus(tokenizer, corpus, batch_size=64):
                assert batch.anchor_mask is not None and batch.anchor_mask.any(dim=1).all()
            assert sum(len(b) for b in encode_texts(tokenizer, pairs.negatives)) == len(pairs)
