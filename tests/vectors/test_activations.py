"""The residual read the vector methods are built on, and its backends."""

import pytest
import torch

from interp.activations import nnsight_residuals, resolve_backend, torch_residuals
from interp.concepts import encode_corpus
from interp.testing import TINY_FAMILIES, TINY_TEXT_FAMILIES


def test_the_residual_read_is_each_layers_output_as_saved_in_a_plain_trace(backbone, counting):
    batch = next(encode_corpus(backbone.tokenizer, counting, batch_size=4))
    acts = nnsight_residuals(backbone)(batch, [backbone.n_layers - 1, 0])
    assert sorted(acts) == [0, backbone.n_layers - 1]
    inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    saved = []
    with torch.no_grad(), backbone.trace(inputs):
        for layer in acts:
            saved.append(backbone.layers[layer].output.save())
    for (layer, h), expected in zip(acts.items(), saved, strict=True):
        assert h.dtype == torch.float32 and h.device.type == "cpu"
        assert torch.equal(h, torch.as_tensor(expected)), layer


@pytest.mark.parametrize("read", [nnsight_residuals, torch_residuals])
def test_the_residual_read_gives_plain_tensors_a_caller_can_edit_and_train_on(backbone, counting, read):
    # The read runs under inference_mode; what it returns must not be an inference tensor, which
    # refuses in-place edits and being saved for backward outside that mode.
    batch = next(encode_corpus(backbone.tokenizer, counting, batch_size=2))
    h = read(backbone)(batch, [1])[1]
    assert not h.is_inference()
    h -= h.mean()
    weight = torch.ones(backbone.d_model, requires_grad=True)
    (h @ weight).sum().backward()
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, h.sum(dim=(0, 1)))


@pytest.mark.parametrize("family", TINY_TEXT_FAMILIES + TINY_FAMILIES)
def test_the_torch_read_equals_the_nnsight_read_bit_for_bit_in_every_family(family, tiny_root, load_tiny, counting):
    from interp.models import load_text_backbone
    from interp.testing import tiny_text_dir

    model = load_text_backbone(tiny_text_dir(family, tiny_root)) if family in TINY_TEXT_FAMILIES else load_tiny(family)
    layers = list(range(model.n_layers))
    for batch in list(encode_corpus(model.tokenizer, counting, batch_size=5))[:2]:
        via_torch, via_nnsight = torch_residuals(model)(batch, layers), nnsight_residuals(model)(batch, layers)
        assert sorted(via_torch) == layers
        for layer in layers:
            assert via_torch[layer].dtype == torch.float32 and via_torch[layer].shape[:2] == batch.input_ids.shape
            assert torch.equal(via_torch[layer], via_nnsight[layer]), (family, layer)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_an_mllms_inputs_with_their_image_read_the_same_through_both_backends_as_its_hidden_states(family, load_tiny):
    # residual_norms and native vectors read the MLLM on its full inputs (pixel values included)
    from interp.testing import tiny_image

    mllm = load_tiny(family)
    inputs = mllm.encode(["What is left of the red cube?", "How many?"], [tiny_image(), tiny_image(seed=1)])
    layers = [0, mllm.n_layers - 1]
    via_torch, via_nnsight = torch_residuals(mllm)(inputs, layers), nnsight_residuals(mllm)(inputs, layers)
    with torch.no_grad():
        hidden = mllm.module(**inputs, output_hidden_states=True, use_cache=False).hidden_states
    for layer in layers:
        assert torch.equal(via_torch[layer], via_nnsight[layer]), (family, layer)
        assert via_torch[layer].shape[:2] == inputs["input_ids"].shape
    # hidden_states[l + 1] is the output of layer l, except the last, which HF gives after the final norm
    torch.testing.assert_close(via_torch[0], hidden[1].float())


def test_the_torch_read_leaves_no_hook_and_reads_only_the_asked_layers(backbone, counting):
    from interp.testing.leaks import nothing_left

    batch = next(encode_corpus(backbone.tokenizer, counting, batch_size=3))
    with nothing_left(backbone.module):
        acts = torch_residuals(backbone)(batch, [1, 0, 1])
    assert sorted(acts) == [0, 1]
    with pytest.raises(ValueError, match="layer 9 is out of range"):
        torch_residuals(backbone)(batch, [9])


def test_auto_is_the_torch_read_locally_and_nnsight_for_a_remote_model(backbone, tiny_root):
    from interp.models import load_text_backbone
    from interp.testing import tiny_text_dir

    remote = load_text_backbone(tiny_text_dir("gemma2", tiny_root), remote="local")
    assert resolve_backend(backbone) == "torch" and resolve_backend(backbone, "nnsight") == "nnsight"
    assert resolve_backend(remote) == "nnsight"
    with pytest.raises(ValueError, match=r"the torch activation backend runs local weights, but .* is remote"):
        torch_residuals(remote)
    with pytest.raises(ValueError, match=r"unknown activation backend 'hooks': expected one of \['auto', 'torch'"):
        resolve_backend(backbone, "hooks")


@pytest.mark.parametrize("method", ["meanshift", "probe", "diffmean"])
def test_vectors_by_default_equal_the_nnsight_backends_and_record_the_backend_used(backbone, counting, negation_pairs, method):
    from interp.vectors import compute

    data = negation_pairs if method == "diffmean" else counting
    default = compute(backbone, data, method, batch_size=4)
    via_nnsight = compute(backbone, data, method, batch_size=4, backend="nnsight")
    assert default.meta.params["backend"] == "torch" and via_nnsight.meta.params["backend"] == "nnsight"
    for layer in default.layers:
        assert torch.equal(default.at(layer), via_nnsight.at(layer)), layer
