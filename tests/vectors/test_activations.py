"""The residual read and the streaming means the vector methods are built on."""

import torch

from interp.activations import MaskedMean, nnsight_residuals
from interp.concepts import encode_corpus


def test_update_layers_gives_the_per_layer_sums_to_the_bit():
    gen = torch.Generator().manual_seed(0)
    layered, per_layer = MaskedMean(), MaskedMean()
    for _ in range(5):
        acts = {layer: torch.randn(3, 7, 16, generator=gen) * 10 ** layer for layer in (0, 2, 5)}
        mask = torch.rand(3, 7, generator=gen) > 0.6
        layered.update_layers(acts, mask)
        for layer, h in acts.items():
            per_layer.update(layer, h, mask)
    for layer in (0, 2, 5):
        assert torch.equal(layered.sums[layer], per_layer.sums[layer])
        assert layered.count(layer) == per_layer.count(layer) > 0
        assert torch.equal(layered.mean(layer), per_layer.mean(layer))


def test_update_layers_with_an_empty_mask_counts_nothing():
    m = MaskedMean()
    m.update_layers({1: torch.ones(2, 3, 4)}, torch.zeros(2, 3, dtype=torch.bool))
    m.update_layers({}, torch.ones(2, 3, dtype=torch.bool))
    assert m.count(1) == 0 and m.count(0) == 0


def test_the_residual_read_is_each_layers_output_as_saved_in_a_trace(backbone, counting):
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
