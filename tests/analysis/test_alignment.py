import math

import pytest
import torch

from interp.analysis.alignment import (
    modality_gap,
    variance_share,
    vector_alignment,
    vector_similarity,
)
from interp.analysis.common import (
    answer_logit_diff,
    as_items,
    batches,
    cosine,
    encode_items,
    linear_cka,
    trace_residuals,
)
from interp.steering import add, steered_logits
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.vectors import SteeringVector


# -- CKA and the shared helpers ---------------------------------------------------------------------
def test_linear_cka_of_a_set_with_itself_is_one_and_invariant_to_rotation_and_scale():
    x = torch.randn(40, 6).double()
    q, _ = torch.linalg.qr(torch.randn(6, 6).double())
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 7.5 * x @ q) == pytest.approx(1.0, abs=1e-12)
    y = torch.randn(40, 3).double()
    assert linear_cka(x @ q, 0.1 * y) == pytest.approx(linear_cka(x, y), abs=1e-12)


def test_linear_cka_matches_the_feature_space_formula_and_is_low_for_independent_sets():
    x, y = torch.randn(300, 5).double(), torch.randn(300, 4).double()
    xc, yc = x - x.mean(0), y - y.mean(0)
    expected = (yc.T @ xc).norm() ** 2 / ((xc.T @ xc).norm() * (yc.T @ yc).norm())
    assert linear_cka(x, y) == pytest.approx(float(expected), rel=1e-10)
    assert linear_cka(x, y) < 0.1
    assert linear_cka(x, x[:, :2] + 0.01 * torch.randn(300, 2).double()) > 0.3


def test_linear_cka_refuses_unpaired_or_constant_sets():
    with pytest.raises(ValueError, match="paired rows: got 4 and 5"):
        linear_cka(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="zero variance"):
        linear_cka(torch.ones(4, 3), torch.randn(4, 3))


def test_items_and_batches_refuse_bad_input(tiny):
    with pytest.raises(ValueError, match="no items given"):
        as_items([])
    with pytest.raises(ValueError, match=r"items\[0\] is a str"):
        as_items(["a question"])
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        list(batches([1, 2], 0))


def test_answer_logit_diff_is_right_option_minus_mean_of_the_others(tiny, tiny_items):
    items = tiny_items(2, answer=1)
    inputs = encode_items(tiny, items)
    logits = steered_logits(tiny, inputs, last_only=True)
    a, b = tiny.tokenizer.encode("A", add_special_tokens=False)[0], tiny.tokenizer.encode("B", add_special_tokens=False)[0]
    torch.testing.assert_close(answer_logit_diff(logits, items, tiny.tokenizer), logits[:, b] - logits[:, a])


def test_trace_residuals_with_a_steer_reads_the_edited_layer_and_matches_steered_logits(tiny, tiny_items, hooked_outputs):
    inputs = encode_items(tiny, tiny_items(2))
    v = torch.randn(tiny.d_model)
    plain, _ = hooked_outputs(tiny, inputs)
    acts, last = trace_residuals(tiny, inputs, [0, 1], steers=[add(v, 0, 2.0, "image")])
    image = inputs["input_ids"] == tiny.image_token_id
    torch.testing.assert_close(acts[0][image], plain[0][image] + 2.0 * v, atol=1e-5, rtol=0)
    torch.testing.assert_close(acts[0][~image], plain[0][~image], atol=0, rtol=0)
    expected = steered_logits(tiny, inputs, [add(v, 0, 2.0, "image")], last_only=True)
    torch.testing.assert_close(last, expected.float(), atol=1e-5, rtol=0)


# -- alignment against direct computations ------------------------------------------------------------
def test_vector_alignment_matches_hand_cosines_per_token_kind(tiny, tiny_items, hooked_outputs):
    items = tiny_items(3)
    v = torch.randn(tiny.d_model)
    df = vector_alignment(tiny, v, items, batch_size=2)
    inputs = encode_items(tiny, items)
    outs, _ = hooked_outputs(tiny, inputs)
    for kind in ("image", "text", "last"):
        mask = tiny.mask(kind, inputs)
        for layer in range(tiny.n_layers):
            h = outs[layer][mask].double()
            cos = torch.nn.functional.cosine_similarity(h, v.double().expand_as(h), dim=-1)
            row = df[(df.layer == layer) & (df.kind == kind)].iloc[0]
            assert row.n_tokens == int(mask.sum())
            assert row.mean_cos == pytest.approx(float(cos.mean()), abs=1e-5)
            assert row.max_cos == pytest.approx(float(cos.max()), abs=1e-5)
            mean_cos = torch.nn.functional.cosine_similarity(h.mean(0), v.double(), dim=0)
            assert row.cos_of_mean == pytest.approx(float(mean_cos), abs=1e-5)


def test_vector_alignment_refuses_bad_input(tiny, tiny_items):
    items = tiny_items(1)
    with pytest.raises(ValueError, match="expected \\(32,\\)"):
        vector_alignment(tiny, torch.randn(7), items)
    with pytest.raises(ValueError, match="layer 5 is out of range"):
        vector_alignment(tiny, torch.randn(tiny.d_model), items, layers=[5])
    with pytest.raises(ValueError, match="no items given"):
        vector_alignment(tiny, torch.randn(tiny.d_model), [])
    with pytest.raises(ValueError, match="unknown token kind 'pixels'"):
        vector_alignment(tiny, torch.randn(tiny.d_model), items, kinds=["pixels"])


def test_modality_gap_matches_direct_means_and_per_item_cka(tiny, tiny_items, hooked_outputs):
    items = tiny_items(3)
    df = modality_gap(tiny, items, batch_size=2)
    inputs = encode_items(tiny, items)
    outs, _ = hooked_outputs(tiny, inputs)
    image, text = tiny.mask("image", inputs), tiny.mask("text", inputs)
    for layer in range(tiny.n_layers):
        h = outs[layer].double()
        mi, mt = h[image].mean(0), h[text].mean(0)
        row = df[df.layer == layer].iloc[0]
        assert row.cosine == pytest.approx(float(cosine(mi, mt)), abs=1e-6)
        assert row.distance == pytest.approx(float((mi - mt).norm()), rel=1e-6)
        per_i = torch.stack([h[b][image[b]].mean(0) for b in range(3)])
        per_t = torch.stack([h[b][text[b]].mean(0) for b in range(3)])
        assert row.cka == pytest.approx(linear_cka(per_i, per_t), abs=1e-6)
    assert math.isnan(modality_gap(tiny, items[:1]).cka.iloc[0])


def test_variance_share_equals_the_covariance_ratio_and_peaks_on_the_top_component(organism, test_items, hooked_outputs):
    inputs = encode_items(organism, test_items)
    outs, _ = hooked_outputs(organism, inputs)
    x = outs[1][organism.mask("image", inputs)].double()
    cov = torch.cov(x.T, correction=0)
    top = torch.linalg.eigh(cov).eigenvectors[:, -1]
    v = torch.randn(organism.d_model).double()
    for direction in (v, top):
        df = variance_share(organism, direction.float(), test_items, layers=[1], n_random=200)
        u = direction / direction.norm()
        assert df.share.iloc[0] == pytest.approx(float(u @ cov @ u / cov.trace()), rel=1e-4)
    assert df.share.iloc[0] == pytest.approx(float(torch.linalg.eigvalsh(cov)[-1] / cov.trace()), rel=1e-4)
    assert df.share.iloc[0] > 5 * df.uniform.iloc[0]
    # Random directions take 1/d_model of the variance in expectation.
    assert df.random_mean.iloc[0] == pytest.approx(df.uniform.iloc[0], rel=0.25)


def test_vector_similarity_is_a_symmetric_long_table_with_unit_diagonal():
    a = SteeringVector.from_tensors({0: torch.randn(8), 1: torch.randn(8)}, method="meanshift", concept="counting")
    b = SteeringVector.from_tensors({1: torch.randn(8)}, method="probe", concept="counting")
    df = vector_similarity([a, b, a])
    assert set(df.a) == {"counting/meanshift", "counting/probe", "counting/meanshift#2"}
    assert len(df) == 5 * 5
    table = df.pivot_table(index=["a", "layer_a"], columns=["b", "layer_b"], values="cosine")
    torch.testing.assert_close(torch.tensor(table.values), torch.tensor(table.values.T))
    diag = df[(df.a == df.b) & (df.layer_a == df.layer_b)].cosine
    assert diag.tolist() == pytest.approx([1.0] * 5)
    row = df[(df.a == "counting/meanshift") & (df.layer_a == 1) & (df.b == "counting/probe")].cosine.iloc[0]
    assert row == pytest.approx(float(torch.nn.functional.cosine_similarity(a.at(1), b.at(1), dim=0)), abs=1e-6)
    with pytest.raises(ValueError, match="has d_model 4 but the first has 8"):
        vector_similarity([a, SteeringVector.from_tensors({0: torch.randn(4)})])


def test_organism_counting_vector_is_near_random_in_image_token_variance(organism, test_items, counting):
    df = variance_share(organism, counting, test_items, kinds=["image", "text"])
    assert set(df.kind) == {"image", "text"} and len(df) == 2 * organism.n_layers
    assert (df.share > 0).all() and (df.share < 10 * df.uniform).all()


@pytest.mark.parametrize("analysis", ["alignment", "gap", "share"])
def test_alignment_leaves_no_hook_or_weight_change_when_it_raises(analysis, tiny, tiny_items, break_layer):
    items = tiny_items(2)
    v = torch.randn(tiny.d_model)
    run = {
        "alignment": lambda: vector_alignment(tiny, v, items),
        "gap": lambda: modality_gap(tiny, items),
        "share": lambda: variance_share(tiny, v, items),
    }[analysis]
    before, hooks = snapshot(tiny.module), hook_state(tiny.module)
    patch = break_layer(tiny, 1)
    with pytest.raises(RuntimeError, match="broken layer"):
        run()
    patch.undo()
    assert hook_state(tiny.module) == hooks
    assert same_weights(before, tiny.module)
    assert len(run()) > 0
