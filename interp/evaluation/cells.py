"""The sweep's execution: cells, the shared base pass, and scoring cells over items into a store.

A ``Cell`` is one scored condition of a sweep (unsteered, a vector at a layer x strength x
selector, the prompting baseline or a random direction). ``run_cells`` scores cells on items and
writes every (item, cell) row to a ``ResultStore`` as soon as its batch is done.

Speed comes from sharing the grid's work (the answers equal those of scoring every cell on its
own; a test holds them to it): per batch of items, the vision tower and the decoder run once
("base pass", ``BasePass``) keeping the residual stream at every swept layer and the inputs each
layer above receives; a cell at layer ``l`` then edits the kept state and runs only the layers
above ``l``, the last layer's MLP and the output head at the answer position only; strength-0
cells reuse the base pass. ``naive=True`` scores each cell with its own full steered forward
instead (the reference, and the path for remote models).

Example:
    >>> cell = Cell("unsteered", tasks=("Count",))                          # doctest: +SKIP
    >>> run_cells(mllm, items, [_keyed(cell, mllm.fingerprint().store_key(mllm.name))], store, split="test")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor

from interp.activations import residual_fn
from interp.answers import encode_items, last_logits, option_distribution, option_token_ids
from interp.dtypes import edit_too_large, overflow_advice
from interp.evaluation.scoring import parse_answer
from interp.evaluation.store import ResultStore, cell_key
from interp.items import Item
from interp.models.base import call_layer
from interp.models.traced import MLLM
from interp.steering import Steer, add, steered_generate

Condition = Literal["unsteered", "steered", "prompt", "random"]


# -- cells ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Cell:
    """One scored condition of a sweep.

    Attributes:
        condition: ``"unsteered"``, ``"steered"`` (a vector at a cell), ``"prompt"`` (the
            prompting baseline) or ``"random"`` (a random direction of the vector's norm).
        vector: the vector's name in the sweep ("" for unsteered).
        layer, selector, strength, alpha: the cell (strength as given, relative or absolute;
            ``alpha`` the absolute multiplier of the direction).
        direction: the ``(d_model,)`` direction added (steered and random cells).
        seed: the random direction's seed (-1 otherwise).
        prefix: the instruction prefix (prompting baseline), None for the default.
        tasks: the tasks whose items this cell scores.
    """

    condition: Condition
    vector: str = ""
    method: str = ""
    concept: str = ""
    layer: int = -1
    selector: str = ""
    strength: float = 0.0
    alpha: float = 0.0
    direction: Tensor | None = None
    seed: int = -1
    prefix: str | None = None
    tasks: tuple[str, ...] = ()
    model: str = ""
    scoring: str = "logits"
    key: str = field(default="", compare=False)

    @property
    def is_noop(self) -> bool:
        return self.condition in ("steered", "random") and self.alpha == 0.0

    def steer(self) -> Steer:
        assert self.direction is not None
        return add(self.direction, self.layer, self.alpha, self.selector)

    def describe(self) -> str:
        """The cell for messages: condition, vector, layer, strength (and alpha), selector."""
        if self.condition == "unsteered":
            return "the unsteered cell"
        if self.condition == "prompt":
            return f"the prompting baseline for {self.concept!r}"
        seed = f", random direction seed {self.seed}" if self.condition == "random" else ""
        return (
            f"{self.condition} cell (vector {self.vector!r}, layer {self.layer}, strength "
            f"{self.strength:g} (alpha={self.alpha:.3g}), selector {self.selector!r}{seed})"
        )

    def spec(self) -> dict[str, Any]:
        """The cell's fields as the store records them."""
        return {
            "vector": self.vector, "method": self.method, "concept": self.concept,
            "condition": self.condition, "layer": self.layer, "selector": self.selector,
            "strength": self.strength, "alpha": self.alpha, "seed": self.seed, "prefix": self.prefix,
            "scoring": self.scoring, "model": self.model,
        }


def _tensor_digest(t: Tensor) -> str:
    return hashlib.sha256(t.detach().to(torch.float32).cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _keyed(cell: Cell, model: str) -> Cell:
    cell = replace(cell, model=model)
    spec = cell.spec()
    spec["direction"] = _tensor_digest(cell.direction) if cell.direction is not None else None
    # A no-op cell answers exactly like the unsteered model, but keeps its own rows so the grid
    # stays complete; its key still names its (layer, strength, selector).
    return replace(cell, key=cell_key(spec))


def random_direction(like: Tensor, seed: int) -> Tensor:
    """A uniformly random direction with the norm of ``like`` (Gaussian, normalised), by seed.

    Example:
        >>> v = torch.ones(4)
        >>> float(random_direction(v, 0).norm())
        2.0
    """
    g = torch.Generator().manual_seed(int(seed))
    r = torch.randn(like.shape[0], generator=g, dtype=torch.float64)
    return (r / r.norm() * float(like.float().norm())).to(like.dtype)  # the norm in float32 for a half-precision vector


# -- the shared base pass ------------------------------------------------------------------------
class BasePass:
    """One batch's shared work: the unsteered logits, the residual stream at the swept layers and
    what each layer above receives, so a cell runs only the layers above its own.

    Example:
        >>> bp = BasePass(mllm, inputs, layers=[1, 2])        # doctest: +SKIP
        >>> logits = bp.steered(add(v, 1, 3.0, "image"))      # doctest: +SKIP
    """

    def __init__(self, mllm: MLLM, inputs: dict[str, Tensor], layers: Sequence[int]):
        if mllm.remote:
            raise ValueError(
                f"the shared base pass calls the decoder layers of local weights, but {mllm.name} is remote "
                f"(remote={mllm.remote!r}): run_cells and sweep score a remote model through "
                "interp.evaluation.remote (one request per batch)"
            )
        if not bool(inputs["attention_mask"][:, -1].all()):
            raise ValueError("BasePass needs left-padded inputs (MLLM.encode's default)")
        self.mllm = mllm
        self.inputs = inputs
        self.layers = sorted({mllm.check_layer(x) for x in layers})
        n = mllm.n_layers
        first = self.layers[0] if self.layers else n
        saved_out: dict[int, Any] = {}
        saved_in: dict[int, Any] = {}
        with torch.no_grad(), mllm.trace(inputs, logits_to_keep=1, use_cache=False):
            for i in range(first, n):
                if i > first:
                    saved_in[i] = mllm.layers[i].inputs.save()
                if i in self.layers:
                    saved_out[i] = mllm.layers[i].output.save()
            logits = mllm.nn.output.logits.save()
        self.outputs = {i: torch.as_tensor(v) for i, v in saved_out.items()}
        self.layer_inputs = saved_in
        self.unsteered = torch.as_tensor(logits)[:, -1].float()
        self._masks: dict[str, Tensor] = {}

    def mask(self, selector: str) -> Tensor:
        if selector not in self._masks:
            self._masks[selector] = self.mllm.mask(selector, self.inputs)
        return self._masks[selector]

    def run_from(self, layer: int, h: Tensor) -> Tensor:
        """Answer-position logits when the output of ``layer`` is ``h``.

        The last decoder layer's MLP runs at the answer position only: its attention needs every
        position's keys and values, but nothing after it reads any position but the last. (Its
        residual add then broadcasts the one MLP row over the positions; only the last row is
        read.)
        """
        return self._run_layers(layer, h, lambda i: self.layer_inputs[i])

    def _run_layers(self, layer: int, h: Tensor, inputs_of: Callable[[int], Any]) -> Tensor:
        """``run_from`` with each layer's other inputs given by ``inputs_of(i)`` (args, kwargs)."""
        layers = self.mllm.torch_layers
        last = self.mllm.n_layers - 1
        with torch.no_grad():
            for i in range(layer + 1, last + 1):
                with _mlp_at_last_position(layers[i]) if i == last else _nothing():
                    h = call_layer(layers[i], h, *inputs_of(i))
            return self.mllm.unembed(h[:, -1]).float()

    def steered(self, steer: Steer) -> Tensor:
        """Answer-position logits with one ``add`` steer at a swept layer."""
        if steer.is_noop():
            return self.unsteered
        if steer.layer not in self.outputs:
            raise ValueError(f"layer {steer.layer} was not kept by this base pass (kept: {self.layers})")
        if not isinstance(steer.tokens, str):
            raise ValueError("the sweep takes named selectors only (image, text, both, last, all)")
        h = steer.edit(self.outputs[steer.layer], self.mask(steer.tokens))
        return self.run_from(steer.layer, h)

    def steered_stacked(self, steers: Sequence[Steer]) -> list[Tensor]:
        """Answer-position logits of several ``add`` steers at one layer in one forward.

        The edited states of the cells are stacked along the batch dimension (cell-major: the
        batch's rows for the first steer, then the second's, ...) and the layers above run once
        on the stack; every other input of those layers (attention masks, position embeddings)
        is repeated to match. Returns one ``(batch, vocab)`` logits tensor per steer, in order.
        Equal to ``steered`` on each steer up to the float rounding of a larger matmul (the
        tests hold it to the same predictions and probabilities within 1e-5).

        Example:
            >>> a, b = bp.steered_stacked([add(v, 1, 2.0, "image"), add(v, 1, 4.0, "text")])  # doctest: +SKIP
        """
        if not steers:
            return []
        layer = steers[0].layer
        if any(s.layer != layer for s in steers):
            raise ValueError(f"stacked steers must share one layer, got layers {sorted({s.layer for s in steers})}")
        if len(steers) == 1 or any(s.is_noop() for s in steers):
            return [self.steered(s) for s in steers]
        if layer not in self.outputs:
            raise ValueError(f"layer {layer} was not kept by this base pass (kept: {self.layers})")
        if any(not isinstance(s.tokens, str) for s in steers):
            raise ValueError("the sweep takes named selectors only (image, text, both, last, all)")
        base = self.outputs[layer]
        rows, k = base.shape[0], len(steers)
        memo: dict[int, Tensor] = {}  # a mask shared by every layer is repeated once

        def others(i: int) -> Any:
            args, kwargs = self.layer_inputs[i]
            kwargs = {key: v for key, v in kwargs.items() if key != "hidden_states"}
            return (*args[:1], *_repeat_rows(tuple(args[1:]), rows, k, memo)), _repeat_rows(kwargs, rows, k, memo)

        try:
            repeated = {i: others(i) for i in range(layer + 1, self.mllm.n_layers)}
        except _UnknownLayout:
            return [self.steered(s) for s in steers]
        stack = torch.cat([s.edit(base, self.mask(str(s.tokens))) for s in steers], dim=0)
        logits = self._run_layers(layer, stack, lambda i: repeated[i])
        return list(logits.split(rows, dim=0))


class _UnknownLayout(Exception):
    """A layer input whose batch dimension cannot be told apart: stack nothing, run one at a time."""


def _repeat_rows(x: Any, rows: int, k: int, memo: dict[int, Tensor]) -> Any:
    """``x`` (a layer's args/kwargs) with every batch-shaped tensor repeated ``k`` times along
    its batch dimension (dim 0), cell-major as ``torch.cat`` stacks the edited states.

    A tensor whose first dimension is 1 broadcasts over any batch and is kept; so is every
    tensor when the batch has one row, and 0/1-d tensors (cache positions). A tensor of 2 or
    more dimensions whose first is neither 1 nor ``rows`` has a layout this does not know:
    ``_UnknownLayout`` (the caller then runs the cells one at a time).
    """
    if isinstance(x, Tensor):
        if x.dim() < 2 or rows == 1 or x.shape[0] == 1:
            return x
        if x.shape[0] != rows:
            raise _UnknownLayout(tuple(x.shape))
        if id(x) not in memo:
            memo[id(x)] = x.repeat(k, *([1] * (x.dim() - 1)))
        return memo[id(x)]
    if isinstance(x, tuple):
        return tuple(_repeat_rows(v, rows, k, memo) for v in x)
    if isinstance(x, list):
        return [_repeat_rows(v, rows, k, memo) for v in x]
    if isinstance(x, dict):
        return {key: _repeat_rows(v, rows, k, memo) for key, v in x.items()}
    return x


@contextlib.contextmanager
def _mlp_at_last_position(layer: torch.nn.Module) -> Iterator[None]:
    """Within the block, ``layer.mlp`` sees only the last position (a hook removed on exit)."""
    mlp = getattr(layer, "mlp", None)
    if not isinstance(mlp, torch.nn.Module):
        yield
        return

    def last_only(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return (args[0][:, -1:], *args[1:])

    handle = mlp.register_forward_pre_hook(last_only)
    try:
        yield
    finally:
        handle.remove()


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


# -- running cells over items --------------------------------------------------------------------
def _group_by_task(items: Sequence[Item]) -> dict[str, list[Item]]:
    groups: dict[str, list[Item]] = {}
    for it in items:
        groups.setdefault(it.task, []).append(it)
    return groups


def _rows(cell: Cell, items: Sequence[Item], probs: Sequence[Tensor], split: str) -> list[dict[str, Any]]:
    rows = []
    for it, p in zip(items, probs):
        pred = int(p.argmax())
        rows.append({
            "cell": cell.key, "item_id": it.id, "task": it.task, "split": split, "answer": it.answer,
            "pred": pred, "correct": pred == it.answer, "p_correct": float(p[it.answer]),
            "probs": json.dumps([round(float(x), 7) for x in p]),
        })
    return rows


def _check_cell_size(mllm: MLLM, cell: Cell) -> None:
    """Refuse a cell whose edit cannot be computed in the model's dtype, before anything runs."""
    if cell.condition not in ("steered", "random") or cell.is_noop or cell.direction is None:
        return
    dtype = mllm.dtype
    reason = edit_too_large(dtype, abs(cell.alpha) * cell.direction.double(), "|alpha * v|")
    if reason is not None:
        raise ValueError(
            f"{cell.describe()}: {reason}, or every item would be scored on NaN logits; "
            f"{overflow_advice(dtype, 'smaller --strengths')}"
        )


def _check_logits(mllm: MLLM, cell: Cell, logits: Tensor, option_ids: Sequence[Sequence[int]]) -> None:
    """Refuse NaN or inf option logits: they must never be scored as an answer."""
    bad = [i for i, (row, ids) in enumerate(zip(logits, option_ids)) if not bool(torch.isfinite(row[list(ids)]).all())]
    if not bad:
        return
    steered = cell.condition in ("steered", "random") and not cell.is_noop
    cause = (
        f"the steer pushed the hidden states beyond what {str(mllm.dtype).removeprefix('torch.')} "
        f"can hold; {overflow_advice(mllm.dtype)}"
        if steered else "the model itself gives them on these inputs (check the weights and dtype"
        + ("; many checkpoints overflow float16: load it in bfloat16 or float32)" if mllm.dtype == torch.float16 else ")")
    )
    raise ValueError(
        f"{cell.describe()} gave NaN or inf logits for the answer options of {len(bad)} of "
        f"{len(option_ids)} items in the batch (first: row {bad[0]}): {cause}; such logits are "
        "never scored as an answer"
    )


def run_cells(
    mllm: MLLM,
    items: Sequence[Item],
    cells: Sequence[Cell],
    store: ResultStore,
    *,
    split: str,
    batch_size: int = 16,
    naive: bool = False,
    advance: Callable[[int], None] | None = None,
    cells_per_forward: int = 1,
    max_batch_tokens: int | None = None,
    cells_per_request: int | None = None,
) -> None:
    """Score every cell on the items of its tasks, writing rows to ``store`` batch by batch.

    Items a cell already has rows for are skipped; a batch no cell needs runs no forward pass.
    ``naive=True`` scores each cell with its own full steered forward (the reference for the
    shared path; also the path for remote models). ``cells_per_forward > 1`` stacks up to that
    many cells of one layer along the batch dimension in one run of the layers above it
    (``BasePass.steered_stacked``); ``max_batch_tokens`` bounds such a forward's rows x padded
    positions, and a stack that would exceed it is refused before any forward runs. A remote
    model (``mllm.remote``) runs each batch's cells in one request (``interp.evaluation.remote``);
    ``cells_per_request`` caps the cells one request holds (None: ``remote.CELLS_PER_REQUEST``).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    cells_per_forward, max_batch_tokens = check_cell_batching(cells_per_forward, max_batch_tokens, naive)
    if mllm.remote:
        from interp.evaluation.remote import check_cells_per_request

        check_cells_per_request(cells_per_request)
        _refuse_remote_stacking(cells_per_forward)
    for c in cells:
        if not c.key:
            raise ValueError("run_cells needs keyed cells (built by sweep)")
        _check_cell_size(mllm, c)
    if cells_per_forward > 1 and max_batch_tokens is not None:
        _check_stack_budget(mllm, items, cells, batch_size, cells_per_forward, max_batch_tokens)
    for c in cells:
        store.add_cell({"cell": c.key, **c.spec()})
    for task, group in _group_by_task(items).items():
        task_cells = [c for c in cells if task in c.tasks]
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            ids = [it.id for it in batch]
            pending = [c for c in task_cells if len(store.done(c.key, ids)) < len(ids)]
            if pending and mllm.remote and not naive:
                from interp.evaluation.remote import run_batch_remote

                run_batch_remote(mllm, batch, pending, store, split, cells_per_request)
            elif pending:
                _run_batch(mllm, batch, pending, store, split, naive, cells_per_forward)
            if advance is not None:
                advance(len(task_cells))


def _refuse_remote_stacking(cells_per_forward: int) -> None:
    if cells_per_forward > 1:
        raise ValueError(
            f"cells_per_forward={cells_per_forward} stacks cells in a local forward; a remote model already "
            "runs each batch's cells in one request (cells_per_request): leave cells_per_forward=1"
        )


def _run_batch(
    mllm: MLLM, batch: list[Item], cells: list[Cell], store: ResultStore, split: str, naive: bool,
    cells_per_forward: int = 1,
) -> None:
    option_ids = [option_token_ids(mllm.tokenizer, it) for it in batch]
    by_prefix: dict[str | None, list[Cell]] = {}
    for c in cells:
        by_prefix.setdefault(c.prefix if c.condition == "prompt" else None, []).append(c)
    rows: list[dict[str, Any]] = []
    for prefix, group in by_prefix.items():
        inputs = encode_items(mllm, batch, prefix)
        generated = [c for c in group if c.scoring == "generate"]
        for c in generated:
            rows += _generated_rows(mllm, c, batch, inputs, split)
        group = [c for c in group if c.scoring != "generate"]
        steered = [c for c in group if c.condition in ("steered", "random") and not c.is_noop]
        if naive:
            base = last_logits(mllm, inputs)
            for c in group:
                logits = last_logits(mllm, inputs, [c.steer()]) if c in steered else base
                _check_logits(mllm, c, logits, option_ids)
                rows += _rows(c, batch, option_distribution(logits, option_ids), split)
            continue
        bp = BasePass(mllm, inputs, sorted({c.layer for c in steered}))
        stacked = _stacked_logits(bp, steered, cells_per_forward) if cells_per_forward > 1 else {}
        for c in group:
            if c in stacked:
                logits = stacked[c]
            else:
                logits = bp.steered(c.steer()) if c in steered else bp.unsteered
            _check_logits(mllm, c, logits, option_ids)
            rows += _rows(c, batch, option_distribution(logits, option_ids), split)
    store.add_rows(rows)


def check_cell_batching(cells_per_forward: Any, max_batch_tokens: Any, naive: bool = False) -> tuple[int, int | None]:
    """Validate the cell-batching options; returns them as (int, int or None).

    Example:
        >>> check_cell_batching(8, 65536)
        (8, 65536)
    """
    if isinstance(cells_per_forward, bool) or not isinstance(cells_per_forward, int) or cells_per_forward < 1:
        raise ValueError(f"cells_per_forward must be a positive int (1: one cell at a time), got {cells_per_forward!r}")
    if max_batch_tokens is not None and (
        isinstance(max_batch_tokens, bool) or not isinstance(max_batch_tokens, int) or max_batch_tokens < 1
    ):
        raise ValueError(f"max_batch_tokens must be a positive int (rows x positions per forward) or None, got {max_batch_tokens!r}")
    if naive and cells_per_forward > 1:
        raise ValueError(
            "cells_per_forward stacks cells on the shared-work path; naive=True scores each cell with "
            "its own full forward: drop one of the two"
        )
    return cells_per_forward, max_batch_tokens


def _stack_sizes(cells: Sequence[Cell], cells_per_forward: int) -> list[list[Cell]]:
    """The steered cells in stacks: per layer, in order, up to ``cells_per_forward`` each."""
    by_layer: dict[int, list[Cell]] = {}
    for c in cells:
        by_layer.setdefault(c.layer, []).append(c)
    return [group[i : i + cells_per_forward] for group in by_layer.values() for i in range(0, len(group), cells_per_forward)]


def _stacked_logits(bp: BasePass, steered: Sequence[Cell], cells_per_forward: int) -> dict[Cell, Tensor]:
    """Logits of the steered cells, run in stacks of up to ``cells_per_forward`` per layer."""
    out: dict[Cell, Tensor] = {}
    for stack in _stack_sizes(steered, cells_per_forward):
        for c, logits in zip(stack, bp.steered_stacked([c.steer() for c in stack])):
            out[c] = logits
    return out


def _check_stack_budget(
    mllm: MLLM, items: Sequence[Item], cells: Sequence[Cell], batch_size: int, cells_per_forward: int,
    max_batch_tokens: int,
) -> None:
    """Refuse, before any forward, a stack of cells whose rows x padded positions exceed the budget."""
    for task, group in _group_by_task(items).items():
        steered = [c for c in cells if task in c.tasks and c.condition in ("steered", "random")
                   and not c.is_noop and c.scoring != "generate"]
        largest = max((len(s) for s in _stack_sizes(steered, cells_per_forward)), default=0)
        check_stack_budget(mllm, group, batch_size, largest, max_batch_tokens)


def check_stack_budget(mllm: MLLM, items: Sequence[Item], batch_size: int, stack: int, max_batch_tokens: int) -> None:
    """Refuse a stack of ``stack`` cells on any batch of ``items`` over ``max_batch_tokens``.

    Every batch (per task, as the sweep forms them) is encoded, tokenizing and image
    preprocessing only, to know its padded length; nothing runs the model. ``sweep`` calls it
    with the largest stack its grid can form before its calibration pass.

    Example:
        >>> check_stack_budget(mllm, items, batch_size=8, stack=4, max_batch_tokens=65536)  # doctest: +SKIP
    """
    if stack < 2:
        return
    for task, group in _group_by_task(items).items():
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            rows, length = (int(n) for n in encode_items(mllm, batch)["input_ids"].shape)
            tokens = stack * rows * length
            if tokens > max_batch_tokens:
                fits = max_batch_tokens // (rows * length)
                hint = (f"cells_per_forward={fits} fits" if fits >= 2
                        else "no stack of 2 fits; lower batch_size or use cells_per_forward=1")
                raise ValueError(
                    f"a stack of {stack} cells x {rows} items x {length} positions (task {task!r}, items "
                    f"{start}-{start + rows - 1}) is {tokens} tokens per forward, over max_batch_tokens="
                    f"{max_batch_tokens}: {hint}, or raise max_batch_tokens; nothing was run"
                )


def _generated_rows(mllm: MLLM, cell: Cell, batch: list[Item], inputs: dict[str, Tensor], split: str) -> list[dict[str, Any]]:
    """The paper's scoring of one cell: greedy generation (steered on the prompt) and its parser."""
    steers = [cell.steer()] if cell.condition in ("steered", "random") and not cell.is_noop else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gen = steered_generate(mllm, inputs, steers, max_new_tokens=20)
        except ValueError as err:
            raise ValueError(f"{cell.describe()}: {err}") from None
    rows = []
    for it, text in zip(batch, gen.texts):
        pred = parse_answer(text, it.choices, it.kind)
        rows.append({
            "cell": cell.key, "item_id": it.id, "task": it.task, "split": split, "answer": it.answer,
            "pred": -1 if pred is None else pred, "correct": pred == it.answer, "p_correct": float("nan"),
            "probs": json.dumps({"text": text}),
        })
    return rows


# -- strengths -----------------------------------------------------------------------------------
def residual_norms(
    mllm: MLLM, items: Sequence[Item], layers: Sequence[int], selectors: Sequence[str], *, batch_size: int = 16
) -> dict[tuple[int, str], float]:
    """Mean L2 norm of the residual stream on each selector's tokens at each layer.

    A relative strength ``r`` at layer ``l`` means ``alpha = r * norm[l, selector] / |v_l|``:
    the added vector's norm is ``r`` times a typical selected token's, so layers compare fairly.

    Example:
        >>> residual_norms(mllm, items[:16], [0, 1], ["image"])   # doctest: +SKIP
        {(0, 'image'): 11.2, (1, 'image'): 14.9}
    """
    sums: dict[tuple[int, str], float] = {}
    counts: dict[tuple[int, str], int] = {}
    layers = sorted({mllm.check_layer(x) for x in layers})
    read = residual_fn(mllm)
    for start in range(0, len(items), batch_size):
        inputs = encode_items(mllm, list(items[start : start + batch_size]))
        acts = read(inputs, layers)
        for sel in selectors:
            mask = mllm.mask(sel, inputs).cpu()
            for layer in layers:
                norms = acts[layer][mask].norm(dim=-1)
                sums[layer, sel] = sums.get((layer, sel), 0.0) + float(norms.double().sum())
                counts[layer, sel] = counts.get((layer, sel), 0) + int(norms.numel())
    return {k: sums[k] / counts[k] for k in sums}



__all__ = [
    "BasePass",
    "Cell",
    "Condition",
    "check_cell_batching",
    "check_stack_budget",
    "random_direction",
    "residual_norms",
    "run_cells",
]
