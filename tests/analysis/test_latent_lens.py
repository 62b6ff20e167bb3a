"""LatentLens on the organism: the bank, the search against brute force, the table and figures."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from interp.activations import residual_fn
from interp.analysis import ContextBank, context_bank, latent_lens, latent_lens_summary
from interp.concepts import encode_texts, load_corpus

LAYERS = [0, 2]


@pytest.fixture(scope="module")
def sentences():
    out = []
    for name in ("counting", "spatial_relationship", "attribute"):
        out += [ex.sentence for ex in load_corpus(name, source="organism").examples[:6]]
    return out


@pytest.fixture(scope="module")
def bank(organism_text, sentences):
    return context_bank(organism_text, sentences, layers=LAYERS, batch_size=8)


def test_bank_holds_each_prefix_once(organism_text, sentences, bank):
    assert bank.layers == LAYERS and len(bank) == len(bank.tokens) == len(bank.positions)
    for la in LAYERS:
        assert bank.vectors[la].shape == (len(bank), organism_text.d_model)
        torch.testing.assert_close(bank.vectors[la].norm(dim=-1), torch.ones(len(bank)))
    again = context_bank(organism_text, sentences + sentences[:3], layers=LAYERS, batch_size=8)
    assert len(again) == len(bank)  # repeated sentences add no new prefix
    capped = context_bank(organism_text, sentences, layers=[0], max_per_token=1)
    assert len(set(capped.token_ids)) == len(capped)
    assert organism_text.tokenizer.bos_token not in bank.tokens


def test_a_banked_sentence_finds_itself(organism_text, sentences, bank):
    batch = next(encode_texts(organism_text.tokenizer, sentences[:1]))
    h = residual_fn(organism_text)(batch, [2])[2][0]
    pos = torch.nonzero(batch.content_mask[0]).flatten()
    sim, row, layer = bank.search(h[pos], top_k=1)
    assert torch.allclose(sim[:, 0], torch.ones(len(pos)), atol=1e-4)
    assert set(layer[:, 0].tolist()) == {2}
    assert [bank.positions[r] for r in row[:, 0].tolist()] == pos.tolist()


def test_search_matches_brute_force():
    torch.manual_seed(0)
    vecs = {1: torch.nn.functional.normalize(torch.randn(7, 4), dim=-1),
            3: torch.nn.functional.normalize(torch.randn(7, 4), dim=-1)}
    bank = ContextBank(vecs, list(range(7)), list("abcdefg"), [0] * 7, list(range(7)), ["s"])
    q = torch.randn(5, 4)
    sim, row, layer = bank.search(q, top_k=4)
    qn = torch.nn.functional.normalize(q, dim=-1)
    full = torch.cat([qn @ vecs[1].T, qn @ vecs[3].T], dim=1)
    expected = full.topk(4, dim=1)
    torch.testing.assert_close(sim, expected.values)
    assert row.tolist() == (expected.indices % 7).tolist()
    assert layer.tolist() == [[1 if i < 7 else 3 for i in r] for r in expected.indices.tolist()]
    only3 = bank.search(q, top_k=2, layers=[3])
    assert set(only3[2].flatten().tolist()) == {3}
    with pytest.raises(ValueError, match="no layers"):
        bank.search(q, layers=[2])


def test_latent_lens_table_on_organism(organism, test_items, bank):
    df = latent_lens(organism, test_items[:1], bank, layers=[1, 2], kinds=["image", "text"], top_k=3)
    n_image = int((df[(df.layer == 1) & (df["rank"] == 1)].kind == "image").sum())
    assert n_image > 0 and set(df.kind) == {"image", "text"}
    assert list(df.columns)[:7] == ["item", "position", "token", "kind", "patch", "patch_row", "patch_col"]
    assert {"neighbor_token", "similarity", "bank_layer", "sentence", "sentence_position"} <= set(df.columns)
    assert set(df.bank_layer) <= set(LAYERS)
    per = df.groupby(["item", "position", "layer"])
    assert (per.size() == 3).all()
    assert (per["similarity"].apply(lambda s: s.is_monotonic_decreasing)).all()
    assert df.similarity.between(-1.0001, 1.0001).all()
    # each neighbour's sentence holds it at its position
    r = df.iloc[0]
    assert organism.tokenizer.convert_ids_to_tokens(
        encode_texts(organism.tokenizer, [r.sentence]).__next__().input_ids[0].tolist()
    )[r.sentence_position] == r.neighbor_token
    summary = latent_lens_summary(df)
    assert list(summary.columns) == ["layer", "kind", "n", "top_token", "share", "similarity"]
    assert len(summary) == 4


def test_latent_lens_refuses_bad_input(organism, test_items, bank):
    with pytest.raises(ValueError, match="top_k"):
        latent_lens(organism, test_items[:1], bank, top_k=0)
    small = ContextBank({0: torch.eye(3)}, [1, 2, 3], ["a", "b", "c"], [0, 0, 0], [1, 2, 3], ["x"])
    with pytest.raises(ValueError, match="build the bank with the MLLM's own language model"):
        latent_lens(organism, test_items[:1], small)
    with pytest.raises(ValueError, match="non-empty list"):
        context_bank(organism, "one string")


def test_figures(organism, test_items, bank):
    from interp.figures.latent_lens import latent_lens_layers, latent_lens_map

    df = latent_lens(organism, test_items[:2], bank, layers=[0, 2], kinds=["image"], top_k=2)
    fig = latent_lens_map(df)
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    assert any(str(v) for row in fig.data[0].text for v in row)
    fig = latent_lens_layers(df)
    z = fig.data[0].z
    assert pytest.approx([sum(r) for r in z]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="latent_lens"):
        latent_lens_map(pd.DataFrame({"layer": [0]}))
