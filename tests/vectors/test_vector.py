import json

import pytest
import torch

from interp.errors import CorruptArtifactError
from interp.steering import add, add_layers, steered_logits
from interp.testing import tiny_image
from interp.vectors import CONFIG_FILE, TENSORS_FILE, SteeringVector, merge


def vec(layers=(0, 1), d=4, concept="counting", **meta):
    g = torch.Generator().manual_seed(sum(layers) + d)
    return SteeringVector.from_tensors(
        {layer: torch.randn(d, generator=g) for layer in layers}, method="meanshift", concept=concept, **meta
    )


def test_arithmetic_returns_new_vectors():
    v, w = vec(), vec(layers=(1, 2))
    doubled = 2 * v
    assert torch.equal(doubled.at(0), 2 * v.at(0)) and doubled is not v
    assert torch.equal((v * 0.5).at(1), v.at(1) * 0.5)
    total = v + w
    assert total.layers == (0, 1, 2)
    assert torch.equal(total.at(1), v.at(1) + w.at(1))
    assert torch.equal(total.at(2), w.at(2))
    assert torch.equal((v - w).at(0), v.at(0))
    assert torch.equal((-v).at(0), -v.at(0))
    n = v.normalized()
    assert n.meta.normalized and all(abs(x - 1) < 1e-6 for x in n.norms().values())
    assert v.to(dtype=torch.float64).at(0).dtype == torch.float64
    with pytest.raises(AttributeError):
        v.meta = None  # type: ignore[misc]  # frozen
    with pytest.raises(TypeError):
        v.tensors[5] = torch.zeros(4)  # type: ignore[index]


def test_bad_vectors_are_refused():
    with pytest.raises(ValueError, match="has no layer 7: it has layers \\[0, 1\\]"):
        vec().at(7)
    with pytest.raises(ValueError, match="layer 1 has size 3, other layers have 4"):
        SteeringVector.from_tensors({0: torch.ones(4), 1: torch.ones(3)})
    with pytest.raises(ValueError, match="layer 0 contains NaN or inf"):
        SteeringVector.from_tensors({0: torch.tensor([1.0, float("nan")])})
    with pytest.raises(ValueError, match="needs at least one layer"):
        SteeringVector.from_tensors({})
    with pytest.raises(ValueError, match="layers \\[0\\] are zero vectors"):
        SteeringVector.from_tensors({0: torch.zeros(2)}).normalized()
    with pytest.raises(ValueError, match="cannot combine vectors of d_model 4 and 5"):
        vec() + vec(d=5)


def test_save_load_round_trip(tmp_path):
    v = vec(source_model="tiny", n_layers=2, corpus_hash="abc", corpus_size=3, params={"normalize": False}, extra={"k": [1, 2]})
    v.save(tmp_path / "v")
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == sorted([CONFIG_FILE, TENSORS_FILE])
    loaded = SteeringVector.load(tmp_path / "v")
    assert loaded.equals(v)
    assert loaded.meta.interp_version == v.meta.interp_version


def test_save_never_overwrites_silently(tmp_path):
    v, w = vec(), vec(layers=(3,))
    v.save(tmp_path / "v")
    with pytest.raises(FileExistsError, match="already holds a saved vector: pass overwrite=True"):
        w.save(tmp_path / "v")
    assert SteeringVector.load(tmp_path / "v").equals(v)
    w.save(tmp_path / "v", overwrite=True)
    assert SteeringVector.load(tmp_path / "v").equals(w)
    assert not [p for p in (tmp_path / "v").iterdir() if p.name.endswith(".tmp")]


def test_corrupt_and_mismatched_files_are_refused(tmp_path):
    vec().save(tmp_path / "v")
    data = bytearray((tmp_path / "v" / TENSORS_FILE).read_bytes())
    data[-3] ^= 0xFF
    (tmp_path / "v" / TENSORS_FILE).write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match=r"is corrupt or does not belong to vector\.json"):
        SteeringVector.load(tmp_path / "v")
    # A tensor file from another vector beside this config.
    vec().save(tmp_path / "a")
    vec(layers=(5,)).save(tmp_path / "b")
    (tmp_path / "a" / TENSORS_FILE).write_bytes((tmp_path / "b" / TENSORS_FILE).read_bytes())
    with pytest.raises(CorruptArtifactError, match="checksum"):
        SteeringVector.load(tmp_path / "a")
    # Config edited by hand to claim other layers: its own checksum no longer matches.
    vec().save(tmp_path / "c")
    cfg = json.loads((tmp_path / "c" / CONFIG_FILE).read_text())
    cfg["layers"] = [0, 1, 2]
    (tmp_path / "c" / CONFIG_FILE).write_text(json.dumps(cfg))
    with pytest.raises(CorruptArtifactError, match=r"vector\.json was edited after it was saved"):
        SteeringVector.load(tmp_path / "c")
    (tmp_path / "c" / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CorruptArtifactError, match="is not a valid vector config"):
        SteeringVector.load(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match=r"no saved steering vector at .*vector\.json is missing"):
        SteeringVector.load(tmp_path / "nothing")


def test_vector_for_another_model_is_refused_when_steering(load_tiny):
    mllm = load_tiny("paligemma")
    inputs = mllm.encode("What is left?", [tiny_image()])
    wrong_width = SteeringVector.from_tensors({0: torch.ones(mllm.d_model + 2)}, source_model="other", n_layers=2)
    with pytest.raises(ValueError, match=r"has d_model 34 \(built on other\) but .* has d_model 32"):
        steered_logits(mllm, inputs, add(wrong_width, 0, 1.0))
    wrong_depth = SteeringVector.from_tensors({0: torch.ones(mllm.d_model)}, source_model="deep", n_layers=26)
    with pytest.raises(ValueError, match=r"was built on deep with 26 layers but .* has 2: the layer indices would not mean the same thing"):
        steered_logits(mllm, inputs, add(wrong_depth, 0, 1.0))
    good = SteeringVector.from_tensors({0: torch.ones(mllm.d_model), 1: torch.ones(mllm.d_model)}, n_layers=2)
    both = steered_logits(mllm, inputs, add_layers(good, alpha=0.5))
    assert both.shape[0] == 1


def test_merge_weighted_sum_and_orthogonalised():
    a = SteeringVector.from_tensors({0: torch.tensor([2.0, 0.0, 0.0])}, concept="a")
    b = SteeringVector.from_tensors({0: torch.tensor([1.0, 1.0, 0.0]), 2: torch.tensor([0.0, 0.0, 3.0])}, concept="b")
    summed = merge([a, b], weights=[1.0, 2.0])
    assert summed.layers == (0, 2)
    assert summed.at(0).tolist() == [4.0, 2.0, 0.0]
    assert summed.at(2).tolist() == [0.0, 0.0, 6.0]
    ortho = merge([a, b], orthogonalize=True)
    assert ortho.at(0).tolist() == [2.0, 1.0, 0.0]  # b lost its component along a
    assert ortho.meta.method == "merge" and ortho.meta.concept == "a+b"
    with pytest.raises(ValueError, match="got 1 weights for 2 vectors"):
        merge([a, b], weights=[1.0])
    with pytest.raises(ValueError, match="merge needs at least one vector"):
        merge([])
