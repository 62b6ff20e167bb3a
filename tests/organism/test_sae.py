"""The per-layer SAEs load with sae-lens and reconstruct the backbone's residual stream."""

from __future__ import annotations

import sae_lens

from interp import organism
from interp.organism.recipe.evaluate import residual_activations, sae_metrics

SENTENCES = [
    "the red circle is left of the blue square .",
    "there are three triangles in the image .",
    "there are two objects . a large green square in row 2 , column 3 . a small yellow circle in row 4 , column 1 .",
    "the triangle is not blue .",
]


def test_sae_loads_from_disk_with_transformerlens_hook_names(text_model):
    model, _ = text_model
    for layer in range(model.config.num_hidden_layers):
        d = organism.path("sae") / f"layer_{layer}"
        sae = sae_lens.SAE.load_from_disk(str(d))
        assert sae.cfg.metadata.hook_name == f"blocks.{layer}.hook_resid_post"
        assert sae.cfg.d_in == model.config.hidden_size
        assert (d / "sparsity.safetensors").exists()


def test_sae_explains_most_variance_on_a_few_sentences(text_model):
    model, tok = text_model
    for layer in range(model.config.num_hidden_layers):
        sae = sae_lens.SAE.load_from_disk(str(organism.path("sae") / f"layer_{layer}"))
        m = sae_metrics(sae, residual_activations(model, tok, SENTENCES, layer))
        assert m["fve"] > 0.7, (layer, m)
        assert 0 < m["l0"] < sae.cfg.d_sae / 4
