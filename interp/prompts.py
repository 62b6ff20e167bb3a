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


#: Image placeholders of the supported families: a hint holding one would be read as an image slot.
IMAGE_PLACEHOLDERS = ("<image>", "<|image_pad|>", "<|vision_start|>", "<start_of_image>", "<image_soft_token>",
                      "<fake_token_around_image>")


def check_hint(hint: str, *, template: bool = False, what: str = "the prompting hint") -> str:
    """Refuse a prompting hint before anything runs: not text, an image placeholder in it, or (a
    template, ``template=True``) a format field other than ``{concept}``.

    Example:
        >>> check_hint("Pay attention to the {concept}. ", template=True)
        'Pay attention to the {concept}. '
    """
    import string

    if not isinstance(hint, str) or not hint.strip():
        raise ValueError(f"{what} must be a non-empty string, got {hint!r}")
    placeholders = [p for p in IMAGE_PLACEHOLDERS if p in hint]
    if placeholders:
        raise ValueError(
            f"{what} holds the image placeholder {placeholders[0]!r}: the model would read it as an image slot; "
            "write the hint in words"
        )
    if template:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(hint) if f is not None]
        except ValueError as err:
            raise ValueError(f"{what} is not a valid template ({err}): use {{concept}} for the concept, {{{{ }}}} for braces") from None
        bad = [f for f in fields if f != "concept"]
        if bad:
            shown = ", ".join("{" + f + "}" for f in bad)
            raise ValueError(
                f"{what} has the field(s) {shown}: a template may only name {{concept}} (the concept's name "
                "in words); write other braces as {{ and }}"
            )
        if "concept" not in fields:
            raise ValueError(f"the prompting template must contain '{{concept}}', got {hint!r}")
    return hint


def prompting_prefix(concept: str, template: str = PROMPTING_TEMPLATE) -> str:
    """The prompting baseline's instruction: a hint naming the concept before the paper's prefix.

    The paper compares steering with prompting the model about the concept; this default hint is
    interp's (pass your own ``template``; ``{concept}`` is the taxonomy name in words).

    Example:
        >>> prompting_prefix("spatial_relationship")[:60]
        'Pay attention to the spatial relationship in the image. Answ'
    """
    check_hint(template, template=True, what="the prompting template")
    return template.format(concept=concept.replace("_", " ")) + MC_PREFIX
