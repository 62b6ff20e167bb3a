"""Independent reference computations for the vector-method tests."""

import torch

from interp.concepts import encode_example, encode_texts


def hidden_by_hand(backbone, text, anchor=None):
    """Per-sentence decoder-layer outputs from a plain HF forward: the independent reference.

    Returns ``outputs`` with ``outputs[l + 1]`` the output of decoder layer l, matching
    ``hidden_states[l + 1]`` (checked here) except at the last layer, where HF's last hidden state
    has the final norm applied and the layer's own output does not.
    """
    if anchor is None:
        batch = next(encode_texts(backbone.tokenizer, [text]))
        ids, content, anchors = batch.input_ids, batch.content_mask[0], None
    else:
        enc = encode_example(backbone.tokenizer, text, anchor)
        ids = torch.tensor([enc.input_ids])
        content, anchors = torch.tensor(enc.content_mask), torch.tensor(enc.anchor_mask)
    captured = []
    handles = [
        layer.register_forward_hook(lambda m, a, out: captured.append(out[0] if isinstance(out, tuple) else out))
        for layer in backbone.torch_layers
    ]
    try:
        with torch.no_grad():
            out = backbone.module(input_ids=ids, output_hidden_states=True)
    finally:
        for h in handles:
            h.remove()
    for layer in range(backbone.n_layers - 1):
        torch.testing.assert_close(captured[layer], out.hidden_states[layer + 1])
    outputs = [out.hidden_states[0], *captured]
    return outputs, content, anchors
