import pytest
import torch

from interp.analysis.common import encode_items
from interp.analysis.projection import patch_grid, projection
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.vectors import SteeringVector


def test_projection_equals_a_hand_dot_product_at_every_position(tiny, tiny_items, hooked_outputs):
    items = tiny_items(2)
    v = torch.randn(tiny.d_model)
    df = projection(tiny, v, items, kinds=["image", "text", "last", "special"], batch_size=1)
    inputs = encode_items(tiny, items)
    outs, _ = hooked_outputs(tiny, inputs)
    real = inputs["attention_mask"].bool()
    assert len(df) == int(real.sum()) * tiny.n_layers
    for b, it in enumerate(items):
        positions = real[b].nonzero().flatten()
        for layer in range(tiny.n_layers):
            rows = df[(df.item == it.id) & (df.layer == layer)].sort_values("position")
            h = outs[layer][b, positions].double()
            expected = h @ (v.double() / v.double().norm())
            torch.testing.assert_close(torch.tensor(rows.projection.tolist(), dtype=torch.float64), expected, atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(torch.tensor(rows.norm.tolist(), dtype=torch.float64), h.norm(dim=-1), atol=1e-4, rtol=1e-5)


def test_patch_grid_lays_image_tokens_out_on_the_patch_grid(organism, test_items, counting):
    df = projection(organism, counting, test_items[:2], layers=[1], kinds=["image"])
    grid = patch_grid(df, layer=1, item=test_items[0].id)
    assert grid.shape == (4, 4)
    one = df[df.item == test_items[0].id]
    for p in (0, 6, 15):
        assert grid.loc[p // 4, p % 4] == pytest.approx(one[one.patch == p].projection.iloc[0])
    mean = patch_grid(df, layer=1)
    assert mean.loc[1, 2] == pytest.approx(df[(df.patch_row == 1) & (df.patch_col == 2)].projection.mean())
    with pytest.raises(ValueError, match="no image tokens for layer 3"):
        patch_grid(df, layer=3)
    with pytest.raises(ValueError, match="lacks columns"):
        patch_grid(df.drop(columns=["patch_row"]), layer=1)


def test_projection_refuses_bad_input(tiny, tiny_items):
    items = tiny_items(1)
    with pytest.raises(ValueError, match="expected \\(32,\\)"):
        projection(tiny, torch.randn(5), items)
    with pytest.raises(ValueError, match="zero at layer 0"):
        projection(tiny, torch.zeros(tiny.d_model), items)
    with pytest.raises(ValueError, match="has no layer 1"):
        projection(tiny, SteeringVector.from_tensors({0: torch.randn(tiny.d_model)}), items, layers=[1])
    with pytest.raises(ValueError, match="kinds must be some of"):
        projection(tiny, torch.randn(tiny.d_model), items, kinds=[])


def test_projection_leaves_no_hook_or_weight_change_when_it_raises(tiny, tiny_items, break_layer):
    before, hooks = snapshot(tiny.module), hook_state(tiny.module)
    patch = break_layer(tiny, 0)
    with pytest.raises(RuntimeError, match="broken layer"):
        projection(tiny, torch.randn(tiny.d_model), tiny_items(1))
    patch.undo()
    assert hook_state(tiny.module) == hooks
    assert same_weights(before, tiny.module)
