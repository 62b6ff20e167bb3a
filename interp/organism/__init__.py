"""The model organism: a small PaliGemma trained on a fully known world of coloured shapes.

``interp`` ships a tiny but really trained MLLM (``PaliGemmaForConditionalGeneration``: SigLIP tower
+ Gemma 2 language model), its text-only backbone (``Gemma2ForCausalLM``), one sae-lens SAE per
backbone layer and concept corpora in the world's vocabulary, all as package data laid out like hub
checkpoints. See ``interp/organism/ORGANISM.md`` for sizes, training and measured accuracies, and
``scripts/train_organism.py`` to rebuild everything from seeds.

Example:
    >>> from interp import organism
    >>> organism.path("mllm").name
    'mllm'
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
KINDS = ("mllm", "text", "sae", "concepts")
MC_PREFIX = "Answer the multiple choice question by only responding the letter of the correct answer. "
NUMBER_PREFIX = "Answer the question by only responding the number. "
PALIGEMMA_PREFIX = "answer en "


def path(kind: str) -> Path:
    """Directory of one shipped part of the organism: ``mllm``, ``text``, ``sae`` or ``concepts``.

    ``sae`` holds one sae-lens SAE directory per backbone layer: ``sae/layer_{l}``.

    Example:
        >>> (path("sae") / "layer_0").name
        'layer_0'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown organism part {kind!r}: valid kinds are {', '.join(KINDS)}")
    p = DATA_DIR / kind
    if not p.is_dir():
        raise FileNotFoundError(
            f"organism part {kind!r} is missing at {p}: run `python scripts/train_organism.py`"
        )
    return p


def format_prompt(item: dict) -> str:
    """The exact text prompt the organism MLLM was trained on for a CV-Bench-style item.

    It is ``"answer en " + MC_PREFIX + item["prompt"]``; pass it with the image to the processor.

    Example:
        >>> format_prompt({"prompt": "Q? Select from the following choices.\\n(A) x\\n(B) y"})[:20]
        'answer en Answer the'
    """
    if "prompt" not in item:
        raise ValueError("item has no 'prompt' field: expected a CV-Bench-style item dict")
    return PALIGEMMA_PREFIX + MC_PREFIX + item["prompt"]


def format_text_prompt(item: dict) -> str:
    """The text backbone's prompt for an item: the scene's text rendering, a newline, then the
    MLLM prompt (the tokenizer adds ``<bos>``; append ``"\\n"`` before the answer as PaliGemma does).

    Example:
        >>> from interp.organism.scenes import make_item
        >>> format_text_prompt(make_item("test", "Count", 0)).startswith("there")
        True
    """
    from interp.organism.scenes import render_text

    if "scene" not in item:
        raise ValueError("item has no 'scene' field: build it with interp.organism.scenes")
    return render_text(item["scene"]) + "\n" + format_prompt(item)


__all__ = [
    "DATA_DIR",
    "KINDS",
    "MC_PREFIX",
    "NUMBER_PREFIX",
    "PALIGEMMA_PREFIX",
    "format_prompt",
    "format_text_prompt",
    "path",
]
