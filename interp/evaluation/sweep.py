"""The paper's layer x strength x selector sweep, fast, resumable, with controls and statistics.

Protocol (arXiv 2505.14071, section 4): add ``alpha * v`` at one decoder layer on the selected
tokens; score every (layer, strength, selector) cell on the train split; choose, per vector,
task and selector, the cell with the best gain over the unsteered model (ties go to the smaller
strength); report that cell on the held-out test split. interp adds what the paper did not
report: a prompting baseline, random directions of the same norm at the chosen cell (several
seeds), bootstrap confidence intervals, exact McNemar tests and the number of cells searched.

Speed comes from sharing the grid's work (the answers equal those of scoring every cell on its
own; a test holds them to it): per batch of items, the vision tower and the decoder run once
("base pass") keeping the residual stream at every swept layer and the inputs each layer
above receives; a cell at layer ``l`` then edits the kept state and runs only the layers
above ``l``, the last layer's MLP and the output head at the answer position only;
strength-0 cells reuse the base pass. Every (item, cell) result goes to a SQLite ``ResultStore`` as soon as its batch is
done, so a killed sweep resumes where it stopped and a rerun reuses every finished row.

Example:
    >>> from interp.evaluation import load_benchmark, sweep                   # doctest: +SKIP
    >>> train = load_benchmark("organism", split="train", tasks=["Count"])    # doctest: +SKIP
    >>> test = load_benchmark("organism", split="test", tasks=["Count"])      # doctest: +SKIP
    >>> res = sweep(mllm, {"meanshift": v}, layers=[0, 1, 2], strengths=[-1, 1],
    ...             selectors=["image"], train=train, test=test, store="runs/sweep.sqlite")  # doctest: +SKIP
    >>> res.table                                                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor

from interp.errors import as_int
from interp.evaluation.items import Item
from interp.evaluation.scoring import (
    check_items,
    encode_items,
    last_logits,
    option_distribution,
    option_token_ids,
    parse_answer,
    prompting_prefix,
)
from interp.evaluation.store import ResultStore, cell_key
from interp.models.loaded import MLLM
from interp.steering import Steer, add, steered_generate
from interp.tokens import SELECTOR_NAMES

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


def model_fingerprint(mllm: MLLM) -> str:
    """A cheap fingerprint of the weights: the name, the config and a sample of every tensor.

    Rows of a results store are keyed by it, so retrained weights under the same name never
    reuse stale rows.

    Example:
        >>> model_fingerprint(mllm)   # doctest: +SKIP
        'organism@3f2a...'
    """
    config: Any = mllm.module.config
    h = hashlib.sha256(config.to_json_string().encode())
    with torch.no_grad():
        for name, p in mllm.module.named_parameters():
            flat = p.detach().reshape(-1)
            sample = torch.cat([flat[:8], flat[-8:]]).to(torch.float64).cpu().numpy().tobytes()
            h.update(name.encode() + str(tuple(p.shape)).encode() + sample)
    return f"{mllm.name}@{h.hexdigest()[:16]}"


def random_direction(like: Tensor, seed: int) -> Tensor:
    """A uniformly random direction with the norm of ``like`` (Gaussian, normalised), by seed.

    Example:
        >>> v = torch.ones(4)
        >>> float(random_direction(v, 0).norm())
        2.0
    """
    g = torch.Generator().manual_seed(int(seed))
    r = torch.randn(like.shape[0], generator=g, dtype=torch.float64)
    return (r / r.norm() * float(like.norm())).to(like.dtype)


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
            raise ValueError("the shared base pass runs layers locally: use naive=True for remote models")
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
        layers = self.mllm.torch_layers
        last = self.mllm.n_layers - 1
        with torch.no_grad():
            for i in range(layer + 1, last + 1):
                with _mlp_at_last_position(layers[i]) if i == last else _nothing():
                    args, kwargs = self.layer_inputs[i]
                    if args:
                        out = layers[i](h, *args[1:], **kwargs)
                    else:
                        out = layers[i](**{**kwargs, "hidden_states": h})
                h = out[0] if isinstance(out, tuple) else out
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
) -> None:
    """Score every cell on the items of its tasks, writing rows to ``store`` batch by batch.

    Items a cell already has rows for are skipped; a batch no cell needs runs no forward pass.
    ``naive=True`` scores each cell with its own full steered forward (the reference for the
    shared path; also the path for remote models).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    for c in cells:
        if not c.key:
            raise ValueError("run_cells needs keyed cells (built by sweep)")
        store.add_cell({"cell": c.key, **c.spec()})
    for task, group in _group_by_task(items).items():
        task_cells = [c for c in cells if task in c.tasks]
        for start in range(0, len(group), batch_size):
            batch = group[start : start + batch_size]
            ids = [it.id for it in batch]
            pending = [c for c in task_cells if len(store.done(c.key, ids)) < len(ids)]
            if pending:
                _run_batch(mllm, batch, pending, store, split, naive)
            if advance is not None:
                advance(len(task_cells))


def _run_batch(
    mllm: MLLM, batch: list[Item], cells: list[Cell], store: ResultStore, split: str, naive: bool
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
                rows += _rows(c, batch, option_distribution(logits, option_ids), split)
            continue
        bp = BasePass(mllm, inputs, sorted({c.layer for c in steered}))
        for c in group:
            logits = bp.steered(c.steer()) if c in steered else bp.unsteered
            rows += _rows(c, batch, option_distribution(logits, option_ids), split)
    store.add_rows(rows)


def _generated_rows(mllm: MLLM, cell: Cell, batch: list[Item], inputs: dict[str, Tensor], split: str) -> list[dict[str, Any]]:
    """The paper's scoring of one cell: greedy generation (steered on the prompt) and its parser."""
    steers = [cell.steer()] if cell.condition in ("steered", "random") and not cell.is_noop else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = steered_generate(mllm, inputs, steers, max_new_tokens=20)
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
    for start in range(0, len(items), batch_size):
        batch = list(items[start : start + batch_size])
        inputs = encode_items(mllm, batch)
        saved = {}
        with torch.no_grad(), mllm.trace(inputs, logits_to_keep=1, use_cache=False):
            for layer in layers:
                saved[layer] = mllm.layers[layer].output.save()
        for sel in selectors:
            mask = mllm.mask(sel, inputs)
            for layer in layers:
                norms = torch.as_tensor(saved[layer])[mask].float().norm(dim=-1)
                sums[layer, sel] = sums.get((layer, sel), 0.0) + float(norms.double().sum())
                counts[layer, sel] = counts.get((layer, sel), 0) + int(norms.numel())
    return {k: sums[k] / counts[k] for k in sums}


# -- the sweep -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    """What a sweep returns (all tables are pandas DataFrames).

    Attributes:
        rows: one row per item x cell of this sweep (train and test), joined with the cell's
            fields (``ResultStore.rows``).
        grid: one row per cell on train: accuracy and gain over unsteered on the same items.
        table: one row per (vector, task, selector): the chosen cell, its test accuracy, gain
            over unsteered with CI and McNemar p (and Holm-adjusted over the table), the
            prompting baseline and the random-direction control.
        config: the sweep's arguments, for the record.
    """

    rows: Any
    grid: Any
    table: Any
    config: dict[str, Any]

    def to_markdown(self, digits: int = 3) -> str:
        """The result table as a markdown table (needs ``tabulate``-free pandas formatting)."""
        return table_markdown(self.table, digits=digits)


def _vectors(vectors: Any) -> dict[str, Any]:
    from interp.vectors import SteeringVector

    if isinstance(vectors, SteeringVector):
        vectors = [vectors]
    if isinstance(vectors, Mapping):
        out = dict(vectors)
    else:
        out = {}
        for v in vectors:
            if not isinstance(v, SteeringVector):
                raise ValueError(f"vectors must be SteeringVectors, got {type(v).__name__}")
            name = f"{v.meta.method}/{v.meta.concept}"
            if name in out:
                raise ValueError(f"two vectors are both named {name!r}: pass a dict of names to vectors")
            out[name] = v
    if not out:
        raise ValueError("no vectors given")
    for name, v in out.items():
        if not isinstance(v, SteeringVector):
            raise ValueError(f"vector {name!r} is a {type(v).__name__}, expected a SteeringVector")
    return out


def _numbers(values: Any, what: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{what} must be a list of numbers, got {values!r}")
    out = []
    for x in values:
        try:
            f = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be numbers, got {x!r}") from None
        if isinstance(x, bool) or not math.isfinite(f):
            raise ValueError(f"{what} must be finite numbers, got {x!r}")
        out.append(f)
    if not out:
        raise ValueError(f"no {what} given")
    return out


def _selectors(selectors: Any) -> list[str]:
    sels = [selectors] if isinstance(selectors, str) else list(selectors)
    if not sels:
        raise ValueError("no selectors given")
    for s in sels:
        if s not in SELECTOR_NAMES:
            raise ValueError(f"the sweep takes named selectors {list(SELECTOR_NAMES)}, got {s!r}")
    return sels


def _choose(grid: Any) -> Any:
    """Per (vector, task, selector): best train gain, ties to smaller |strength|, then layer."""
    g = grid.assign(_abs=grid["strength"].abs(), _neg=grid["strength"] < 0)
    g = g.sort_values(["vector", "task", "selector", "n_correct", "_abs", "layer", "_neg"],
                      ascending=[True, True, True, False, True, True, True], kind="mergesort")
    return g.groupby(["vector", "task", "selector"], sort=True).head(1).drop(columns=["_abs", "_neg"])


def sweep(
    mllm: MLLM,
    vectors: Any,
    layers: Iterable[int],
    strengths: Iterable[float],
    selectors: Iterable[str] | str = ("image",),
    train: Iterable[Item] | None = None,
    test: Iterable[Item] | None = None,
    store: str | os.PathLike[str] | ResultStore | None = None,
    *,
    targets: Mapping[str, Sequence[str]] | None = None,
    relative: bool = True,
    n_random: int = 20,
    prompt_baseline: bool | str | Mapping[str, str] = True,
    n_calibration: int = 32,
    batch_size: int = 16,
    naive: bool = False,
    faithful: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> SweepResult:
    """Sweep layers x strengths x selectors on train, choose per (vector, task, selector), report on test.

    Args:
        mllm: the model.
        vectors: a ``SteeringVector``, a list of them (named ``method/concept``) or a dict
            name -> vector (methods x concepts in one call).
        layers: the steered layers (each vector needs a direction there).
        strengths: the strength grid (both signs welcome; 0 is the unsteered model).
        selectors: token selectors: ``"image"``, ``"text"``, ``"both"`` (``"last"``, ``"all"``).
        train: items the cell is chosen on (e.g. ``load_benchmark(..., split="train")``).
        test: held-out items the chosen cells are reported on (None: train only, no table).
        store: a results SQLite file (resumable; reruns reuse rows), a ``ResultStore``, or None
            for an in-memory one.
        targets: vector name -> the tasks it is evaluated on (default: every task of train).
        relative: strengths are relative to the mean residual norm of the selected tokens at
            the layer (measured on the first ``n_calibration`` train items); False: absolute
            multipliers of the vector.
        n_random: random directions of the chosen vector's norm at each chosen cell (seeds
            ``seed .. seed + n_random - 1``), scored on test: the "any push of this size"
            control.
        prompt_baseline: True: the hint ``prompting_prefix(concept)`` per vector's concept; a
            template string with ``{concept}``; a dict concept -> full prefix; False: none.
        batch_size: items per forward pass.
        naive: score every cell with its own full forward (the reference path; remote models).
        faithful: also score the unsteered model and each chosen cell on test the paper's way
            (greedy generation of up to 20 tokens and its parser) and add to the table how
            often it agrees with the logit scoring and how many answers it could not read.
        progress: a rich progress bar with ETA.

    Returns:
        ``SweepResult`` with ``rows``, ``grid`` (train, per cell) and ``table`` (test, per
        vector x task x selector, with statistics).

    Example:
        >>> res = sweep(mllm, vs, layers=[0, 1, 2, 3], strengths=[-2, -1, 1, 2],
        ...             selectors=["image", "text", "both"], train=train, test=test,
        ...             store="runs/organism.sqlite")                    # doctest: +SKIP
        >>> print(res.to_markdown())                                      # doctest: +SKIP
    """
    vecs = _vectors(vectors)
    layer_list = sorted({mllm.check_layer(as_int(x, "layer")) for x in _as_list(layers, "layers")})
    strength_list = _numbers(strengths, "strengths")
    selector_list = _selectors(selectors)
    if train is None:
        raise ValueError("sweep needs train items to choose the cell on")
    train_items = check_items(train)
    test_items = check_items(test) if test is not None else []
    if test_items and {it.id for it in train_items} & {it.id for it in test_items}:
        raise ValueError("train and test share items: the cell must be chosen on items it is not reported on")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(n_random, bool) or not isinstance(n_random, int) or n_random < 0:
        raise ValueError(f"n_random must be a non-negative int, got {n_random!r}")
    tasks = sorted({it.task for it in train_items})
    targets = dict(targets or {})
    for name in targets:
        if name not in vecs:
            raise ValueError(f"targets names vector {name!r}, which is not among the vectors {sorted(vecs)}")
    vec_tasks = {name: tuple(targets.get(name, tasks)) for name in vecs}
    for name, ts in vec_tasks.items():
        missing = [t for t in ts if t not in tasks]
        if missing:
            raise ValueError(f"vector {name!r} targets tasks {missing} with no train items (train has {tasks})")
        v = vecs[name]
        v.check_compatible(mllm)
        absent = [layer for layer in layer_list if layer not in v.layers]
        if absent:
            raise ValueError(f"vector {name!r} has no direction at layers {absent} (it has {list(v.layers)})")

    own_store = not isinstance(store, ResultStore)
    db = store if isinstance(store, ResultStore) else ResultStore(":memory:" if store is None else store)
    try:
        fp = model_fingerprint(mllm)
        norms = (
            residual_norms(mllm, train_items[:n_calibration], layer_list, selector_list, batch_size=batch_size)
            if relative else {}
        )
        unsteered = _keyed(Cell("unsteered", tasks=tuple(tasks)), fp)

        def alpha_of(v: Tensor, layer: int, sel: str, s: float) -> float:
            if not relative:
                return float(s)
            vn = float(v.norm())
            return 0.0 if vn == 0.0 else float(s) * norms[layer, sel] / vn

        grid_cells = [unsteered]
        for name, v in vecs.items():
            for sel in selector_list:
                for layer in layer_list:
                    d = v.at(layer)
                    for s in strength_list:
                        grid_cells.append(_keyed(Cell(
                            "steered", name, v.meta.method, v.meta.concept, layer, sel, s,
                            alpha_of(d, layer, sel, s), d, tasks=vec_tasks[name],
                        ), fp))
        with _bar(progress) as advance:
            advance.start("sweep: train grid", _n_batches(train_items, batch_size, grid_cells))
            run_cells(mllm, train_items, grid_cells, db, split="train", batch_size=batch_size,
                      naive=naive, advance=advance)
            grid = _grid(db, grid_cells, unsteered, train_items)
            chosen = _choose(grid[grid["condition"] == "steered"])

            test_cells: list[Cell] = []
            table = None
            if test_items:
                test_tasks = sorted({t for ts in vec_tasks.values() for t in ts})
                test_cells.append(replace(unsteered, tasks=tuple(test_tasks)))
                by_key = {c.key: c for c in grid_cells}
                for _, row in chosen.iterrows():
                    c = replace(by_key[row["cell"]], tasks=(row["task"],))
                    test_cells.append(c)
                    if c.direction is None:
                        continue
                    for k in range(n_random):
                        r = random_direction(c.direction, seed + k)
                        test_cells.append(_keyed(replace(
                            c, condition="random", direction=r, seed=seed + k, key=""), fp))
                for concept, prefix in _prompt_prefixes(prompt_baseline, vecs).items():
                    concept_tasks = sorted({t for n, v in vecs.items() if v.meta.concept == concept for t in vec_tasks[n]})
                    test_cells.append(_keyed(Cell("prompt", concept=concept, prefix=prefix, tasks=tuple(concept_tasks)), fp))
                if faithful:
                    test_cells += [replace(c, scoring="generate", key="") for c in test_cells
                                   if c.condition in ("unsteered", "steered")]
                    test_cells = [c if c.key else _keyed(c, fp) for c in test_cells]
                advance.start("sweep: test", _n_batches(test_items, batch_size, test_cells))
                run_cells(mllm, test_items, test_cells, db, split="test", batch_size=batch_size,
                          naive=naive, advance=advance)
                table = _table(db, chosen, test_cells, unsteered, test_items, n_cells=len(layer_list) * len(strength_list))
        keys = [c.key for c in grid_cells] + [c.key for c in test_cells]
        ids = {it.id for it in train_items} | {it.id for it in test_items}
        rows = db.rows(sorted(set(keys)))
        rows = rows[rows["item_id"].isin(ids)].reset_index(drop=True)
    finally:
        if own_store:
            db.close()
    config = {
        "model": fp, "vectors": sorted(vecs), "layers": layer_list, "strengths": strength_list,
        "selectors": selector_list, "relative": relative, "n_random": n_random, "seed": seed,
        "n_train": len(train_items), "n_test": len(test_items), "targets": {k: list(v) for k, v in vec_tasks.items()},
        "norms": {f"{k[0]}/{k[1]}": v for k, v in norms.items()},
    }
    return SweepResult(rows=rows, grid=grid, table=table, config=config)


def _as_list(x: Any, what: str) -> list[Any]:
    if isinstance(x, (str, bytes)):
        raise ValueError(f"{what} must be a list of ints, got the string {x!r}")
    if isinstance(x, int):
        return [x]
    try:
        return list(x)
    except TypeError:
        raise ValueError(f"{what} must be a list of ints, got {x!r}") from None


def _prompt_prefixes(prompt_baseline: Any, vecs: Mapping[str, Any]) -> dict[str, str]:
    concepts = sorted({v.meta.concept for v in vecs.values()})
    if prompt_baseline is False or prompt_baseline is None:
        return {}
    if prompt_baseline is True:
        return {c: prompting_prefix(c) for c in concepts}
    if isinstance(prompt_baseline, str):
        return {c: prompting_prefix(c, prompt_baseline) for c in concepts}
    if isinstance(prompt_baseline, Mapping):
        missing = [c for c in concepts if c not in prompt_baseline]
        if missing:
            raise ValueError(f"prompt_baseline has no prefix for concepts {missing}")
        return {c: str(prompt_baseline[c]) for c in concepts}
    raise ValueError(f"prompt_baseline must be a bool, a template string or a dict, got {prompt_baseline!r}")


def _n_batches(items: Sequence[Item], batch_size: int, cells: Sequence[Cell]) -> int:
    total = 0
    for task, group in _group_by_task(items).items():
        n = sum(1 for c in cells if task in c.tasks)
        total += n * ((len(group) + batch_size - 1) // batch_size)
    return total


class _bar:
    """A rich progress bar over cell x batch units, advanced by ``run_cells``."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _bar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                transient=True,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def start(self, description: str, total: int) -> None:
        if self.progress is not None:
            self.task = self.progress.add_task(description, total=total)

    def __call__(self, n: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, n)


# -- tables --------------------------------------------------------------------------------------
def _grid(db: ResultStore, cells: Sequence[Cell], unsteered: Cell, items: Sequence[Item]) -> Any:
    """Per cell and task on train: n, correct, accuracy, gain over unsteered (same items)."""
    ids = {it.id for it in items}
    rows = db.rows([c.key for c in cells])
    rows = rows[rows["item_id"].isin(ids)]
    agg = rows.groupby(["cell", "task"], sort=False).agg(n=("correct", "size"), n_correct=("correct", "sum")).reset_index()
    base = agg[agg["cell"] == unsteered.key].set_index("task")
    meta = rows.drop_duplicates("cell").set_index("cell")[
        ["vector", "method", "concept", "condition", "layer", "selector", "strength", "alpha"]
    ]
    out = agg.join(meta, on="cell")
    out["accuracy"] = out["n_correct"] / out["n"]
    out["unsteered_accuracy"] = out["task"].map(base["n_correct"] / base["n"])
    out["gain"] = out["accuracy"] - out["unsteered_accuracy"]
    cols = ["vector", "method", "concept", "condition", "task", "layer", "selector", "strength", "alpha",
            "n", "n_correct", "accuracy", "unsteered_accuracy", "gain", "cell"]
    return out[cols].sort_values(["condition", "vector", "task", "selector", "layer", "strength"]).reset_index(drop=True)


def _table(
    db: ResultStore, chosen: Any, cells: Sequence[Cell], unsteered: Cell, items: Sequence[Item], n_cells: int
) -> Any:
    import pandas as pd

    from interp.evaluation import stats

    ids = {it.id for it in items}
    rows = db.rows([c.key for c in cells])
    rows = rows[rows["item_id"].isin(ids)]
    by_cell = {k: g.set_index("item_id")["correct"] for k, g in rows.groupby("cell")}
    preds = {k: g.set_index("item_id")["pred"] for k, g in rows.groupby("cell")}
    base = by_cell[unsteered.key]

    def twin_fields(c: Cell) -> tuple[Any, ...]:
        return (c.condition, c.vector, c.layer, c.selector, c.strength, c.seed, c.prefix)

    generated = {twin_fields(c): c.key for c in cells if c.scoring == "generate"}
    twins = {c.key: generated[twin_fields(c)] for c in cells if c.scoring != "generate" and twin_fields(c) in generated}

    def faithful(key: str, ids: list[str], prefix: str) -> dict[str, Any]:
        if key not in twins:
            return {}
        fast = preds[key].reindex(ids).to_numpy()
        slow = preds[twins[key]].reindex(ids).to_numpy()
        return {
            f"{prefix}accuracy_generate": float(by_cell[twins[key]].reindex(ids).to_numpy(dtype=float).mean()),
            f"{prefix}agreement": float((fast == slow).mean()),
            f"{prefix}unparsed": int((slow == -1).sum()),
        }

    prompt_cells = {c.concept: c.key for c in cells if c.condition == "prompt"}
    random_cells: dict[tuple[str, str, str], list[str]] = {}
    for c in cells:
        if c.condition == "random" and c.scoring == "logits":
            random_cells.setdefault((c.vector, c.tasks[0], c.selector), []).append(c.key)
    out = []
    for _, ch in chosen.iterrows():
        task_ids = sorted(set(rows.loc[rows["task"] == ch["task"], "item_id"]))
        steered = by_cell[ch["cell"]].reindex(task_ids).to_numpy(dtype=float)
        b = base.reindex(task_ids).to_numpy(dtype=float)
        acc = stats.accuracy(steered)
        diff = stats.paired_difference(steered, b)
        rec: dict[str, Any] = {
            "vector": ch["vector"], "method": ch["method"], "concept": ch["concept"], "task": ch["task"],
            "selector": ch["selector"], "layer": int(ch["layer"]), "strength": float(ch["strength"]),
            "alpha": float(ch["alpha"]), "n_cells": n_cells, "train_gain": float(ch["gain"]),
            "n_test": len(task_ids), "unsteered_accuracy": float(b.mean()),
            "accuracy": acc.value, "accuracy_low": acc.low, "accuracy_high": acc.high,
            "gain": diff.diff, "gain_low": diff.low, "gain_high": diff.high, "p_value": diff.p_value,
        }
        rec |= faithful(ch["cell"], task_ids, "") | faithful(unsteered.key, task_ids, "unsteered_")
        pkey = prompt_cells.get(ch["concept"])
        if pkey is not None:
            p = by_cell[pkey].reindex(task_ids).to_numpy(dtype=float)
            vs = stats.paired_difference(steered, p)
            rec |= {"prompt_accuracy": float(p.mean()), "gain_vs_prompt": vs.diff, "p_vs_prompt": vs.p_value}
        rkeys = random_cells.get((ch["vector"], ch["task"], ch["selector"]), [])
        if rkeys:
            rgains = [float(by_cell[k].reindex(task_ids).to_numpy(dtype=float).mean() - b.mean()) for k in rkeys]
            rc = stats.random_control(diff.diff, rgains)
            rec |= {"n_random": len(rgains), "random_mean_gain": rc.mean_random,
                    "random_q95_gain": rc.quantile_value, "random_p": rc.p_value, "beats_random": rc.beats_quantile}
        out.append(rec)
    table = pd.DataFrame(out)
    if len(table):
        table["p_holm"] = stats.holm(list(table["p_value"]))
        table["p_holm"] = table["p_holm"].astype(float)
    return table


def table_markdown(table: Any, digits: int = 3) -> str:
    """A result table as markdown (gains in points with CIs, p-values), for reports.

    Example:
        >>> print(table_markdown(res.table))   # doctest: +SKIP
    """
    if table is None or len(table) == 0:
        return "(no test results)"
    head = ["vector", "task", "selector", "cell", "unsteered", "steered", "gain [95% CI]", "p", "p (Holm)"]
    has_prompt = "prompt_accuracy" in table
    has_random = "random_q95_gain" in table
    if has_prompt:
        head += ["prompting"]
    if has_random:
        head += ["random q95 gain", "beats random"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cells = [
            r["vector"], r["task"], r["selector"], f"L{r['layer']} @ {r['strength']:+g}",
            f"{r['unsteered_accuracy']:.{digits}f}", f"{r['accuracy']:.{digits}f}",
            f"{100 * r['gain']:+.1f} [{100 * r['gain_low']:+.1f}, {100 * r['gain_high']:+.1f}]",
            f"{r['p_value']:.3g}", f"{r['p_holm']:.3g}",
        ]
        if has_prompt:
            cells.append(f"{r['prompt_accuracy']:.{digits}f}" if r["prompt_accuracy"] == r["prompt_accuracy"] else "-")
        if has_random:
            cells += [f"{100 * r['random_q95_gain']:+.1f}", str(bool(r["beats_random"]))]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


__all__ = [
    "BasePass",
    "Cell",
    "SweepResult",
    "model_fingerprint",
    "random_direction",
    "residual_norms",
    "run_cells",
    "sweep",
    "table_markdown",
]
