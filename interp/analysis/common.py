"""Helpers every analysis shares: encoded batches, residual reads, token kinds, positions, CKA.

Analyses take a list of ``interp.items.Item`` (organism item dicts from
``interp.organism.scenes.make_item`` are converted by ``interp.items.as_items``), encode them in
batches with the model's own prompt format, run nnsight traces, and score the answer from the
option logits at the last prompt position with ``interp.answers``, the home scoring shares. Linear CKA follows Kornblith et
al. 2019, "Similarity of Neural Network Representations Revisited".

Example:
    >>> import torch
    >>> x = torch.randn(20, 5)
    >>> round(linear_cka(x, 3.0 * x), 6)
    1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.activations import resolve_layers
from interp.answers import (
    answer_logit_diff,
    answer_stats,
    encode_items,
    option_logits,
    option_token_ids,
)
from interp.items import Item, as_items, batches, check_batch_size, n_batches
from interp.models.traced import TracedModel
from interp.progress import track
from interp.steering import Steer, prompt_masks, validate
from interp.tokens import SELECTOR_NAMES, Selector, describe, last_token_index

#: Group names of token kinds used across the analyses.
TOKEN_KINDS = ("image", "text", "last")
#: The kinds a position table (``position_frame``) gives each real token.
POSITION_KINDS = ("image", "text", "last", "special")


def check_kinds(kinds: str | Sequence[str], allowed: Sequence[str] = SELECTOR_NAMES) -> list[str]:
    """``kinds`` as a non-empty list, each one of ``allowed``; a ValueError names the first that is not.

    Example:
        >>> check_kinds("image")
        ['image']
    """
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if not kinds:
        raise ValueError(f"no token kinds given: kinds must be some of {list(allowed)}")
    for k in kinds:
        if k not in allowed:
            raise ValueError(f"unknown token kind {k!r}: kinds must be some of {list(allowed)}, got {kinds!r}")
    return kinds


def iter_encoded(
    model: TracedModel,
    items: Sequence[Item],
    *,
    batch_size: int = 8,
    images: bool | None = None,
    prompt: Callable[[Item], str] | None = None,
    chat: bool = True,
    progress_bar: bool = False,
    description: str = "items",
) -> Iterator[tuple[list[Item], dict[str, Tensor]]]:
    """``(items, inputs)`` per batch of ``batch_size`` items, on the model's input device.

    Example:
        >>> for chunk, inputs in iter_encoded(mllm, items, batch_size=8):   # doctest: +SKIP
        ...     ...
    """
    items = as_items(items)
    check_batch_size(batch_size)
    chunks = batches(items, batch_size)
    for chunk in track(chunks, total=n_batches(len(items), batch_size), description=description, enabled=progress_bar):
        enc = encode_items(model, chunk, images=images, prompt=prompt, chat=chat)
        yield chunk, {k: v.to(model.input_device) for k, v in enc.items()}


def last_positions(inputs: Mapping[str, Tensor]) -> Int[Tensor, " batch"]:
    """Index of each row's last prompt token (the position that predicts the answer)."""
    return last_token_index(inputs["attention_mask"])


def trace_residuals(
    model: TracedModel,
    inputs: Mapping[str, Tensor],
    layers: Sequence[int],
    *,
    logits: bool = True,
    steers: Sequence[Steer] = (),
    allow_transfer: bool = False,
) -> tuple[dict[int, Float[Tensor, "batch pos d_model"]], Float[Tensor, "batch vocab"] | None]:
    """Residual stream after each of ``layers`` (float32, CPU) and the last position's logits.

    One nnsight trace (``model.trace``, so ``remote`` is honoured); layers are read in
    increasing order. ``steers`` (``interp.steering`` edits) are applied on the way, and a
    layer that is both steered and read is read after the edit.

    Example:
        >>> acts, last_logits = trace_residuals(mllm, inputs, [0, 3])   # doctest: +SKIP
    """
    wanted = {model.check_layer(layer) for layer in layers}
    steers = validate(model, list(steers), allow_transfer=allow_transfer)
    masks = prompt_masks(model, steers, dict(inputs))
    active = [(s, m) for s, m in zip(steers, masks) if not s.is_noop()]
    edited = {s.layer for s, _ in active}
    order = sorted(wanted | edited)
    rows = torch.arange(inputs["input_ids"].shape[0])
    last = last_positions(inputs)
    saved = []
    with torch.no_grad(), model.trace(dict(inputs)):
        for layer in order:
            envoy = model.layers[layer]
            h = envoy.output
            if layer in edited:
                for s, m in active:
                    if s.layer == layer:
                        h = s.edit(h, m)
                envoy.output = h
            if layer in wanted:
                saved.append(h.save())
        if logits:
            out = model.nn.output.logits[rows, last].save()
    acts = {layer: torch.as_tensor(h).float().cpu() for layer, h in zip(sorted(wanted), saved)}
    return acts, (torch.as_tensor(out).float().cpu() if logits else None)


def named_selectors(groups: Sequence[str] | Mapping[str, Selector], *, what: str = "position groups") -> dict[str, Selector]:
    """``{name: selector}`` from selector names or a mapping (``Positions`` allowed; fixed masks
    are refused because analyses resolve selectors batch by batch).

    Example:
        >>> named_selectors(["image", "last"])
        {'image': 'image', 'last': 'last'}
    """
    if isinstance(groups, Mapping):
        named = {str(k): v for k, v in groups.items()}
    else:
        groups = [groups] if isinstance(groups, str) else list(groups)
        named = {}
        for g in groups:
            if not isinstance(g, str):
                raise ValueError(
                    f"{what}: {describe(g)} has no name; pass a {{name: selector}} mapping for "
                    "selectors that are not names"
                )
            named[g] = g
    if not named:
        raise ValueError(f"no {what} given: expected names like 'image', 'text', 'last'")
    for name, sel in named.items():
        if isinstance(sel, Tensor):
            raise ValueError(
                f"{what}: {name!r} is a fixed mask; give Positions or a selector name, which are "
                "resolved per batch"
            )
        if isinstance(sel, str) and sel not in SELECTOR_NAMES:
            raise ValueError(f"{what}: unknown token selector {sel!r}: expected one of {list(SELECTOR_NAMES)} or Positions")
    return named


def direction_at(
    model: TracedModel, vector: Any, layer: int, *, what: str = "vector", allow_transfer: bool = False
) -> Float[Tensor, " d_model"]:
    """The ``(d_model,)`` direction of ``vector`` at ``layer`` (a ``SteeringVector`` or a tensor),
    checked against ``model`` (a ``SteeringVector``'s provenance too, unless ``allow_transfer``),
    as float32 on the CPU.

    Example:
        >>> v = direction_at(mllm, counting_vector, 2)   # doctest: +SKIP
    """
    model.check_layer(layer)
    if hasattr(vector, "at") and not isinstance(vector, Tensor):
        if hasattr(vector, "check_compatible"):
            vector.check_compatible(model, allow_transfer=allow_transfer)
        vector = vector.at(layer)
    return model.check_vector(vector, what=what).detach().float().cpu()


def vector_layers(model: TracedModel, vector: Any, layers: int | Iterable[int] | None) -> list[int]:
    """The layers to analyse: ``layers`` if given, else the vector's layers (a ``SteeringVector``)
    or every layer (a tensor); each checked against ``model``."""
    if layers is None and hasattr(vector, "layers") and not isinstance(vector, Tensor):
        layers = list(vector.layers)
    return resolve_layers(model, layers)


def kind_masks(
    model: TracedModel, inputs: Mapping[str, Tensor], kinds: Sequence[str] = TOKEN_KINDS
) -> dict[str, Tensor]:
    """``{kind: (batch, pos) bool mask}`` for selector names (``"image"``, ``"text"``, ``"last"``,
    ...); a kind may select nothing in some rows."""
    return {k: model.mask(k, dict(inputs), allow_empty=True) for k in kinds}  # type: ignore[attr-defined]


def image_grid(mllm: TracedModel) -> tuple[int, int]:
    """``(rows, cols)`` of an image's patch grid, from the vision config (image_size // patch_size).

    Image tokens come in row-major order (a ViT patch embedding flattened row by row).

    Example:
        >>> image_grid(load_mllm("organism"))   # doctest: +SKIP
        (4, 4)
    """
    vision = getattr(mllm.module.config, "vision_config", None)
    size = getattr(vision, "image_size", None)
    patch = getattr(vision, "patch_size", None)
    if not size or not patch:
        raise ValueError(f"{mllm.name} has no vision_config with image_size and patch_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    if isinstance(patch, (list, tuple)):
        patch = patch[0]
    g = int(size) // int(patch)
    return g, g


def position_frame(model: TracedModel, inputs: Mapping[str, Tensor], items: Sequence[Item]) -> pd.DataFrame:
    """One row per real token of a batch: who it is and where it sits.

    Columns: ``row`` (batch row), ``pos`` (index in the padded batch), ``item`` (item id),
    ``position`` (index among the row's real tokens), ``token_id``, ``token``, ``kind``
    (``"image"``, ``"text"``, ``"last"`` or ``"special"``), ``patch`` (index among the row's image
    tokens, else -1), ``patch_row``/``patch_col`` (its cell in the patch grid, else -1).
    """
    ids = inputs["input_ids"]
    masks = kind_masks(model, inputs, ("image", "text", "last"))
    real = inputs["attention_mask"].bool()
    grid = image_grid(model) if "image" in masks and bool(masks["image"].any()) else (0, 0)
    tok = model.tokenizer  # type: ignore[attr-defined]
    rows = []
    for b in range(ids.shape[0]):
        n_image = int(masks["image"][b].sum())
        per_image = grid[0] * grid[1]
        gridded = per_image > 0 and n_image % per_image == 0
        position, patch = 0, 0
        for p in range(ids.shape[1]):
            if not real[b, p]:
                continue
            kind = "special"
            for k in ("image", "last", "text"):
                if masks[k][b, p]:
                    kind = k
                    break
            pr = pc = pi = -1
            if kind == "image":
                pi = patch
                if gridded:
                    pr, pc = divmod(patch % per_image, grid[1])
                patch += 1
            tid = int(ids[b, p])
            rows.append((b, p, items[b].id, position, tid, tok.convert_ids_to_tokens(tid), kind, pi, pr, pc))
            position += 1
    cols = ["row", "pos", "item", "position", "token_id", "token", "kind", "patch", "patch_row", "patch_col"]
    return pd.DataFrame(rows, columns=cols)


def cosine(a: Float[Tensor, "*shape d"], b: Float[Tensor, "*shape d"]) -> Float[Tensor, "*shape"]:
    """Cosine similarity along the last dimension (0 where either side is zero), in float64.

    Example:
        >>> float(cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])))
        0.7071067811865475
    """
    a, b = a.double(), b.double()
    num = (a * b).sum(-1)
    den = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(num))


def linear_cka(x: Float[Tensor, "n d1"], y: Float[Tensor, "n d2"]) -> float:
    """Linear CKA (Kornblith et al. 2019) between two sets of ``n`` paired representations.

    CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred ``X``, ``Y``; 1 for a set
    with itself, invariant to rotations and isotropic scaling of either side.

    Example:
        >>> x = torch.randn(30, 4)
        >>> q, _ = torch.linalg.qr(torch.randn(4, 4))
        >>> round(linear_cka(x, x @ q), 6)
        1.0
    """
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"CKA takes two (n, d) matrices, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"CKA compares paired rows: got {x.shape[0]} and {y.shape[0]} rows (they must be equal)"
        )
    if x.shape[0] < 2:
        raise ValueError(f"CKA needs at least 2 rows, got {x.shape[0]}")
    xc = x.double() - x.double().mean(0)
    yc = y.double() - y.double().mean(0)
    # Gram form: <K_x, K_y>_F = ||Y^T X||_F^2, which is cheaper when n < d.
    kx, ky = xc @ xc.T, yc @ yc.T
    den = kx.norm() * ky.norm()
    if float(den) == 0.0:
        raise ValueError("CKA is undefined for a set whose rows are all equal (zero variance)")
    return float((kx * ky).sum() / den)


__all__ = [
    "POSITION_KINDS",
    "TOKEN_KINDS",
    "answer_logit_diff",
    "answer_stats",
    "as_items",
    "batches",
    "check_batch_size",
    "check_kinds",
    "cosine",
    "direction_at",
    "encode_items",
    "image_grid",
    "iter_encoded",
    "kind_masks",
    "last_positions",
    "linear_cka",
    "named_selectors",
    "option_logits",
    "option_token_ids",
    "position_frame",
    "trace_residuals",
    "vector_layers",
]
