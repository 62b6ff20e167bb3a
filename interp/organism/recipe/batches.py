"""Training batches and targets: model inputs with answer-only labels, per-patch labels and the
training-only reference heads that teach both models to look a named object up.

Example:
    >>> from interp.organism.recipe.model import build_tokenizer
    >>> tok = build_tokenizer()
    >>> b = mllm_batch([make_item("train", "Count", 0)], tok, tok.convert_tokens_to_ids("\\n"))
    >>> int((b["labels"] != -100).sum())
    2
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from interp.organism.prompting import format_prompt, format_text_prompt
from interp.organism.recipe.model import (
    BOS,
    EOS,
    IMAGE,
    N_IMAGE_TOKENS,
    PAD,
    build_tokenizer,  # noqa: F401 (the examples)
)
from interp.organism.scenes import (
    COLORS,
    GRID,
    SHAPES,
    SIZES,
    make_item,  # noqa: F401 (the examples)
)


def pixel_values(images: list) -> torch.Tensor:
    """Images -> SigLIP pixel values (rescale to [-1, 1]); equal to the processor's output here.

    Example:
        >>> from PIL import Image
        >>> pixel_values([Image.new("RGB", (64, 64))]).shape
        torch.Size([1, 3, 64, 64])
    """
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2) / 127.5 - 1.0


def patch_targets(items: list[dict]) -> torch.Tensor:
    """Per-patch labels (batch, 16, 5): colour, shape, size (0 = empty), row, column.

    Example:
        >>> patch_targets([make_item("train", "Count", 0)]).shape
        torch.Size([1, 16, 5])
    """
    out = torch.zeros(len(items), N_IMAGE_TOKENS, 5, dtype=torch.long)
    for b, it in enumerate(items):
        for p in range(N_IMAGE_TOKENS):
            out[b, p, 3], out[b, p, 4] = divmod(p, GRID)
        for o in it["scene"].objects:
            p = o.row * GRID + o.col
            out[b, p, 0] = 1 + COLORS.index(o.color)
            out[b, p, 1] = 1 + SHAPES.index(o.shape)
            out[b, p, 2] = 1 + SIZES.index(o.size)
    return out


AUX_SIZES = (len(COLORS) + 1, len(SHAPES) + 1, len(SIZES) + 1, GRID, GRID)


N_REF_SLOTS = 3
MENTION_SIZES = (GRID, GRID, len(COLORS), len(SHAPES))


def _mention_phrases(o) -> list[str]:
    """The ways a question can name object ``o``: ``red circle``, ``the circle``, ``red object``."""
    return [o.name, f"the {o.shape}", f"{o.color} object"]


def reference_targets(
    items: list[dict],
    input_ids: torch.Tensor,
    tokenizer,
    last_pos: torch.Tensor,
    start: int | torch.Tensor = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells, colours and shapes of the objects a question names, as targets for two training-only heads.

    Returns ``(mentions, slots)``:

    - ``mentions`` (n, 6): ``batch, position, row, column, colour, shape`` (colour and shape as
      indices into ``COLORS`` and ``SHAPES``) for the last token of every mention of
      a named object between ``start`` (per row, or one int) and ``last_pos`` (the question and its
      options; a text rendering before ``start`` is skipped: its positions come after the names);
    - ``slots`` (batch, 3, 2): row and column of the named objects in their role order (``refs``),
      to be read at ``last_pos``; -100 where a task names fewer objects.

    Example:
        >>> tok = build_tokenizer()
        >>> it = make_item("train", "Relation", 0)
        >>> b = mllm_batch([it], tok, tok.convert_tokens_to_ids("\\n"))
        >>> last = torch.tensor([b["input_ids"].shape[1] - 3])  # the newline before the answer
        >>> m, s = reference_targets([it], b["input_ids"], tok, last)
        >>> m.shape, s[0, 2].tolist()
        (torch.Size([4, 6]), [-100, -100])
    """
    slots = torch.full((len(items), N_REF_SLOTS, 2), -100, dtype=torch.long)
    mentions: list[list[int]] = []
    starts = torch.as_tensor(start).expand(len(items))
    for b, it in enumerate(items):
        s0 = int(starts[b])
        row = input_ids[b, s0 : int(last_pos[b]) + 1].tolist()
        for k, o in enumerate(it.get("refs", ())):
            slots[b, k, 0], slots[b, k, 1] = o.row, o.col
            for phrase in _mention_phrases(o):
                pid = tokenizer(phrase, add_special_tokens=False)["input_ids"]
                n = len(pid)
                for i in range(len(row) - n + 1):
                    if row[i : i + n] == pid:
                        cs = [COLORS.index(o.color), SHAPES.index(o.shape)]
                        mentions.append([b, s0 + i + n - 1, o.row, o.col, *cs])
    m = (
        torch.tensor(mentions, dtype=torch.long)
        if mentions
        else torch.zeros(0, 6, dtype=torch.long)
    )
    return m, slots


def reference_loss(
    hidden: tuple[torch.Tensor, ...],
    heads: torch.nn.ModuleDict,
    mentions: torch.Tensor,
    slots: torch.Tensor,
    last_pos: torch.Tensor,
    mention_layer: int,
    slot_layer: int,
) -> torch.Tensor:
    """Cross-entropy of the training-only reference heads (see :func:`reference_targets`).

    ``heads["mention"]`` maps ``hidden[mention_layer]`` at each mention to row, column, colour and
    shape logits (``MENTION_SIZES``); ``heads["slots"]`` maps ``hidden[slot_layer]`` at the last
    prompt position to row and column logits of each role slot (N_REF_SLOTS x 2 x GRID).
    """
    loss = hidden[0].new_zeros(())
    if len(mentions):
        logits = heads["mention"](hidden[mention_layer][mentions[:, 0], mentions[:, 1]])
        for k, part in enumerate(logits.split(MENTION_SIZES, dim=-1)):
            loss = loss + F.cross_entropy(part, mentions[:, 2 + k]) / len(MENTION_SIZES)
    h = hidden[slot_layer][torch.arange(len(last_pos)), last_pos]
    logits = heads["slots"](h).view(-1, N_REF_SLOTS * 2, GRID)
    tgt = slots.view(-1, N_REF_SLOTS * 2)
    if (tgt != -100).any():
        loss = loss + F.cross_entropy(logits.reshape(-1, GRID), tgt.reshape(-1), ignore_index=-100)
    return loss


def reference_heads(d_model: int) -> torch.nn.ModuleDict:
    """The two training-only linear heads of :func:`reference_loss`."""
    return torch.nn.ModuleDict(
        {
            "mention": torch.nn.Linear(d_model, sum(MENTION_SIZES)),
            "slots": torch.nn.Linear(d_model, N_REF_SLOTS * 2 * GRID),
        }
    )


def _pad(seqs: list[list[int]], value: int) -> torch.Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


def mllm_batch(items: list[dict], tokenizer, newline_id: int) -> dict[str, torch.Tensor]:
    """Model inputs exactly as the processor builds them, plus answer-only labels.

    Sequence: 16 x ``<image>``, ``<bos>``, prompt, ``\\n`` (token type 0, bidirectional prefix),
    then the answer letter and ``<eos>`` (token type 1). Labels are -100 except on the answer.

    Example:
        >>> tok = build_tokenizer()
        >>> b = mllm_batch([make_item("train", "Count", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int((b["labels"] != -100).sum())
        2
    """
    enc = tokenizer([format_prompt(it) for it in items], add_special_tokens=False)["input_ids"]
    ids, tt, labels = [], [], []
    for it, e in zip(items, enc):
        letter = tokenizer.convert_tokens_to_ids(it["answer"][1])
        prefix = [IMAGE] * N_IMAGE_TOKENS + [BOS, *e, newline_id]
        ids.append([*prefix, letter, EOS])
        tt.append([0] * len(prefix) + [1, 1])
        labels.append([-100] * len(prefix) + [letter, EOS])
    input_ids = _pad(ids, PAD)
    return {
        "input_ids": input_ids,
        "attention_mask": (_pad([[1] * len(s) for s in ids], 0)),
        "token_type_ids": _pad(tt, 1),
        "labels": _pad(labels, -100),
        "pixel_values": pixel_values([it["image"] for it in items]),
    }


def last_prompt_position(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Index of the last prompt token (the ``\\n`` before the answer) in each row of a batch from
    :func:`mllm_batch` (``labels``) or :func:`text_qa_batch` (``answer_mask``).

    Example:
        >>> tok = build_tokenizer()
        >>> b = text_qa_batch([make_item("train", "Depth", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int(last_prompt_position(b)) == b["input_ids"].shape[1] - 3
        True
    """
    answer = batch["answer_mask"] if "answer_mask" in batch else batch["labels"] != -100
    return answer.float().argmax(1) - 1


def text_qa_batch(items: list[dict], tokenizer, newline_id: int) -> dict[str, torch.Tensor]:
    """Text-backbone QA inputs: ``<bos>`` rendering ``\\n`` prompt ``\\n`` letter ``<eos>``.

    ``answer_mask`` marks the answer tokens (letter and eos).

    Example:
        >>> tok = build_tokenizer()
        >>> b = text_qa_batch([make_item("train", "Depth", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int(b["answer_mask"].sum())
        2
    """
    enc = tokenizer([format_text_prompt(it) for it in items], add_special_tokens=False)["input_ids"]
    ids, am = [], []
    for it, e in zip(items, enc):
        letter = tokenizer.convert_tokens_to_ids(it["answer"][1])
        prefix = [BOS, *e, newline_id]
        ids.append([*prefix, letter, EOS])
        am.append([0] * len(prefix) + [1, 1])
    return {
        "input_ids": _pad(ids, PAD),
        "attention_mask": _pad([[1] * len(s) for s in ids], 0),
        "answer_mask": _pad(am, 0).bool(),
    }


def text_lm_batch(texts: list[str], tokenizer) -> dict[str, torch.Tensor]:
    """Plain LM inputs: ``<bos>`` text ``<eos>``, right-padded.

    Example:
        >>> text_lm_batch(["the red circle ."], build_tokenizer())["input_ids"].shape
        torch.Size([1, 6])
    """
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    ids = [[BOS, *e, EOS] for e in enc]
    return {
        "input_ids": _pad(ids, PAD),
        "attention_mask": _pad([[1] * len(s) for s in ids], 0),
    }

