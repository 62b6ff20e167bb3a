"""The fast sweep on a remote model: one nnsight session per batch of items.

On NDIF (``remote=True``) or nnsight's local dry run of it (``remote="local"``) the weights are
on the server, so the local shared base pass (``BasePass``, which calls the decoder layers of the
local module) cannot run. This path does the same work on the server instead: for a batch of
items, one ``model.session()`` holds one trace per prompt (the items' prompt, and each
prompting-baseline prefix). In a trace, the forward keeps the residual stream at the swept
layers and the inputs of the layers above; then, still inside the trace, every cell edits the
kept state of its layer and calls the layers above ad hoc (nnsight's ``envoy(...)`` inside a
trace), then the final norm and the head at the answer position. Only the logits of the batch's
option tokens come back: ``(1 + cells, batch, options)`` floats per trace. So a batch costs one
request whatever the grid (``cells_per_request`` splits a grid too large for one request into
several sessions); the naive path sends one per cell.

The answers equal the local fast path's to float rounding (the local path runs the last layer's
MLP on the answer position only, a forward hook the server's model does not get); the tests hold
them to the same predictions and probabilities within 1e-5.

Example:
    >>> mllm = interp.load_mllm("organism", remote="local")         # doctest: +SKIP
    >>> run_cells(mllm, items, cells, store, split="train")          # doctest: +SKIP
    >>> mllm.requests                                                # doctest: +SKIP
    2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nnsight
import torch
from torch import Tensor

from interp.answers import encode_items, option_distribution, option_token_ids
from interp.evaluation.store import ResultStore
from interp.items import Item
from interp.models.base import call_layer
from interp.models.traced import MLLM

if TYPE_CHECKING:
    from interp.evaluation.cells import Cell

#: Cells one request holds by default (a session of one batch; beyond it, more sessions).
CELLS_PER_REQUEST = 256


@dataclass
class _Unit:
    """One trace of a session: a prompt's inputs and the steered cells run on them."""

    inputs: dict[str, Tensor]
    cells: list[Cell]


def check_cells_per_request(cells_per_request: int | None) -> int:
    """The per-request cell budget, checked (None: ``CELLS_PER_REQUEST``).

    Example:
        >>> check_cells_per_request(None)
        256
    """
    if cells_per_request is None:
        return CELLS_PER_REQUEST
    if isinstance(cells_per_request, bool) or not isinstance(cells_per_request, int) or cells_per_request < 1:
        raise ValueError(f"cells_per_request must be a positive int, got {cells_per_request!r}")
    return cells_per_request


def pack_sessions(units: Sequence[_Unit], cells_per_request: int) -> list[list[_Unit]]:
    """Split traces into sessions of at most ``cells_per_request`` steered cells each.

    A trace with more cells than the budget is cut into several traces (each repeats the
    forward of its prompt); traces are packed in order.
    """
    pieces: list[_Unit] = []
    for u in units:
        if len(u.cells) <= cells_per_request:
            pieces.append(u)
            continue
        for start in range(0, len(u.cells), cells_per_request):
            pieces.append(_Unit(u.inputs, u.cells[start : start + cells_per_request]))
    sessions: list[list[_Unit]] = []
    load = 0
    for p in pieces:
        if sessions and load + len(p.cells) <= cells_per_request:
            sessions[-1].append(p)
            load += len(p.cells)
        else:
            sessions.append([p])
            load = len(p.cells)
    return sessions


def n_requests(n_cells: int, n_prompts: int, cells_per_request: int) -> int:
    """Requests one batch sends: its steered cells over the budget (at least one per batch).

    Example:
        >>> n_requests(80, 2, 256)
        1
        >>> n_requests(600, 1, 256)
        3
    """
    return max(1, math.ceil(n_cells / cells_per_request)) if n_prompts else 0


def _cell_plan(mllm: MLLM, unit: _Unit) -> tuple[list[tuple[int, int, float, int]], Tensor, Tensor]:
    """The cells of a trace as (layer, direction index, alpha, mask index), with the distinct
    directions and masks stacked (sent once however many cells share them)."""
    directions: list[Tensor] = []
    dir_index: dict[int, int] = {}
    masks: list[Tensor] = []
    mask_index: dict[str, int] = {}
    plan = []
    for c in unit.cells:
        d = c.direction
        if d is None:
            raise ValueError(f"{c.describe()} has no direction to add")
        if id(d) not in dir_index:
            dir_index[id(d)] = len(directions)
            directions.append(d.detach().cpu())
        if c.selector not in mask_index:
            mask_index[c.selector] = len(masks)
            masks.append(mllm.mask(c.selector, unit.inputs))
        plan.append((c.layer, dir_index[id(d)], float(c.alpha), mask_index[c.selector]))
    d_model = mllm.d_model
    stacked_dirs = torch.stack(directions) if directions else torch.zeros(0, d_model)
    stacked_masks = torch.stack(masks) if masks else torch.zeros(0, *unit.inputs["input_ids"].shape, dtype=torch.bool)
    return plan, stacked_dirs, stacked_masks


def _option_logits_in_trace(
    layers: Any, norm: Any, head: Any, root: Any, n_layers: int, softcap: float | None,
    plan: Sequence[tuple[int, int, float, int]], directions: Tensor, masks: Tensor, options: Tensor,
) -> Any:
    """Inside an open trace: the unsteered and every planned cell's option logits.

    Returns a ``(1 + cells, batch, options)`` float32 tensor (row 0 unsteered). The forward's
    layer outputs and inputs are read in order, then each cell edits its layer's output and
    runs the layers above, the final norm and the head ad hoc at the answer position.
    """
    swept = sorted({p[0] for p in plan})
    first = swept[0] if swept else n_layers
    outs = {}
    ins = {}
    for i in range(first, n_layers):
        if i > first:
            ins[i] = layers[i].inputs
        if i in swept:
            outs[i] = layers[i].output
    base = root.output.logits[:, -1].float()
    rows = [base[:, options]]
    with torch.no_grad():
        for layer, d, alpha, m in plan:
            h = outs[layer]
            v = directions[d].to(device=h.device, dtype=h.dtype)
            mask = masks[m].to(h.device).unsqueeze(-1)
            h = torch.where(mask, h + alpha * v, h)
            for i in range(layer + 1, n_layers):
                h = call_layer(layers[i], h, *ins[i])
            logits = head(norm(h[:, -1]))
            if softcap:
                logits = torch.tanh(logits / softcap) * softcap
            rows.append(logits.float()[:, options.to(logits.device)])
    return torch.stack([r.to(rows[0].device) for r in rows])


def remote_option_logits(
    mllm: MLLM, units: Sequence[_Unit], options: Sequence[int]
) -> list[Tensor]:
    """Run the traces of one session (one request) and return, per trace, the
    ``(1 + cells, batch, options)`` option logits (row 0: unsteered).

    Example:
        >>> remote_option_logits(mllm, [_Unit(inputs, cells)], [63, 64, 65])   # doctest: +SKIP
    """
    layers = mllm.layers
    norm = mllm.envoy_of(mllm.final_norm)
    head = mllm.envoy_of(mllm.lm_head)
    root = mllm.nn
    n_layers = mllm.n_layers
    cap = getattr(mllm.text_config, "final_logit_softcapping", None)
    softcap = float(cap) if cap else None
    option_t = torch.tensor(list(options), dtype=torch.long)
    plans = [_cell_plan(mllm, u) for u in units]
    inputs = [mllm.check_inputs(u.inputs) for u in units]
    # Only the list of option logits comes back (nnsight returns what is saved). No comment
    # lines inside the ``with`` blocks: they shift nnsight's line mapping on the remote path.
    # The body names the nnsight model, not ``mllm``: what the body names travels with the
    # request, and ``mllm`` would carry its tokenizer and processor along.
    nn = mllm.nn
    with torch.no_grad(), mllm.session():
        saved = []
        for x, (plan, directions, masks) in zip(inputs, plans):
            with nn.trace(x, logits_to_keep=1, use_cache=False):
                got = _option_logits_in_trace(layers, norm, head, root, n_layers, softcap, plan, directions, masks, option_t)
                saved.append(got)
        saved = nnsight.save(saved)
    return [torch.as_tensor(s).cpu() for s in saved]


def run_batch_remote(
    mllm: MLLM, batch: list[Item], cells: list[Cell], store: ResultStore, split: str,
    cells_per_request: int | None = None,
) -> None:
    """Score a batch's cells on a remote model in one request (one session) and store the rows.

    Cells scored by generation (``faithful``) each send their own request, as locally.

    Example:
        >>> run_batch_remote(mllm, items[:16], cells, store, "train")   # doctest: +SKIP
    """
    from interp.evaluation.cells import _check_logits, _generated_rows, _rows

    budget = check_cells_per_request(cells_per_request)
    option_ids = [option_token_ids(mllm.tokenizer, it) for it in batch]
    options = sorted({i for ids in option_ids for i in ids})
    # each item's options as columns of the (batch, options) logits that come back
    column = {tok: k for k, tok in enumerate(options)}
    local_ids = [[column[i] for i in ids] for ids in option_ids]
    by_prefix: dict[str | None, list[Cell]] = {}
    for c in cells:
        by_prefix.setdefault(c.prefix if c.condition == "prompt" else None, []).append(c)
    rows: list[dict[str, Any]] = []
    units: list[_Unit] = []
    plain: dict[int, list[Cell]] = {}  # trace index -> cells answered by its unsteered row
    for prefix, group in by_prefix.items():
        inputs = encode_items(mllm, batch, prefix)
        for c in (c for c in group if c.scoring == "generate"):
            rows += _generated_rows(mllm, c, batch, inputs, split)
        group = [c for c in group if c.scoring != "generate"]
        if not group:
            continue
        steered = [c for c in group if c.condition in ("steered", "random") and not c.is_noop]
        plain[len(units)] = [c for c in group if c not in steered]
        units.append(_Unit(inputs, steered))
    for session in pack_sessions(units, budget):
        results = remote_option_logits(mllm, session, options)
        for unit, logits in zip(session, results):
            index = next(k for k, u in enumerate(units) if u.inputs is unit.inputs)
            answered = [(c, logits[0]) for c in plain.pop(index, [])]
            answered += [(c, logits[1 + k]) for k, c in enumerate(unit.cells)]
            for c, lg in answered:
                _check_logits(mllm, c, lg, local_ids)
                rows += _rows(c, batch, option_distribution(lg, local_ids), split)
    store.add_rows(rows)


__all__ = [
    "CELLS_PER_REQUEST",
    "check_cells_per_request",
    "n_requests",
    "pack_sessions",
    "remote_option_logits",
    "run_batch_remote",
]
