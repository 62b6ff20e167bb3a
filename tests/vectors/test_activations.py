"""The residual read the vector methods are built on."""

import torch

from interp.activations import nnsight_residuals
from interp.concepts import encode_corpus


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


def test_the_residual_read_gives_plain_tensors_a_caller_can_edit_and_train_on(backbone, counting):
    # The read runs under inference_mode; what it returns must not be an inference tensor, which
    # refuses in-place edits and being saved for backward outside that mode.
    batch = next(encode_corpus(backbone.tokenizer, counting, batch_size=2))
    h = nnsight_residuals(backbone)(batch, [1])[1]
    assert not h.is_inference()
    h -= h.mean()
    weight = torch.ones(backbone.d_model, requires_grad=True)
    (h @ weight).sum().backward()
    assert weight.grad is not None
    torch.testing.assert_close(weight.grad, h.sum(dim=(0, 1)))
