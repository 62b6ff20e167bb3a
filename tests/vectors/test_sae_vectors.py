import pytest
import torch
from safetensors.torch import save_file
from vectors_reference import hidden_by_hand

from interp.vectors import compute, keyword_filter, load_saes, select_features


def make_saes(root, backbone, d_sae=64, dense=()):
    """Random sae-lens SAEs for every layer of the backbone, saved like the organism's."""
    from sae_lens import StandardSAE, StandardSAEConfig

    for layer in range(backbone.n_layers):
        torch.manual_seed(100 + layer)
        sae = StandardSAE(StandardSAEConfig(d_in=backbone.d_model, d_sae=d_sae))
        with torch.no_grad():
            sae.W_enc.normal_(0, 0.5)
            sae.W_dec.normal_(0, 0.5)
            sae.b_enc.fill_(-0.1)
        sae.cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
        out = root / f"layer_{layer}"
        sae.save_model(out)
        sparsity = torch.full((d_sae,), -2.0)
        for f in dense:
            sparsity[f] = 0.5
        save_file({"sparsity": sparsity}, out / "sparsity.safetensors")
    return root


def reference_features(backbone, corpus, sae, layer, dense):
    """Straightforward re-implementation of the paper's selection, sentence by sentence."""
    scores, counts = {}, {}
    for ex in corpus.examples:
        hidden, _, anchors = hidden_by_hand(backbone, ex.sentence, ex.anchor)
        with torch.no_grad():
            acts = sae.encode(hidden[layer + 1][0])
        best = acts[anchors].max(dim=0).values
        best[list(dense)] = 0
        ranked = sorted(range(best.numel()), key=lambda f: -float(best[f]))[:20]
        for rank, f in enumerate(ranked, start=1):
            if float(best[f]) <= 0:
                break
            scores[f] = scores.get(f, 0.0) + 1 - (rank - 1) / 20
            counts[f] = counts.get(f, 0) + 1
    kept = sorted((f for f in scores if counts[f] >= 2), key=lambda f: (-scores[f], f))[:16]
    return kept


def test_sae_vector_matches_decoder_rows_of_reference_selection(backbone, counting, tmp_path):
    dense = (3, 5)
    root = make_saes(tmp_path / "saes", backbone, dense=dense)
    v = compute(backbone, counting, "sae", saes=root, layers=[1])
    saes, sparsity = load_saes(root, [1])
    assert bool((sparsity[1] >= 0).sum() == 2)
    expected = reference_features(backbone, counting, saes[1], 1, dense)
    assert v.meta.extra["features"]["1"] == expected
    assert not set(expected) & set(dense)
    rows = saes[1].W_dec.detach()[expected].mean(0)
    torch.testing.assert_close(v.at(1), rows / rows.norm(), atol=1e-6, rtol=1e-5)
    assert len(v.meta.extra["scores"]["1"]) == len(expected)


def test_select_features_ranks_and_thresholds():
    acts = torch.tensor([[0.0, 3.0, 1.0, 0.5], [0.0, 2.0, 5.0, 0.0], [9.0, 0.0, 0.0, 0.0]])
    kept, scores, counts = select_features(acts, per_sentence=2, min_sentences=2, top_k=4)
    assert kept == [1, 2]  # feature 0 is seen once, feature 3 never in a top 2
    assert scores[1] == 1.0 + 0.5 and scores[2] == 0.5 + 1.0
    assert counts == {1: 2, 2: 2, 0: 1}
    dense = torch.tensor([False, True, False, False])
    assert select_features(acts, dense=dense, per_sentence=2, min_sentences=2)[0] == [2]


def test_feature_filter_and_errors(backbone, counting, tmp_path):
    root = make_saes(tmp_path / "saes", backbone)
    base = compute(backbone, counting, "sae", saes=root, layers=[0])
    features = base.meta.extra["features"]["0"]
    explanations = {0: {f: ("numbers and counts" if i % 2 == 0 else "colours") for i, f in enumerate(features)}}
    filtered = compute(
        backbone, counting, "sae", saes=root, layers=[0],
        feature_filter=keyword_filter(["count"]), explanations=explanations,
    )
    assert filtered.meta.extra["features"]["0"] == features[::2]
    assert filtered.meta.extra["dropped_by_filter"]["0"] == features[1::2]
    with pytest.raises(ValueError, match="sae: no feature left at layer 0"):
        compute(backbone, counting, "sae", saes=root, layers=[0], feature_filter=lambda *a: False)
    with pytest.raises(ValueError, match=r"no SAE for layer 5 under .*: it has layers \[0, 1\]"):
        load_saes(root, [5])
    with pytest.raises(ValueError, match="for a sae-lens release give sae_id"):
        load_saes("gemma-scope-2b-pt-res-canonical")


def test_pretrained_release_path_loads_each_layer_with_its_id(backbone, counting, tmp_path, monkeypatch):
    """The hub path (Gemma Scope style) cannot download here: stand in sae-lens' loader."""
    from sae_lens import SAE

    root = make_saes(tmp_path / "saes", backbone)
    asked = []

    def fake(release, sae_id, device="cpu", **kw):
        asked.append((release, sae_id))
        layer = int(sae_id.split("/")[0].split("_")[1])
        return SAE.load_from_disk(root / f"layer_{layer}"), {}, torch.full((64,), -3.0)

    monkeypatch.setattr(SAE, "from_pretrained_with_cfg_and_sparsity", staticmethod(fake))
    v = compute(
        backbone, counting, "sae", saes="gemma-scope-2b-pt-res-canonical",
        sae_id="layer_{layer}/width_16k/canonical", layers=[0, 1],
    )
    assert asked == [
        ("gemma-scope-2b-pt-res-canonical", "layer_0/width_16k/canonical"),
        ("gemma-scope-2b-pt-res-canonical", "layer_1/width_16k/canonical"),
    ]
    local = compute(backbone, counting, "sae", saes=root, layers=[0, 1])
    for layer in (0, 1):
        torch.testing.assert_close(v.at(layer), local.at(layer))


def test_sae_reading_another_layer_is_refused(backbone, tmp_path):
    root = make_saes(tmp_path / "saes", backbone)
    saes, _ = load_saes(root)
    with pytest.raises(ValueError, match=r"the SAE given for layer 0 reads 'blocks.1.hook_resid_post', which is layer 1"):
        load_saes({0: saes[1]})


def test_default_saes_are_the_organisms_own_and_other_models_must_name_theirs(backbone, counting):
    import interp

    with pytest.raises(ValueError, match=r"no SAEs given for .*pass saes=.*only model sources that ship SAEs have default ones \('organism', 'organism-llava'\)"):
        compute(backbone, counting, "sae", layers=[0])
    first = interp.load_text_backbone(mllm="organism")
    v = compute(first, "counting", "sae", source="organism", layers=[1])
    assert v.meta.params["saes"] == "organism"
