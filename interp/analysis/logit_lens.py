"""Logit lens: read every layer's residual stream through the model's own output head.

nostalgebraist 2020 ("interpreting GPT: the logit lens") decodes intermediate activations with the
final norm and unembedding, as if the model stopped at that layer. ``mllm.unembed`` is that head
(final norm, lm_head, soft-capping), so at the last layer the lens equals the model's logits. On an
MLLM the lens can be pointed at image tokens: does the patch with a red circle "say" red?

- ``logit_lens``: top-k tokens per position and layer (image and text tokens);
- ``word_ranks``: rank and probability of chosen words per position and layer (joined with what
  lies under each patch, e.g. ``interp.organism.inside.patch_object_frame`` on organism items, they
  say whether a patch "says" its object's colour).

The head runs on local weights after the trace, so a remote model needs its head here.

Example:
    >>> top = logit_lens(mllm, items[:2], layers=[3], top_k=3)   # doctest: +SKIP
    >>> ranks = word_ranks(mllm, items, ["red", "green", "blue", "yellow"])   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.common import (
    POSITION_KINDS,
    TOKEN_KINDS,
    check_kinds,
    iter_encoded,
    position_frame,
    trace_residuals,
    vector_layers,
)
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM

#: Tokens unembedded at once (bounds the memory of a large vocabulary).
_CHUNK = 64


def _lens_logits(mllm: MLLM, h: Float[Tensor, "n d_model"]) -> Float[Tensor, "n vocab"]:
    out = []
    with torch.no_grad():
        for start in range(0, h.shape[0], _CHUNK):
            x = h[start : start + _CHUNK].to(device=mllm.device, dtype=mllm.dtype)
            out.append(mllm.unembed(x).float().cpu())
    if not out:
        return torch.zeros(0, 0)
    return torch.cat(out)


def _selected(
    mllm: MLLM, items: Sequence[Item], layers: int | Iterable[int] | None, kinds: Sequence[str],
    batch_size: int, progress: bool, description: str,
) -> Iterable[tuple[pd.DataFrame, dict[int, Tensor]]]:
    """Per batch: the selected positions' table and ``{layer: (n_selected, d_model)}``."""
    items = as_items(items)
    kinds = check_kinds(kinds, POSITION_KINDS)
    check_batch_size(batch_size)
    layer_list = vector_layers(mllm, None, layers)
    for chunk, inputs in iter_encoded(
        mllm, items, batch_size=batch_size, progress_bar=progress, description=description
    ):
        acts, _ = trace_residuals(mllm, inputs, layer_list, logits=False)
        pos = position_frame(mllm, inputs, chunk)
        pos = pos[pos.kind.isin(kinds)].reset_index(drop=True)
        rows = torch.tensor(pos.row.tolist(), dtype=torch.long)
        cols = torch.tensor(pos.pos.tolist(), dtype=torch.long)
        yield pos, {layer: h[rows, cols] for layer, h in acts.items()}


_POSITION_COLS = ["item", "position", "token", "kind", "patch", "patch_row", "patch_col"]


def _per_position(
    mllm: MLLM, items: Sequence[Item], layers: int | Iterable[int] | None, kinds: Sequence[str],
    batch_size: int, progress: bool, description: str, columns: Sequence[str],
    read: Callable[[Tensor], tuple[int, dict[str, Any]]],
) -> pd.DataFrame:
    """A lens's table: per selected position and layer, ``k`` rows of what ``read`` finds.

    ``read(states)`` takes a layer's ``(n_selected, d_model)`` states and returns ``k`` and
    ``{column: values}`` (``n_selected * k`` values, position by position, or one for all);
    the rows are the position columns, ``layer``, then those columns (``columns``, in order:
    the empty table's header).
    """
    frames = []
    for pos, states in _selected(mllm, items, layers, kinds, batch_size, progress, description):
        if pos.empty:
            continue
        base = pos[_POSITION_COLS]
        for layer, h in states.items():
            k, values = read(h)
            frame = base.loc[base.index.repeat(k)].reset_index(drop=True)
            frame["layer"] = layer
            for column, value in values.items():
                frame[column] = value
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=[*_POSITION_COLS, "layer", *columns]
    )


def logit_lens(
    mllm: MLLM,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    kinds: Sequence[str] = TOKEN_KINDS,
    top_k: int = 5,
    batch_size: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """Top-``k`` tokens of the logit lens at every selected position and layer.

    Returns:
        One row per (item, position, layer, rank): ``item``, ``position`` (index among the
        row's real tokens), ``token`` (the input token there), ``kind``, ``patch``,
        ``patch_row``, ``patch_col`` (-1 off the image), ``layer``, ``rank`` (1 = top),
        ``pred_id``, ``pred_token``, ``prob`` (softmax over the vocabulary), ``logit``.

    Example:
        >>> logit_lens(mllm, items[:1], layers=[3], kinds=["image"], top_k=1)   # doctest: +SKIP
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    tok = mllm.tokenizer

    def top_tokens(h: Tensor) -> tuple[int, dict[str, Any]]:
        logits = _lens_logits(mllm, h)
        k = min(top_k, logits.shape[-1])
        probs = torch.softmax(logits, dim=-1)
        top = logits.topk(k, dim=-1)
        ids = top.indices
        return k, {
            "rank": list(range(1, k + 1)) * h.shape[0],
            "pred_id": ids.flatten().tolist(),
            "pred_token": tok.convert_ids_to_tokens(ids.flatten().tolist()),
            "prob": probs.gather(1, ids).flatten().tolist(),
            "logit": top.values.flatten().tolist(),
        }

    return _per_position(mllm, items, layers, kinds, batch_size, progress, "logit lens",
                         ["rank", "pred_id", "pred_token", "prob", "logit"], top_tokens)


def word_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    """The token id of each word: its first token (tokenized without special tokens).

    Example:
        >>> word_token_ids(mllm.tokenizer, ["red", "circle"])   # doctest: +SKIP
        [84, 45]
    """
    words = [words] if isinstance(words, str) else list(words)
    if not words:
        raise ValueError("no words given")
    ids = []
    for w in words:
        if not isinstance(w, str) or not w.strip():
            raise ValueError(f"words must be non-empty strings, got {w!r}")
        t = tokenizer.encode(w, add_special_tokens=False)
        if not t:
            raise ValueError(f"the word {w!r} gives no token")
        ids.append(int(t[0]))
    return ids


def word_ranks(
    mllm: MLLM,
    items: Sequence[Item],
    words: Sequence[str],
    *,
    layers: int | Iterable[int] | None = None,
    kinds: Sequence[str] = ("image",),
    batch_size: int = 8,
    progress: bool = False,
) -> pd.DataFrame:
    """Rank and probability of each of ``words`` under the logit lens, per position and layer.

    A word is tracked by its first token (``word_token_ids``). Join with
    ``patch_object_frame`` to ask whether each patch ranks its own object's words high.

    Returns:
        One row per (item, position, layer, word): the position columns of ``logit_lens``,
        ``layer``, ``word``, ``token_id``, ``rank`` (1 = top of the vocabulary), ``prob``,
        ``logit``, ``vocab`` (vocabulary size).

    Example:
        >>> word_ranks(mllm, items, ["red", "blue"], layers=[0])   # doctest: +SKIP
    """
    ids = word_token_ids(mllm.tokenizer, words)
    words = [words] if isinstance(words, str) else list(words)
    idx = torch.tensor(ids)

    def ranks(h: Tensor) -> tuple[int, dict[str, Any]]:
        logits = _lens_logits(mllm, h)
        picked = logits[:, idx]
        rank = (logits.unsqueeze(1) > picked.unsqueeze(-1)).sum(-1) + 1
        probs = torch.softmax(logits, dim=-1)[:, idx]
        return len(words), {
            "word": words * h.shape[0],
            "token_id": ids * h.shape[0],
            "rank": rank.flatten().tolist(),
            "prob": probs.flatten().tolist(),
            "logit": picked.flatten().tolist(),
            "vocab": logits.shape[-1],
        }

    return _per_position(mllm, items, layers, kinds, batch_size, progress, "word ranks",
                         ["word", "token_id", "rank", "prob", "logit", "vocab"], ranks)


def logit_lens_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The most frequent top-1 token per (layer, kind) of a ``logit_lens`` table. No model is run.

    Columns: ``layer``, ``kind``, ``n`` (top-1 rows), ``top_token`` (the most frequent
    ``pred_token``) and ``share`` (its fraction of the rows).

    Example:
        >>> logit_lens_summary(logit_lens(mllm, items, layers=[0, 1]))   # doctest: +SKIP
    """
    top = table[table["rank"] == 1]
    return top.groupby(["layer", "kind"], sort=True)["pred_token"].agg(
        n="size", top_token=lambda s: s.value_counts().index[0], share=lambda s: s.value_counts(normalize=True).iloc[0]
    ).reset_index()


__all__ = ["logit_lens", "logit_lens_summary", "word_ranks", "word_token_ids"]
