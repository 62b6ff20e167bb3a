"""Multiple-choice scoring by option-letter logits at the last prompt position.

The reference evaluation (arXiv 2505.14071) generates up to 20 tokens greedily and parses the
letter; scoring the option letters' logits at the last prompt position reads the same decision
from one prefill per item. The later evaluation issue compares the two on the benchmarks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from interp.models.loaded import MLLM
from interp.steering import Steer, steered_logits

LETTERS = "ABCDEFGHIJ"


def letter_ids(tokenizer: Any, n: int) -> list[int]:
    """Token ids of the answer letters ``A``, ``B``, ... (each must be a single token).

    Example:
        >>> letter_ids(mllm.tokenizer, 2)   # doctest: +SKIP
        [63, 64]
    """
    if not 1 <= n <= len(LETTERS):
        raise ValueError(f"n must be in 1..{len(LETTERS)}, got {n}")
    ids = []
    for letter in LETTERS[:n]:
        tokens = tokenizer.encode(letter, add_special_tokens=False)
        if len(tokens) != 1:
            raise ValueError(f"the answer letter {letter!r} is not a single token for this tokenizer: {tokens}")
        ids.append(tokens[0])
    return ids


def option_probs(
    mllm: MLLM,
    prompts: Sequence[str],
    images: Sequence[Any],
    n_options: Sequence[int],
    steers: Sequence[Steer] = (),
    *,
    batch_size: int = 16,
) -> list[Float[Tensor, " n_options"]]:
    """Probability of each option letter (softmax over the letters) for every item.

    Args:
        mllm: the model.
        prompts: full prompts (e.g. ``interp.organism.format_prompt(item)``).
        images: one image per prompt.
        n_options: number of choices of each item.
        steers: interventions applied to every batch (selectors are resolved per batch).

    Example:
        >>> probs = option_probs(mllm, prompts, images, [4] * len(prompts))   # doctest: +SKIP
    """
    if not len(prompts) == len(images) == len(n_options):
        raise ValueError(
            f"prompts, images and n_options must have one entry per item: got {len(prompts)}, "
            f"{len(images)}, {len(n_options)}"
        )
    ids = letter_ids(mllm.tokenizer, max(n_options))
    out: list[Tensor] = []
    for start in range(0, len(prompts), batch_size):
        sl = slice(start, start + batch_size)
        inputs = mllm.encode(list(prompts[sl]), list(images[sl]))
        logits = steered_logits(mllm, inputs, list(steers), last_only=True).float()
        for row, k in zip(logits, n_options[sl]):
            out.append(torch.softmax(row[ids[:k]], dim=-1))
    return out
