"""A catalog of mistakes a new user makes, each refused by interp with a clear message.

Every case is a distinct wrong input at one entry point (loading, encode, selectors, steering,
vectors and their methods, saved files, concept corpora). Each must raise interp's own error
type (``ValueError``, ``UnsupportedModelError`` or ``CorruptArtifactError``, exactly, not a
subclass from torch, transformers, safetensors or sklearn), raised from interp's code, with a
message that says what was wrong and what was expected (pinned by ``match=``).
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import interp
from interp import organism
from interp.errors import CorruptArtifactError, UnsupportedModelError
from interp.steering import (
    ablate,
    add,
    apply_steering,
    clamp,
    conditional,
    steered_generate,
    steered_logits,
)
from interp.tokens import Positions
from interp.vectors import CONFIG_FILE, TENSORS_FILE, SteeringVector, compute

INTERP_DIR = Path(interp.__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Any], Any]
    match: str
    error: type[Exception] = ValueError


class World:
    """What the cases act on: the organism, its inputs, a vector, and files made on demand."""

    def __init__(self, mllm, backbone, inputs, scenes, corpus, root: Path):
        self.mllm, self.backbone, self.inputs, self.scenes = mllm, backbone, inputs, scenes
        self.corpus, self.root = corpus, root
        self.v = torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(0))
        self.image = scenes[0]["image"]
        self.prompt = organism.format_prompt(scenes[0])

    def checkpoint(self, name: str, kind: str = "mllm", edit: Callable[[Path], None] | None = None) -> Path:
        """A copy of the organism's ``kind`` directory, changed by ``edit``."""
        out = self.root / name
        if not out.exists():
            shutil.copytree(organism.path(kind), out)
            if edit is not None:
                edit(out)
        return out

    def jsonl(self, name: str, data: bytes) -> Path:
        out = self.root / name
        out.write_bytes(data)
        return out

    def saved_vector(self, name: str, edit: Callable[[Path], None] | None = None) -> Path:
        out = self.root / name
        if not out.exists():
            SteeringVector.from_tensors({1: self.v}, method="meanshift", concept="counting").save(out)
            if edit is not None:
                edit(out)
        return out

    def in_trace(self, steers, **kw):
        with torch.no_grad(), self.mllm.trace(self.inputs):
            apply_steering(self.mllm, steers, **kw)
            out = self.mllm.nn.output.logits.save()
        return out


@pytest.fixture(scope="module")
def world(mllm, backbone, inputs, scenes, small_corpus, tmp_path_factory):
    return World(mllm, backbone, inputs, scenes, small_corpus, tmp_path_factory.mktemp("bad"))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _edit_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text())
    for key, value in changes.items():
        target = data
        *parents, last = key.split(".")
        for p in parents:
            target = target[p]
        target[last] = value
    path.write_text(json.dumps(data))


LOADING = [
    Case("empty checkpoint directory", lambda w: interp.load_mllm(w.checkpoint("empty", edit=lambda p: [f.unlink() for f in p.iterdir()])),
         r"empty has no config\.json: expected a checkpoint directory in hub layout"),
    Case("checkpoint path that does not exist", lambda w: interp.load_mllm(w.root / "nowhere"),
         r"cannot load a config from .*nowhere': the directory does not exist"),
    Case("config.json that is not JSON", lambda w: interp.load_mllm(w.checkpoint("badjson", edit=lambda p: (p / "config.json").write_text("{oops"))),
         r"config\.json is not valid JSON .*: the checkpoint is damaged", CorruptArtifactError),
    Case("model_type transformers does not know", lambda w: interp.load_mllm(w.checkpoint("blorp", edit=lambda p: _edit_json(p / "config.json", model_type="blorp"))),
         r"has model_type 'blorp', which transformers does not know: interp loads MLLMs of types .*paligemma", UnsupportedModelError),
    Case("truncated weights file", lambda w: interp.load_mllm(w.checkpoint("trunc", edit=lambda p: _truncate(p / "model.safetensors"))),
         r"model\.safetensors is truncated or corrupt .*: download or save the checkpoint again", CorruptArtifactError),
    Case("checkpoint without weights", lambda w: interp.load_mllm(w.checkpoint("noweights", edit=lambda p: (p / "model.safetensors").unlink())),
         r"holds no weights: expected model\.safetensors"),
    Case("backbone checkpoint without tokenizer", lambda w: interp.load_text_backbone(w.checkpoint("notok", "text", edit=lambda p: [(p / f).unlink() for f in ("tokenizer.json", "tokenizer_config.json")])),
         r"notok has no tokenizer files \(none of .*tokenizer\.json"),
    Case("MLLM checkpoint without processor", lambda w: interp.load_mllm(w.checkpoint("noproc", edit=lambda p: (p / "processor_config.json").unlink())),
         r"noproc' has no usable processor: an MLLM checkpoint needs its processor files"),
    Case("text model given to load_mllm", lambda w: interp.load_mllm(organism.path("text")),
         r"model_type 'gemma2' is not supported: .*is a text-only model, not an MLLM: load it with interp\.load_text_backbone", UnsupportedModelError),
    Case("dtype typo", lambda w: interp.load_mllm("organism", dtype="flaot32"),
         r"dtype 'flaot32' is not a floating-point torch dtype: expected .* one of \['float32', 'bfloat16'"),
    Case("integer dtype", lambda w: interp.load_text_backbone("organism", dtype=torch.int8),
         r"dtype torch\.int8 is not a floating-point torch dtype"),
    Case("device_map that is not a device", lambda w: interp.load_mllm("organism", device_map="gpu"),
         r"device_map 'gpu': 'gpu' is not a device; expected one of \['auto'"),
    Case("CUDA device_map without that GPU", lambda w: interp.load_mllm("organism", device_map="cuda:99"),
         r"device_map 'cuda:99' asks for (a GPU, but this torch .* sees no CUDA device|cuda:99, but only)"),
    Case("backbone and its MLLM both given", lambda w: interp.load_text_backbone("organism", mllm="organism"),
         r"give exactly one of name_or_path \(the backbone\) or mllm="),
]

ENCODE = [
    Case("encode(None)", lambda w: w.mllm.encode(None), r"prompts must be a string or a list of strings, got NoneType"),
    Case("empty prompt list", lambda w: w.mllm.encode([]), r"no prompts given"),
    Case("a prompt that is not a string", lambda w: w.mllm.encode(["How many?", 3], [w.image, w.image]), r"prompts\[1\] must be a string, got int"),
    Case("images=[None]", lambda w: w.mllm.encode(w.prompt, [None]), r"image 0 of prompt 0 is None: expected a PIL image, an \(H, W, C\) numpy array"),
    Case("image given as a file path", lambda w: w.mllm.encode(w.prompt, ["scene.png"]), r"image 0 of prompt 0 is a path \('scene\.png'\): open it first with PIL\.Image\.open"),
    Case("more images than prompts", lambda w: w.mllm.encode(w.prompt, [w.image, w.image]), r"got 2 image entries for 1 prompt\(s\): give one image"),
    Case("image already normalized (negative floats)", lambda w: w.mllm.encode(w.prompt, [np.asarray(w.image, dtype=np.float32) / 127.5 - 1]),
         r"image 0 of prompt 0 has float values in \[-0\.\d+, 0\.\d+\]: expected .*; pass the raw image, the processor normalizes it"),
    Case("0..1 float image batched with a uint8 image", lambda w: w.mllm.encode([w.prompt, w.prompt], [np.asarray(w.image) / 255.0, w.image]),
         r"images mix float images in 0\.\.1 with images in 0\.\.255"),
    Case("padding_side typo", lambda w: w.mllm.encode(w.prompt, [w.image], padding_side="lft"), r"padding_side must be 'left' or 'right', got 'lft'"),
    Case("inputs dict without pixel_values", lambda w: steered_logits(w.mllm, {k: v for k, v in w.inputs.items() if k != "pixel_values"}),
         r"inputs hold 32 image tokens but no 'pixel_values': the model would read the image placeholders as text"),
    Case("inputs dict without input_ids", lambda w: steered_logits(w.mllm, {"pixel_values": w.inputs["pixel_values"]}),
         r"inputs need 'input_ids', a \(batch, pos\) tensor of token ids, got 'NoneType'"),
    Case("images passed beside encoded inputs", lambda w: steered_logits(w.mllm, w.inputs, images=[w.image]), r"pass images to model\.encode, or prompts here with images="),
]

SELECTORS = [
    Case("selector name typo", lambda w: steered_logits(w.mllm, w.inputs, add(w.v, 1, 1.0, "imgae")),
         r"steer 0 at layer 1: unknown token selector 'imgae': expected one of \['image', 'text'"),
    Case("position beyond the prompt", lambda w: steered_logits(w.mllm, w.inputs, add(w.v, 1, 1.0, Positions([999]))),
         r"position 999 is out of range for row 0, which has \d+ tokens"),
    Case("positions given as floats", lambda w: Positions([1.5, 2.0]), r"a position must be an int, got 1\.5 \(float\)"),
    Case("mask selector of the wrong shape", lambda w: steered_logits(w.mllm, w.inputs, add(w.v, 1, 1.0, torch.ones(1, 3, dtype=torch.bool))),
         r"mask selector has shape \(1, 3\) but the batch is \(2, \d+\)"),
    Case("mask selector that is not bool", lambda w: steered_logits(w.mllm, w.inputs, add(w.v, 1, 1.0, torch.ones_like(w.inputs["input_ids"]))),
         r"a mask selector must be a bool tensor, got dtype torch\.int64"),
    Case("image selector on a text-only prompt", lambda w: steered_logits(w.mllm, "How many circles?", add(w.v, 1, 1.0, "image")),
         r"selector 'image' selects no token in row\(s\) \[0\] .*is it a text-only prompt"),
]

STEERING = [
    Case("layer out of range", lambda w: steered_logits(w.mllm, w.inputs, add(w.v, 9, 1.0)), r"layer 9 is out of range: organism has 4 decoder layers \(0\.\.3\)"),
    Case("layer given as a string", lambda w: add(w.v, "2", 1.0), r"layer must be an int, got '2' \(str\)"),
    Case("layer given as a bool", lambda w: add(w.v, True, 1.0), r"layer must be an int, got the bool True"),
    Case("strength given as a string", lambda w: add(w.v, 1, "4"), r"alpha must be a finite number, got '4' \(str\)"),
    Case("NaN strength", lambda w: add(w.v, 1, math.nan), r"alpha must be a finite number, got nan"),
    Case("finite strength too large for float32", lambda w: steered_generate(w.mllm, w.inputs, add(w.v, 1, 1e39), max_new_tokens=2),
         r"steer 0 \(add at layer 1, alpha=1e\+39, tokens='image'\): \|alpha \* v\| = .* is too large to compute in float32: an edit must stay below 1\.84e\+19"),
    Case("clamp value too large for float32", lambda w: steered_logits(w.mllm, w.inputs, clamp(w.v, 1, 1e30)),
         r"steer 0 \(clamp at layer 1, value=1e\+30, tokens='all'\): \|value\| = 1e\+30 is too large to compute in float32"),
    Case("conditional threshold above 1", lambda w: conditional(w.v, w.v, 1, threshold=1.5), r"threshold must be in \[0, 1\], got 1\.5: the gate compares cos\(h, proj_c h\)"),
    Case("conditional above='no'", lambda w: conditional(w.v, w.v, 1, threshold=0.5, above="no"), r"above must be True or False, got 'no' \(str\)"),
    Case("vector of another width", lambda w: steered_logits(w.mllm, w.inputs, add(torch.ones(129), 1, 1.0)),
         r"steering vector of steer 0 has shape \(129,\) but organism has d_model 128: expected \(128,\)"),
    Case("vector passed where steers are expected", lambda w: steered_logits(w.mllm, w.inputs, w.v),
         r"steers must be a Steer or a list of Steers, got a tensor of shape \(128,\): wrap a vector in a steer"),
    Case("SteeringVector passed where steers are expected", lambda w: steered_logits(w.mllm, w.inputs, SteeringVector.from_tensors({1: w.v})),
         r"steers must be a Steer or a list of Steers, got SteeringVector\(.*\): wrap a vector in a steer"),
    Case("raw tuple in the steers list", lambda w: steered_logits(w.mllm, w.inputs, [(w.v, 1, 1.0)]), r"steer 0 is a tuple: build steers with interp\.steering\.add"),
    Case("masks of the wrong shape to apply_steering", lambda w: w.in_trace(add(w.v, 1, 1.0), masks=[torch.ones(1, 3, dtype=torch.bool)]),
         r"mask 0 has shape \(1, 3\) but the batch is \(2, \d+\)|has shape \(1, 3\) but the trace's hidden states are \(2, \d+\)"),
    Case("one mask too many", lambda w: w.in_trace(add(w.v, 1, 1.0), inputs=w.inputs, masks=[w.mllm.mask("image", w.inputs)] * 2),
         r"got 2 masks for 1 steers: give one \(batch, pos\) bool mask per steer"),
    Case("float mask to apply_steering", lambda w: w.in_trace(add(w.v, 1, 1.0), masks=[torch.ones(w.inputs["input_ids"].shape)]),
         r"mask 0 must be a \(batch, pos\) bool tensor, got a torch\.float32 tensor"),
    Case("ablating along a zero vector", lambda w: steered_logits(w.mllm, w.inputs, ablate(torch.zeros(128), 1)), r"steer 0: cannot ablate along a zero vector"),
    Case("zero new tokens", lambda w: steered_generate(w.mllm, w.inputs, max_new_tokens=0), r"max_new_tokens must be >= 1, got 0"),
    Case("steering at a layer the vector lacks", lambda w: add(SteeringVector.from_tensors({1: w.v}, concept="counting"), 3),
         r"this custom vector for 'counting' has no layer 3: it has layers \[1\]"),
    Case("vector built on a deeper model", lambda w: steered_logits(w.mllm, w.inputs, add(SteeringVector.from_tensors({1: w.v}, source_model="gemma-2-2b", n_layers=26), 1)),
         r"was built on gemma-2-2b with 26 layers but organism has 4: the layer indices would not mean the same thing"),
]

VECTORS = [
    Case("batch_size=0", lambda w: compute(w.backbone, w.corpus, batch_size=0), r"batch_size must be a positive int, got 0"),
    Case("layers='first'", lambda w: compute(w.backbone, w.corpus, layers="first"), r"layers must be an int, a list of ints, 'all' or None, got the string 'first'"),
    Case("empty layer list", lambda w: compute(w.backbone, w.corpus, layers=[]), r"no layers given"),
    Case("method name typo", lambda w: compute(w.backbone, w.corpus, "meanshfit"), r"unknown vector method 'meanshfit': registered methods are .* \(did you mean 'meanshift'\?\)"),
    Case("method parameter typo", lambda w: compute(w.backbone, w.corpus, "probe", n_component=5),
         r"vector method 'probe' has no parameter 'n_component': its parameters are \['n_components'.*\(did you mean 'n_components'\?\)"),
    Case("compute's own argument misspelt", lambda w: compute(w.backbone, w.corpus, layer=1), r"vector method 'meanshift' has no parameter 'layer'.*\(did you mean 'layers'\?\)"),
    Case("method parameter of the wrong type", lambda w: compute(w.backbone, w.corpus, "probe", n_components="10"), r"n_components must be an int, got '10' \(str\)"),
    Case("held-out fraction above 1", lambda w: compute(w.backbone, w.corpus, "probe", held_out=20), r"held_out must be in \(0, 1\), got 20"),
    Case("normalize='yes'", lambda w: compute(w.backbone, w.corpus, normalize="yes"), r"meanshift's normalize must be True or False, got 'yes'"),
    Case("SAE top_k=0", lambda w: compute(w.backbone, w.corpus, "sae", top_k=0), r"top_k must be >= 1, got 0"),
    Case("SAE filter that is not callable", lambda w: compute(w.backbone, w.corpus, "sae", feature_filter=["count"]),
         r"feature_filter must be a callable \(layer, feature, explanation, concept\) -> bool, got list"),
    Case("activation backend typo", lambda w: compute(w.backbone, w.corpus, backend="tl"), r"unknown activation backend 'tl': expected one of \['auto', 'torch', 'nnsight', 'transformer_lens'\]"),
    Case("concept of the wrong type", lambda w: compute(w.backbone, 3), r"concept must be a taxonomy name, a JSONL path, a ConceptCorpus or ContrastPairs, got int"),
    Case("taxonomy name typo", lambda w: compute(w.backbone, "countin", source="organism"), r"unknown concept corpus 'countin' in source 'organism'; available: \['spatial_relationship'"),
    Case("contrast pairs to an anchored method", lambda w: compute(w.backbone, interp.concepts.load_pairs("counting", source="organism"), "meanshift"),
         r"meanshift needs a ConceptCorpus \(sentences with anchors\), got ContrastPairs: use 'diffmean'"),
]

FILES = [
    Case("vector.json edited by hand", lambda w: SteeringVector.load(w.saved_vector("edited", lambda p: _edit_json(p / CONFIG_FILE, **{"meta.normalized": True}))),
         r"vector\.json was edited after it was saved: its config checksum does not match", CorruptArtifactError),
    Case("truncated vector.safetensors", lambda w: SteeringVector.load(w.saved_vector("truncated", lambda p: _truncate(p / TENSORS_FILE))),
         r"vector\.safetensors is corrupt or does not belong to vector\.json: checksum", CorruptArtifactError),
    Case("vector directory missing its tensors", lambda w: SteeringVector.load(w.saved_vector("half", lambda p: (p / TENSORS_FILE).unlink())),
         r"holds vector\.json but not vector\.safetensors: the save was interrupted", CorruptArtifactError),
    Case("vector loaded for a model of another width", lambda w: SteeringVector.load(_narrow_vector(w), model=w.backbone),
         r"vector 'counting' \(meanshift\) has d_model 64 \(built on unknown\) but organism-text has d_model 128"),
    Case("format-1 vector file", lambda w: SteeringVector.load(w.saved_vector("v1", lambda p: _edit_json(p / CONFIG_FILE, format_version=1))),
         r"has format_version 1 \(saved before interp checksummed the metadata\).*interp\.vectors\.migrate", CorruptArtifactError),
]

CONCEPTS = [
    Case("corpus that is not UTF-8", lambda w: interp.concepts.load_corpus(w.jsonl("latin1.jsonl", b'{"sentence": "two cats", "anchor": "two"}\n{"sentence": "caf\xe9 has three cups", "anchor": "three"}\n')),
         r"latin1\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 18\): expected a UTF-8 JSONL file"),
    Case("contrast pairs that are not UTF-8", lambda w: interp.concepts.load_pairs(w.jsonl("latin1.pairs.jsonl", b'{"positive": "no \xff", "negative": "a"}\n')),
         r"latin1\.pairs\.jsonl:1: not valid UTF-8 \(byte 0xff"),
    Case("corpus line without anchor", lambda w: interp.concepts.load_corpus(w.jsonl("noanchor.jsonl", b'{"sentence": "two red circles"}\n')),
         r"noanchor\.jsonl:1: 'anchor' must be a non-empty string, got None"),
    Case("anchor not in its sentence", lambda w: interp.concepts.load_corpus(w.jsonl("absent.jsonl", b'{"sentence": "two red circles", "anchor": "three"}\n')),
         r"absent\.jsonl:1: anchor 'three' does not occur as a whole word in sentence 'two red circles'"),
    Case("anchor that is the whole sentence", lambda w: interp.concepts.load_corpus(w.jsonl("whole.jsonl", b'{"sentence": "Three.", "anchor": "three"}\n')),
         r"whole\.jsonl:1: anchor 'three' is the whole sentence 'Three\.': the methods contrast the anchor's tokens with the other words"),
    Case("misspelt corpus key", lambda w: interp.concepts.load_corpus(w.jsonl("key.jsonl", b'{"sentence": "two red circles", "anchr": "two"}\n')),
         r"key\.jsonl:1: unknown keys \['anchr'\]; expected 'sentence', 'anchor'"),
    Case("corpus line that is not JSON", lambda w: interp.concepts.load_corpus(w.jsonl("notjson.jsonl", b"two red circles, two\n")),
         r"notjson\.jsonl:1: not valid JSON"),
    Case("contrast pair of one sentence twice", lambda w: interp.concepts.load_pairs(w.jsonl("same.pairs.jsonl", b'{"positive": "no cat", "negative": "no cat"}\n')),
         r"same\.pairs\.jsonl:1: positive and negative are the same sentence"),
]


def _narrow_vector(w: World) -> Path:
    out = w.root / "narrow"
    if not out.exists():
        SteeringVector.from_tensors({1: torch.ones(64)}, method="meanshift", concept="counting").save(out)
    return out


CASES = LOADING + ENCODE + SELECTORS + STEERING + VECTORS + FILES + CONCEPTS


def test_the_catalog_has_at_least_forty_distinct_kinds():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_interp_error(case, world):
    with pytest.raises(case.error, match=case.match) as info:
        case.call(world)
    assert type(info.value) is case.error, f"{type(info.value).__module__}.{type(info.value).__name__} is not interp's"
    raised_in = Path(info.traceback[-1].path).resolve()
    assert raised_in.is_relative_to(INTERP_DIR), f"raised from {raised_in}, not from interp"


def test_numpy_and_tensor_numbers_are_numbers_not_out_of_range(world):
    """Once misleading: np.int64 layers were 'out of range' and np/tensor strengths 'not finite'."""
    mllm, v, inputs = world.mllm, world.v, world.inputs
    reference = steered_logits(mllm, inputs, add(v, 1, 2.0), last_only=True)
    for layer, alpha in [(np.int64(1), np.float32(2.0)), (torch.tensor(1), torch.tensor(2.0)), (1, np.float64(2.0))]:
        steer = add(v, layer, alpha)
        assert type(steer.layer) is int and type(steer.alpha) is float
        assert torch.equal(steered_logits(mllm, inputs, steer, last_only=True), reference)
    assert compute(world.backbone, world.corpus, layers=np.int64(2)).layers == (2,)


def test_layers_all_means_every_layer(world):
    """Once read character by character ("layer 'a' is out of range")."""
    v = compute(world.backbone, world.corpus, layers="all")
    assert v.layers == tuple(range(world.backbone.n_layers))


@pytest.mark.parametrize("layout", ["numpy HWC", "torch CHW"])
def test_float_images_in_0_1_give_the_pixels_of_the_uint8_image(world, layout):
    """Once silently wrong: 0..1 floats were rescaled by 1/255 again into a near-black image."""
    pixels = np.asarray(world.image)
    unit = pixels.astype(np.float32) / 255.0
    image = unit if layout == "numpy HWC" else torch.from_numpy(unit).permute(2, 0, 1)
    as_bytes = world.mllm.encode(world.prompt, [world.image])
    as_floats = world.mllm.encode(world.prompt, [image])
    assert torch.equal(as_floats["pixel_values"], as_bytes["pixel_values"])
    assert torch.equal(as_floats["input_ids"], as_bytes["input_ids"])
    # Floats in 0..255 are rescaled like bytes.
    wide = world.mllm.encode(world.prompt, [pixels.astype(np.float32)])
    assert torch.equal(wide["pixel_values"], as_bytes["pixel_values"])


@pytest.mark.parametrize("run", ["logits", "generate", "generate every step"])
def test_steered_runs_that_overflow_later_raise_naming_the_steers(world, run):
    """A float16 model can overflow above an edit the pre-check lets through; the logits tell."""
    mllm, inputs = world.mllm, world.inputs
    steer = add(world.v, 1, 2.0, "image")

    def overflow(module, args, output):  # stands in for an overflow inside the model
        return torch.full_like(output, math.nan)

    calls = {
        "logits": lambda steers: steered_logits(mllm, inputs, steers),
        "generate": lambda steers: steered_generate(mllm, inputs, steers, max_new_tokens=2),
        "generate every step": lambda steers: steered_generate(mllm, inputs, steers, max_new_tokens=2, every_step=True),
    }
    handle = mllm.lm_head.register_forward_hook(overflow)
    try:
        with pytest.raises(ValueError, match=r"the steered run gave NaN or inf logits: add at layer 1, alpha=2, tokens='image' pushed the hidden states beyond what float32 can hold"):
            calls[run]([steer])
        calls[run]([])  # unsteered, the model's own NaN is not blamed on a steer
        calls[run]([add(world.v, 1, 0.0)])  # nor on a steer that changes nothing
    finally:
        handle.remove()


# -- issue 19: corpora, vectors, provenance
# Data a vector is built from (repeats, overlong sentences, unknown tokens, too few sentences),
# arithmetic that cannot give a vector, and provenance: a vector steers the model it was built
# on (an MLLM: its paired text backbone) unless allow_transfer=True says it is an experiment.

from interp.concepts import corpus_from_examples  # noqa: E402
from interp.vectors import merge  # noqa: E402
from interp.vectors.checks import DataQualityWarning  # noqa: E402

_BUILT: dict[str, Any] = {}


def _other_backbone(w: World) -> Any:
    """The organism's text backbone with other weights: same width, depth and config."""
    if "other" not in _BUILT:
        from safetensors.torch import load_file, save_file

        def reweigh(p: Path) -> None:
            tensors = load_file(p / "model.safetensors")
            save_file({k: t * 1.5 if t.is_floating_point() else t for k, t in tensors.items()},
                      p / "model.safetensors", metadata={"format": "pt"})

        _BUILT["other"] = interp.load_text_backbone(w.checkpoint("other-text", "text", edit=reweigh))
    return _BUILT["other"]


def _vec(w: World, on: str = "organism") -> SteeringVector:
    key = f"vec-{on}"
    if key not in _BUILT:
        model = w.backbone if on == "organism" else _other_backbone(w)
        _BUILT[key] = compute(model, w.corpus, layers=[1])
    return _BUILT[key]


def _corpus(name: str, rows: list[tuple[str, str]]) -> Any:
    return corpus_from_examples(name, rows)


ISSUE19 = [
    Case("sentence longer than the model's positions",
         lambda w: compute(w.backbone, _corpus("long", [("two circles", "two"), ("two " * 10000 + "circles", "circles")]), layers=[1]),
         r"meanshift: corpus 'long' sentence 1 \('two two two .*\.\.\.'\) is 10002 tokens long \(with BOS\) but organism-text has 512 positions \(max_position_embeddings\)"),
    Case("contrast pair longer than the model's positions",
         lambda w: compute(w.backbone, interp.concepts.ContrastPairs("neg", (("no " * 600 + "cats", "cats"),), "code"), "diffmean", layers=[1]),
         r"diffmean: pairs 'neg' positive 0 \('no no no .*'\) is 602 tokens long \(with BOS\) but organism-text has 512 positions"),
    Case("corpus whose anchors are all unknown tokens",
         lambda w: compute(w.backbone, _corpus("unread", [("two zxqv circles", "zxqv"), ("three qqqz squares", "qqqz")]), layers=[1]),
         r"meanshift: every anchor token of corpus 'unread' \(2 tokens, anchors such as 'zxqv'\) is organism-text's unknown token"),
    Case("probe corpus whose anchors are all unknown tokens",
         lambda w: compute(w.backbone, _corpus("unread", [(f"{n} zxqv circles", "zxqv") for n in ("two", "three", "four")]), "probe", layers=[1]),
         r"probe: every anchor token of corpus 'unread' .* is organism-text's unknown token"),
    Case("probe on one sentence",
         lambda w: compute(w.backbone, _corpus("one", [("two red circles", "two")]), "probe", layers=[1]),
         r"probe: corpus 'one' has 1 distinct sentence: the held-out accuracy needs at least 2"),
    Case("probe on one sentence repeated",
         lambda w: compute(w.backbone, _corpus("one", [("two red circles", "two")] * 12), "probe", layers=[1]),
         r"probe: corpus 'one' has 1 distinct sentence"),
    Case("vector of another backbone of the same shape steering the MLLM",
         lambda w: steered_logits(w.mllm, w.inputs, add(_vec(w, "other"), 1, 1.0)),
         r"vector 'counting' \(meanshift\) was built on .*other-text but organism pairs with organism-text: pass allow_transfer=True"),
    Case("vector of another backbone of the same shape steering the backbone",
         lambda w: steered_logits(_other_backbone(w), _other_backbone(w).encode("two circles"), add(_vec(w), 1, 1.0, "all")),
         r"was built on organism-text \(fingerprint \w+\) but .*other-text is another model \(fingerprint \w+, other weights\): pass allow_transfer=True"),
    Case("vector loaded for another model of the same shape",
         lambda w: SteeringVector.load(_vec(w, "other").save(w.root / "other-vec", overwrite=True), model=w.mllm),
         r"built on .*other-text but organism pairs with organism-text: pass allow_transfer=True"),
    Case("merge of vectors built on different models",
         lambda w: merge([_vec(w), _vec(w, "other")]),
         r"cannot combine \(merge\) vector 'counting' built on organism-text with vector 'counting' built on .*other-text: .*merge\(\[\.\.\.\], allow_transfer=True\)"),
    Case("sum of vectors built on different models",
         lambda w: _vec(w) + _vec(w, "other"),
         r"cannot combine \(v \+ w\) vector 'counting' built on organism-text with vector 'counting' built on .*other-text"),
    Case("mixed merge steering without allow_transfer",
         lambda w: steered_logits(w.mllm, w.inputs, add(merge([_vec(w), _vec(w, "other")], allow_transfer=True), 1, 1.0)),
         r"mixes vectors built on different models, so it belongs to none: pass allow_transfer=True"),
    Case("vector times NaN", lambda w: _vec(w) * float("nan"),
         r"cannot scale a steering vector by nan: expected a finite number"),
    Case("vector divided by zero", lambda w: _vec(w) / 0,
         r"cannot divide a steering vector by 0: expected a finite non-zero number"),
    Case("vector loaded from a file that is not one of its two",
         lambda w: SteeringVector.load(w.jsonl("notavector.txt", b"x")),
         r"notavector\.txt is a file, not a saved vector: pass the folder that holds vector\.json and vector\.safetensors"),
]


@pytest.mark.parametrize("case", ISSUE19, ids=[c.id for c in ISSUE19])
def test_bad_corpora_and_vectors_get_a_clear_interp_error(case, world):
    test_bad_input_gets_a_clear_interp_error(case, world)


def test_repeated_sentences_are_counted_once_warned_and_recorded(world):
    """Once 12 copies of a sentence were a corpus of 12 giving the one-sentence vector unremarked."""
    row = (world.corpus[0].sentence, world.corpus[0].anchor)
    with pytest.warns(DataQualityWarning, match=r"corpus 'c' repeats 11 of its 12 entries: each is counted once \(1 distinct\)"):
        repeated = compute(world.backbone, _corpus("c", [row] * 12), layers=[1])
    once = compute(world.backbone, _corpus("c", [row]), layers=[1])
    assert repeated.meta.checks["n_duplicates"] == 11 and repeated.meta.corpus_size == 1
    assert torch.equal(repeated.at(1), once.at(1)) and once.meta.checks["n_duplicates"] == 0


def test_many_unknown_tokens_are_warned_and_recorded(world):
    """Once the default corpus on the organism read 62% unknown tokens without a word."""
    rows = [("two zxqv qqqz circles", "two"), ("three zzxq squares", "three")]
    with pytest.warns(DataQualityWarning, match=r"of 'unk' \(\d+%\) are organism-text's unknown token \(warned above 10%\)"):
        v = compute(world.backbone, _corpus("unk", rows), layers=[1])
    assert v.meta.checks["unknown_token_fraction"] > 0.1
    clean = compute(world.backbone, world.corpus, layers=[1])
    assert clean.meta.checks["unknown_token_fraction"] == 0.0


def test_probe_records_plain_accuracy_beside_the_majority_baseline(world):
    v = compute(world.backbone, world.corpus, "probe", layers=[1])
    assert set(v.meta.extra["held_out_accuracy"]) == set(v.meta.extra["majority_baseline"]) == {"1"}


def test_allow_transfer_lets_a_deliberate_transfer_steer(world):
    other = _vec(world, "other")
    steered_logits(world.mllm, world.inputs, add(other, 1, 1.0), allow_transfer=True)
    mixed = merge([_vec(world), other], allow_transfer=True)
    assert mixed.meta.source_model == "mixed"
    steered_logits(world.mllm, world.inputs, add(mixed, 1, 1.0), allow_transfer=True)
    # The organism's own vectors, built on its text backbone, steer its MLLM and backbone.
    steered_logits(world.mllm, world.inputs, add(_vec(world), 1, 1.0))
    _vec(world).check_compatible(world.backbone)


def test_a_vector_loads_from_its_config_file_path(world):
    folder = _vec(world).save(world.root / "by-file", overwrite=True)
    assert SteeringVector.load(folder / CONFIG_FILE).equals(_vec(world))


# -- issue 19: evaluation, CLI, models, store ----------------------------------------------------
def _sweep_too_strong(w: World, relative: bool) -> Any:
    from interp.evaluation.sweep import sweep
    from interp.items import from_record

    train = [from_record(s) for s in w.scenes]
    return sweep(w.mllm, {"v": SteeringVector.from_tensors({1: w.v}, concept="counting")}, [1], [1e39], "image",
                 train, relative=relative, progress=False)


def _drop_tensor(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(path / "model.safetensors")
    del tensors[next(k for k in sorted(tensors) if "layers.1.mlp.up_proj" in k)]
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})


def _edit_text_config(**changes: Any) -> Callable[[Path], None]:
    return lambda p: _edit_json(p / "config.json", **{f"text_config.{k}": v for k, v in changes.items()})


def _sixteen_bit(image: Any) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)


_LLAVA: list[Any] = []


def _llava() -> Any:
    if not _LLAVA:
        _LLAVA.append(interp.load_mllm("organism-llava"))
    return _LLAVA[0]


ISSUE_19 = [
    Case("sweep strength too large for float32 (relative)", lambda w: _sweep_too_strong(w, True),
         r"steered cell \(vector 'v', layer 1, strength 1e\+39 \(alpha=.*\), selector 'image'\): \|alpha \* v\| = .* "
         r"is too large to compute in float32: an edit must stay below 1\.84e\+19, or every item would be scored on NaN logits"),
    Case("sweep strength too large for float32 (absolute)", lambda w: _sweep_too_strong(w, False),
         r"steered cell \(vector 'v', layer 1, strength 1e\+39 \(alpha=1e\+39\), selector 'image'\): \|alpha \* v\| = .* is too large"),
    Case("checkpoint with one tensor deleted", lambda w: interp.load_mllm(w.checkpoint("dropped", edit=_drop_tensor)),
         r"dropped lacks 1 weight\(s\) its config\.json needs: \['model\.language_model\.layers\.1\.mlp\.up_proj\.weight'\]; "
         r"transformers would fill them with random values", CorruptArtifactError),
    Case("config with num_hidden_layers edited", lambda w: interp.load_mllm(w.checkpoint("fewer", edit=_edit_text_config(num_hidden_layers=3))),
         r"fewer/config\.json does not describe a consistent paligemma model \(.*num_hidden_layers.* \(3\).*\): the config was edited",
         CorruptArtifactError),
    Case("config with num_hidden_layers and layer_types edited", lambda w: interp.load_mllm(w.checkpoint(
        "fewer2", edit=lambda p: _edit_text_config(num_hidden_layers=3, layer_types=["full_attention"] * 3)(p))),
         r"fewer2 holds \d+ weight\(s\) its config\.json has no place for: \['model\.language_model\.layers\.3\..*; "
         r"the config was edited \(e\.g\. num_hidden_layers\)", CorruptArtifactError),
    Case("config with hidden_size edited", lambda w: interp.load_mllm(w.checkpoint("narrower", edit=_edit_text_config(hidden_size=96))),
         r"narrower: \d+ weight\(s\) do not have the shapes its config\.json gives, e\.g\. .* is \(.*128.*\) in the weights "
         r"file but \(.*96.*\) by the config", CorruptArtifactError),
    Case("config with image_token_index relabelled", lambda w: interp.load_mllm(w.checkpoint(
        "relabelled", edit=lambda p: _edit_json(p / "config.json", image_token_index=5))),
         r"this paligemma checkpoint's config\.json says the image token is id 5 \(image_token_id\) but its "
         r"tokenizer encodes '<image>' as 4: .*expected image_token_id = 4"),
    Case("config with model_type relabelled", lambda w: interp.load_mllm(w.checkpoint(
        "relabelled_type", edit=lambda p: _edit_json(p / "config.json", model_type="llava"))),
         r"relabelled_type lacks \d+ weight\(s\) its config\.json needs: .*multi_modal_projector", CorruptArtifactError),
    Case("inputs encoded by organism given to organism-llava", lambda w: steered_logits(_llava(), w.inputs),
         r"these inputs were encoded by another MLLM \(paligemma, model_type 'paligemma', image token 4, vocabulary 113\) "
         r"but organism-llava is llava \(model_type 'llava'.*encode them with this model's encode"),
    Case("inputs encoded by organism-llava given to organism", lambda w: steered_logits(w.mllm, _llava().encode(w.prompt, [w.image])),
         r"these inputs were encoded by another MLLM \(llava, .*\) but organism is paligemma"),
    Case("input ids beyond the vocabulary", lambda w: steered_logits(w.mllm, {**w.inputs, "input_ids": w.inputs["input_ids"] + 200}),
         r"inputs hold token id \d+ but organism has a vocabulary of 113 \(ids 0\.\.112\): the inputs were encoded for another model"),
    Case("bool image array", lambda w: w.mllm.encode(w.prompt, [np.asarray(w.image) > 128]),
         r"image 0 of prompt 0 is a bool array \(a mask\): expected .*; its True would be read as 1 of 255 \(near black\)"),
    Case("16-bit grayscale PIL image", lambda w: w.mllm.encode(w.prompt, [_sixteen_bit(w.image)]),
         r"image 0 of prompt 0 is a PIL image of mode 'I;16' \(16 or 32 bits per pixel\) with values in \[\d+, \d+\]: "
         r"expected .*the processor would read it as all white: convert it to 8 bits first"),
    Case("16-bit image array", lambda w: w.mllm.encode(w.prompt, [np.asarray(w.image).astype(np.uint16) * 257]),
         r"image 0 of prompt 0 has uint16 values in \[\d+, \d+\]: expected .*scale it to 0\.\.255 first"),
    Case("2-D image array", lambda w: w.mllm.encode(w.prompt, [np.asarray(w.image.convert("L"))]),
         r"image 0 of prompt 0 is a 2-D array of shape \(\d+, \d+\) \(one channel, no channel axis\): expected .*np\.stack"),
    Case("an MLLM directory given as a text backbone", lambda w: interp.load_text_backbone(organism.path("mllm")),
         r"mllm is an MLLM \(model_type 'paligemma'\), not a text backbone: pass it as load_text_backbone\(mllm="),
    Case("interp evaluate on a one-row benchmark", lambda w: _evaluate_cli(w, _cvbench_rows(w, "onerow", 1)),
         r"cvbench task Count has 1 row: n_test=150 leaves no train rows \(the test split holds out n_test of them\); "
         r"score every row with split='all' \(interp evaluate --split all\)$"),
    Case("truncated PNG in a local benchmark", lambda w: _evaluate_cli(w, _cvbench_rows(w, "truncpng", 1, truncate=0), "all"),
         r"cvbench/all from .*truncpng\.jsonl has no items: every row was skipped \(1 row skipped: row 0 \(idx 0\): "
         r"unreadable image in image \(.*truncpng-0\.png\): image file is truncated"),
    Case("--out folder under a file", lambda w: _writable(w.jsonl("plainfile", b"x") / "out"),
         r"the --out folder .*plainfile/out cannot be made: .*plainfile is a file"),
    Case("writing to a store opened read-only", lambda w: _write_read_only_store(w),
         r"results store .*ro\.sqlite is open read-only \(it or its folder cannot be written, or read_only=True\), "
         r"so it cannot record a cell: give a store path that can be written"),
]


@pytest.mark.parametrize("case", ISSUE_19, ids=[c.id for c in ISSUE_19])
def test_issue_19_bad_input_gets_a_clear_interp_error(case, world):
    assert case.id not in {c.id for c in CASES}
    test_bad_input_gets_a_clear_interp_error(case, world)


def test_issue_19_grayscale_and_bilevel_pil_images_read_as_their_rgb(world):
    """What stays accepted: 8-bit grayscale ('L'), bilevel ('1') and 0..255 'I'/'F' images."""
    gray = world.image.convert("L")
    reference = world.mllm.encode(world.prompt, [gray.convert("RGB")])["pixel_values"]
    for image in (gray, gray.convert("I"), gray.convert("F")):
        assert torch.equal(world.mllm.encode(world.prompt, [image])["pixel_values"], reference)
    stacked = np.stack([np.asarray(gray)] * 3, axis=-1)
    assert torch.equal(world.mllm.encode(world.prompt, [stacked])["pixel_values"], reference)


def _cvbench_rows(w: World, name: str, n: int, truncate: int | None = None) -> Path:
    """A local CV-Bench copy of ``n`` Count rows (JSONL, images beside it); one PNG cut short."""
    import io

    out = w.root / f"{name}.jsonl"
    rows = []
    for i in range(n):
        buf = io.BytesIO()
        w.image.save(buf, "PNG")
        data = buf.getvalue()
        (w.root / f"{name}-{i}.png").write_bytes(data[: len(data) // 2] if i == truncate else data)
        rows.append({"idx": i, "task": "Count", "image": f"{name}-{i}.png", "question": "How many?",
                     "choices": ["1", "2"], "answer": "(A)"})
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


def _evaluate_cli(w: World, path: Path, split: str = "test") -> Any:
    """What ``interp evaluate --benchmark cvbench --benchmark-path path`` reads, with its message."""
    import warnings

    from interp.cli._inputs import benchmark_items

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return benchmark_items("cvbench", str(path), split, None, None)


def _writable(folder: Path) -> Any:
    from interp.cli._inputs import writable

    return writable(folder, "--out folder")


def _write_read_only_store(w: World) -> Any:
    from interp.evaluation import ResultStore

    path = w.root / "ro.sqlite"
    ResultStore(path).close()
    with ResultStore(path, read_only=True) as store:
        return store.add_cell({"condition": "unsteered"})
