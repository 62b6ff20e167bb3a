import dataclasses

import pytest
import torch

from interp.analysis.ablation import ablation, ablation_summary
from interp.analysis.common import answer_logit_diff, encode_items
from interp.steering import ablate, steered_logits
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.tokens import Positions


def test_ablating_nothing_changes_nothing_bitwise(tiny, tiny_items):
    v = torch.randn(tiny.d_model)
    df = ablation(tiny, tiny_items(2), tokens={"none": Positions([])}, modes=["zero", "mean", "direction"], vector=v)
    assert len(df) == 2 * tiny.n_layers * 3
    assert (df.n_ablated == 0).all()
    assert df.logit_diff.tolist() == df.base_logit_diff.tolist()
    assert df.p_answer.tolist() == df.base_p_answer.tolist()
    assert (df.d_logit_diff == 0).all()


def test_zero_and_mean_ablation_match_a_plain_torch_hook(tiny, tiny_items, replace_output, hooked_outputs):
    items, reference = tiny_items(2), tiny_items(3, seed=20)
    df = ablation(tiny, items, layers=[0], tokens=["image"], modes=["zero", "mean"], reference=reference, batch_size=1)
    inputs = encode_items(tiny, items)
    image = tiny.mask("image", inputs)
    ref_in = encode_items(tiny, reference)
    ref_outs, _ = hooked_outputs(tiny, ref_in)
    mean = ref_outs[0][tiny.mask("image", ref_in)].double().mean(0).float()
    for mode, value in (("zero", torch.zeros(tiny.d_model)), ("mean", mean)):
        def put(h, value=value):
            return torch.where(image.unsqueeze(-1), value.to(h.dtype).expand_as(h), h)

        with torch.no_grad(), replace_output(tiny, 0, put):
            logits = tiny.module(**inputs).logits[:, -1]
        expected = answer_logit_diff(logits, items, tiny.tokenizer)
        got = torch.tensor(df[df["mode"] == mode].logit_diff.tolist())
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_directional_ablation_matches_interp_steering_ablate(tiny, tiny_items):
    items = tiny_items(2)
    v = torch.randn(tiny.d_model)
    df = ablation(tiny, items, layers=[1], tokens=["text"], modes=["direction"], vector=v)
    inputs = encode_items(tiny, items)
    logits = steered_logits(tiny, inputs, [ablate(v, 1, "text")], last_only=True)
    expected = answer_logit_diff(logits, items, tiny.tokenizer)
    torch.testing.assert_close(torch.tensor(df.logit_diff.tolist()), expected.float(), atol=1e-5, rtol=0)


def test_ablating_image_tokens_at_layer_0_hurts_the_organism_and_the_summary_averages(organism, test_items):
    df = ablation(organism, test_items, layers=[0, organism.n_layers - 1], tokens=["image"], modes=["zero"])
    s = ablation_summary(df)
    assert len(s) == 2 and (s.n == len(test_items)).all()
    first = s[s.layer == 0].iloc[0]
    assert first.logit_diff == pytest.approx(df[df.layer == 0].logit_diff.mean())
    assert first.d_logit_diff < -1.0
    # Image tokens at the last layer no longer reach the answer position.
    assert s[s.layer == organism.n_layers - 1].d_logit_diff.abs().iloc[0] == 0.0


def test_ablation_refuses_bad_input(tiny, tiny_items):
    items = tiny_items(1)
    with pytest.raises(ValueError, match="modes must be some of"):
        ablation(tiny, items, modes=["erase"])
    with pytest.raises(ValueError, match="mode 'direction' needs vector="):
        ablation(tiny, items, modes=["direction"])
    with pytest.raises(ValueError, match="expected \\(32,\\)"):
        ablation(tiny, items, modes=["direction"], vector=torch.randn(3))
    with pytest.raises(ValueError, match="layer 2 is out of range"):
        ablation(tiny, items, layers=[2])
    with pytest.raises(ValueError, match="no reference items given"):
        ablation(tiny, items, modes=["mean"], reference=[])
    text_only = [dataclasses.replace(items[0], images=())]
    with pytest.raises(ValueError, match="token group 'image' selects no token in the reference items"):
        ablation(tiny, items, tokens=["image"], modes=["mean"], reference=text_only)
    with pytest.raises(ValueError, match="lacks columns"):
        ablation_summary(ablation(tiny, items, layers=[0], modes=["zero"]).drop(columns=["correct"]))


def test_ablation_leaves_no_hook_or_weight_change_when_it_raises(tiny, tiny_items, break_layer):
    before, hooks = snapshot(tiny.module), hook_state(tiny.module)
    patch = break_layer(tiny, 1)
    with pytest.raises(RuntimeError, match="broken layer"):
        ablation(tiny, tiny_items(1), modes=["zero", "direction"], vector=torch.randn(tiny.d_model))
    patch.undo()
    assert hook_state(tiny.module) == hooks
    assert same_weights(before, tiny.module)
