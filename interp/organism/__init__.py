"""The model organism: a small PaliGemma trained on a fully known world of coloured shapes.

``interp`` ships a tiny but really trained MLLM (``PaliGemmaForConditionalGeneration``: SigLIP tower
+ Gemma 2 language model), its text-only backbone (``Gemma2ForCausalLM``), one sae-lens SAE per
backbone layer and concept corpora in the world's vocabulary, all as package data laid out like hub
checkpoints. See ``interp/organism/ORGANISM.md`` for sizes, training and measured accuracies, and
``scripts/train_organism.py`` to rebuild everything from seeds. ``MANIFEST.json`` records the
sha256 of every shipped model, SAE and corpus file: loading ``"organism"`` checks that the
part it loads is complete (every file there, at its shipped size), and ``verify()`` checks every
file's hash, so a missing, truncated or altered file is named, not run.

A second organism, ``"organism-llava"`` (card in ``interp/organism/data_llava/CARD.md``, recipe in
:mod:`interp.organism.recipe.llava`), is a LLaVA trained in front of a frozen six-layer version of
the text backbone; it has its own parts and manifest, and the functions here that check files
take its name as ``which=``.

The organisms are a plugin of interp (:mod:`interp.organism.plugin`, declared as the entry point
``organism`` of group ``interp.plugins``): they register their model names, SAEs, corpora,
benchmark, visual contrasts and prompting hints into the core's registries, and nothing outside
this package imports it. This package is the runtime face: where the parts are
(:mod:`~interp.organism.parts`), their manifests (:mod:`~interp.organism.manifest`) and the
prompts (:mod:`~interp.organism.prompting`). The world is :mod:`~interp.organism.scenes` and
:mod:`~interp.organism.corpus`; how the organisms are trained is :mod:`interp.organism.recipe`,
which only the training scripts use.

Example:
    >>> from interp import organism
    >>> organism.path("mllm").name
    'mllm'
"""

from __future__ import annotations

from interp.organism.manifest import MANIFEST_FILE, check, verify, write_manifest
from interp.organism.parts import DATA_DIR, DATA_DIRS, KINDS, NAMES, locate, path
from interp.organism.prompting import format_prompt, format_text_prompt

__all__ = [
    "DATA_DIR",
    "DATA_DIRS",
    "KINDS",
    "MANIFEST_FILE",
    "NAMES",
    "check",
    "format_prompt",
    "format_text_prompt",
    "locate",
    "path",
    "verify",
    "write_manifest",
]
