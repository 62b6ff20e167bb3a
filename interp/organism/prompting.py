"""The organisms' text prompts: exactly what the MLLM and its text backbone were trained on.

The prefixes themselves live in :mod:`interp.prompts`.

Example:
    >>> format_prompt({"prompt": "Q?"})
    'answer en Answer the multiple choice question by only responding the letter of the correct answer. Q?'
"""

from __future__ import annotations

from interp.prompts import MC_PREFIX, PALIGEMMA_PREFIX

#: The prompting baseline's hint per concept, in the organisms' own small vocabulary (English words
#: they never saw would be ``<unk>``).
HINTS = {
    "counting": "count the objects in the image . ",
    "spatial_relationship": "the relative positions of the objects in the image . ",
    "attribute": "the color and shape of the object in the image . ",
}


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


__all__ = ["HINTS", "format_prompt", "format_text_prompt"]
