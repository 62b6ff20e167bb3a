"""The model organism: a small PaliGemma trained on a fully known world of coloured shapes.

``interp`` ships a tiny but really trained MLLM (``PaliGemmaForConditionalGeneration``: SigLIP tower
+ Gemma 2 language model), its text-only backbone (``Gemma2ForCausalLM``), one sae-lens SAE per
backbone layer and concept corpora in the world's vocabulary, all as package data laid out like hub
checkpoints. See ``interp/organism/ORGANISM.md`` for sizes, training and measured accuracies, and
``scripts/train_organism.py`` to rebuild everything from seeds. ``MANIFEST.json`` records the
sha256 of every shipped model, SAE and corpus file: loading ``"organism"`` checks that the
part it loads is complete (every file there, at its shipped size), and ``verify()`` checks every
file's hash, so a missing, truncated or altered file is named, not run.

A second organism, ``"organism-llava"`` (:mod:`interp.organism.llava`, card in
``interp/organism/data_llava/CARD.md``), is a LLaVA trained in front of a frozen six-layer version
of the text backbone; it has its own parts and manifest, and the functions here that check files
take its name as ``which=``.

This package is the runtime face: it re-exports where the parts are
(:mod:`~interp.organism.parts`), their manifests (:mod:`~interp.organism.manifest`) and the
prompts (:mod:`~interp.organism.prompting`). ``DATA_DIR`` and ``_CHECKED`` here are the ones those
modules read at each call. The world is :mod:`~interp.organism.scenes` and
:mod:`~interp.organism.corpus`; how the organisms are trained is :mod:`interp.organism.recipe`,
which only the training scripts use.

Example:
    >>> from interp import organism
    >>> organism.path("mllm").name
    'mllm'
"""

from __future__ import annotations

from interp.organism.manifest import (
    _CHECKED as _CHECKED,  # the hash cache the manifest module reads
)
from interp.organism.manifest import MANIFEST_FILE, check, verify, write_manifest
from interp.organism.parts import DATA_DIR, KINDS, NAMES, is_part, locate, owner, part_path, path
from interp.organism.prompting import format_prompt, format_text_prompt
from interp.prompts import MC_PREFIX, NUMBER_PREFIX, PALIGEMMA_PREFIX

__all__ = [
    "DATA_DIR",
    "KINDS",
    "MANIFEST_FILE",
    "MC_PREFIX",
    "NAMES",
    "NUMBER_PREFIX",
    "PALIGEMMA_PREFIX",
    "check",
    "format_prompt",
    "format_text_prompt",
    "is_part",
    "locate",
    "owner",
    "part_path",
    "path",
    "verify",
    "write_manifest",
]
