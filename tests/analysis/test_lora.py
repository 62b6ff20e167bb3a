"""LoRA adapters as read/write pairs, and conditional steering as a rank-1 adapter, on tiny models."""

import json
import warnings

import pytest
import torch

from interp.analysis.lora import lora_pairs, reconstruction_error
from interp.analysis.lora_directions import compare_directions, principal_angles, span_angles
from interp.analysis.lora_rank_one import conditional_adapter
from interp.testing import tiny_text_dir
from interp.vectors import SteeringVector

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def hf_model(family, tiny_root):
    from transformers import AutoModelForCausalLM

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AutoModelForCausalLM.from_pretrained(tiny_text_dir(family, tiny_root)).eval()


@pytest.fixture(scope="module")
def trained(tiny_root, tmp_path_factory):
    """A rank-3 LoRA (alpha 6, every projection) trained a few steps on a tiny Gemma 2, and saved."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = hf_model("gemma2", tiny_root)
    peft_model = get_peft_model(model, LoraConfig(r=3, lora_alpha=6, lora_dropout=0.1, target_modules=TARGETS))
    peft_model.train()
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(5, 300, (4, 12))
    for _ in range(4):
        loss = peft_model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    peft_model.eval()
    out = tmp_path_factory.mktemp("lora") / "adapter"
    peft_model.save_pretrained(out)
    return peft_model, out


def test_trained_lora_pairs_reproduce_every_module_delta(trained):
    peft_model, directory = trained
    pairs = lora_pairs(peft_model)
    assert len(pairs.modules) == 2 * len(TARGETS)
    assert set(pairs.table.kind) == set(TARGETS) and set(pairs.table.layer) == {0, 1}
    assert (pairs.table.scale == 2.0).all() and (pairs.table.groupby("module").size() == 3).all()
    assert (pairs.table.write_norm > 0).all(), "training moved every B away from zero"
    checked = reconstruction_error(peft_model, pairs, n=8)
    assert (checked.max_abs_delta > 1e-4).all()
    assert (checked.rel_error < 1e-5).all()
    # The directory gives the same pairs without the model.
    again = lora_pairs(directory)
    assert again.modules == pairs.modules
    for m in pairs.modules:
        torch.testing.assert_close(again.writes[m], pairs.writes[m])
        torch.testing.assert_close(again.reads[m], pairs.reads[m])
        assert again.scales[m] == pairs.scales[m]
    # And the pairs' weight update is peft's own.
    named = dict(peft_model.base_model.model.named_modules())
    m = "model.layers.1.mlp.down_proj"
    torch.testing.assert_close(pairs.delta_weight(m), named[m].get_delta_weight("default"))
    # Pairs summed by hand: tau * sum_i b_i (a_i . x).
    x = torch.randn(5, pairs.reads[m].shape[1])
    by_hand = sum(pairs.scales[m] * torch.outer(x @ pairs.reads[m][i], pairs.writes[m][:, i]) for i in range(3))
    torch.testing.assert_close(pairs.delta(m, x), by_hand)


def test_rank_and_alpha_patterns_and_rslora_set_each_scale(tmp_path, tiny_root):
    from peft import LoraConfig, get_peft_model

    model = hf_model("llama", tiny_root)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "down_proj"], use_rslora=True,
        rank_pattern={"down_proj": 2}, alpha_pattern={"down_proj": 3}, init_lora_weights=False,
    )
    peft_model = get_peft_model(model, cfg)
    peft_model.save_pretrained(tmp_path)
    from_dir, from_model = lora_pairs(tmp_path), lora_pairs(peft_model)
    assert from_dir.scales["model.layers.0.self_attn.q_proj"] == pytest.approx(8 / 2)
    assert from_dir.scales["model.layers.0.mlp.down_proj"] == pytest.approx(3 / 2**0.5)
    assert dict(from_dir.scales) == pytest.approx(dict(from_model.scales))
    assert (reconstruction_error(peft_model, from_dir).rel_error < 1e-5).all()


def test_unsupported_adapters_are_refused(tmp_path, tiny_root):
    from peft import LoraConfig, get_peft_model

    model = hf_model("llama", tiny_root)
    dora = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], use_dora=True))
    with pytest.raises(ValueError, match="use_dora"):
        lora_pairs(dora)
    with pytest.raises(FileNotFoundError, match="not a peft adapter directory"):
        lora_pairs(tmp_path)
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="is a IA3 adapter"):
        lora_pairs(tmp_path)
    with pytest.raises(ValueError, match="adapter must be a PeftModel or an adapter directory"):
        lora_pairs(42)


def test_directions_are_compared_with_vectors_at_the_stream_they_touch(trained):
    peft_model, _ = trained
    pairs = lora_pairs(peft_model)
    m = "model.layers.1.self_attn.o_proj"
    v = SteeringVector.from_tensors({0: torch.randn(32), 1: pairs.writes[m][:, 0].clone()}, concept="probe")
    df = compare_directions(pairs, v, n_random=200)
    hit = df[(df.module == m) & (df.side == "write") & (df.rank_index == 0)]
    assert hit.cosine.item() == pytest.approx(1.0, abs=1e-5) and hit.vector_layer.item() == 1
    # Writes of q/k/v (head space) and reads of down_proj (MLP space) have no residual size.
    assert not ((df.kind == "down_proj") & (df.side == "read")).any()
    assert set(df[df.side == "read"].vector_layer) == {0}, "layer-1 reads read the stream after layer 0"
    assert df.random_abs_mean.between(0.05, 0.3).all()
    assert (df.abs_cosine <= 1 + 1e-6).all()


def test_principal_angles_and_span_angles():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    b = torch.tensor([[1.0], [1.0], [0.0]])
    torch.testing.assert_close(principal_angles(a, b), torch.tensor([0.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(principal_angles(a, torch.tensor([[0.0], [0.0], [2.0]])), torch.tensor([90.0]))
    with pytest.raises(ValueError, match="same d"):
        principal_angles(a, torch.ones(4, 1))


def test_span_angles_find_a_planted_direction(trained):
    peft_model, _ = trained
    pairs = lora_pairs(peft_model)
    m = "model.layers.0.mlp.down_proj"
    planted = pairs.writes[m] @ torch.tensor([0.3, -1.0, 0.5])
    vecs = {"planted": SteeringVector.from_tensors({0: planted}), "other": SteeringVector.from_tensors({0: torch.randn(32)})}
    df = span_angles(pairs, vecs, n_random=50)
    first = df[(df.module == m) & (df["index"] == 0)]
    assert first.angle.item() < 1e-2 and first.random_angle.item() > 30
    assert set(df.n_vectors) == {2}


def steered_run(backbone, inputs, layer, vec, cond, alpha, *, input_of=None):
    """Layer outputs and logits with a conditional steer applied through nnsight.

    ``input_of=None``: add ``alpha v (c . u)`` to layer ``layer``'s output, ``u`` = its
    down_proj input. Otherwise steer the input of the module at that path: ``x + alpha v (c . x)``.
    """
    from interp.models.base import get_path

    c = cond / cond.norm()
    saved = []
    with torch.no_grad(), backbone.trace(inputs):
        for i, envoy in enumerate(backbone.layers):
            if i == layer and input_of is None:
                u = envoy.mlp.down_proj.input
                envoy.output = envoy.output + alpha * (u @ c).unsqueeze(-1) * vec
            elif i == layer:
                target = get_path(backbone.nn, input_of)
                x = target.input
                target.input = x + alpha * (x @ c).unsqueeze(-1) * vec
            saved.append(envoy.output.save())
        logits = backbone.nn.output.logits.save()
    return saved, logits


def test_rank_one_adapter_on_down_proj_equals_the_conditional_residual_steer(tiny_root, tmp_path):
    from peft import PeftModel

    from interp.models import load_text_backbone

    backbone = load_text_backbone(tiny_text_dir("llama", tiny_root))
    inputs = backbone.encode(["How many shapes are in the image?", "The red cube is left."])
    v, c, alpha = torch.randn(32), torch.randn(64), 1.7
    ad = conditional_adapter(backbone, "model.layers.0.mlp.down_proj", v, c, alpha, at="output")
    ad.save(tmp_path)
    wrapped = PeftModel.from_pretrained(hf_model("llama", tiny_root), tmp_path).eval()
    with torch.no_grad():
        out = wrapped(**inputs, output_hidden_states=True)
    steered, logits = steered_run(backbone, inputs, 0, v, c, alpha)
    torch.testing.assert_close(out.hidden_states[1], steered[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        plain = backbone.module(**inputs).logits
    assert (plain - logits).abs().max() > 1e-3, "the steer must do something"
    # The adapter's pairs are the steer: one pair, write alpha v, read unit c, scale 1.
    pairs = lora_pairs(tmp_path)
    torch.testing.assert_close(pairs.writes["model.layers.0.mlp.down_proj"][:, 0], alpha * v)
    torch.testing.assert_close(pairs.reads["model.layers.0.mlp.down_proj"][0], c / c.norm())


def test_steering_a_maps_input_is_a_rank_one_adapter_on_it_in_any_family(tiny_root):
    from interp.models import load_text_backbone

    for family in ("gemma2", "llama"):
        backbone = load_text_backbone(tiny_text_dir(family, tiny_root))
        inputs = backbone.encode(["There are three yellow cylinders on the table."])
        path = "model.layers.1.self_attn.o_proj"
        v, c, alpha = torch.randn(32), torch.randn(32), -0.8
        ad = conditional_adapter(backbone, path, v, c, alpha, at="input")
        wrapped = ad.apply(hf_model(family, tiny_root))
        with torch.no_grad():
            got = wrapped(**inputs).logits
        _, want = steered_run(backbone, inputs, 1, v, c, alpha, input_of=path)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            assert (backbone.module(**inputs).logits - want).abs().max() > 1e-3


def test_steering_the_attention_input_is_one_rank_one_adapter_per_q_k_v(tiny_root):
    from interp.models import load_text_backbone

    backbone = load_text_backbone(tiny_text_dir("llama", tiny_root))
    inputs = backbone.encode(["The red cube is to the left of the blue sphere."])
    attn = "model.layers.0.self_attn"
    v, c, alpha = torch.randn(32), torch.randn(32), 1.3
    targets = [f"{attn}.{p}" for p in ("q_proj", "k_proj", "v_proj")]
    wrapped = conditional_adapter(backbone, targets, v, c, alpha, at="input").apply(hf_model("llama", tiny_root))
    with torch.no_grad():
        got = wrapped(**inputs).logits
    _, want = steered_run(backbone, inputs, 0, v, c, alpha, input_of=attn)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        assert (backbone.module(**inputs).logits - want).abs().max() > 1e-3
    assert len(lora_pairs(wrapped).modules) == 3


def test_output_construction_is_not_exact_behind_gemma2_post_norms(tiny_root):
    from interp.models import load_text_backbone

    backbone = load_text_backbone(tiny_text_dir("gemma2", tiny_root))
    inputs = backbone.encode(["How many shapes are in the image?"])
    v, c, alpha = torch.randn(32), torch.randn(64), 1.7
    wrapped = conditional_adapter(backbone, "model.layers.0.mlp.down_proj", v, c, alpha).apply(hf_model("gemma2", tiny_root))
    with torch.no_grad():
        got = wrapped(**inputs, output_hidden_states=True).hidden_states[1]
    steered, _ = steered_run(backbone, inputs, 0, v, c, alpha)
    # Gemma 2's post-feedforward norm rescales the LoRA write with the rest of the MLP output.
    assert (got - steered[0]).abs().max() > 1e-2


def test_bad_adapter_requests_are_refused(tiny_root):
    model = hf_model("llama", tiny_root)
    with pytest.raises(ValueError, match=r"is not a torch\.nn\.Linear of the model"):
        conditional_adapter(model, "model.layers.0.mlp", torch.ones(32), torch.ones(64), 1.0)
    with pytest.raises(ValueError, match=r"condition has 32 dims but model\.layers\.0\.mlp\.down_proj reads 64"):
        conditional_adapter(model, "model.layers.0.mlp.down_proj", torch.ones(32), torch.ones(32), 1.0)
    with pytest.raises(ValueError, match=r"vector has 64 dims but at='output' on .* needs 32"):
        conditional_adapter(model, "model.layers.0.mlp.down_proj", torch.ones(64), torch.ones(64), 1.0)
    with pytest.raises(ValueError, match="finite and non-zero"):
        conditional_adapter(model, "model.layers.0.mlp.down_proj", torch.ones(32), torch.zeros(64), 1.0)
    with pytest.raises(ValueError, match="at must be 'input' or 'output'"):
        conditional_adapter(model, "model.layers.0.mlp.down_proj", torch.ones(32), torch.ones(64), 1.0, at="both")
