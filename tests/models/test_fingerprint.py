"""One fingerprint, a method of the traced model, that sees every weight (interp.models.fingerprint)."""

from __future__ import annotations

import shutil

import pytest
import torch

import interp
from interp.models.fingerprint import Fingerprint, config_hash, tensor_hash


@pytest.fixture(scope="module")
def organism():
    return interp.load_mllm("organism")


def test_one_weight_changed_in_place_changes_the_fingerprint_and_the_store_key(organism):
    before = organism.fingerprint()
    assert organism.fingerprint() is before  # cached while no weight changes
    q = organism.torch_layers[2].self_attn.q_proj.weight
    saved = q.detach().clone()
    try:
        with torch.no_grad():
            q[:8].zero_()  # one attention head's queries (head_dim 8 rows), a weight no sample reads
        after = organism.fingerprint()
        assert after.weights != before.weights and after.decoder != before.decoder
        assert after.sample == before.sample  # what a 16-value sample could not see
        assert after.store_key("organism") != before.store_key("organism")
        assert not after.same_weights(before)
    finally:
        with torch.no_grad():
            q.copy_(saved)
    assert organism.fingerprint() == before


def test_an_edited_checkpoint_on_disk_is_another_model(organism, tmp_path):
    from interp.organism import path

    copy = tmp_path / "mllm"
    shutil.copytree(path("mllm"), copy)
    from safetensors.torch import load_file, save_file

    weights = load_file(copy / "model.safetensors")
    key = next(k for k in weights if k.endswith("layers.1.self_attn.k_proj.weight"))
    weights[key][:8] = 0.0
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    edited = interp.load_mllm(str(copy))
    assert edited.fingerprint().config == organism.fingerprint().config
    assert edited.fingerprint().weights != organism.fingerprint().weights


def test_the_same_checkpoint_loaded_twice_and_in_another_dtype(organism):
    again = interp.load_mllm("organism")
    assert again.fingerprint() == organism.fingerprint()
    half = interp.load_mllm("organism", dtype=torch.bfloat16)
    fp, hp = organism.fingerprint(), half.fingerprint()
    assert hp.dtype == "bfloat16" and hp.weights != fp.weights  # every byte counts for a store
    assert hp.same_weights(fp) and hp.store_key("organism") != fp.store_key("organism")


def test_the_decoder_hash_tells_a_frozen_language_model_from_a_drifted_one():
    llava = interp.load_mllm("organism-llava")
    llava_text = interp.load_text_backbone(mllm="organism-llava")
    assert llava.fingerprint().decoder == llava_text.fingerprint().decoder  # trained in front of a frozen LM
    assert llava.fingerprint().weights != llava_text.fingerprint().weights  # the MLLM has a vision tower too
    first = interp.load_mllm("organism")
    first_text = interp.load_text_backbone(mllm="organism")
    assert first.fingerprint().decoder != first_text.fingerprint().decoder  # its LM drifted in training
    assert first.fingerprint().same_weights(first_text.fingerprint(), decoder_only=True) is False


def test_json_round_trip_and_the_earlier_sample_only_format():
    fp = Fingerprint("c", "float32", "w", "d", (0.25, -1.0))
    assert Fingerprint.from_json(fp.to_json()) == fp
    old = Fingerprint.from_json({"config": "c", "weights": [0.25, -1.0]})
    assert old == Fingerprint("c", "", None, None, (0.25, -1.0))
    assert old.same_weights(fp) and Fingerprint.from_json({}) is None


def test_hashes_see_names_shapes_dtypes_and_values():
    a = [("w", torch.ones(4))]
    assert tensor_hash(a) == tensor_hash([("w", torch.ones(4))])
    for other in ([("v", torch.ones(4))], [("w", torch.ones(2, 2))], [("w", torch.ones(4, dtype=torch.float64))],
                  [("w", torch.tensor([1.0, 1.0, 1.0, 1.0 + 2**-20]))]):
        assert tensor_hash(other) != tensor_hash(a)
    assert tensor_hash([("w", torch.empty(3, device="meta"))]) is None
    assert config_hash({"hidden_size": 8, "transformers_version": "5.0"}) == config_hash({"hidden_size": 8})
