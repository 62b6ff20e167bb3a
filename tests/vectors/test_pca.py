"""The ``pca`` method (RepE's reading vector): checked against an independent scikit-learn PCA of
pair differences computed from a plain HF forward on the organism's text backbone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from vectors_reference import hidden_by_hand

import interp
from interp.concepts import ContrastPairs, corpus_from_examples, load_pairs
from interp.testing.leaks import fail_on_call
from interp.vectors import PAIR_METHODS, SteeringVector, get_method, list_methods
from interp.vectors.aggregate import first_principal_component

LAYERS = [0, 2, 3]


@pytest.fixture(scope="module")
def organism_backbone():
    return interp.load_text_backbone(mllm="organism")


@pytest.fixture(scope="module")
def pairs():
    return load_pairs("counting", source="organism")


def _pooled_by_hand(backbone, text, layer):
    """One sentence's layer output averaged over its non-special tokens, from a plain HF forward."""
    outputs, _, _ = hidden_by_hand(backbone, text)
    ids = backbone.tokenizer(text)["input_ids"]
    special = set(backbone.tokenizer.all_special_ids)
    keep = torch.tensor([i not in special for i in ids])
    return outputs[layer + 1][0][keep].double().mean(0).numpy()


def _differences_by_hand(backbone, pairs, layer):
    return np.stack([_pooled_by_hand(backbone, p, layer) - _pooled_by_hand(backbone, n, layer) for p, n in pairs])


def _oriented(axis, diffs):
    return axis if (diffs @ axis).mean() > 0 else -axis


def test_pca_matches_sklearn_on_pair_differences_of_the_organism_backbone(organism_backbone, pairs):
    from sklearn.decomposition import PCA

    v = interp.compute(organism_backbone, pairs, "pca", layers=LAYERS)
    centred = interp.compute(organism_backbone, pairs, "pca", layers=LAYERS, centered=True)
    for layer in LAYERS:
        diffs = _differences_by_hand(organism_backbone, pairs, layer)
        # Uncentred = ordinary PCA of the differences taken in both pair orders (RepE shuffles the order).
        both = PCA(n_components=1).fit(np.concatenate([diffs, -diffs]))
        ref = _oriented(both.components_[0], diffs)
        got = v.at(layer).double().numpy()
        assert float(got @ ref) > 0.9999, f"layer {layer}: cosine {float(got @ ref):.6f}"
        assert v.meta.extra["explained_variance_ratio"][str(layer)] == pytest.approx(
            float(both.explained_variance_ratio_[0]), rel=1e-4
        )
        assert v.meta.extra["pairs_positive_higher"][str(layer)] == pytest.approx(float(((diffs @ ref) > 0).mean()))
        # centered=True is repeng's pca_diff: scikit-learn's PCA of the ordered differences.
        plain = PCA(n_components=1).fit(diffs)
        ref_c = _oriented(plain.components_[0], diffs)
        got_c = centred.at(layer).double().numpy()
        assert float(got_c @ ref_c) > 0.9999, f"layer {layer} centred: cosine {float(got_c @ ref_c):.6f}"
        assert centred.meta.extra["explained_variance_ratio"][str(layer)] == pytest.approx(
            float(plain.explained_variance_ratio_[0]), rel=1e-4
        )
        # signed so that the positive sentences project higher
        assert float((diffs @ got).mean()) > 0 and float((diffs @ got_c).mean()) > 0
    assert v.meta.extra["n_pairs"] == len(pairs) == 30
    assert v.meta.normalized and all(abs(n - 1.0) < 1e-5 for n in v.norms().values())
    assert v.meta.params["centered"] is False and centred.meta.params["centered"] is True


def test_swapping_the_sides_of_every_pair_flips_the_vector(organism_backbone, pairs):
    swapped = ContrastPairs("counting", tuple((n, p) for p, n in pairs), "code")
    v = interp.compute(organism_backbone, pairs, "pca", layers=[1])
    w = interp.compute(organism_backbone, swapped, "pca", layers=[1])
    torch.testing.assert_close(w.at(1), -v.at(1), atol=1e-6, rtol=0)
    assert w.meta.extra["explained_variance_ratio"] == pytest.approx(v.meta.extra["explained_variance_ratio"])


def test_pca_by_name_through_the_public_api_and_back_from_disk(organism_backbone, tmp_path):
    assert "pca" in list_methods() and "pca" in PAIR_METHODS
    v = interp.compute(organism_backbone, "negation", "pca", source="organism", layers=[1, 2])
    assert v.meta.method == "pca" and v.meta.concept == "negation" and v.meta.corpus_size == v.meta.extra["n_pairs"]
    assert v.meta.source_model == organism_backbone.name and v.meta.source_fingerprint
    assert set(v.meta.extra["explained_variance_ratio"]) == {"1", "2"}
    assert all(0.0 < r <= 1.0 for r in v.meta.extra["explained_variance_ratio"].values())
    v.save(tmp_path / "v")
    back = SteeringVector.load(tmp_path / "v", model=organism_backbone)
    assert back.equals(v)


def test_extract_cli_computes_a_pca_vector(tmp_path):
    from typer.testing import CliRunner

    from interp.cli import app

    out = tmp_path / "pca"
    result = CliRunner().invoke(
        app, ["extract", "--model", "organism", "--concept", "counting", "--method", "pca", "--layers", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    v = SteeringVector.load(out)
    assert v.meta.method == "pca" and v.layers == (1,) and v.meta.corpus_size == 30
    assert "30 pairs" in result.output and "explained variance ratio" in result.output


def test_pca_refuses_bad_input_before_any_forward(organism_backbone, pairs):
    layer0 = organism_backbone.torch_layers[0]
    with fail_on_call(layer0), pytest.raises(ValueError, match=r"pca needs ContrastPairs .* got ConceptCorpus"):
        get_method("pca")(organism_backbone, corpus_from_examples("c", [("there are two circles", "two")]))
    with pytest.raises(ValueError, match=r"meanshift needs a ConceptCorpus .*: use 'diffmean' for contrast pairs \(or 'pca'\)"):
        get_method("meanshift")(organism_backbone, pairs)
    one = ContrastPairs("one", (pairs.pairs[0],), "code")
    with fail_on_call(layer0), pytest.raises(ValueError, match=r"hold 1 distinct pair: a principal component needs at least 2"):
        interp.compute(organism_backbone, one, "pca")
    # A side made only of special tokens has nothing to pool: refused, naming the pair and side.
    empty = ContrastPairs("empty", (pairs.pairs[0], ("<bos>", pairs.pairs[1][1])), "code")
    with fail_on_call(layer0), pytest.raises(ValueError, match=r"pair 1 of 'empty' has an empty positive side: '<bos>'"):
        interp.compute(organism_backbone, empty, "pca")
    with pytest.raises(ValueError, match="centered"):
        get_method("pca", centered="sometimes")
    with pytest.raises(ValueError, match=r"vector method 'pca' has no parameter 'center': .* \(did you mean 'centered'\?\)"):
        interp.compute(organism_backbone, pairs, "pca", center=True)


def test_pairs_whose_sides_read_the_same_are_refused_by_layer(organism_backbone):
    # Words outside the organism's vocabulary are all its unknown token: each pair's sides are the
    # same ids, so every difference is zero and there is no component to find.
    same = ContrastPairs("same", (("there is a zebra .", "there is a giraffe ."), ("a hippo .", "a walrus .")), "code")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"pair differences of 'same' at layer 0: no variance to explain: every row is zero"):
            interp.compute(organism_backbone, same, "pca", layers=[0])


def test_first_principal_component_matches_an_eigendecomposition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5)) + np.array([3.0, 0, 0, 0, 0])
    for centered in (False, True):
        rows = x - x.mean(0) if centered else x
        values, vectors = np.linalg.eigh(rows.T @ rows)
        axis, share = first_principal_component(torch.from_numpy(x), centered=centered)
        assert abs(float(axis.numpy() @ vectors[:, -1])) == pytest.approx(1.0, abs=1e-10)
        assert share == pytest.approx(values[-1] / values.sum(), rel=1e-10)
    with pytest.raises(ValueError, match="every row equals their mean"):
        first_principal_component(torch.ones(3, 2), centered=True)
    with pytest.raises(ValueError, match=r"non-empty \(n, d\) array"):
        first_principal_component(torch.ones(4))
    with pytest.raises(ValueError, match="NaN or inf"):
        first_principal_component(torch.tensor([[1.0, float("nan")]]))


def test_pca_through_the_remote_path_and_every_backend_matches_local(tiny_root, backbone, negation_pairs):
    from interp.models import load_text_backbone
    from interp.testing import tiny_text_dir

    local = interp.compute(backbone, negation_pairs, "pca", layers=[0, 1])
    remote = load_text_backbone(tiny_text_dir("gemma2", tiny_root), remote="local")
    for other in (
        interp.compute(remote, negation_pairs, "pca", layers=[0, 1]),
        interp.compute(backbone, negation_pairs, "pca", layers=[0, 1], backend="nnsight"),
    ):
        for layer in (0, 1):
            torch.testing.assert_close(other.at(layer), local.at(layer), atol=1e-5, rtol=1e-5)
        assert other.meta.extra["explained_variance_ratio"] == pytest.approx(local.meta.extra["explained_variance_ratio"])
