"""Token selectors: which positions of a batch an intervention touches.

A selector turns a batch's ``input_ids`` and ``attention_mask`` into a boolean mask over
``(batch, pos)``. The named ones follow arXiv 2505.14071:

- ``"image"``: the image tokens (``input_ids == image_token_id``);
- ``"text"``: real tokens that are neither image tokens, nor special tokens, nor the last
  prompt token (the paper leaves the position that predicts the answer alone);
- ``"both"``: image or text;
- ``"last"``: the last real token of each row;
- ``"all"``: every real (non-padding) token.

Besides names, a selector may be a ``Positions`` (indices into each row's real tokens,
negative from the end, so the same positions work with left and right padding) or a boolean
tensor of the batch's shape. Masks are computed from the attention mask, never from an
assumed padding side, so left padding, right padding and rows with different numbers of image
tokens all come out right.

Example:
    >>> import torch
    >>> ids = torch.tensor([[0, 7, 7, 1, 5, 6]])     # pad, image, image, bos, text, text
    >>> am = torch.tensor([[0, 1, 1, 1, 1, 1]])
    >>> select("text", ids, am, image_token_id=7, special_ids={0, 1}).int().tolist()
    [[0, 0, 0, 0, 1, 0]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.args import as_int

SelectorName = Literal["image", "text", "both", "last", "all"]
SELECTOR_NAMES: tuple[str, ...] = ("image", "text", "both", "last", "all")


@dataclass(frozen=True)
class Positions:
    """Positions within each row's real tokens (padding excluded); negative counts from the end.

    ``Positions([0, -1])`` selects the first and the last real token of every row;
    ``Positions([[3], [4, 5]])`` gives each row its own list.

    Example:
        >>> Positions([-1])
        Positions(indices=(-1,))
    """

    indices: tuple[int, ...] | tuple[tuple[int, ...], ...]

    def __init__(self, indices: Iterable[int] | Iterable[Iterable[int]] | Tensor):
        expected = "a list of ints (or a 1-D integer tensor), or one list of ints per row"
        if hasattr(indices, "tolist"):  # a tensor or numpy array
            indices = indices.tolist()
        if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
            raise ValueError(f"Positions takes {expected}, got {indices!r}")
        items: list[Any] = [i.tolist() if hasattr(i, "tolist") else i for i in indices]
        flat = [not isinstance(i, Iterable) for i in items]
        if items and all(flat):
            object.__setattr__(self, "indices", tuple(as_int(i, "a position") for i in items))
        elif not any(flat) and not any(isinstance(i, (str, bytes)) for i in items):
            rows = tuple(tuple(as_int(j, "a position") for j in row) for row in items)
            object.__setattr__(self, "indices", rows)
        else:
            raise ValueError(f"Positions takes {expected}, got {indices!r}")

    @property
    def per_row(self) -> bool:
        return bool(self.indices) and isinstance(self.indices[0], tuple)


Selector = Union[str, Positions, Tensor]  # noqa: UP007  (a runtime alias, py3.10)


def last_token_index(attention_mask: Int[Tensor, "batch pos"]) -> Int[Tensor, " batch"]:
    """Index of the last real token of each row (works for left and right padding)."""
    pos = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return torch.where(attention_mask.bool(), pos, -1).max(dim=1).values


def select(
    selector: Selector,
    input_ids: Int[Tensor, "batch pos"],
    attention_mask: Int[Tensor, "batch pos"] | None = None,
    *,
    image_token_id: int | None,
    special_ids: Iterable[int] = (),
    allow_empty: bool = False,
) -> Bool[Tensor, "batch pos"]:
    """Boolean mask of the positions ``selector`` picks in a batch.

    Args:
        selector: a name from ``SELECTOR_NAMES``, a ``Positions`` or a boolean mask.
        input_ids: the batch's token ids.
        attention_mask: 1 for real tokens, 0 for padding (all ones if ``None``).
        image_token_id: the family's image token id (``None`` for a text-only model).
        special_ids: ids that are never text (BOS, EOS, PAD, chat markers, image delimiters).
        allow_empty: if False, a row where the selector picks nothing is an error.

    Returns:
        A ``(batch, pos)`` boolean tensor on ``input_ids``'s device.

    Example:
        >>> ids = torch.tensor([[7, 7, 1, 5, 6]])
        >>> select("image", ids, image_token_id=7).int().tolist()
        [[1, 1, 0, 0, 0]]
    """
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (batch, pos), got shape {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has "
            f"{tuple(input_ids.shape)}"
        )
    real = attention_mask.bool()
    mask = _raw_mask(selector, input_ids, real, image_token_id, set(special_ids))
    if not allow_empty:
        empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            raise ValueError(
                f"selector {describe(selector)} selects no token in row(s) {empty} of the batch"
                + _empty_hint(selector, image_token_id)
            )
    return mask


def describe(selector: Selector) -> str:
    """A short human-readable name for a selector (used in errors and metadata)."""
    if isinstance(selector, str):
        return repr(selector)
    if isinstance(selector, Positions):
        return f"Positions({list(selector.indices)})"
    return f"mask{tuple(selector.shape)}"


def _empty_hint(selector: Selector, image_token_id: int | None) -> str:
    if not isinstance(selector, str):
        return ""
    if selector in ("image", "both") and image_token_id is not None:
        return f": no image tokens (id {image_token_id}) there; is it a text-only prompt?"
    if selector == "image":
        return ": this model has no image token (text-only backbone)"
    if selector == "text":
        return ": no text token besides special tokens and the last prompt token"
    return ""


def _raw_mask(
    selector: Selector,
    input_ids: Tensor,
    real: Tensor,
    image_token_id: int | None,
    special_ids: set[int],
) -> Tensor:
    if isinstance(selector, Tensor):
        if selector.dtype != torch.bool:
            raise ValueError(f"a mask selector must be a bool tensor, got dtype {selector.dtype}")
        if selector.shape != input_ids.shape:
            raise ValueError(
                f"mask selector has shape {tuple(selector.shape)} but the batch is "
                f"{tuple(input_ids.shape)}"
            )
        return selector.to(input_ids.device) & real
    if isinstance(selector, Positions):
        return _positions_mask(selector, real)
    if not isinstance(selector, str) or selector not in SELECTOR_NAMES:
        raise ValueError(
            f"unknown token selector {selector!r}: expected one of {list(SELECTOR_NAMES)}, "
            "a Positions or a bool (batch, pos) tensor"
        )
    if image_token_id is None:
        image = torch.zeros_like(real)
    else:
        image = (input_ids == image_token_id) & real
    if selector == "image":
        return image
    if selector == "all":
        return real.clone()
    last = torch.zeros_like(real)
    last[torch.arange(real.shape[0], device=real.device), last_token_index(real.long())] = True
    last &= real
    if selector == "last":
        return last
    special = _isin(input_ids, special_ids)
    text = real & ~image & ~special & ~last
    if selector == "text":
        return text
    return text | image  # "both"


def _isin(input_ids: Tensor, ids: set[int]) -> Tensor:
    if not ids:
        return torch.zeros_like(input_ids, dtype=torch.bool)
    return torch.isin(input_ids, torch.tensor(sorted(ids), device=input_ids.device))


def _positions_mask(selector: Positions, real: Tensor) -> Tensor:
    batch = real.shape[0]
    rows: Sequence[tuple[int, ...]]
    if selector.per_row:
        rows = selector.indices  # type: ignore[assignment]
        if len(rows) != batch:
            raise ValueError(f"Positions gives {len(rows)} rows of indices for a batch of {batch}")
    else:
        rows = [selector.indices] * batch  # type: ignore[list-item]
    mask = torch.zeros_like(real)
    for b, idx in enumerate(rows):
        where = real[b].nonzero().flatten()
        n = where.numel()
        for i in idx:
            if not -n <= i < n:
                raise ValueError(f"position {i} is out of range for row {b}, which has {n} tokens")
            mask[b, where[i]] = True
    return mask


def selects_generated(selector: Selector) -> bool:
    """Whether a selector also covers tokens produced during generation (every-step steering).

    Generated tokens are text: ``"text"``, ``"both"``, ``"last"`` and ``"all"`` follow them;
    ``"image"`` and explicit positions or masks refer to the prompt only.
    """
    return isinstance(selector, str) and selector in ("text", "both", "last", "all")


#: Named selectors whose tokens never include the answer position (the last real token): ``text``
#: and ``both`` exclude it by definition (``interp.tokens.select``) and the prompt always ends in
#: text, so an image token is never last.
OFF_ANSWER_SELECTORS = ("image", "text", "both")


def dead_cell(n_layers: int, layer: int, selector: str) -> bool:
    """Whether a (layer, selector) cell cannot change the answer, so the sweep skips it.

    Scoring reads the logits at the last position only, and steering is prefill-only, so an edit
    at the output of the LAST decoder layer reaches the logits only through that position: the
    final norm and the output head act on each position alone. A selector that never includes the
    answer position (``OFF_ANSWER_SELECTORS``) therefore gives exactly the unsteered answer at the
    last layer. At any lower layer the edit reaches the answer through attention, so it is live.

    Example:
        >>> dead_cell(4, 3, "image"), dead_cell(4, 2, "image"), dead_cell(4, 3, "last")
        (True, False, False)
    """
    return layer == n_layers - 1 and selector in OFF_ANSWER_SELECTORS
