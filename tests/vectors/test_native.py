"""Native vectors (the MLLM's own image-token directions) and their comparison with textual ones."""

from dataclasses import replace

import pandas as pd
import pytest
import torch


@pytest.fixture(scope="module")
def mllm():
    import interp

    return interp.load_mllm("organism-llava")


@pytest.fixture(scope="module")
def contrast():
    from interp.vectors import visual_contrast

    return visual_contrast("organism", "counting", n=6)


@pytest.fixture(scope="module")
def diffmean_vector(mllm, contrast):
    from interp.vectors import native_vector

    return native_vector(mllm, contrast, method="diffmean", layers=[0, 2])


def _image_states(mllm, items, layer):
    """Image-token hidden states straight from the HF model (hidden_states[l + 1]), not through interp."""
    from interp.answers import encode_items

    inputs = encode_items(mllm, list(items))
    with torch.no_grad():
        out = mllm.module(**inputs, output_hidden_states=True)
    mask = inputs["input_ids"] == mllm.image_token_id
    return out.hidden_states[layer + 1][mask].double()


def test_native_diffmean_matches_hidden_state_reference(mllm, contrast, diffmean_vector):
    for layer in (0, 2):
        ref = _image_states(mllm, contrast.positive, layer).mean(0) - _image_states(mllm, contrast.negative, layer).mean(0)
        assert torch.allclose(diffmean_vector.at(layer).double(), ref, atol=1e-4, rtol=1e-4)


def test_native_vectors_separate_fresh_contrast_items_in_the_right_direction(mllm, diffmean_vector):
    from interp.vectors import native_vector, visual_contrast

    fresh = visual_contrast("organism", "counting", n=6, start=5000)
    probe = native_vector(mllm, visual_contrast("organism", "counting", n=6), method="probe", layers=[2])
    for v, layer in ((diffmean_vector, 0), (diffmean_vector, 2), (probe, 2)):
        d = v.at(layer).double()
        pos = (_image_states(mllm, fresh.positive, layer) @ d).mean()
        neg = (_image_states(mllm, fresh.negative, layer) @ d).mean()
        assert pos > neg, f"{v.meta.method} at layer {layer}: many-object scenes must project higher"
        assert v.meta.extra["separation"][str(layer)] > 0


def test_swapping_the_contrast_flips_the_native_vector(mllm, contrast, diffmean_vector):
    from interp.vectors import VisualContrast, native_vector

    swapped = native_vector(mllm, VisualContrast("counting", contrast.negative, contrast.positive), layers=[0])
    assert torch.allclose(swapped.at(0), -diffmean_vector.at(0), atol=1e-5)


def test_native_meanshift_is_diffmean_scaled_by_the_negative_share(mllm, contrast, diffmean_vector):
    from interp.vectors import native_vector

    ms = native_vector(mllm, contrast, method="meanshift", layers=[0])
    share = ms.meta.extra["negative_tokens"] / (ms.meta.extra["negative_tokens"] + ms.meta.extra["positive_tokens"])
    assert torch.allclose(ms.at(0), share * diffmean_vector.at(0), atol=1e-5)


def test_native_vector_says_it_is_native_and_round_trips(mllm, diffmean_vector, tmp_path):
    from interp.vectors import SteeringVector

    meta = diffmean_vector.meta
    assert meta.method == "native-diffmean" and meta.params["native"] is True
    assert meta.source_model == mllm.name and meta.concept == "counting"
    diffmean_vector.check_compatible(mllm)
    diffmean_vector.save(tmp_path / "v")
    back = SteeringVector.load(tmp_path / "v")
    assert back.meta.params["native"] is True and torch.equal(back.at(2), diffmean_vector.at(2))


def test_labelled_contrast_splits_items_by_their_answer():
    from interp.items import as_items
    from interp.organism.scenes import make_split
    from interp.vectors import labelled_contrast

    items = as_items(make_split("val", 12, tasks=["Relation", "Depth"]))
    c = labelled_contrast(items, "spatial_relationship", task="Depth")
    assert c.positive and c.negative
    assert all(it.task == "Depth" and it.answer == 0 for it in c.positive)
    assert all(it.task == "Depth" and it.answer == 1 for it in c.negative)
    assert len(c.positive) + len(c.negative) == 12
    with pytest.raises(ValueError, match="no item of task 'Count'"):
        labelled_contrast(items, "counting", task="Count")


def test_native_vector_refuses_bad_input(mllm, contrast):
    from interp.items import Item
    from interp.vectors import VisualContrast, native_vector

    with pytest.raises(ValueError, match="empty positive set"):
        native_vector(mllm, VisualContrast("counting", (), contrast.negative))
    bare = (Item("bare/0", (), "How many objects?", ("1", "2"), 0, task="Count"),)
    with pytest.raises(ValueError, match="without an image"):
        native_vector(mllm, VisualContrast("counting", contrast.positive, bare))
    with pytest.raises(ValueError, match=r"out of range|decoder layers"):
        native_vector(mllm, contrast, layers=[mllm.n_layers])
    with pytest.raises(ValueError, match="unknown native method"):
        native_vector(mllm, contrast, method="sae")
    with pytest.raises(ValueError, match="must be a VisualContrast"):
        native_vector(mllm, (contrast.positive, contrast.negative))


def test_compare_native_cosines_and_gains(mllm, diffmean_vector):
    from interp.evaluation import compare_native
    from interp.items import as_items
    from interp.organism.scenes import make_split
    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(0)
    textual = SteeringVector(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in (0, 2)},
        replace(diffmean_vector.meta, method="diffmean", params={}, source_fingerprint={}),
    )
    # The textual vector relabelled as native: the same edits, so the same gains, cosine 1.
    twin = SteeringVector(dict(textual.tensors), replace(textual.meta, method="native-diffmean", params={"native": True}))
    natives = {"native/counting": diffmean_vector, "twin": twin}
    items = as_items(make_split("test", 8, tasks=["Count"]))
    cells = pd.DataFrame([{"vector": "t", "method": "diffmean", "concept": "counting", "task": "Count",
                           "selector": "image", "layer": 2, "strength": 1.0, "alpha": 3.0}])
    df = compare_native(mllm, {"t": textual}, {"native/counting": diffmean_vector}, items, cells=cells, n_random=2)
    assert list(df["layer"]) == [0, 2] and set(df["textual"]) == {"t"}
    for layer in (0, 2):
        a, b = textual.at(layer).double(), diffmean_vector.at(layer).double()
        expect = float(a @ b / (a.norm() * b.norm()))
        assert df.loc[df["layer"] == layer, "cosine"].item() == pytest.approx(expect, abs=1e-6)
    scored = df[df["layer"] == 2].iloc[0]
    assert pd.isna(df[df["layer"] == 0]["native_gain"]).all(), "only the cell's layer is scored"
    assert scored["n"] == 8
    assert scored["native_minus_textual"] == pytest.approx(scored["native_gain"] - scored["textual_gain"])
    same = compare_native(mllm, {"t": textual}, {"twin": natives["twin"]}, items, cells=cells, n_random=0)
    row = same[same["layer"] == 2].iloc[0]
    assert row["cosine"] == pytest.approx(1.0) and row["native_gain"] == row["textual_gain"]
    assert row["native_minus_textual"] == 0.0


def test_compare_native_refuses_bad_input(mllm, diffmean_vector):
    from interp.evaluation import compare_native
    from interp.items import as_items
    from interp.organism.scenes import make_split

    items = as_items(make_split("test", 2, tasks=["Count"]))
    other = replace(diffmean_vector.meta, concept="attribute")
    from interp.vectors import SteeringVector

    attr = SteeringVector(dict(diffmean_vector.tensors), replace(other, method="diffmean", params={}))
    with pytest.raises(ValueError, match="no textual vector shares a concept"):
        compare_native(mllm, {"a": attr}, {"n": diffmean_vector}, items)
    with pytest.raises(ValueError, match="is not native"):
        compare_native(mllm, {"a": attr}, {"n": attr}, items)
    with pytest.raises(ValueError, match="no items to compare on"):
        compare_native(mllm, {"t": diffmean_vector}, {"n": diffmean_vector}, [])
