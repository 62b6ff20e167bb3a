"""Items in, the answer out: encode a batch of items and read the answer from the option logits.

The one home of answer scoring, below both ``interp.evaluation`` (scoring, the sweep) and
``interp.analysis`` (patching, ablation, attribution, CAST): items are encoded in the model's own
prompt format (``encode_items``), the head is read at the last prompt position
(``last_logits``), and each option's logit is the logit of its token there
(``option_token_ids``: the option letters for multiple choice, as in the reference evaluation of
arXiv 2505.14071; the numbers' tokens for counting items). ``answer_logit_diff`` is the right
option's logit minus the mean of the others, the linear quantity patching recovers.

Example:
    >>> inputs = encode_items(mllm, items[:4])                         # doctest: +SKIP
    >>> logits = last_logits(mllm, inputs)                            # doctest: +SKIP
    >>> answer_logit_diff(logits, items[:4], mllm.tokenizer)           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from jaxtyping import Float
from torch import Tensor

from interp.boundary import check_encoded, load_images
from interp.items import Item, as_items
from interp.models.traced import MLLM, TracedModel
from interp.prompts import LETTERS
from interp.steering import Steer, _edit_layers, prompt_masks, validate

if TYPE_CHECKING:
    from interp.types import Tokenizer


def encode_items(
    model: TracedModel,
    items: Sequence[Item],
    prefix: str | None = None,
    *,
    images: bool | None = None,
    prompt: Callable[[Item], str] | None = None,
    chat: bool = True,
) -> dict[str, Tensor]:
    """Encode items as one left-padded batch in the model's prompt format.

    Args:
        model: an ``MLLM`` (with or without the images) or a ``TextBackbone``.
        items: the items (organism item dicts are converted).
        prefix: the instruction prefix replacing the default (``Item.prompt(prefix)``: the
            prompting baseline puts its concept hint here).
        images: pass each item's images (True; an MLLM only) or run the prompts as text (False);
            None (the default) is the model's own way: an MLLM sees the images, a text model reads
            the prompts.
        prompt: item -> prompt text, replacing ``item.prompt(prefix)`` (not with ``prefix``).
        chat: apply the MLLM's prompt format (False sends the prompt text as it is).

    Example:
        >>> inputs = encode_items(mllm, items[:4])   # doctest: +SKIP
    """
    items = as_items(items)
    if prompt is not None and prefix is not None:
        raise ValueError("pass either prefix or prompt to encode_items, not both")
    texts = [prompt(it) if prompt is not None else it.prompt(prefix) for it in items]
    if isinstance(model, MLLM):
        if images is None or images:
            load_images(items)
            inputs = model.encode(texts, [list(it.images) for it in items], chat=chat)
        else:
            inputs = model.encode(texts, chat=chat)
    elif images:
        raise ValueError(f"{model.name} is a text-only model: it takes no images (images=True); leave images unset")
    else:
        inputs = model.encode(texts, padding_side="left")  # type: ignore[attr-defined]
    check_encoded(model, inputs, [it.id for it in items])
    return inputs


def letter_ids(tokenizer: Tokenizer, n: int) -> list[int]:
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


def option_token_ids(tokenizer: Tokenizer, item: Item) -> list[int]:
    """The token whose logit stands for each option of ``item`` at the answer position.

    Multiple-choice items use the option letters; number items use their choices' tokens, which
    must each be one token and distinct (``"10"`` is two tokens for most tokenizers: score such
    items with ``method="generate"``).

    Example:
        >>> option_token_ids(mllm.tokenizer, item)   # doctest: +SKIP
        [63, 64, 65, 66]
    """
    if item.kind == "mc":
        return letter_ids(tokenizer, item.n_choices)
    ids = []
    for choice in item.choices:
        tokens = tokenizer.encode(choice, add_special_tokens=False)
        if len(tokens) != 1:
            raise ValueError(
                f"item {item.id!r}: the number choice {choice!r} is {len(tokens)} tokens for this "
                "tokenizer, so its logit cannot be read at one position: score number items with "
                "method='generate' (the paper's first-integer parser)"
            )
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"item {item.id!r}: two number choices share a token; use method='generate'")
    return ids


def last_logits(
    mllm: MLLM, inputs: dict[str, Tensor], steers: Sequence[Steer] = (), *, allow_transfer: bool = False
) -> Float[Tensor, "batch vocab"]:
    """Logits at the last prompt position, with the head computed there only.

    ``inputs`` must be left-padded (``MLLM.encode``'s default), so the last position is every
    row's answer position. ``allow_transfer`` takes steers of a vector built on another model
    (``interp.steering.validate``).
    """
    if not bool(inputs["attention_mask"][:, -1].all()):
        raise ValueError("last_logits needs left-padded inputs (MLLM.encode(..., padding_side='left'))")
    steers = validate(mllm, steers, allow_transfer=allow_transfer)
    masks = prompt_masks(mllm, steers, inputs)
    with torch.no_grad(), mllm.trace(inputs, logits_to_keep=1, use_cache=False):
        _edit_layers(mllm, steers, masks)
        logits = mllm.nn.output.logits.save()
    return torch.as_tensor(logits)[:, -1].float()


def option_distribution(
    logits: Float[Tensor, "batch vocab"], option_ids: Sequence[Sequence[int]]
) -> list[Float[Tensor, " n_options"]]:
    """Softmax over each row's option tokens."""
    return [torch.softmax(row[list(ids)], dim=-1) for row, ids in zip(logits, option_ids)]


def option_logits(
    logits: Float[Tensor, "batch vocab"], items: Sequence[Item], tokenizer: Tokenizer
) -> list[Float[Tensor, " n_options"]]:
    """Each item's option logits from the last position's logits (one row per item)."""
    if logits.dim() != 2 or logits.shape[0] != len(items):
        raise ValueError(
            f"logits must be (batch, vocab) with one row per item: got {tuple(logits.shape)} "
            f"for {len(items)} items"
        )
    return [row[option_token_ids(tokenizer, it)] for row, it in zip(logits, items)]


def answer_logit_diff(
    logits: Float[Tensor, "batch vocab"], items: Sequence[Item], tokenizer: Tokenizer
) -> Float[Tensor, " batch"]:
    """The right option's logit minus the mean logit of the other options, per item.

    Linear in the logits, so patching's recovered fraction is a ratio of linear quantities
    (Heimersheim & Nanda 2024 recommend logit differences over probabilities).

    Example:
        >>> answer_logit_diff(torch.tensor([[0.0, 2.0, 1.0]]), [item_b_right], tok)   # doctest: +SKIP
    """
    out = []
    for opts, it in zip(option_logits(logits, items, tokenizer), items):
        others = torch.cat([opts[: it.answer], opts[it.answer + 1 :]])
        out.append(opts[it.answer] - others.mean())
    return torch.stack(out)


def answer_stats(
    logits: Float[Tensor, "batch vocab"], items: Sequence[Item], tokenizer: Tokenizer
) -> dict[str, list[float]]:
    """Per item: ``logit_diff``, ``correct`` (argmax option is right) and ``p_answer`` (softmax
    over the options), as plain lists ready for a DataFrame."""
    diff = answer_logit_diff(logits, items, tokenizer)
    correct, prob = [], []
    for opts, it in zip(option_logits(logits, items, tokenizer), items):
        correct.append(float(int(opts.argmax()) == it.answer))
        prob.append(float(torch.softmax(opts.double(), dim=-1)[it.answer]))
    return {"logit_diff": diff.tolist(), "correct": correct, "p_answer": prob}


__all__ = [
    "answer_logit_diff",
    "answer_stats",
    "encode_items",
    "last_logits",
    "letter_ids",
    "option_distribution",
    "option_logits",
    "option_token_ids",
]
