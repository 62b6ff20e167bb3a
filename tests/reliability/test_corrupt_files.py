"""Corrupt or mismatched files are refused with a clear error: saved vectors and the organism's files.

Saved vectors: a truncated, flipped or swapped tensor file, a config edited by hand (every
metadata field), half a save, a format-1 file, a vector for a model of another width. The
organism: a truncated, altered or missing weight, SAE or corpus file, and a missing manifest,
each named with how to restore it, when loading and from ``organism.verify()``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import interp
from interp import organism
from interp.errors import CorruptArtifactError
from interp.steering import add, steered_logits
from interp.vectors import CONFIG_FILE, TENSORS_FILE, SteeringVector, migrate
from interp.vectors.vector import _config_sha256


def vector(d: int = 128) -> SteeringVector:
    g = torch.Generator().manual_seed(3)
    return SteeringVector.from_tensors(
        {0: torch.randn(d, generator=g), 2: torch.randn(d, generator=g)},
        method="meanshift", concept="counting", source_model="organism-text", n_layers=4,
        corpus_hash="abc", corpus_size=12, params={"normalize": False}, extra={"anchor_tokens": 12},
    )


@pytest.fixture
def saved(tmp_path) -> Path:
    return vector().save(tmp_path / "v")


def edit_config(path: Path, fn) -> None:
    config = json.loads((path / CONFIG_FILE).read_text())
    fn(config)
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2))


def test_a_saved_vector_round_trips_bitwise(saved):
    assert SteeringVector.load(saved).equals(vector())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("normalized", True),
        ("method", "probe"),
        ("concept", "spatial_relationship"),
        ("source_model", "google/gemma-2-2b"),
        ("n_layers", 26),
        ("corpus_hash", "0" * 64),
        ("params", {"normalize": True}),
    ],
)
def test_any_hand_edit_of_the_metadata_is_refused(saved, field, value):
    edit_config(saved, lambda c: c["meta"].__setitem__(field, value))
    with pytest.raises(CorruptArtifactError, match=r"vector\.json was edited after it was saved: its config checksum does not match"):
        SteeringVector.load(saved)


def test_editing_the_checksum_too_does_not_help(saved):
    def forge(c):
        c["meta"]["normalized"] = True
        c["config_sha256"] = "f" * 64

    edit_config(saved, forge)
    with pytest.raises(CorruptArtifactError, match="was edited after it was saved"):
        SteeringVector.load(saved)


@pytest.mark.parametrize("damage", ["truncated", "one byte flipped", "emptied"])
def test_a_damaged_tensor_file_is_refused(saved, damage):
    path = saved / TENSORS_FILE
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "one byte flipped":
        data[-5] ^= 0x01
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match=r"vector\.safetensors is corrupt or does not belong to vector\.json: checksum [0-9a-f]{12}\.\.\. but the config expects"):
        SteeringVector.load(saved)


def test_a_tensor_file_from_another_vector_is_refused(tmp_path, saved):
    other = (2 * vector()).save(tmp_path / "other")
    shutil.copy(other / TENSORS_FILE, saved / TENSORS_FILE)
    with pytest.raises(CorruptArtifactError, match="checksum"):
        SteeringVector.load(saved)


def test_a_consistent_config_listing_other_layers_is_refused(saved):
    """A config whose own checksum is right (a buggy writer) but whose layers the tensors lack."""

    def relist(c):
        c["layers"] = [0, 1, 2]
        c["config_sha256"] = _config_sha256(c)

    edit_config(saved, relist)
    with pytest.raises(CorruptArtifactError, match=r"holds layers \['0', '2'\] but the config lists \[0, 1, 2\]"):
        SteeringVector.load(saved)


@pytest.mark.parametrize("missing", [CONFIG_FILE, TENSORS_FILE])
def test_half_a_save_is_refused(saved, missing):
    (saved / missing).unlink()
    other = TENSORS_FILE if missing == CONFIG_FILE else CONFIG_FILE
    with pytest.raises(CorruptArtifactError, match=rf"holds {other} but not {missing}: the save was interrupted or a file was deleted"):
        SteeringVector.load(saved)


def test_no_saved_vector_at_all_is_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved steering vector at .*nothing: vector\.json is missing"):
        SteeringVector.load(tmp_path / "nothing")


def test_a_config_that_is_not_json_is_refused(saved):
    (saved / CONFIG_FILE).write_text('{"format_version": 2, "sha256": ')
    with pytest.raises(CorruptArtifactError, match=r"vector\.json is not a valid vector config"):
        SteeringVector.load(saved)


def test_format_1_files_are_refused_until_migrated(saved):
    """Files saved before the config checksum: refused with a pointer to migrate, which upgrades them."""

    def to_v1(c):
        c["format_version"] = 1
        del c["config_sha256"]

    edit_config(saved, to_v1)
    with pytest.raises(CorruptArtifactError, match=r"format_version 1 \(saved before interp checksummed the metadata\).*interp\.vectors\.migrate\("):
        SteeringVector.load(saved)
    migrate(saved)
    assert SteeringVector.load(saved).equals(vector())
    edit_config(saved, lambda c: c["meta"].__setitem__("normalized", True))
    with pytest.raises(CorruptArtifactError, match="was edited after it was saved"):
        SteeringVector.load(saved)


def test_migrate_still_checks_the_tensors(saved):
    edit_config(saved, lambda c: (c.__setitem__("format_version", 1), c.pop("config_sha256")))
    (saved / TENSORS_FILE).write_bytes((saved / TENSORS_FILE).read_bytes()[:-8])
    with pytest.raises(CorruptArtifactError, match="is corrupt or does not belong"):
        migrate(saved)


def test_a_vector_for_a_model_of_another_width_is_refused(tmp_path, backbone, mllm, inputs):
    narrow = vector(d=64).save(tmp_path / "narrow")
    with pytest.raises(ValueError, match=r"vector 'counting' \(meanshift\) has d_model 64 \(built on organism-text\) but organism-text has d_model 128"):
        SteeringVector.load(narrow, model=backbone)
    loaded = SteeringVector.load(narrow)
    with pytest.raises(ValueError, match=r"has d_model 64 \(built on organism-text\) but organism has d_model 128"):
        steered_logits(mllm, inputs, add(loaded, 0, 1.0))
    assert SteeringVector.load(tmp_path / "narrow").d_model == 64  # refused for the model, not corrupt


def test_a_vector_saved_before_fingerprints_still_loads_and_steers_with_a_note(tmp_path, backbone, mllm, inputs):
    """Users have vectors on disk from before provenance was recorded: shape-checked, and said so."""
    from interp.concepts import load_corpus
    from interp.vectors import compute

    built = compute(backbone, load_corpus("counting", source="organism"), layers=[1])
    old = built.save(tmp_path / "old")

    def strip(config) -> None:
        for key in ("source_fingerprint", "checks"):
            del config["meta"][key]
        config["config_sha256"] = _config_sha256(config)

    edit_config(old, strip)
    loaded = SteeringVector.load(old, model=mllm)
    assert torch.equal(loaded.at(1), built.at(1)) and not loaded.meta.source_fingerprint
    assert "checked against models by shape only" in loaded.meta.checks["provenance"]
    steered_logits(mllm, inputs, add(loaded, 1, 1.0))


# -- the organism's shipped files ------------------------------------------------------------------
@pytest.fixture
def copy(tmp_path, monkeypatch) -> Path:
    """A copy of the organism's data, with its own manifest, that ``interp.organism`` reads instead.

    The copy's manifest is written afresh, so these tests check the mechanism whatever state
    the working tree's files are in; ``test_the_shipped_files_match_their_manifest`` checks those.
    """
    data = tmp_path / "data"
    shutil.copytree(organism.DATA_DIR, data)
    monkeypatch.setitem(organism.DATA_DIRS, "organism", data)
    monkeypatch.setattr(organism.manifest, "_CHECKED", {})
    organism.write_manifest()
    return data


def test_the_shipped_files_match_their_manifest():
    counts = organism.verify()
    manifest = json.loads((organism.DATA_DIRS["organism"] / organism.MANIFEST_FILE).read_text())["files"]
    assert sum(counts.values()) == len(manifest)
    assert set(counts) == set(organism.KINDS)


def test_an_intact_copy_verifies_and_loads(copy):
    assert organism.verify()
    interp.load_mllm("organism")


@pytest.mark.parametrize(
    ("file", "load"),
    [
        ("mllm/model.safetensors", lambda: interp.load_mllm("organism")),
        ("text/model.safetensors", lambda: interp.load_text_backbone(mllm="organism")),
        ("sae/layer_1/sae_weights.safetensors", lambda: interp.vectors.load_saes("organism", [1])),
    ],
)
def test_a_truncated_organism_file_is_named_on_load(copy, file, load):
    path = copy / file
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptArtifactError, match=rf"organism file .*{file} is truncated: 1000 bytes, the shipped file has \d+: reinstall interp .*python scripts/train_organism\.py"):
        load()


def test_an_altered_organism_weight_of_the_same_size_is_named_by_verify(copy):
    path = copy / "mllm" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10  # one bit of one weight: only the hash sees it
    path.write_bytes(bytes(data))
    organism.check("mllm")  # what loading checks: every file there, at its size
    with pytest.raises(CorruptArtifactError, match=r"organism file .*mllm/model\.safetensors was altered: its sha256 differs from the shipped file's: reinstall interp"):
        organism.verify()


def test_a_change_after_a_good_check_is_still_caught(copy):
    organism.verify()
    weights = copy / "text" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match=r"organism file .*text/model\.safetensors was altered"):
        organism.check("text", full=True)
    config = copy / "text" / "config.json"
    config.write_text(config.read_text() + " ")
    with pytest.raises(CorruptArtifactError, match=r"organism file .*text/config\.json is altered: \d+ bytes"):
        interp.load_text_backbone(mllm="organism")


def test_a_missing_or_altered_corpus_is_named_by_verify(copy):
    (copy / "concepts" / "counting.jsonl").unlink()
    with pytest.raises(CorruptArtifactError, match=r"organism file .*concepts/counting\.jsonl is missing: reinstall interp"):
        organism.verify()


def test_a_missing_manifest_is_named(copy):
    (copy / organism.MANIFEST_FILE).unlink()
    with pytest.raises(CorruptArtifactError, match=r"the organism's checksum manifest .*MANIFEST\.json is missing"):
        interp.load_text_backbone(mllm="organism")


def test_a_deliberate_rebuild_is_recorded_by_write_manifest(copy):
    path = copy / "sae" / "layer_0" / "cfg.json"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(CorruptArtifactError):
        organism.verify()
    organism.write_manifest()
    assert organism.verify()["sae"] == len(list((copy / "sae").rglob("*.*")))
