"""Several devices: the organism dispatched with an accelerate ``device_map`` that offloads two
decoder layers to disk (their weights are meta tensors on the module, loaded by accelerate's hooks
at each forward), against the single-device model; and device maps or dtypes this machine cannot
run, refused before anything loads."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import torch

import interp
from interp.answers import encode_items, last_logits
from interp.evaluation.cells import BasePass
from interp.evaluation.sweep import sweep
from interp.items import from_record
from interp.organism.scenes import make_split
from interp.steering import add, steered_generate, steered_logits
from interp.vectors import SteeringVector

#: The organism's modules over the CPU and disk: layers 1 and 2 live on disk.
DEVICE_MAP = {
    "model.vision_tower": "cpu", "model.multi_modal_projector": "cpu",
    "model.language_model.embed_tokens": "cpu", "model.language_model.rotary_emb": "cpu",
    "model.language_model.layers.0": "cpu", "model.language_model.layers.1": "disk",
    "model.language_model.layers.2": "disk", "model.language_model.layers.3": "cpu",
    "model.language_model.norm": "cpu", "lm_head": "cpu",
}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single = interp.load_mllm("organism")
        offloaded = interp.load_mllm(
            "organism", device_map=DEVICE_MAP, offload_folder=str(tmp_path_factory.mktemp("offload"))
        )
    return single, offloaded


def _items(split: str, n: int):
    return [from_record(d) for d in make_split(split, n, tasks=["Count", "Relation"])]


def _vector(mllm) -> SteeringVector:
    g = torch.Generator().manual_seed(0)
    return SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )


def test_the_device_map_really_offloads_through_accelerate_hooks(models):
    single, offloaded = models
    layer = offloaded.torch_layers[1]
    assert not single.offloaded and offloaded.offloaded
    assert layer.mlp.down_proj.weight.device.type == "meta"
    assert hasattr(layer.mlp.down_proj, "_hf_hook")
    assert offloaded.device == torch.device("cpu")
    # The offloaded weights are read from accelerate's weights map: the same fingerprint.
    assert offloaded.fingerprint().store_key(offloaded.name) == single.fingerprint().store_key(single.name)
    weights = dict(offloaded.named_weights())
    torch.testing.assert_close(
        weights["model.language_model.layers.1.mlp.down_proj.weight"],
        single.torch_layers[1].mlp.down_proj.weight, rtol=0, atol=0,
    )


def test_steering_and_scoring_equal_the_single_device_model(models):
    single, offloaded = models
    items = _items("val", 1)
    v = _vector(single)
    steers = [add(v, 1, 3.0, "image"), add(v, 2, -2.0, "text")]
    a, b = encode_items(single, items), encode_items(offloaded, items)
    torch.testing.assert_close(steered_logits(offloaded, b, steers), steered_logits(single, a, steers), rtol=0, atol=1e-5)
    torch.testing.assert_close(last_logits(offloaded, b), last_logits(single, a), rtol=0, atol=1e-5)
    assert steered_generate(offloaded, b, steers, max_new_tokens=3).texts == \
        steered_generate(single, a, steers, max_new_tokens=3).texts
    # The shared base pass calls the offloaded decoder layers directly: their hooks load the weights.
    bp = BasePass(offloaded, b, [0, 1, 2])
    for layer in (0, 1, 2):
        s = add(v, layer, 3.0, "image")
        torch.testing.assert_close(bp.steered(s), last_logits(single, a, [s]), rtol=0, atol=1e-5)
    assert offloaded.torch_layers[1].mlp.down_proj.weight.device.type == "meta"


@pytest.mark.parametrize("naive", [False, True])
def test_the_sweep_equals_the_single_device_sweep(models, naive):
    single, offloaded = models
    args = dict(
        vectors={"v": _vector(single)}, layers=[0, 2], strengths=[-2.0, 1.0], selectors=["image"],
        train=_items("val", 2), test=_items("test", 2), n_random=1, batch_size=2, progress=False,
    )
    ref = sweep(single, **args)
    res = sweep(offloaded, naive=naive, **args)
    cols = ["condition", "vector", "layer", "selector", "strength", "seed", "item_id"]
    a = res.rows.sort_values(cols).reset_index(drop=True)
    b = ref.rows.sort_values(cols).reset_index(drop=True)
    assert len(a) == len(b) > 0
    assert (a["pred"] == b["pred"]).all()
    assert (a["p_correct"] - b["p_correct"]).abs().max() <= 1e-5
    pd.testing.assert_frame_equal(res.grid, ref.grid)


def test_a_device_that_is_not_here_is_refused_before_loading(monkeypatch):
    import nnsight

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(nnsight, "TransformersModel", never)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device_map 'cuda' asks for a GPU, but this torch .* sees no CUDA "
                           r"device, so 'cuda' does not exist here"):
            interp.load_mllm("organism", device_map="cuda")
    with pytest.raises(ValueError, match=r"asks for (a GPU, but this torch .*'cuda:3' does not exist here|cuda:3, but only)"):
        interp.load_mllm("organism", device_map={**DEVICE_MAP, "lm_head": "cuda:3"})
    with pytest.raises(ValueError, match=r"offloads modules to 'disk' but no offload_folder= is given"):
        interp.load_mllm("organism", device_map=DEVICE_MAP)
    with pytest.raises(ValueError, match=r"'tpu' is not a device|asks for a 'xla' device"):
        interp.load_text_backbone(mllm="organism", device_map="tpu")


def test_a_dtype_the_device_cannot_run_is_refused_before_loading(monkeypatch):
    import nnsight

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(nnsight, "TransformersModel", never)
    with pytest.raises(ValueError, match=r"dtype 'bf16' is not a floating-point torch dtype: expected .*'bfloat16'"):
        interp.load_mllm("organism", dtype="bf16")
    with pytest.raises(ValueError, match=r"dtype torch\.float8_e4m3fn cannot run a model: interp loads weights in one of "
                       r"\['float32', 'bfloat16', 'float16', 'float64'\]"):
        interp.load_mllm("organism", dtype=torch.float8_e4m3fn)
    # A GPU without bfloat16 (compute capability below 8.0, e.g. a T4), as torch would report it.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: "Tesla T4")
    with pytest.raises(ValueError, match=r"dtype bfloat16 cannot run on cuda:0 \(Tesla T4, compute capability 7\.5\): "
                       r"bfloat16 needs compute capability 8\.0 or newer .*load with dtype=torch\.float16 or torch\.float32"):
        interp.load_mllm("organism", dtype=torch.bfloat16, device_map="auto")
    with pytest.raises(AssertionError, match="the model was loaded"):  # float16 runs there
        interp.load_mllm("organism", dtype=torch.float16, device_map="cuda:0")
