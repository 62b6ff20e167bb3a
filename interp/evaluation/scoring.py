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
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
from jaxtyping import Float
from torch import Tensor

from interp.answers import (
    encode_items,
    last_logits,
    letter_ids,
    option_distribution,
    option_token_ids,
)
from interp.boundary import check_prompts
from interp.items import Item, ItemsLike, as_items, batches, n_batches
from interp.models.traced import MLLM
from interp.progress import track
from interp.prompts import LETTERS, check_hint
from interp.steering import Steer, steered_generate, validate
from interp.types import DataFrame, ImageLike

Method = Literal["logits", "generate"]

#: Columns of the table ``score`` returns, one row per item.
SCORE_COLUMNS = (
    "item_id", "task", "answer", "pred", "correct", "p_correct", "probs", "text", "parsed", "method",
)


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


def check_items(items: ItemsLike) -> list[Item]:
    """``items`` as a list of ``Item`` with unique ids (``interp.items.as_items``'s rule: organism
    item dicts are converted), named "items to score" in errors.

    Example:
        >>> check_items([Item("0", (), "Is it red?", ("yes", "no"), 0)])[0].id
        '0'
    """
    return as_items(items, what="items to score", unique_ids=True)


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
    allow_transfer: bool = False,
) -> DataFrame:
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
        allow_transfer: take steers of a ``SteeringVector`` built on another model than ``mllm``
            and its text backbone (a deliberate transfer experiment; ``interp.boundary``).

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
    steer_list = validate(mllm, steers, allow_transfer=allow_transfer)
    if method not in ("logits", "generate"):
        raise ValueError(f"method must be 'logits' or 'generate', got {method!r}")
    if prefix is not None:
        check_hint(prefix, what="prefix")
    check_prompts(mllm, items, [prefix])
    rows: list[dict[str, Any]] = []
    chunks = batches(items, batch_size)
    for batch in track(chunks, total=n_batches(len(items), batch_size), description=f"scoring ({method})", enabled=progress):
        inputs = encode_items(mllm, batch, prefix)
        if method == "logits":
            ids = [option_token_ids(mllm.tokenizer, it) for it in batch]
            probs = option_distribution(last_logits(mllm, inputs, steer_list, allow_transfer=allow_transfer), ids)
            for it, p in zip(batch, probs):
                rows.append(_row(it, p, None, int(p.argmax()), "logits"))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gen = steered_generate(mllm, inputs, steer_list, max_new_tokens=max_new_tokens,
                                       allow_transfer=allow_transfer)
            for it, text in zip(batch, gen.texts):
                rows.append(_row(it, None, text, parse_answer(text, it.choices, it.kind), "generate"))
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def agreement(fast: DataFrame, faithful: DataFrame) -> dict[str, float]:
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
    images: Sequence[ImageLike | Sequence[ImageLike]],
    n_options: Sequence[int],
    steers: Sequence[Steer] = (),
    *,
    batch_size: int = 16,
    allow_transfer: bool = False,
) -> list[Float[Tensor, " n_options"]]:
    """Probability of each option letter (softmax over the letters) for raw prompts.

    The lower-level form of ``score`` for prompts that are not ``Item``s (``allow_transfer`` as
    there).

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
        logits = last_logits(mllm, inputs, list(steers), allow_transfer=allow_transfer)
        for row, k in zip(logits, n_options[sl]):
            out.append(torch.softmax(row[ids[:k]], dim=-1))
    return out


__all__ = [
    "SCORE_COLUMNS",
    "agreement",
    "check_items",
    "option_probs",
    "parse_answer",
    "score",
]
