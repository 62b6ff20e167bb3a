"""Learned vectors (the ceiling of one vector at a cell): a planted task whose answer a known
direction fixes, the training forward against interp's own steering, nothing left on the model,
refusals before training, and the sweep and the CLI taking the result."""

from __future__ import annotations

import warnings

import pytest
import torch
from planted_task import PLANTED_NORM, planted_task

import interp
from interp.answers import encode_items, option_token_ids
from interp.evaluation import score
from interp.items import from_record
from interp.steering import add, steered_logits
from interp.testing import tiny_mllm_dir
from interp.testing.leaks import InjectedFailure, fail_on_call, nothing_left
from interp.tokens import Positions
from interp.vectors import SteeringVector, learned_vector
from interp.vectors.learned import _Batch, _forward, min_items


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted task (tests/planted_task.py): a model whose answer a known direction ``d`` fixes."""
    return planted_task(tmp_path_factory.mktemp("planted"))


def test_learned_vector_recovers_the_planted_direction_and_its_gain(planted):
    mllm, d, train, test = planted
    last = mllm.n_layers - 1
    v = learned_vector(mllm, train, layer=last, tokens="last", norm=PLANTED_NORM)
    got = v.at(last)
    cosine = float(got @ d / got.norm())
    assert cosine > 0.9, f"cosine with the planted direction {cosine:.3f}"
    bound = v.meta.extra["norm_bound"]
    assert float(got.norm()) <= bound * (1 + 1e-5)
    base = score(mllm, test)
    with_planted = score(mllm, test, add(bound * d, last, 1.0, "last"))
    with_learned = score(mllm, test, add(v, last, 1.0, "last"))
    assert base["correct"].mean() == 0.0 and with_planted["correct"].mean() == 1.0
    assert with_learned["correct"].mean() == with_planted["correct"].mean(), "the learned vector's gain is the planted one's"
    extra = v.meta.extra
    assert extra["val_accuracy_unsteered"] == 0.0 and extra["val_accuracy"] == 1.0
    assert extra["val_loss"] < extra["val_loss_unsteered"] and extra["train_loss"] < extra["train_loss_unsteered"]
    assert extra["n_train"] + extra["n_val"] == len(train) == 32 and extra["n_val"] == 8
    assert 1 <= extra["best_step"] <= extra["steps_run"] == len(extra["val_loss_history"])


def test_a_learned_vector_says_what_it_is_and_round_trips(planted, tmp_path):
    mllm, _, train, _ = planted
    v = learned_vector(mllm, train[:8], layer=0, tokens="image", steps=3, seed=5, concept="shape")
    assert v.layers == (0,) and v.meta.method == "learned" and v.meta.concept == "shape"
    assert v.meta.params["learned"] is True and v.meta.params["seed"] == 5 and v.meta.params["tokens"] == "image"
    assert v.meta.source_model == mllm.name and v.meta.source_fingerprint == mllm.fingerprint().to_json()
    assert v.meta.extra["n_train"] == 6 and v.meta.extra["n_val"] == 2 and v.meta.corpus_size == 8
    v.check_compatible(mllm)
    v.save(tmp_path / "v")
    assert SteeringVector.load(tmp_path / "v", model=mllm).equals(v)
    # the default concept is the items' tasks; the split is the seed's alone, so a rerun is identical
    again = learned_vector(mllm, train[:8], layer=0, tokens="image", steps=3, seed=5)
    assert again.meta.concept == "Planted" and torch.equal(again.at(0), v.at(0))


@pytest.mark.parametrize(("layer", "tokens"), [(0, "image"), (0, "both"), (1, "last"), (1, "all")])
def test_the_training_forward_is_interps_steered_forward(planted, layer, tokens):
    mllm, _, train, _ = planted
    items = train[:4]
    inputs = encode_items(mllm, items)
    v = torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(1)) * 3
    batch = _Batch(inputs, mllm.mask(tokens, inputs), tuple(tuple(option_token_ids(mllm.tokenizer, it)) for it in items),
                   tuple(it.answer for it in items))
    logp, right = _forward(mllm, batch, layer, v.clone().requires_grad_(True))
    logits = steered_logits(mllm, inputs, add(v, layer, 1.0, tokens), last_only=True)
    ids = list(batch.options[0])
    ref = torch.log_softmax(logits[:, ids].float(), dim=-1)[:, 0]
    torch.testing.assert_close(logp.detach(), ref, atol=1e-5, rtol=1e-5)
    assert right.tolist() == (logits[:, ids].argmax(-1) == 0).tolist()


def test_training_leaves_no_hook_no_gradient_and_no_changed_weight_even_when_it_raises(planted):
    mllm, _, train, _ = planted
    with nothing_left(mllm.module):
        learned_vector(mllm, train[:8], layer=0, tokens="last", steps=2)
    assert all(p.grad is None for p in mllm.module.parameters())
    # From inside a caller's no_grad: training still gets its gradient, and a failure in a layer
    # above the edit (where the hook has switched autograd on) leaves the caller's mode as it was.
    with torch.no_grad():
        v = learned_vector(mllm, train[:8], layer=0, tokens="last", steps=2)
        assert not torch.is_grad_enabled() and float(v.at(0).norm()) > 0
        # calls of layer 1: the unsteered train and validation passes, then step 1's training forward
        with pytest.raises(InjectedFailure), nothing_left(mllm.module), fail_on_call(mllm.torch_layers[1], n=3):
            learned_vector(mllm, train[:8], layer=0, tokens="last", steps=2)
        assert not torch.is_grad_enabled()
    assert torch.is_grad_enabled()
    assert all(p.grad is None for p in mllm.module.parameters())


def test_bad_input_is_refused_before_any_forward(planted, tmp_path):
    mllm, _, train, _ = planted
    last = mllm.n_layers - 1
    cases = [
        (dict(items=train[:5]), r"needs at least 6 labelled items for val_fraction=0.25 \(2 to train on and 2 to stop on\), got 5"),
        (dict(items=train[:3], val_fraction=0.5), r"needs at least 4 labelled items for val_fraction=0.5 .*got 3"),
        (dict(layer=last, tokens="image"), rf"layer {last} with tokens='image' is a dead cell"),
        (dict(layer=last, tokens="both"), "is a dead cell"),
        (dict(norm=0.0), r"the norm bound must be a finite number > 0, got 0.0"),
        (dict(norm=-1.0), r"the norm bound must be a finite number > 0, got -1.0"),
        (dict(norm=float("nan")), r"the norm bound must be a finite number > 0, got nan"),
        (dict(norm=float("inf")), r"the norm bound must be a finite number > 0, got inf"),
        (dict(tokens="pixels"), r"unknown tokens 'pixels': learned_vector takes a named selector"),
        (dict(tokens=Positions([-1])), r"unknown tokens Positions"),
        (dict(layer=7), r"layer 7 is out of range"),
        (dict(val_fraction=1.0), r"val_fraction must be in \(0, 1\)"),
        (dict(patience=0), r"patience must be >= 1"),
        (dict(steps=0), r"steps must be >= 1"),
        (dict(items=[train[0]] * 8), r"item ids must be unique"),
    ]
    with fail_on_call(mllm.torch_layers[0]):  # any forward would raise InjectedFailure instead
        for overrides, message in cases:
            kwargs = {"items": train[:8], "layer": 0, "tokens": "last", **overrides}
            with pytest.raises(ValueError, match=message):
                learned_vector(mllm, kwargs.pop("items"), **kwargs)
        with pytest.raises(ValueError, match=r"expected an interp.MLLM \(interp.load_mllm\), got TextBackbone"):
            learned_vector(interp.load_text_backbone(mllm="organism"), train[:8], layer=0)
        with torch.inference_mode(), pytest.raises(ValueError, match=r"needs autograd, which torch.inference_mode\(\) turns off"):
            learned_vector(mllm, train[:8], layer=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        remote = interp.load_mllm(str(tiny_mllm_dir("paligemma", tmp_path)), remote="local")
    with pytest.raises(ValueError, match=r"learned_vector \(gradients through the model's local weights\) runs on local weights"):
        learned_vector(remote, train[:8], layer=0)
    # exactly the minimum trains
    assert min_items(0.5) == 4 and learned_vector(mllm, train[:4], layer=0, tokens="last", val_fraction=0.5, steps=1).meta.extra["n_val"] == 2


@pytest.fixture(scope="module")
def organism():
    return interp.load_mllm("organism")


def _count_items(split, n, start=0):
    from interp.organism.scenes import make_split

    return [from_record(d) for d in make_split(split, n, tasks=["Count"], start=start)]


def test_learned_and_pca_vectors_go_through_the_sweep_on_the_organism(organism):
    from interp.evaluation import sweep

    learned = learned_vector(organism, _count_items("train", 16), layer=1, tokens="image", steps=6, patience=3)
    assert learned.meta.extra["train_loss"] < learned.meta.extra["train_loss_unsteered"]
    backbone = interp.load_text_backbone(mllm="organism")
    pca = interp.compute(backbone, "counting", "pca", source="organism", layers=[1])
    vectors = {"learned/Count": learned, "pca/counting": pca}
    res = sweep(organism, vectors, layers=[1], strengths=[-1.0, 1.0], selectors=["image"],
                train=_count_items("val", 4), test=_count_items("test", 4), n_random=0,
                prompt_baseline=False, batch_size=4, progress=False)
    steered = res.grid[res.grid["condition"] == "steered"]
    assert set(steered["vector"]) == set(vectors) and len(steered) == 4
    assert set(res.table["vector"]) == set(vectors)
    assert res.table["gain"].notna().all()


def test_learn_cli_trains_and_saves_a_vector_the_sweep_cli_takes(tmp_path):
    from typer.testing import CliRunner

    from interp.cli import app

    runner = CliRunner()
    out = tmp_path / "learned"
    result = runner.invoke(app, ["learn", "--model", "organism", "--concept", "counting", "--layer", "1",
                                 "--tokens", "image", "--n-train", "8", "--steps", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    v = SteeringVector.load(out)
    assert v.meta.method == "learned" and v.meta.concept == "counting" and v.layers == (1,)
    assert v.meta.params["tokens"] == "image" and v.meta.corpus_size == 8 and "8 items" in result.output
    assert "validation accuracy" in result.output
    again = runner.invoke(app, ["learn", "--model", "organism", "--concept", "counting", "--layer", "1", "--out", str(out)])
    assert again.exit_code == 2 and "already holds a saved vector" in again.output
    dead = runner.invoke(app, ["learn", "--model", "organism", "--tasks", "Count", "--layer", "3", "--tokens", "text",
                               "--out", str(tmp_path / "dead")])
    assert dead.exit_code == 2 and "dead cell" in dead.output
    swept = runner.invoke(app, ["sweep", "--model", "organism", "--vector", str(out), "--layers", "1", "--strengths", "1",
                                "--n-train", "2", "--n-test", "2", "--n-random", "0", "--no-prompt-baseline",
                                "--out", str(tmp_path / "sweep")])
    assert swept.exit_code == 0, swept.output


def test_a_bfloat16_model_trains_a_float32_vector_that_steers_it():
    mllm = interp.load_mllm("organism", dtype=torch.bfloat16)
    v = learned_vector(mllm, _count_items("train", 8), layer=1, tokens="image", steps=3)
    assert v.at(1).dtype == torch.float32 and float(v.at(1).norm()) > 0
    assert v.meta.extra["train_loss"] < v.meta.extra["train_loss_unsteered"]
    assert score(mllm, _count_items("test", 2), add(v, 1, 1.0, "image"))["correct"].notna().all()
