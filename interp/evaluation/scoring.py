"""Multiple-choice scoring: fast (option logits) and faithful (the paper's generate-and-parse).

The reference evaluation of arXiv 2505.14071 generates up to 20 tokens greedily and parses the
answer: ``"(A)"``, a bare letter, or the text of a choice; counting sets (CLEVR) take the first
integer. Answers the parser cannot read count as wrong. That is ``method="generate"`` here.

Scoring the option tokens' logits at the answer position reads the same decision from one
prefill per item, batched, with the output head computed at the last position only
(``logits_to_keep=1``): that is ``method="logits"``, the default, and what the sweep uses. The
two agree when the model answers in format; ``agreement`` measures how often they do.

Example:
    >>> from interp.evaluation import load_benchmark, score            # doctest: +SKIP
    >>> items = load_benchmark("organism", split="test", n_per_task=20)  # doctest: +SKIP
    >>> scores = score(mllm, items)                                    # doctest: +SKIP
    >>> scores["correct"].mean()                                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from interp.evaluation.items import LETTERS, Item
from interp.models.loaded import MLLM
from interp.prompts import prompting_prefix
from interp.steering import Steer, _edit_layers, prompt_masks, steered_generate, validate

Method = Literal["logits", "generate"]

#: Columns of the table ``score`` returns, one row per item.
SCORE_COLUMNS = (
    "item_id", "task", "answer", "pred", "correct", "p_correct", "probs", "text", "parsed", "method",
)


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


def option_token_ids(tokenizer: Any, item: Item) -> list[int]:
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


# -- the reference parser ------------------------------------------------------------------------
_PAREN = re.compile(r"\(([A-J])\)")
_BARE = re.compile(r"^\W*([A-J])(?:\W|$)")
_INT = re.compile(r"-?\d+")


def parse_answer(text: str, choices: Sequence[str], kind: str = "mc") -> int | None:
    """The choice a generated answer names, or None when it cannot be read.

    Multiple choice, in the reference's order: a parenthesised letter ``"(B)"``; a bare letter at
    the start (``"B"``, ``"B."``, ``"B) left"``); the text of exactly one choice (case-insensitive,
    the longest match wins when one choice contains another). Number items: the first integer,
    which must be one of the choices.

    Example:
        >>> parse_answer("(B) right", ["left", "right"])
        1
        >>> parse_answer("b", ["left", "right"]), parse_answer("Right.", ["left", "right"])
        (1, 1)
        >>> parse_answer("There are 3 circles", ["1", "2", "3"], kind="number")
        2
        >>> parse_answer("", ["left", "right"]) is None
        True
    """
    text = text.strip()
    if kind == "number":
        m = _INT.search(text)
        if m is None:
            return None
        value = str(int(m.group()))
        return list(choices).index(value) if value in choices else None
    n = len(choices)
    m = _PAREN.search(text.upper())
    if m and LETTERS.index(m.group(1)) < n:
        return LETTERS.index(m.group(1))
    m = _BARE.match(text.upper())
    if m and LETTERS.index(m.group(1)) < n and (len(text) == 1 or not text[1].isalpha()):
        return LETTERS.index(m.group(1))
    low = text.lower()
    hits = [i for i, c in enumerate(choices) if c and re.search(rf"\b{re.escape(c.lower())}\b", low)]
    # A choice named only inside a longer named choice ("circle" in "red circle") does not count.
    low_choices = [c.lower() for c in choices]
    best = [i for i in hits if not any(j != i and low_choices[i] in low_choices[j] for j in hits)]
    return best[0] if len(best) == 1 else None


# -- batching ------------------------------------------------------------------------------------
def batches(items: Sequence[Item], batch_size: int) -> Iterator[list[Item]]:
    """Consecutive batches of ``items`` (items of one batch may differ in number of images)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    for start in range(0, len(items), batch_size):
        yield list(items[start : start + batch_size])


def encode_items(mllm: MLLM, items: Sequence[Item], prefix: str | None = None) -> dict[str, Tensor]:
    """One left-padded batch of ``items`` in the model's prompt format (``Item.prompt(prefix)``)."""
    return mllm.encode([it.prompt(prefix) for it in items], [list(it.images) for it in items])


def check_items(items: Any) -> list[Item]:
    """``items`` as a list of ``Item`` (a ``Benchmark`` works too); refuses anything else."""
    if isinstance(items, Item):
        items = [items]
    out = list(items)
    if not out:
        raise ValueError("no items to score: got an empty list")
    for i, it in enumerate(out):
        if not isinstance(it, Item):
            raise ValueError(
                f"item {i} is a {type(it).__name__}, expected interp.evaluation.Item (use "
                "load_benchmark, or from_organism for organism item dicts)"
            )
    ids = [it.id for it in out]
    if len(set(ids)) != len(ids):
        dup = next(x for x in ids if ids.count(x) > 1)
        raise ValueError(f"item ids must be unique: {dup!r} appears more than once")
    return out


def last_logits(
    mllm: MLLM, inputs: dict[str, Tensor], steers: Sequence[Steer] = ()
) -> Float[Tensor, "batch vocab"]:
    """Logits at the last prompt position, with the head computed there only.

    ``inputs`` must be left-padded (``MLLM.encode``'s default), so the last position is every
    row's answer position.
    """
    if not bool(inputs["attention_mask"][:, -1].all()):
        raise ValueError("last_logits needs left-padded inputs (MLLM.encode(..., padding_side='left'))")
    steers = validate(mllm, steers)
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


def _row(item: Item, probs: Tensor | None, text: str | None, pred: int | None, method: str) -> dict[str, Any]:
    return {
        "item_id": item.id,
        "task": item.task,
        "answer": item.answer,
        "pred": -1 if pred is None else pred,
        "correct": pred == item.answer,
        "p_correct": float(probs[item.answer]) if probs is not None else float("nan"),
        "probs": json.dumps([round(float(p), 7) for p in probs]) if probs is not None else "",
        "text": text,
        "parsed": pred is not None,
        "method": method,
    }


def _progress(total: int, description: str, enabled: bool) -> Any:
    from interp.activations import progress_iter

    return lambda it: progress_iter(it, total=total, description=description, enabled=enabled)


def score(
    mllm: MLLM,
    items: Iterable[Item],
    steers: Steer | Sequence[Steer] = (),
    *,
    method: Method = "logits",
    prefix: str | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 20,
    progress: bool = False,
) -> Any:
    """Score items, optionally steered; one row per item (a pandas DataFrame).

    Args:
        mllm: the model.
        items: ``Item``s (e.g. a ``Benchmark``).
        steers: interventions applied to every batch (selectors resolved per batch).
        method: ``"logits"`` (option-token logits at the answer position, one prefill) or
            ``"generate"`` (the paper's greedy generation of up to ``max_new_tokens`` tokens,
            steered on the prompt, and its parser).
        prefix: instruction prefix replacing the default (the prompting baseline's hint goes
            here; see ``prompting_prefix``).

    Returns:
        DataFrame with columns ``SCORE_COLUMNS``: ``pred`` is -1 and ``parsed`` False where a
        generated answer could not be read (it counts as wrong); ``probs``/``p_correct`` are
        the softmax over the options (``"logits"`` only).

    Example:
        >>> df = score(mllm, items, interp.add(v, 1, 4.0, "image"))   # doctest: +SKIP
        >>> df["correct"].mean()                                      # doctest: +SKIP
    """
    import pandas as pd

    items = check_items(items)
    steer_list = [steers] if isinstance(steers, Steer) else list(steers)
    if method not in ("logits", "generate"):
        raise ValueError(f"method must be 'logits' or 'generate', got {method!r}")
    rows: list[dict[str, Any]] = []
    wrap = _progress((len(items) + batch_size - 1) // max(batch_size, 1), f"scoring ({method})", progress)
    for batch in wrap(batches(items, batch_size)):
        inputs = encode_items(mllm, batch, prefix)
        if method == "logits":
            ids = [option_token_ids(mllm.tokenizer, it) for it in batch]
            probs = option_distribution(last_logits(mllm, inputs, steer_list), ids)
            for it, p in zip(batch, probs):
                rows.append(_row(it, p, None, int(p.argmax()), "logits"))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gen = steered_generate(mllm, inputs, steer_list, max_new_tokens=max_new_tokens)
            for it, text in zip(batch, gen.texts):
                rows.append(_row(it, None, text, parse_answer(text, it.choices, it.kind), "generate"))
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def agreement(fast: Any, faithful: Any) -> dict[str, float]:
    """How often fast (logits) and faithful (generate) scoring pick the same option.

    Returns the share of items where both predictions agree, the share the parser could not read,
    and both accuracies (unparsed answers are wrong).

    Example:
        >>> agreement(score(mllm, items), score(mllm, items, method="generate"))  # doctest: +SKIP
        {'agreement': 0.98, 'unparsed': 0.0, 'accuracy_logits': 0.9, 'accuracy_generate': 0.9, 'n': 50}
    """
    merged = fast.merge(faithful, on="item_id", suffixes=("_fast", "_gen"))
    if len(merged) != len(fast) or len(merged) != len(faithful):
        raise ValueError("fast and faithful scores must cover the same items")
    return {
        "agreement": float((merged["pred_fast"] == merged["pred_gen"]).mean()),
        "unparsed": float((~merged["parsed_gen"]).mean()),
        "accuracy_logits": float(merged["correct_fast"].mean()),
        "accuracy_generate": float(merged["correct_gen"].mean()),
        "n": len(merged),
    }


def option_probs(
    mllm: MLLM,
    prompts: Sequence[str],
    images: Sequence[Any],
    n_options: Sequence[int],
    steers: Sequence[Steer] = (),
    *,
    batch_size: int = 16,
) -> list[Float[Tensor, " n_options"]]:
    """Probability of each option letter (softmax over the letters) for raw prompts.

    The lower-level form of ``score`` for prompts that are not ``Item``s.

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
        logits = last_logits(mllm, inputs, list(steers))
        for row, k in zip(logits, n_options[sl]):
            out.append(torch.softmax(row[ids[:k]], dim=-1))
    return out


__all__ = [
    "SCORE_COLUMNS",
    "agreement",
    "batches",
    "check_items",
    "encode_items",
    "last_logits",
    "letter_ids",
    "option_distribution",
    "option_probs",
    "option_token_ids",
    "parse_answer",
    "prompting_prefix",
    "score",
]
