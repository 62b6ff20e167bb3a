import numpy as np
import pytest
import torch
from vectors_reference import hidden_by_hand

from interp.vectors import compute, get_method, list_methods, register_method


def test_registry_lists_and_refuses():
    assert {"meanshift", "probe", "sae", "diffmean"} <= set(list_methods())
    with pytest.raises(ValueError, match="unknown vector method 'mean_shift': registered methods are"):
        get_method("mean_shift")
    with pytest.raises(ValueError, match="vector method 'probe' is already registered"):
        register_method("probe")(lambda: None)


def test_meanshift_matches_hidden_state_reference(backbone, counting):
    v = compute(backbone, counting, "meanshift", batch_size=5)
    assert v.layers == tuple(range(backbone.n_layers))
    for layer in v.layers:
        anchor, other = [], []
        for ex in counting.examples:
            hidden, content, anchors = hidden_by_hand(backbone, ex.sentence, ex.anchor)
            h = hidden[layer + 1][0]  # DESIGN.md: layer l = output of decoder layer l
            anchor.append(h[anchors])
            other.append(h[content & ~anchors])
        expected = torch.cat(anchor).double().mean(0) - torch.cat(other).double().mean(0)
        torch.testing.assert_close(v.at(layer), expected.float(), atol=1e-5, rtol=1e-4)
    assert v.meta.method == "meanshift" and v.meta.corpus_hash == counting.hash()
    assert v.meta.d_model == backbone.d_model and v.meta.n_layers == backbone.n_layers
    assert not v.meta.normalized


def test_meanshift_does_not_depend_on_batch_size(backbone, counting):
    a = compute(backbone, counting, "meanshift", batch_size=1, layers=[1])
    b = compute(backbone, counting, "meanshift", batch_size=12, layers=[1])
    torch.testing.assert_close(a.at(1), b.at(1), atol=1e-6, rtol=1e-5)
    n = compute(backbone, counting, "meanshift", layers=1, normalize=True)
    torch.testing.assert_close(n.at(1), a.at(1) / a.at(1).norm(), atol=1e-6, rtol=1e-5)


def test_probe_matches_sklearn_directly(backbone, counting):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    layer = 1
    v = compute(backbone, counting, "probe", layers=[layer])
    xs, ys = [], []
    for ex in counting.examples:
        hidden, content, anchors = hidden_by_hand(backbone, ex.sentence, ex.anchor)
        xs.append(hidden[layer + 1][0][content])
        ys.append(anchors[content])
    x = torch.cat(xs).double().numpy()
    y = torch.cat(ys).numpy().astype(int)
    pca = PCA(n_components=10, random_state=0).fit(x)
    clf = LogisticRegression(fit_intercept=False, max_iter=1000).fit(pca.transform(x), y)
    direction = pca.components_.T @ clf.coef_[0]
    direction /= np.linalg.norm(direction)
    cos = float(torch.nn.functional.cosine_similarity(v.at(layer), torch.from_numpy(direction).float(), dim=0))
    assert cos > 0.999
    assert abs(float(v.at(layer).norm()) - 1) < 1e-5
    acc = v.meta.extra["held_out_accuracy"][str(layer)]
    assert 0.0 <= acc <= 1.0 and "majority_baseline" in v.meta.extra
    assert 0.0 <= v.meta.extra["held_out_balanced_accuracy"][str(layer)] <= 1.0


def test_diffmean_matches_reference(backbone, negation_pairs):
    v = compute(backbone, negation_pairs, "diffmean", layers=[0, 1])
    for layer in (0, 1):
        sides = []
        for texts in (negation_pairs.positives, negation_pairs.negatives):
            hs = []
            for t in texts:
                hidden, content, _ = hidden_by_hand(backbone, t)
                hs.append(hidden[layer + 1][0][content])
            sides.append(torch.cat(hs).double().mean(0))
        torch.testing.assert_close(v.at(layer), (sides[0] - sides[1]).float(), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="diffmean needs ContrastPairs"):
        get_method("diffmean")(backbone, negation_pairs.positives)
    with pytest.raises(ValueError, match="concept must be a taxonomy name, a JSONL path, a ConceptCorpus or ContrastPairs, got tuple"):
        compute(backbone, negation_pairs.positives, "diffmean")


def test_methods_refuse_wrong_inputs(backbone, counting, negation_pairs):
    with pytest.raises(ValueError, match=r"meanshift needs a ConceptCorpus .*: use 'diffmean' for contrast pairs"):
        get_method("meanshift")(backbone, negation_pairs)
    with pytest.raises(ValueError, match=r"layer 9 is out of range: .* has 2 decoder layers"):
        compute(backbone, counting, "meanshift", layers=[9])
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        get_method("probe", n_components=0)
    with pytest.raises(ValueError, match="unknown activation backend 'jax'"):
        compute(backbone, counting, "meanshift", backend="jax")


@pytest.mark.parametrize("family", ["gemma2", "llama"])
def test_nnsight_and_transformer_lens_give_the_same_vector(family, tiny_root, counting):
    from interp.models import load_text_backbone
    from interp.testing import tiny_text_dir

    model = load_text_backbone(tiny_text_dir(family, tiny_root))
    via_nnsight = compute(model, counting, "meanshift", batch_size=4)
    via_lens = compute(model, counting, "meanshift", batch_size=4, backend="transformer_lens")
    for layer in via_nnsight.layers:
        torch.testing.assert_close(via_lens.at(layer), via_nnsight.at(layer), atol=1e-5, rtol=1e-4)
    probe_n = compute(model, counting, "probe", layers=[1])
    probe_l = compute(model, counting, "probe", layers=[1], backend="transformer_lens")
    assert float(torch.dot(probe_n.at(1), probe_l.at(1))) > 0.999


def test_vectors_through_the_remote_path_match_local(tiny_root, counting, backbone):
    from interp.models import load_text_backbone
    from interp.testing import tiny_text_dir

    remote = load_text_backbone(tiny_text_dir("gemma2", tiny_root), remote="local")
    via_remote = compute(remote, counting, "meanshift", layers=[0, 1])
    local = compute(backbone, counting, "meanshift", layers=[0, 1])
    for layer in (0, 1):
        torch.testing.assert_close(via_remote.at(layer), local.at(layer))
