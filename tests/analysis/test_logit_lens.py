import pytest
import torch
from PIL import Image

from interp.analysis.common import encode_items, image_grid
from interp.analysis.logit_lens import logit_lens, word_ranks
from interp.organism.inside import patch_object_frame, patch_objects
from interp.testing.leaks import hook_state, same_weights, snapshot


def hand_lens(mllm, h):
    """Final norm, head and soft-capping written out from the HF modules."""
    lm = mllm.module.model.language_model
    logits = mllm.module.lm_head(lm.norm(h))
    cap = mllm.text_config.final_logit_softcapping
    return torch.tanh(logits / cap) * cap if cap else logits


def test_logit_lens_at_the_last_layer_equals_the_models_logits(tiny, tiny_items, hooked_outputs):
    items = tiny_items(2)
    last = tiny.n_layers - 1
    df = logit_lens(tiny, items, layers=[last], kinds=["image", "text", "last"], top_k=3, batch_size=1)
    inputs = encode_items(tiny, items)
    _, logits = hooked_outputs(tiny, inputs)
    real = inputs["attention_mask"].bool()
    for b, it in enumerate(items):
        rows = df[df.item == it.id]
        positions = real[b].nonzero().flatten()
        for p in sorted(set(rows.position)):
            got = rows[rows.position == p].sort_values("rank")
            top = logits[b, positions[p]].topk(3)
            assert got.pred_id.tolist() == top.indices.tolist()
            torch.testing.assert_close(torch.tensor(got.logit.tolist()), top.values, atol=1e-5, rtol=0)
    assert set(df.kind) == {"image", "text", "last"}
    assert (df[df.kind == "image"].patch >= 0).all() and (df[df.kind != "image"].patch == -1).all()


def test_word_ranks_match_hand_ranks_of_an_earlier_layers_lens(tiny, tiny_items, hooked_outputs):
    items = tiny_items(1)
    df = word_ranks(tiny, items, ["A", "B"], layers=[0], kinds=["last", "image"])
    inputs = encode_items(tiny, items)
    outs, _ = hooked_outputs(tiny, inputs)
    with torch.no_grad():
        lens = hand_lens(tiny, outs[0][0, -1])
    for word in ("A", "B"):
        tid = tiny.tokenizer.encode(word, add_special_tokens=False)[0]
        row = df[(df.kind == "last") & (df.word == word)].iloc[0]
        assert row.token_id == tid
        assert row["rank"] == int((lens > lens[tid]).sum()) + 1
        assert row.prob == pytest.approx(float(torch.softmax(lens, -1)[tid]), rel=1e-4)
    assert len(df[df.kind == "image"]) == 2 * int((inputs["input_ids"] == tiny.image_token_id).sum())


def test_image_tokens_are_the_patch_grid_in_row_major_order(organism):
    rows, cols = image_grid(organism)
    assert rows * cols == organism.processor.image_seq_length
    vision = organism.module.model.vision_tower
    embed = getattr(vision, "vision_model", vision).embeddings
    size = organism.module.config.vision_config.image_size
    blank = Image.new("RGB", (size, size), (128, 128, 128))
    painted = blank.copy()
    r, c, cell = 2, 1, size // cols
    painted.paste((250, 20, 20), (c * cell, r * cell, (c + 1) * cell, (r + 1) * cell))
    px = organism.processor.image_processor([blank, painted], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        e = embed(px.to(organism.dtype))
    changed = (e[0] - e[1]).abs().amax(-1) > 1e-6
    assert changed.nonzero().flatten().tolist() == [r * cols + c]


def test_patch_objects_puts_each_scene_object_on_its_cell(organism, test_items):
    for item in test_items:
        objects = patch_objects(organism, item)
        scene = item.metadata["scene"]
        assert len(objects) == 16
        for o in scene.objects:
            assert objects[o.row * 4 + o.col] is o
        assert sum(o is not None for o in objects) == len(scene.objects)
    frame = patch_object_frame(organism, test_items[:1])
    assert frame.object.notna().sum() == len(test_items[0].metadata["scene"].objects)


def test_logit_lens_refuses_bad_input(tiny, tiny_items):
    items = tiny_items(1)
    with pytest.raises(ValueError, match="top_k must be a positive int, got 0"):
        logit_lens(tiny, items, top_k=0)
    with pytest.raises(ValueError, match="kinds must be some of"):
        logit_lens(tiny, items, kinds=["pixels"])
    with pytest.raises(ValueError, match="no words given"):
        word_ranks(tiny, items, [])
    with pytest.raises(ValueError, match="layer -1 is out of range"):
        word_ranks(tiny, items, ["A"], layers=[-1])
    with pytest.raises(ValueError, match=r"has no metadata\['scene'\]"):
        patch_objects(tiny, items[0])


def test_logit_lens_leaves_no_hook_or_weight_change_when_it_raises(tiny, tiny_items, break_layer):
    items = tiny_items(1)
    before, hooks = snapshot(tiny.module), hook_state(tiny.module)
    patch = break_layer(tiny, 1)
    with pytest.raises(RuntimeError, match="broken layer"):
        logit_lens(tiny, items)
    with pytest.raises(RuntimeError, match="broken layer"):
        word_ranks(tiny, items, ["A"])
    patch.undo()
    assert hook_state(tiny.module) == hooks
    assert same_weights(before, tiny.module)
