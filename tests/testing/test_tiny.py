"""Tiny random-initialised checkpoints: they load, process, run and trace like hub ones."""

from __future__ import annotations

import importlib.util
import os

os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path
from typing import Any

import pytest
import torch

from interp.testing import (
    TINY_FAMILIES,
    TINY_TEXT_FAMILIES,
    build_tiny_mllm,
    build_tiny_text,
    load_tiny_processor,
    tiny_image,
    tiny_mllm_dir,
    tiny_prompt,
    tiny_text_dir,
    without_video_processor,
)
from interp.testing.tiny import TINY_INFO

QUESTION = "What is left of the cube?"
OTHER_QUESTION = "How many?"


def _needs(family: str) -> None:
    if family == "smolvlm" and importlib.util.find_spec("num2words") is None:
        pytest.skip("SmolVLMProcessor needs num2words (pip install num2words)")


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


def _get(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name)
    return obj


def _image_token_id(config: Any, family: str) -> int:
    return getattr(config, TINY_INFO[family].image_token_attr)


def _images(family: str, images: list[Any]) -> list[Any]:
    """Gemma 3 and SmolVLM processors want one list of images per prompt in a batch."""
    return (
        [[image] for image in images]
        if family in ("gemma3", "smolvlm") and len(images) > 1
        else images
    )


def _expected_image_tokens(family: str, processor: Any, inputs: Any) -> list[int]:
    """Image features the model will produce for each row, from the family's token arithmetic."""
    rows = inputs["input_ids"].shape[0]
    if family in ("paligemma", "llava"):
        return [16] * rows
    if family == "gemma3":
        return [4] * rows
    if family in ("idefics3", "smolvlm"):
        tiles = inputs["pixel_attention_mask"].flatten(2).any(-1).sum(-1)
        return [4 * int(n) for n in tiles]
    if family in ("qwen2_vl", "qwen2_5_vl"):
        return [int(thw.prod()) // 4 for thw in inputs["image_grid_thw"]]
    sizes = [tuple(int(x) for x in size) for size in inputs["image_sizes"]]
    return list(processor._get_num_multimodal_tokens(image_sizes=sizes)["num_image_tokens"])


@pytest.fixture(scope="session")
def loaded(tiny_root: Path) -> dict[str, tuple[Any, Any]]:
    return {}


def _load(family: str, tiny_root: Path, cache: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    from transformers import AutoModelForImageTextToText

    _needs(family)
    if family not in cache:
        path = tiny_mllm_dir(family, tiny_root)
        model = AutoModelForImageTextToText.from_pretrained(path).eval()
        cache[family] = (model, load_tiny_processor(path))
    return cache[family]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_tiny_mllm_processor_counts_match_model_and_forward_is_finite(
    family: str, tiny_root: Path, loaded: dict[str, tuple[Any, Any]]
) -> None:
    model, processor = _load(family, tiny_root, loaded)
    assert model.config.model_type == TINY_INFO[family].model_type
    image_id = _image_token_id(model.config, family)
    assert processor.tokenizer.convert_tokens_to_ids(TINY_INFO[family].image_token) == image_id
    assert model.get_input_embeddings().num_embeddings >= len(processor.tokenizer)
    prompts = [tiny_prompt(family, processor, q) for q in (QUESTION, OTHER_QUESTION)]
    images = [tiny_image(20, 24, seed=0), tiny_image(30, 16, seed=1)]
    single = processor(text=prompts[0], images=images[:1], return_tensors="pt")
    batch = processor(
        text=prompts, images=_images(family, images), padding=True, return_tensors="pt"
    )
    for inputs in (single, batch):
        counts = (inputs["input_ids"] == image_id).sum(-1).tolist()
        assert counts == _expected_image_tokens(family, processor, inputs)
        with torch.no_grad():
            logits = model(**inputs).logits
        assert logits.shape[:2] == inputs["input_ids"].shape
        assert torch.isfinite(logits).all()
    layers = _get(model, TINY_INFO[family].layers_path)
    assert 2 <= len(layers) <= 3


@pytest.fixture(scope="session")
def traced(tiny_root: Path) -> dict[str, Any]:
    return {}


def _nnsight(family: str, tiny_root: Path, cache: dict[str, Any]) -> Any:
    import nnsight

    _needs(family)
    if family not in cache:
        path = tiny_mllm_dir(family, tiny_root)
        with without_video_processor():
            cache[family] = nnsight.TransformersModel(
                str(path), task="image-text-to-text", dispatch=True
            )
    return cache[family]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nnsight_traces_raw_prompt_and_image(
    family: str, tiny_root: Path, traced: dict[str, Any]
) -> None:
    model = _nnsight(family, tiny_root, traced)
    prompt = tiny_prompt(family, model.processor, QUESTION)
    layers = _get(model, TINY_INFO[family].layers_path)
    with model.trace(prompt, images=[tiny_image()]):
        hidden = layers[0].output.save()
    assert isinstance(hidden, torch.Tensor)
    assert hidden.dim() == 3
    assert hidden.shape[0] == 1
    assert hidden.shape[-1] == 32


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nnsight_traces_raw_batch_of_equal_length_prompts(
    family: str, tiny_root: Path, traced: dict[str, Any]
) -> None:
    model = _nnsight(family, tiny_root, traced)
    prompt = tiny_prompt(family, model.processor, QUESTION)
    images = _images(family, [tiny_image(seed=0), tiny_image(seed=1)])
    layers = _get(model, TINY_INFO[family].layers_path)
    with model.trace([prompt, prompt], images=images):
        hidden = layers[0].output.save()
    assert hidden.dim() == 3
    assert hidden.shape[0] == 2


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nnsight_raw_batch_of_unequal_prompts_needs_processor_outputs(
    family: str, tiny_root: Path, traced: dict[str, Any]
) -> None:
    model = _nnsight(family, tiny_root, traced)
    processor = model.processor
    prompts = [tiny_prompt(family, processor, q) for q in (QUESTION, OTHER_QUESTION)]
    images = _images(family, [tiny_image(20, 24, seed=0), tiny_image(30, 16, seed=1)])
    layers = _get(model, TINY_INFO[family].layers_path)
    # nnsight calls the processor without padding=True: prompts of unequal length fail.
    with pytest.raises(ValueError, match="tensor"), model.trace(prompts, images=images):
        layers[0].output.save()
    inputs = processor(text=prompts, images=images, padding=True, return_tensors="pt")
    with model.trace(**inputs):
        hidden = layers[0].output.save()
    assert tuple(hidden.shape) == (*inputs["input_ids"].shape, 32)
    with model.trace(inputs):
        again = layers[0].output.save()
    torch.testing.assert_close(again, hidden)


@pytest.mark.parametrize("family", TINY_TEXT_FAMILIES)
def test_tiny_text_backbone_loads_and_traces(family: str, tiny_root: Path) -> None:
    import nnsight
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_text_dir(family, tiny_root)
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == TINY_INFO[family].model_type
    ids = tokenizer("the red cube", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tokenizer.bos_token_id
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()
    traced = nnsight.TransformersModel(str(path), task="text-generation", dispatch=True)
    with traced.trace(["the red cube", "a dog sat beneath the tree"]):
        hidden = _get(traced, TINY_INFO[family].layers_path)[0].output.save()
    assert hidden.dim() == 3
    assert hidden.shape[0] == 2
    assert hidden.shape[-1] == 32


def test_same_seed_gives_same_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    a = load_file(build_tiny_mllm("llava", tmp_path / "a", seed=3) / "model.safetensors")
    b = load_file(build_tiny_mllm("llava", tmp_path / "b", seed=3) / "model.safetensors")
    c = load_file(build_tiny_text("llama", tmp_path / "c", seed=4) / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(v.dtype == torch.float32 for v in c.values())


def test_tiny_mllm_dir_builds_once(tmp_path: Path) -> None:
    path = tiny_mllm_dir("paligemma", tmp_path)
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert tiny_mllm_dir("paligemma", tmp_path) == path
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp
    assert tiny_mllm_dir("paligemma", tmp_path, seed=1) == tmp_path / "paligemma-seed1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paligemma", "paligemma-seed1"]


def test_tiny_forward_is_deterministic(tiny_root: Path, loaded: dict[str, tuple[Any, Any]]) -> None:
    model, processor = _load("qwen2_vl", tiny_root, loaded)
    inputs = processor(
        text=tiny_prompt("qwen2_vl", processor, QUESTION),
        images=[tiny_image()],
        return_tensors="pt",
    )
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, model(**inputs).logits, rtol=0, atol=0)


def test_unknown_family_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown tiny MLLM family 'blip2'.*paligemma, gemma3"):
        build_tiny_mllm("blip2", tmp_path)
    with pytest.raises(ValueError, match=r"unknown tiny text family 'gpt2'.*gemma2, llama"):
        build_tiny_text("gpt2", tmp_path)


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_nnsight_edit_of_a_layer_output_reaches_the_logits(
    family: str, tiny_root: Path, traced: dict[str, Any]
) -> None:
    model = _nnsight(family, tiny_root, traced)
    prompt = tiny_prompt(family, model.processor, QUESTION)
    layers = _get(model, TINY_INFO[family].layers_path)
    with model.trace(prompt, images=[tiny_image()]):
        base = model.output.logits.save()
    with model.trace(prompt, images=[tiny_image()]):
        layers[0].output[:, 3] += 10.0
        steered = model.output.logits.save()
    assert not torch.allclose(base[:, 3:], steered[:, 3:])
    # PaliGemma's prefix (image + prompt) attends bidirectionally: earlier positions move too.
    assert torch.allclose(base[:, :3], steered[:, :3]) == (family != "paligemma")


def test_nnsight_generate_sees_the_whole_prompt_at_prefill(
    tiny_root: Path, traced: dict[str, Any]
) -> None:
    model = _nnsight("paligemma", tiny_root, traced)
    prompt = tiny_prompt("paligemma", model.processor, QUESTION)
    inputs = model.processor(text=prompt, images=[tiny_image()], return_tensors="pt")
    with model.generate(prompt, images=[tiny_image()], max_new_tokens=3, do_sample=False) as tracer:
        hidden = model.model.language_model.layers[0].output.save()
        tokens = tracer.result.save()
    assert hidden.shape[:2] == inputs["input_ids"].shape
    assert tokens.shape[1] == inputs["input_ids"].shape[1] + 3
