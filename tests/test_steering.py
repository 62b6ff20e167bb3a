import math

import pytest
import torch

from interp.steering import (
    Steer,
    ablate,
    add,
    apply_steering,
    clamp,
    conditional,
    steered_generate,
    steered_logits,
)
from interp.testing import TINY_FAMILIES, tiny_image
from interp.testing.leaks import hook_state, same_weights, snapshot
from interp.tokens import Positions


def two_scenes(mllm):
    return mllm.encode(["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)])


def layer_outputs(mllm, inputs, steers=()):
    """Every decoder layer's output (and the logits) with ``steers`` applied, via a user trace."""
    saved = []
    with torch.no_grad(), mllm.trace(inputs):
        for i, layer in enumerate(mllm.layers):
            here = [s for s in steers if s.layer == i]
            if here:  # edits must be requested in layer order, like any nnsight access
                apply_steering(mllm, here, inputs)
            saved.append(layer.output.save())
        logits = mllm.nn.output.logits.save()
    return saved, logits


class HookSteer:
    """The same edit done by a plain torch forward hook, independently of interp."""

    def __init__(self, mllm, layer, delta, mask):
        self.module = mllm.torch_layers[layer]
        self.delta, self.mask = delta, mask

    def __enter__(self):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            out = out.clone()
            out[self.mask] += self.delta
            return (out, *output[1:]) if isinstance(output, tuple) else out

        self.handle = self.module.register_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_image_steering_changes_exactly_image_positions_at_the_steered_layer(family, load_tiny):
    mllm = load_tiny(family)
    inputs = two_scenes(mllm)
    layer = mllm.n_layers - 1
    v = torch.randn(mllm.d_model)
    plain, plain_logits = layer_outputs(mllm, inputs)
    steered, steered_logits_ = layer_outputs(mllm, inputs, [add(v, layer, 3.0, "image")])
    image = inputs["input_ids"] == mllm.image_token_id
    for earlier in range(layer):
        assert torch.equal(plain[earlier], steered[earlier]), f"layer {earlier} must be untouched"
    diff = steered[layer] - plain[layer]
    changed = diff.abs().amax(dim=-1) > 0
    assert torch.equal(changed, image)
    torch.testing.assert_close(diff[image], (3.0 * v).expand(int(image.sum()), -1))
    assert not torch.equal(plain_logits, steered_logits_)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_alpha_zero_is_a_bitwise_noop(family, load_tiny):
    mllm = load_tiny(family)
    inputs = two_scenes(mllm)
    v = torch.randn(mllm.d_model)
    base = steered_logits(mllm, inputs)
    same = steered_logits(mllm, inputs, [add(v, 0, 0.0, "both")])
    assert torch.equal(base, same)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("tokens", ["image", "text", "both"])
def test_one_call_api_and_trace_edit_agree_with_a_plain_torch_hook(family, tokens, load_tiny):
    mllm = load_tiny(family)
    inputs = two_scenes(mllm)
    layer = 0
    v = torch.randn(mllm.d_model)
    hooks_before = hook_state(mllm.module)
    one_call = steered_logits(mllm, inputs, [add(v, layer, 2.5, tokens)])
    _, in_trace = layer_outputs(mllm, inputs, [add(v, layer, 2.5, tokens)])
    with torch.no_grad(), HookSteer(mllm, layer, 2.5 * v, mllm.mask(tokens, inputs)):
        hooked = mllm.module(**inputs).logits
    assert hook_state(mllm.module) == hooks_before
    torch.testing.assert_close(one_call, hooked, rtol=0, atol=1e-6)
    torch.testing.assert_close(in_trace, hooked, rtol=0, atol=1e-6)


def test_several_steers_at_several_layers_compose(load_tiny):
    mllm = load_tiny("llava")
    inputs = two_scenes(mllm)
    v, w = torch.randn(mllm.d_model), torch.randn(mllm.d_model)
    together = steered_logits(mllm, inputs, [add(w, 1, 1.5, "text"), add(v, 0, 2.0, "image")])
    with (
        torch.no_grad(),
        HookSteer(mllm, 0, 2.0 * v, mllm.mask("image", inputs)),
        HookSteer(mllm, 1, 1.5 * w, mllm.mask("text", inputs)),
    ):
        hooked = mllm.module(**inputs).logits
    torch.testing.assert_close(together, hooked, rtol=0, atol=1e-6)


def test_last_logits_pick_each_rows_last_real_token(load_tiny):
    mllm = load_tiny("paligemma")
    inputs = two_scenes(mllm)
    full = steered_logits(mllm, inputs)
    last = steered_logits(mllm, inputs, last_only=True)
    assert torch.equal(last, full[:, -1])  # left padding: the last position is real in every row
    right = mllm.encode(["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)], padding_side="right")
    n_real = right["attention_mask"].sum(dim=1)
    last_right = steered_logits(mllm, right, last_only=True)
    full_right = steered_logits(mllm, right)
    assert torch.equal(last_right[1], full_right[1, n_real[1] - 1])


def test_ablate_zeroes_and_clamp_sets_the_component(load_tiny):
    mllm = load_tiny("qwen2_vl")
    inputs = two_scenes(mllm)
    u = torch.randn(mllm.d_model)
    unit = u / u.norm()
    mask = mllm.mask("all", inputs)
    ablated, _ = layer_outputs(mllm, inputs, [ablate(u, 1, tokens="all")])
    clamped, _ = layer_outputs(mllm, inputs, [clamp(u, 1, 4.0, tokens="all")])
    torch.testing.assert_close(ablated[1][mask] @ unit, torch.zeros(int(mask.sum())), atol=1e-5, rtol=0)
    torch.testing.assert_close(clamped[1][mask] @ unit, torch.full((int(mask.sum()),), 4.0), atol=1e-5, rtol=0)


def test_conditional_linear_gate_is_the_rank_one_update(load_tiny):
    mllm = load_tiny("gemma3")
    inputs = two_scenes(mllm)
    v, c = torch.randn(mllm.d_model), torch.randn(mllm.d_model)
    plain, _ = layer_outputs(mllm, inputs)
    steered, _ = layer_outputs(mllm, inputs, [conditional(v, c, 0, alpha=0.7, tokens="all")])
    mask = mllm.mask("all", inputs)
    unit = c / c.norm()
    h = plain[0][mask]
    expected = h + 0.7 * (h @ unit).unsqueeze(-1) * v  # (I + alpha v c^T) h
    torch.testing.assert_close(steered[0][mask], expected, atol=1e-5, rtol=1e-5)
    # cos(h, proj_c h) <= 1, so "above 1" never fires.
    never, _ = layer_outputs(mllm, inputs, [conditional(v, c, 0, alpha=5.0, threshold=1.0, tokens="all")])
    assert torch.equal(never[0], plain[0])


@pytest.mark.parametrize("family", ["paligemma", "qwen2_vl", "idefics3"])
def test_prefill_steered_generation_matches_a_prefill_hook(family, load_tiny):
    mllm = load_tiny(family)
    inputs = two_scenes(mllm)
    v = torch.randn(mllm.d_model) * 4
    out = steered_generate(mllm, inputs, [add(v, 0, 1.0, "image")], max_new_tokens=4)
    mask = mllm.mask("image", inputs)

    def hook(module, args, output):
        if output.shape[1] == mask.shape[1]:  # the prefill; later steps see one position
            output = output.clone()
            output[mask] += v
        return output

    handle = mllm.torch_layers[0].register_forward_hook(hook)
    try:
        with torch.no_grad():
            ref = mllm.module.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=mllm.tokenizer.pad_token_id)
    finally:
        handle.remove()
    ref_new = ref[:, inputs["input_ids"].shape[1]:]
    assert torch.equal(out.token_ids, ref_new[:, : out.token_ids.shape[1]])
    assert len(out.texts) == 2


def test_every_step_steering_also_edits_generated_text_tokens(load_tiny):
    mllm = load_tiny("llava")
    inputs = two_scenes(mllm)
    v = torch.randn(mllm.d_model) * 50
    seen = []

    def record(module, args, output):
        seen.append(output.shape[1])
        return output

    prefill = steered_generate(mllm, inputs, [add(v, 1, 1.0, "text")], max_new_tokens=5, min_new_tokens=5)
    every = steered_generate(mllm, inputs, [add(v, 1, 1.0, "text")], max_new_tokens=5, min_new_tokens=5, every_step=True)
    image_every = steered_generate(mllm, inputs, [add(v, 1, 1.0, "image")], max_new_tokens=5, min_new_tokens=5, every_step=True)
    image_prefill = steered_generate(mllm, inputs, [add(v, 1, 1.0, "image")], max_new_tokens=5, min_new_tokens=5)
    assert not torch.equal(prefill.token_ids, every.token_ids)
    assert torch.equal(image_every.token_ids, image_prefill.token_ids), "generated tokens are not image tokens"
    # Reference for every-step: a hook editing the prefill's text tokens and every new token.
    mask = mllm.mask("text", inputs)

    def hook(module, args, output):
        output = output.clone()
        if output.shape[1] == mask.shape[1]:
            output[mask] += v
        else:
            output += v
        return output

    handle = mllm.torch_layers[1].register_forward_hook(hook)
    try:
        with torch.no_grad():
            ref = mllm.module.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=mllm.tokenizer.pad_token_id)
    finally:
        handle.remove()
    assert torch.equal(every.token_ids, ref[:, inputs["input_ids"].shape[1]:])


def test_every_step_generation_without_an_active_steer_is_plain_generation(load_tiny):
    """An open per-step loop that never touches the model never ends: no steer, no loop."""
    mllm = load_tiny("llava")
    inputs = two_scenes(mllm)
    plain = steered_generate(mllm, inputs, max_new_tokens=3, min_new_tokens=3)
    for steers in ([], [add(torch.randn(mllm.d_model), 1, 0.0, "text")]):
        same = steered_generate(mllm, inputs, steers, max_new_tokens=3, min_new_tokens=3, every_step=True)
        assert torch.equal(same.token_ids, plain.token_ids)


def test_batches_with_different_image_token_counts(load_tiny):
    mllm = load_tiny("llava_next")  # anyres: the token count depends on the image size
    inputs = mllm.encode(["a", "b"], [tiny_image(20, 24), tiny_image(48, 16, seed=1)])
    counts = mllm.mask("image", inputs).sum(dim=1)
    assert counts[0] != counts[1]
    v = torch.randn(mllm.d_model)
    plain, _ = layer_outputs(mllm, inputs)
    steered, _ = layer_outputs(mllm, inputs, [add(v, 0, 1.0, "image")])
    changed = (steered[0] - plain[0]).abs().amax(-1) > 0
    assert torch.equal(changed, inputs["input_ids"] == mllm.image_token_id)


def test_positions_selector_steers_the_same_tokens_with_either_padding(load_tiny):
    mllm = load_tiny("gemma3")
    prompts, images = ["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)]
    left = mllm.encode(prompts, images, padding_side="left")
    right = mllm.encode(prompts, images, padding_side="right")
    v = torch.randn(mllm.d_model)
    ll = steered_logits(mllm, left, add(v, 0, 2.0, Positions([-1, -2])), last_only=True)
    rr = steered_logits(mllm, right, add(v, 0, 2.0, Positions([-1, -2])), last_only=True)
    torch.testing.assert_close(ll, rr, atol=1e-5, rtol=1e-5)


# -- nothing stays behind -----------------------------------------------------------------------
@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nothing_stays_after_calls_that_raise_midway(family, load_tiny):
    mllm = load_tiny(family)
    before = snapshot(mllm.module)
    hooks_before = hook_state(mllm.module)
    inputs = two_scenes(mllm)
    v = torch.randn(mllm.d_model)
    with pytest.raises(RuntimeError, match="stop here"), torch.no_grad(), mllm.trace(inputs):
        apply_steering(mllm, [add(v, 0, 5.0, "image")], inputs)
        raise RuntimeError("stop here")
    with pytest.raises(ValueError, match="out of range"):
        steered_logits(mllm, inputs, [add(v, 0, 1.0), add(v, 7, 1.0)])
    with pytest.raises(ValueError):
        steered_generate(mllm, inputs, [add(v, 0, 1.0, "image")], max_new_tokens=0)
    steered_generate(mllm, inputs, [add(v, 1, 3.0, "both")], max_new_tokens=2, every_step=True)
    assert hook_state(mllm.module) == hooks_before
    assert same_weights(before, mllm.module)
    # And the model runs exactly as before.
    clean = steered_logits(mllm, inputs)
    with torch.no_grad():
        assert torch.equal(clean, mllm.module(**inputs).logits)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: add(torch.randn(d), 2, 1.0), r"layer 2 is out of range: .* has 2 decoder layers \(0..1\)"),
        (lambda d: add(torch.randn(d), -1, 1.0), r"layer -1 is out of range"),
        (lambda d: add(torch.randn(d + 1), 0, 1.0), rf"steering vector of steer 0 has shape \({33},\) but .* has d_model 32: expected \(32,\)"),
        (lambda d: add(torch.full((d,), math.nan), 0, 1.0), r"steering vector of steer 0 contains NaN or inf"),
        (lambda d: add(torch.full((d,), math.inf), 0, 1.0), r"contains NaN or inf"),
        (lambda d: ablate(torch.zeros(d), 0), r"cannot ablate along a zero vector"),
    ],
)
def test_bad_steers_are_refused_with_a_clear_message(make, message, load_tiny):
    mllm = load_tiny("paligemma")
    inputs = two_scenes(mllm)
    with pytest.raises(ValueError, match=message):
        steered_logits(mllm, inputs, [make(mllm.d_model)])


@pytest.mark.parametrize("alpha", [math.nan, math.inf, "2"])
def test_non_finite_strength_is_refused(alpha):
    with pytest.raises(ValueError, match=r"alpha must be a finite number"):
        add(torch.ones(4), 0, alpha)  # type: ignore[arg-type]


def test_image_selector_on_a_text_only_prompt_is_refused(load_tiny):
    mllm = load_tiny("paligemma")
    text_only = mllm.encode("what is the red cube")
    with pytest.raises(ValueError, match=r"steer 0 at layer 0: selector 'image' selects no token .*text-only prompt"):
        steered_logits(mllm, text_only, [add(torch.ones(mllm.d_model), 0, 1.0, "image")])


def test_steer_objects_are_checked(load_tiny):
    mllm = load_tiny("paligemma")
    inputs = two_scenes(mllm)
    with pytest.raises(ValueError, match=r"steer 0 is a tuple: build steers with interp.steering.add"):
        steered_logits(mllm, inputs, [(torch.ones(32), 0, 1.0)])  # type: ignore[list-item]
    assert isinstance(add(torch.ones(32), 0), Steer)


def test_remote_path_runs_the_same_steering(tiny_root):
    """nnsight's remote="local" serialises the trace as for NDIF and runs it here."""
    from interp.models import load_mllm
    from interp.testing import tiny_mllm_dir

    local = load_mllm(tiny_mllm_dir("paligemma", tiny_root))
    remote = load_mllm(tiny_mllm_dir("paligemma", tiny_root), remote="local")
    assert next(remote.module.parameters()).device.type == "meta"  # no weights here
    inputs = two_scenes(local)
    v = torch.randn(local.d_model)
    steer = [add(v, 1, 2.0, "image")]
    torch.testing.assert_close(steered_logits(remote, inputs, steer), steered_logits(local, inputs, steer))
    torch.testing.assert_close(
        steered_logits(remote, inputs, steer, last_only=True), steered_logits(local, inputs, steer, last_only=True)
    )
    assert torch.equal(
        steered_generate(remote, inputs, steer, max_new_tokens=3).token_ids,
        steered_generate(local, inputs, steer, max_new_tokens=3).token_ids,
    )


def test_remote_path_every_step_generation(tiny_root):
    from interp.models import load_mllm
    from interp.testing import tiny_mllm_dir

    local = load_mllm(tiny_mllm_dir("llava", tiny_root))
    remote = load_mllm(tiny_mllm_dir("llava", tiny_root), remote="local")
    inputs = two_scenes(local)
    steer = [add(torch.randn(local.d_model) * 20, 1, 1.0, "text")]
    kw = {"max_new_tokens": 4, "min_new_tokens": 4, "every_step": True}
    assert torch.equal(
        steered_generate(remote, inputs, steer, **kw).token_ids,
        steered_generate(local, inputs, steer, **kw).token_ids,
    )
