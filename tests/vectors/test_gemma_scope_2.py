"""The Gemma Scope 2 how-to's calls on a tiny Gemma 3 with SAEs of that release's shape."""

from __future__ import annotations

import pytest
import sae_lens
import torch

import interp
from interp.concepts import corpus_from_examples, load_corpus
from interp.testing import tiny_mllm_dir

RELEASE = "gemma-scope-2-4b-it-res"
SAE_ID = "layer_{layer}_width_16k_l0_medium"
LAYERS = [0, 1]


@pytest.fixture(scope="module")
def gemma3_backbone(tiny_root):
    mllm = interp.load_mllm(tiny_mllm_dir("gemma3", tiny_root))
    return interp.load_text_backbone(mllm=mllm)


@pytest.fixture(scope="module")
def spatial():
    corpus = load_corpus("spatial_relationship")
    return corpus_from_examples("spatial_relationship", [(e.sentence, e.anchor) for e in corpus.examples[:12]])


def gemma_scope_2_sae(layer: int, d_in: int, d_sae: int = 48):
    """A JumpReLU SAE configured as sae-lens' gemma_3 loader configures Gemma Scope 2's."""
    cfg = sae_lens.JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae, dtype="float32", apply_b_dec_to_input=False,
                                     normalize_activations="none")
    cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
    cfg.metadata.model_name = "google/gemma-3-4b-it"
    cfg.metadata.prepend_bos = True
    torch.manual_seed(10 + layer)
    sae = sae_lens.JumpReLUSAE(cfg)
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.5)
        sae.W_dec.normal_(0, 0.5)
        sae.threshold.fill_(0.05)
    return sae


def test_the_release_and_ids_are_in_the_installed_catalogue():
    from sae_lens.loading.pretrained_saes_directory import get_pretrained_saes_directory

    release = get_pretrained_saes_directory()[RELEASE]
    assert release.model == "google/gemma-3-4b-it"
    assert release.conversion_func == "gemma_3"
    for layer in (9, 17, 22, 29):
        assert SAE_ID.format(layer=layer) in release.saes_map
    assert release.neuronpedia_id[SAE_ID.format(layer=17)] == "gemma-3-4b-it/17-gemmascope-2-res-16k"


def test_vector_from_a_folder_of_saes(gemma3_backbone, spatial, tmp_path):
    root = tmp_path / "saes" / "gemma-scope-2-4b-it"
    for layer in LAYERS:
        gemma_scope_2_sae(layer, gemma3_backbone.d_model).save_model(root / f"layer_{layer}")
    v = interp.compute(gemma3_backbone, spatial, "sae", layers=LAYERS, saes=str(root), min_sentences=1)
    assert list(v.layers) == LAYERS
    saes, _ = interp.vectors.load_saes(root, LAYERS)
    for layer in LAYERS:
        feats = v.meta.extra["features"][str(layer)]
        assert feats
        rows = saes[layer].W_dec.detach()[feats].mean(0)
        torch.testing.assert_close(v.at(layer), rows / rows.norm(), atol=1e-6, rtol=1e-5)


def test_vector_from_the_release_name(gemma3_backbone, spatial, tmp_path, monkeypatch):
    """The hub call of the how-to, with sae-lens' download replaced by SAEs of the same shape."""
    asked = []

    def from_pretrained(release, sae_id, device="cpu"):
        asked.append((release, sae_id))
        layer = int(sae_id.split("_")[1])
        return gemma_scope_2_sae(layer, gemma3_backbone.d_model), {}, None

    monkeypatch.setattr(sae_lens.SAE, "from_pretrained_with_cfg_and_sparsity", staticmethod(from_pretrained))
    v = interp.compute(gemma3_backbone, spatial, "sae", layers=LAYERS, saes=RELEASE, sae_id=SAE_ID,
                       min_sentences=1)
    assert asked == [(RELEASE, "layer_0_width_16k_l0_medium"), (RELEASE, "layer_1_width_16k_l0_medium")]
    assert v.meta.params["saes"] == RELEASE and v.meta.params["sae_id"] == SAE_ID
    for layer in LAYERS:
        sae = gemma_scope_2_sae(layer, gemma3_backbone.d_model)
        rows = sae.W_dec.detach()[v.meta.extra["features"][str(layer)]].mean(0)
        torch.testing.assert_close(v.at(layer), rows / rows.norm(), atol=1e-6, rtol=1e-5)


def test_an_sae_of_another_layer_is_refused(gemma3_backbone, spatial, tmp_path):
    root = tmp_path / "wrong"
    gemma_scope_2_sae(1, gemma3_backbone.d_model).save_model(root / "layer_0")
    with pytest.raises(ValueError, match=r"reads 'blocks\.1\.hook_resid_post', which is layer 1"):
        interp.compute(gemma3_backbone, spatial, "sae", layers=[0], saes=str(root))
