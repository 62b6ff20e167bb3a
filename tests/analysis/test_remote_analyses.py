"""Every analysis of interp.analysis on a remote model (nnsight's ``remote="local"`` dry run of
NDIF: each trace is serialised as for the server and run here), against the same analysis on the
local model: equal tables (numbers within 1e-5), or a clear refusal naming the operation."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from interp.analysis import (
    CastCondition,
    ablation,
    activation_patching,
    attribution_patching,
    cast_steer,
    condition_grid,
    context_bank,
    contrast_condition,
    gradient_x_activation,
    isomorphic,
    latent_lens,
    logit_lens,
    modality_gap,
    projection,
    steer_toward_text,
    variance_share,
    vector_alignment,
    word_ranks,
)
from interp.analysis.common import as_items
from interp.organism.inside import color_counterfactual


@pytest.fixture(scope="module")
def remote():
    from interp.models import load_mllm

    return load_mllm("organism", remote="local")


@pytest.fixture(scope="module")
def remote_text():
    from interp.models import load_text_backbone

    return load_text_backbone(mllm="organism", remote="local")


@pytest.fixture(scope="module")
def colour_pairs():
    from interp.organism.scenes import make_item

    clean = as_items([make_item("test", "Attribute", i) for i in range(12)])
    clean = [c for c in clean if c.question.startswith("What is the color")][:2]
    return clean, [color_counterfactual(c) for c in clean]


def assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    for col in want.columns:
        if pd.api.types.is_float_dtype(want[col]):
            torch.testing.assert_close(
                torch.tensor(got[col].to_numpy(dtype=float)), torch.tensor(want[col].to_numpy(dtype=float)),
                atol=1e-5, rtol=1e-5, equal_nan=True, msg=f"column {col}",
            )
        else:
            assert got[col].tolist() == want[col].tolist(), col


ANALYSES = {
    "vector_alignment": lambda m, v, items, _: vector_alignment(m, v, items, layers=[1, 3], batch_size=5),
    "variance_share": lambda m, v, items, _: variance_share(m, v, items, layers=[1], kinds=["image", "text"], batch_size=5),
    "modality_gap": lambda m, v, items, _: modality_gap(m, items, layers=[1, 3], batch_size=5),
    "projection": lambda m, v, items, _: projection(m, v, items[:2], layers=[1], kinds=["image"]),
    "ablation": lambda m, v, items, _: ablation(m, items[:2], layers=[0, 3], tokens=["image"], modes=["zero", "direction"], vector=v),
    "activation_patching": lambda m, v, items, pairs: activation_patching(m, *pairs, layers=[1], groups=["image", "last"]).groups,
    "gradient_x_activation": lambda m, v, items, _: gradient_x_activation(m, items[:2], [1, 3], batch_size=2),
    "attribution_patching": lambda m, v, items, pairs: attribution_patching(m, *pairs, [1, 3], batch_size=2),
    "condition_grid": lambda m, v, items, _: condition_grid(m, items[:2], items[2:4], v, layers=[1], thresholds=3, batch_size=2).grid,
    "cast_steer": lambda m, v, items, _: cast_steer(
        m, {"pos": items[:2], "neg": items[2:4]}, v, CastCondition(layer=1, threshold=0.1, comparator="above", f1=0.0),
        v, 2.0, tokens="image", batch_size=2).items,
    "steer_toward_text": lambda m, v, items, _: steer_toward_text(m, items[:2], v, 1, [0.0, 1.0], batch_size=2),
    "contrast_condition": lambda m, v, items, _: pd.DataFrame(
        {"direction": contrast_condition(m, items[:2], items[2:4], layers=[1], batch_size=2).at(1).tolist()}),
}


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_analysis_on_a_remote_model_equals_the_local_one(name, organism, remote, counting, test_items, colour_pairs):
    run = ANALYSES[name]
    before = remote.requests
    got = run(remote, counting, test_items, colour_pairs)
    want = run(organism, counting, test_items, colour_pairs)
    assert remote.requests > before  # it really went through the remote path
    assert_same_table(got, want)


def test_isomorphic_on_remote_models_equals_the_local_one(organism, organism_text, remote, remote_text, test_items):
    got = isomorphic(remote, test_items[:2], backbone=remote_text, layers=[1, 3], batch_size=2)
    want = isomorphic(organism, test_items[:2], backbone=organism_text, layers=[1, 3], batch_size=2)
    assert_same_table(got.accuracy, want.accuracy)
    assert_same_table(got.similarity, want.similarity)


def test_latent_lens_on_remote_models_equals_the_local_one(organism, organism_text, remote, remote_text, test_items):
    texts = ["two red circles", "a blue square left of a green triangle"]
    want_bank = context_bank(organism_text, texts, layers=[1])
    got_bank = context_bank(remote_text, texts, layers=[1])
    torch.testing.assert_close(got_bank.vectors[1], want_bank.vectors[1], atol=1e-5, rtol=1e-5)
    got = latent_lens(remote, test_items[:1], got_bank, layers=[1], kinds=["image"], top_k=2)
    want = latent_lens(organism, test_items[:1], want_bank, layers=[1], kinds=["image"], top_k=2)
    assert_same_table(got, want)


@pytest.mark.parametrize("run", [
    lambda m, items: logit_lens(m, items[:1], layers=[1], top_k=2),
    lambda m, items: word_ranks(m, items[:1], ["red"], layers=[1]),
], ids=["logit_lens", "word_ranks"])
def test_the_logit_lens_refuses_a_remote_model_naming_the_operation(run, remote, test_items):
    with pytest.raises(ValueError, match=r"unembed \(the final norm and output head, e.g. the logit lens\) runs on local weights, but organism is remote"):
        run(remote, test_items)


def test_sae_feature_attribution_on_a_remote_model_equals_the_local_one(organism, remote, test_items):
    from sae_lens import StandardSAE, StandardSAEConfig

    from interp.analysis import sae_feature_attribution

    torch.manual_seed(0)
    sae = StandardSAE(StandardSAEConfig(d_in=organism.d_model, d_sae=32))
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.3)
        sae.W_dec.copy_(sae.W_enc.T)
    sae.cfg.metadata.hook_name = "blocks.1.hook_resid_post"
    before = remote.requests
    got = sae_feature_attribution(remote, test_items[:2], {1: sae}, batch_size=2)
    want = sae_feature_attribution(organism, test_items[:2], {1: sae}, batch_size=2)
    assert remote.requests > before
    assert_same_table(got.layers, want.layers)
    assert_same_table(got.features, want.features)


def test_conditional_adapter_refuses_a_remote_model(remote, counting):
    from interp.analysis import conditional_adapter

    with pytest.raises(ValueError, match=r"conditional_adapter \(it reads the adapted maps' weights\) runs on local weights, but organism is remote"):
        conditional_adapter(remote, "model.language_model.layers.0.mlp.down_proj", counting.at(0), counting.at(0), 1.0)
