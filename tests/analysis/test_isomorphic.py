import pytest
import torch

from interp.analysis.common import cosine, encode_items, linear_cka
from interp.analysis.isomorphic import isomorphic, steer_toward_text
from interp.organism.inside import organism_text_prompt
from interp.steering import steered_logits
from interp.testing.leaks import hook_state, same_weights, snapshot


def test_text_prompt_is_the_text_backbones_training_format(organism_text, test_items):
    from interp.organism.recipe.batches import text_qa_batch
    from interp.organism.scenes import make_item

    tok = organism_text.tokenizer
    raw = make_item("test", "Count", 0)
    trained = text_qa_batch([raw], tok, tok.convert_tokens_to_ids("\n"))
    prefix = trained["input_ids"][0][: int(trained["attention_mask"][0].sum()) - 2]
    ours = encode_items(organism_text, test_items[:1], images=False, prompt=organism_text_prompt)
    assert ours["input_ids"][0].tolist() == prefix.tolist()


def test_isomorphic_accuracy_and_states_match_direct_runs(organism, organism_text, test_items, hooked_outputs):
    res = isomorphic(organism, test_items, backbone=organism_text, layers=[1, 3], batch_size=2)
    assert set(res.items.run) == {"image", "mllm_text", "backbone_text"}
    image = encode_items(organism, test_items)
    logits = steered_logits(organism, image, last_only=True)
    letters = [organism.tokenizer.convert_tokens_to_ids(c) for c in "ABCDEF"]
    expected = [float(int(row[letters[: it.n_choices]].argmax()) == it.answer) for row, it in zip(logits, test_items)]
    assert res.items[res.items.run == "image"].correct.tolist() == expected
    overall = res.accuracy[(res.accuracy.run == "image") & (res.accuracy.task == "all")].accuracy.iloc[0]
    assert overall == pytest.approx(sum(expected) / len(expected))

    text = encode_items(organism_text, test_items, images=False, prompt=organism_text_prompt)
    outs_i, _ = hooked_outputs(organism, image)
    outs_t, _ = hooked_outputs(organism_text, text)
    li = image["attention_mask"].shape[1] - 1  # left padding: the last column is every row's last token
    lt = text["attention_mask"].shape[1] - 1
    for layer in (1, 3):
        xi, xt = outs_i[layer][:, li].double(), outs_t[layer][:, lt].double()
        row = res.similarity[(res.similarity.layer == layer) & (res.similarity.a == "image")
                             & (res.similarity.b == "backbone_text")].iloc[0]
        assert row.cos_mean == pytest.approx(float(cosine(xi, xt).mean()), abs=1e-5)
        assert row.dist_mean == pytest.approx(float((xi - xt).norm(dim=-1).mean()), rel=1e-5)
        assert row.cka == pytest.approx(linear_cka(xi, xt), abs=1e-5)


def test_steering_with_strength_zero_moves_nothing_and_last_token_steering_is_exact(organism, test_items, counting):
    zero = steer_toward_text(organism, test_items[:2], counting, 1, [0.0])
    assert (zero.d_cos == 0).all() and (zero.d_dist == 0).all()
    assert zero.layer.tolist() == [1, 2, 3]
    df = steer_toward_text(organism, test_items[:2], counting, 1, 3.0, tokens="last")
    image = encode_items(organism, test_items[:2])
    text = encode_items(organism, test_items[:2], images=False, prompt=organism_text_prompt, chat=False)
    with torch.no_grad(), organism.trace(image):
        hi = organism.layers[1].output[:, -1].save()
    with torch.no_grad(), organism.trace(text):
        ht = organism.layers[1].output[:, -1].save()
    steered = (hi + 3.0 * counting.at(1)).double()
    row = df[df.layer == 1].iloc[0]
    assert row.dist_steered == pytest.approx(float((steered - ht.double()).norm(dim=-1).mean()), rel=1e-5)


def test_isomorphic_refuses_items_without_a_scene_and_bad_backbones(organism, tiny, tiny_items, test_items, counting):
    with pytest.raises(ValueError, match=r"comes from 'tiny', which has no text rendering of its scenes: pass render="):
        isomorphic(organism, tiny_items(1))
    with pytest.raises(ValueError, match="backbone must be a TextBackbone"):
        isomorphic(organism, test_items, backbone=tiny)
    with pytest.raises(ValueError, match="no alphas given"):
        steer_toward_text(organism, test_items, counting, 1, [])
    with pytest.raises(ValueError, match="layer 9 is out of range"):
        steer_toward_text(organism, test_items, counting, 9, 1.0)


def test_isomorphic_leaves_no_hook_or_weight_change_when_it_raises(organism, organism_text, test_items, counting, break_layer):
    before, hooks = snapshot(organism.module), hook_state(organism.module)
    patch = break_layer(organism, 2)
    with pytest.raises(RuntimeError, match="broken layer"):
        isomorphic(organism, test_items[:2], backbone=organism_text)
    with pytest.raises(RuntimeError, match="broken layer"):
        steer_toward_text(organism, test_items[:2], counting, 1, 2.0)
    patch.undo()
    assert hook_state(organism.module) == hooks
    assert same_weights(before, organism.module)
