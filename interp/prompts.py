"""The evaluation protocol's constants: instruction prefixes, answer letters, the prompting baseline.

Everything that writes or reads a prompt (benchmarks, scoring, the organism, the demo, the CLI and
the training scripts) takes these from here, so the protocol is stated once.

The prefixes follow the reference evaluation of arXiv 2505.14071: multiple-choice items get
``MC_PREFIX`` + the CV-Bench prompt; counting items answered with a number (CLEVR) get
``NUMBER_PREFIX`` + the question. PaliGemma's task prefix ``"answer en "`` is added by its model
adapter (``MLLM.encode``); ``PALIGEMMA_PREFIX`` is the same string for code that writes a
PaliGemma-style prompt by hand (the organism's text renderings).

Which concept is evaluated on which task is each benchmark's own pairing
(``interp.evaluation.benchmarks.concept_tasks``); a model's hints in its own words come with its
model source (``interp.models.sources.prompting_hints``).

Example:
    >>> from interp.prompts import MC_PREFIX, prompting_prefix
    >>> prompting_prefix("counting").endswith(MC_PREFIX)
    True
"""

from __future__ import annotations

#: The reference instruction for multiple-choice items (arXiv 2505.14071's evaluation code).
MC_PREFIX = "Answer the multiple choice question by only responding the letter of the correct answer. "
#: The reference instruction for counting items answered with a number (CLEVR counting).
NUMBER_PREFIX = "Answer the question by only responding the number. "
#: PaliGemma's task prefix for question answering.
PALIGEMMA_PREFIX = "answer en "
#: Option letters: option ``i`` of a multiple-choice item is ``LETTERS[i]``.
LETTERS = "ABCDEFGHIJ"

#: The prompting baseline's default hint; ``{concept}`` is the taxonomy name in words.
PROMPTING_TEMPLATE = "Pay attention to the {concept} in the image. "


def prompting_prefix(concept: str, template: str = PROMPTING_TEMPLATE) -> str:
    """The prompting baseline's instruction: a hint naming the concept before the paper's prefix.

    The paper compares steering with prompting the model about the concept; this default hint is
    interp's (pass your own ``template``; ``{concept}`` is the taxonomy name in words).

    Example:
        >>> prompting_prefix("spatial_relationship")[:60]
        'Pay attention to the spatial relationship in the image. Answ'
    """
    if "{concept}" not in template:
        raise ValueError(f"the prompting template must contain '{{concept}}', got {template!r}")
    return template.format(concept=concept.replace("_", " ")) + MC_PREFIX
