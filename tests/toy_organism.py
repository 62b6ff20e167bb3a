"""A third party's model organism, plugged into interp the way any plugin is: one ``register``.

It is the tiny random PaliGemma of ``interp.testing`` (its language model saved beside it as the
text backbone), a corpus in its vocabulary, a generated benchmark of one task, a visual contrast
and a world that renders its items as text. ``tests/test_plugins.py`` points an entry point of
group ``interp.plugins`` at ``register`` and uses all of it through interp's public API; interp
itself never names this module.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Where ``build`` wrote the toy's parts (set by the test before the plugin loads).
ROOT: Path | None = None

TASK = "Shade"
CONCEPT = "brightness"


def build(root: Path) -> Path:
    """Write the toy's parts under ``root``: ``mllm``, ``text`` and ``concepts``."""
    import torch
    from transformers import AutoTokenizer, Gemma2ForCausalLM, PaliGemmaForConditionalGeneration

    from interp.testing import tiny_mllm_dir

    mllm_dir = tiny_mllm_dir("paligemma", root / "cache")
    mllm = PaliGemmaForConditionalGeneration.from_pretrained(mllm_dir)
    text = Gemma2ForCausalLM(mllm.config.text_config)
    with torch.no_grad():
        text.model.load_state_dict(mllm.model.language_model.state_dict())
        text.lm_head.weight.copy_(mllm.lm_head.weight)
    text.save_pretrained(root / "text")
    AutoTokenizer.from_pretrained(mllm_dir).save_pretrained(root / "text")
    (root / "mllm").symlink_to(mllm_dir, target_is_directory=True)
    concepts = root / "concepts"
    concepts.mkdir()
    rows = [{"sentence": f"the {w} square", "anchor": w} for w in ("bright", "dark", "light", "dim")]
    (concepts / f"{CONCEPT}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _items(split: str, tasks, limit, options):
    """Generated items: a light or a dark image, asked which it is (the answer is the image's)."""
    from PIL import Image

    from interp.items import Item

    n = options["n_per_task"] if limit is None else min(options["n_per_task"], limit)
    out = []
    for i in range(options["start"], options["start"] + n):
        light = (i + options["seed"]) % 2 == 0
        image = Image.new("RGB", (16, 16), (230, 230, 230) if light else (20, 20, 20))
        out.append(Item(f"toy/{split}/{TASK}/{i}", (image,), "Is the image light or dark?", ("light", "dark"),
                        0 if light else 1, task=TASK, source="toy", metadata={"light": light}))
    return out


def _contrast(concept, n, *, seed=0, split="val", start=0):
    from interp.vectors import VisualContrast

    items = _items(split, [TASK], None, {"n_per_task": 2 * n, "seed": seed, "start": start})
    return VisualContrast(concept, tuple(it for it in items if it.answer == 0), tuple(it for it in items if it.answer == 1),
                          "toy light vs dark images")


def register() -> None:
    """What the toy registers: a model source, a corpus source, a benchmark, contrasts, a world."""
    from interp.analysis.worlds import World, register_world
    from interp.concepts import register_corpus_source
    from interp.evaluation.benchmarks import BenchmarkSpec, register_benchmark
    from interp.models.sources import ModelSource, register_model_source
    from interp.vectors.native import ContrastSet, register_contrast_set

    assert ROOT is not None, "build the toy's parts before its plugin loads"
    root = ROOT
    register_model_source(ModelSource(
        "toy", locate=lambda kind: root / kind, kinds=("mllm", "text"), corpus_source="toy",
        hints={CONCEPT: "look at the brightness . "}, benchmark="toy",
    ))
    register_corpus_source("toy", lambda: root / "concepts")
    register_benchmark(BenchmarkSpec(
        "toy", tasks=(TASK,), options={"n_per_task": 8, "seed": 0, "start": 0},
        concept_tasks={CONCEPT: (TASK,)}, generate=_items, generator="tests/toy_organism.py",
    ))
    register_contrast_set("toy", ContrastSet({CONCEPT: ("light images", "dark images")}, _contrast))
    register_world("toy", World(render_text=lambda item: f"a {'light' if item.metadata['light'] else 'dark'} image. "
                                + item.prompt()))


def unregister() -> None:
    """Take every toy entry out of interp's registries again (so other tests see interp as shipped)."""
    from interp.analysis.worlds import WORLDS
    from interp.concepts import CORPUS_SOURCES
    from interp.evaluation.benchmarks.core import BENCHMARKS
    from interp.models.sources import MODEL_SOURCES
    from interp.vectors.native import CONTRAST_SETS

    for registry in (MODEL_SOURCES, CORPUS_SOURCES, BENCHMARKS, CONTRAST_SETS, WORLDS):
        if registry.find("toy") is not None:
            registry.unregister("toy")
