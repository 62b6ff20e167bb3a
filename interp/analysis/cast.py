"""Conditional activation steering (CAST): find a condition that separates inputs, then steer on it.

Lee et al. 2025, "Programming Refusal with Conditional Activation Steering" (ICLR 2025). A
condition vector ``c`` at a condition layer decides per input whether a behaviour vector ``v``
is added: the input's hidden state ``h`` (here the mean over the prompt's selected tokens, as
the reference does, or the last token) is compared with its projection on ``c``,
``sim = cos(h, proj_c h) = |c . h| / (|c| |h|)`` (the similarity ``interp.steering.conditional``
uses), and the condition fires where ``sim`` is above (or below) a threshold. The reference
picks condition layer x threshold x comparator by a grid search that best separates two sets
of prompts (the behaviour should fire on one and not the other), scored by F1 of "fires"
against "belongs to the positive set".

Here condition vectors come from the textual methods (any ``SteeringVector``, e.g.
``interp.compute(backbone, "counting", "meanshift")``) or from the two sets themselves
(``contrast_condition``, a difference of pooled means), ``condition_grid`` runs the search and
``cast_steer`` applies the found condition on items, gated per input (the reference) or per
token (``interp.steering.conditional``), and reports how often it fired and what it did to the
answers.

Example:
    >>> grid = condition_grid(mllm, count_items, other_items, counting_vector)    # doctest: +SKIP
    >>> grid.best                                                                # doctest: +SKIP
    CastCondition(layer=1, threshold=0.21, comparator='above', f1=0.93, pool='mean', tokens='all')
    >>> run = cast_steer(mllm, {"count": count_items, "other": other_items},     # doctest: +SKIP
    ...                  counting_vector, grid.best, counting_vector, alpha=4.0)
    >>> run.summary                                                              # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import nnsight
import numpy as np
import pandas as pd
import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.activations import resolve_layers
from interp.analysis.attribution import PromptFn, answer_batch
from interp.answers import option_logits
from interp.boundary import check_encoded
from interp.items import Item, ItemsOrPrompts, as_items, batches, check_batch_size, n_batches
from interp.models.traced import MLLM, TracedModel
from interp.progress import track
from interp.steering import add, apply_steering, conditional
from interp.tokens import Selector, last_token_index
from interp.vectors.vector import SteeringVector

Pool = Literal["mean", "last"]
Comparator = Literal["above", "below"]
Gate = Literal["input", "token"]
POOLS = ("mean", "last")
GATES = ("input", "token")


# -- inputs ----------------------------------------------------------------------------------------
def _check_set(inputs: ItemsOrPrompts, name: str) -> list[Any]:
    """Items (organism item dicts are converted) or prompt strings, not a mix."""
    out: list[Any] = [inputs] if isinstance(inputs, (str, Item, Mapping)) else list(inputs)
    if not out:
        raise ValueError(f"the {name} set is empty")
    if all(isinstance(x, str) for x in out):
        return out
    if any(isinstance(x, str) for x in out):
        raise ValueError(
            f"the {name} set must be all Items or all prompt strings, got "
            f"{sorted({type(x).__name__ for x in out})}"
        )
    return as_items(out, what=f"{name} set")


def _encode(model: TracedModel, chunk: list[Any], prompt: PromptFn | None) -> dict[str, Tensor]:
    if isinstance(chunk[0], Item):
        return answer_batch(model, chunk, prompt).inputs
    if isinstance(model, MLLM):
        enc = model.encode(chunk)
    else:
        enc = model.encode(chunk, padding_side="left")  # type: ignore[attr-defined]
    check_encoded(model, enc, chunk, what="prompt")
    return {k: v.to(model.input_device) for k, v in enc.items()}


def _ids(chunk: list[Any]) -> list[str]:
    return [x.id if isinstance(x, Item) else x for x in chunk]


def pool_mask(
    model: TracedModel, inputs: dict[str, Tensor], tokens: Selector, pool: Pool
) -> Bool[Tensor, "batch pos"]:
    """The positions a pooled state averages: ``tokens`` minus special tokens, or the last token.

    Example:
        >>> pool_mask(mllm, mllm.encode("How many?", [img]), "all", "mean").sum()   # doctest: +SKIP
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {list(POOLS)}, got {pool!r}")
    if pool == "last":
        mask = torch.zeros_like(inputs["attention_mask"], dtype=torch.bool)
        mask[torch.arange(mask.shape[0]), last_token_index(inputs["attention_mask"])] = True
        return mask
    mask = model.mask(tokens, inputs).clone()  # type: ignore[attr-defined]
    special = sorted(getattr(model, "special_ids", set()))
    if special:
        mask &= ~torch.isin(inputs["input_ids"], torch.tensor(special, device=mask.device))
    empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"rows {empty} have no token to pool once special tokens are dropped")
    return mask


def _pooled(h: Tensor, mask: Tensor) -> Tensor:
    m = mask.to(h.device, h.dtype).unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1)


def cast_similarity(
    h: Float[Tensor, "*batch d_model"], condition: Float[Tensor, " d_model"]
) -> Float[Tensor, "*batch"]:
    """``cos(h, proj_c h) = |c . h| / (|c| |h|)``: CAST's condition similarity, as ``interp.steering``.

    Example:
        >>> cast_similarity(torch.tensor([[3.0, 4.0]]), torch.tensor([1.0, 0.0]))
        tensor([0.6000])
    """
    c = condition.to(h.dtype) / condition.norm()
    return (h @ c).abs() / h.norm(dim=-1).clamp_min(torch.finfo(h.dtype).tiny)


def _layer_vectors(
    model: TracedModel, vector: Any, layers: Sequence[int], what: str, allow_transfer: bool = False
) -> dict[int, Tensor]:
    out = {}
    for layer in layers:
        if isinstance(vector, SteeringVector):
            vector.check_compatible(model, allow_transfer=allow_transfer)
            v = vector.at(layer)
        elif isinstance(vector, Tensor):
            v = vector
        else:
            raise ValueError(f"the {what} must be a SteeringVector or a (d_model,) tensor, got {type(vector).__name__}")
        model.check_vector(v, what=f"{what} at layer {layer}")
        if float(v.norm()) == 0.0:
            raise ValueError(f"the {what} at layer {layer} is zero")
        out[layer] = v.float()
    return out


def _pooled_states(
    model: TracedModel,
    inputs: list[Any],
    layers: Sequence[int],
    *,
    tokens: Selector,
    pool: Pool,
    prompt: PromptFn | None,
    batch_size: int,
    progress: bool,
    description: str,
) -> dict[int, Tensor]:
    """``{layer: (n_inputs, d_model)}`` pooled hidden states, float32 on the CPU."""
    out: dict[int, list[Tensor]] = {layer: [] for layer in layers}
    order = sorted(layers)
    for chunk in track(
        batches(inputs, batch_size), total=n_batches(len(inputs), batch_size), description=description, enabled=progress
    ):
        enc = _encode(model, chunk, prompt)
        mask = pool_mask(model, enc, tokens, pool)
        with torch.no_grad(), model.trace(enc):
            saved = nnsight.save([model.layers[layer].output.save() for layer in order])
        for layer, h in zip(order, saved):
            out[layer].append(_pooled(torch.as_tensor(h).float(), mask).cpu())
    return {layer: torch.cat(v) for layer, v in out.items()}


# -- condition vectors from two sets ---------------------------------------------------------------
def contrast_condition(
    model: TracedModel,
    positive: ItemsOrPrompts,
    negative: ItemsOrPrompts,
    layers: int | Sequence[int] | None = None,
    *,
    tokens: Selector = "all",
    pool: Pool = "mean",
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> SteeringVector:
    """A condition vector per layer: mean pooled state of ``positive`` minus that of ``negative``.

    The difference of means of the two sets' pooled hidden states (CAST extracts its condition
    from the same contrast, by PCA of paired differences). Build it on sets disjoint from
    those the grid search and the evaluation use.

    Example:
        >>> c = contrast_condition(mllm, train_count, train_other, layers=[0, 1, 2])   # doctest: +SKIP
    """
    check_batch_size(batch_size)
    pos, neg = _check_set(positive, "positive"), _check_set(negative, "negative")
    chosen = resolve_layers(model, layers)
    kw: dict[str, Any] = {"tokens": tokens, "pool": pool, "prompt": prompt, "batch_size": batch_size, "progress": progress}
    a = _pooled_states(model, pos, chosen, description="condition (positive)", **kw)
    b = _pooled_states(model, neg, chosen, description="condition (negative)", **kw)
    return SteeringVector.from_tensors(
        {layer: a[layer].mean(0) - b[layer].mean(0) for layer in chosen},
        method="cast-contrast",
        concept="condition",
        source_model=str(model.name),
        d_model=int(model.d_model),
        n_layers=int(model.n_layers),
        corpus_size=len(pos) + len(neg),
        params={"tokens": str(tokens), "pool": pool},
    )


# -- grid search -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CastCondition:
    """A condition found by ``condition_grid``: where and how the condition fires.

    Attributes:
        layer: condition layer.
        threshold: similarity threshold.
        comparator: ``"above"`` (fires where sim > threshold) or ``"below"``.
        f1: the F1 it reached on the grid's sets.
        pool: ``"mean"`` (over ``tokens``, special tokens dropped) or ``"last"``.
        tokens: selector of the pooled tokens.
    """

    layer: int
    threshold: float
    comparator: Comparator
    f1: float
    pool: Pool = "mean"
    tokens: Selector = "all"

    def fires(self, sim: Tensor) -> Tensor:
        """Where the condition fires for similarities ``sim``."""
        return sim > self.threshold if self.comparator == "above" else sim < self.threshold


@dataclass(frozen=True)
class CastGrid:
    """The grid search's results.

    Attributes:
        grid: one row per (layer, threshold, comparator): ``layer``, ``threshold``,
            ``comparator``, ``tp``, ``fp``, ``fn``, ``tn``, ``precision``, ``recall``, ``f1``,
            ``accuracy`` (positive class: "belongs to the positive set").
        scores: one row per (input, layer): ``set`` (``"positive"``/``"negative"``), ``input``
            (item id or prompt), ``layer``, ``sim``.
        best: the best cell (highest F1; ties to higher accuracy, lower layer, ``"above"``,
            lower threshold).
    """

    grid: pd.DataFrame
    scores: pd.DataFrame
    best: CastCondition


def _f1_table(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray, comparator: str) -> dict[str, np.ndarray]:
    if comparator == "above":
        tp = (pos[None, :] > thresholds[:, None]).sum(1)
        fp = (neg[None, :] > thresholds[:, None]).sum(1)
    else:
        tp = (pos[None, :] < thresholds[:, None]).sum(1)
        fp = (neg[None, :] < thresholds[:, None]).sum(1)
    fn, tn = len(pos) - tp, len(neg) - fp
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = tp / max(len(pos), 1)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall,
        "f1": f1, "accuracy": (tp + tn) / (len(pos) + len(neg)),
    }


def _candidates(values: np.ndarray, thresholds: Sequence[float] | int | None) -> np.ndarray:
    if thresholds is None:
        u = np.unique(values)
        mids = (u[1:] + u[:-1]) / 2
        span = max(float(u[-1] - u[0]), 1e-6)
        return np.concatenate([[u[0] - 0.01 * span], mids, [u[-1] + 0.01 * span]])
    if isinstance(thresholds, int) and not isinstance(thresholds, bool):
        if thresholds < 2:
            raise ValueError(f"thresholds as a count must be >= 2, got {thresholds}")
        return np.linspace(float(values.min()), float(values.max()), thresholds)
    if isinstance(thresholds, bool):
        raise ValueError("thresholds must be a non-empty list of finite numbers, a count, or None")
    out = np.array([float(t) for t in thresholds])
    if out.size == 0 or not np.isfinite(out).all():
        raise ValueError("thresholds must be a non-empty list of finite numbers, a count, or None")
    return out


def condition_grid(
    model: TracedModel,
    positive: ItemsOrPrompts,
    negative: ItemsOrPrompts,
    condition: SteeringVector,
    layers: int | Sequence[int] | None = None,
    thresholds: Sequence[float] | int | None = None,
    *,
    comparators: Sequence[Comparator] = ("above", "below"),
    tokens: Selector = "all",
    pool: Pool = "mean",
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
) -> CastGrid:
    """Grid search over condition layer x threshold x comparator that best separates two sets by F1.

    Args:
        model: the model the condition is checked in (an MLLM for items with images, or a text
            backbone / MLLM for prompt strings).
        positive: inputs the condition should fire on (``Item``s or prompt strings).
        negative: inputs it should not fire on.
        condition: a ``SteeringVector`` with a direction at every searched layer.
        layers: condition layers to search (default: every layer the condition has).
        thresholds: similarity thresholds: ``None`` (every midpoint between observed
            similarities, so every distinct split is tried, per layer), a count (evenly spaced
            over the observed range) or a list.
        tokens: pooled tokens for ``pool="mean"`` (special tokens are always dropped).
        pool: ``"mean"`` over the selected prompt tokens (the reference) or ``"last"`` token.
        allow_transfer: take a ``SteeringVector`` built on another model than ``model`` and its text
            backbone (a deliberate transfer experiment; ``interp.boundary``).

    Example:
        >>> grid = condition_grid(backbone, count_prompts, other_prompts, v, layers=[1, 2])   # doctest: +SKIP
        >>> grid.grid.sort_values("f1").tail(3)                                             # doctest: +SKIP
    """
    check_batch_size(batch_size)
    pos, neg = _check_set(positive, "positive"), _check_set(negative, "negative")
    if not isinstance(condition, SteeringVector):
        raise ValueError(f"condition must be a SteeringVector (one direction per layer), got {type(condition).__name__}")
    bad = [c for c in comparators if c not in ("above", "below")]
    if bad or not comparators:
        raise ValueError(f"comparators must be 'above' and/or 'below', got {list(comparators)!r}")
    chosen = resolve_layers(model, list(condition.layers) if layers is None else layers)
    cvec = _layer_vectors(model, condition, chosen, "condition vector", allow_transfer)
    kw: dict[str, Any] = {"tokens": tokens, "pool": pool, "prompt": prompt, "batch_size": batch_size, "progress": progress}
    a = _pooled_states(model, pos, chosen, description="condition grid (positive)", **kw)
    b = _pooled_states(model, neg, chosen, description="condition grid (negative)", **kw)
    rows, scores = [], []
    for layer in chosen:
        sp = cast_similarity(a[layer], cvec[layer]).numpy()
        sn = cast_similarity(b[layer], cvec[layer]).numpy()
        scores.append(pd.DataFrame({"set": "positive", "input": _ids(pos), "layer": layer, "sim": sp}))
        scores.append(pd.DataFrame({"set": "negative", "input": _ids(neg), "layer": layer, "sim": sn}))
        cands = _candidates(np.concatenate([sp, sn]), thresholds)
        for comp in comparators:
            table = _f1_table(sp, sn, cands, comp)
            rows.append(pd.DataFrame({"layer": layer, "threshold": cands, "comparator": comp, **table}))
    grid = pd.concat(rows, ignore_index=True)
    order = grid.assign(_above=(grid.comparator != "above").astype(int)).sort_values(
        ["f1", "accuracy", "layer", "_above", "threshold"], ascending=[False, False, True, True, True], kind="mergesort"
    )
    top = order.iloc[0]
    best = CastCondition(
        layer=int(top.layer), threshold=float(top.threshold), comparator=str(top.comparator),  # type: ignore[arg-type]
        f1=float(top.f1), pool=pool, tokens=tokens,
    )
    return CastGrid(grid=grid, scores=pd.concat(scores, ignore_index=True), best=best)


# -- steering with the found condition -------------------------------------------------------------
@dataclass(frozen=True)
class CastRun:
    """What conditional steering did on each set.

    Attributes:
        items: one row per item: ``set``, ``item``, ``sim`` (pooled similarity at the condition
            layer), ``fired`` (the input gate fired; for the token gate, any token fired),
            ``fired_share`` (share of the steered tokens whose own similarity fired; the input
            gate gives 0 or 1), ``answer`` (right option index), ``pred_base``, ``pred_steered``,
            ``metric_base``, ``metric_steered`` (answer logit difference), ``correct_base``,
            ``correct_steered``.
        summary: one row per set: ``set``, ``n``, ``fire_rate``, ``fired_share``,
            ``acc_base``, ``acc_steered``, ``delta_acc``, ``delta_metric`` (mean),
            ``changed`` (share of items whose answer changed).
    """

    items: pd.DataFrame
    summary: pd.DataFrame


def cast_steer(
    model: TracedModel,
    sets: Mapping[str, Sequence[Item]],
    condition: SteeringVector | Tensor,
    found: CastCondition,
    vector: SteeringVector | Tensor,
    alpha: float,
    *,
    layer: int | None = None,
    tokens: Selector = "all",
    gate: Gate = "input",
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
    allow_transfer: bool = False,
) -> CastRun:
    """Steer items with ``alpha * vector`` where the found condition fires; report firing and answers.

    Args:
        sets: ``{name: items}``, e.g. the held-out positive and negative items.
        condition: the condition vector (its direction at ``found.layer`` is used).
        found: the condition (``condition_grid(...).best`` or built by hand).
        vector: the behaviour vector (its direction at the behaviour layer).
        alpha: strength.
        layer: behaviour layer (default: the condition layer).
        tokens: where the behaviour vector is added.
        gate: ``"input"`` (the reference: the pooled state at the condition layer decides for
            the whole input, then ``add`` steers ``tokens`` at ``layer``) or ``"token"``
            (``interp.steering.conditional`` at the condition layer: each token of ``tokens``
            is steered where its own similarity fires; ``layer`` must equal the condition layer).
        allow_transfer: take a ``SteeringVector`` built on another model than ``model`` and its text
            backbone (a deliberate transfer experiment; ``interp.boundary``).

    Example:
        >>> run = cast_steer(mllm, {"count": test_count, "other": test_other}, c, grid.best, v, 4.0)  # doctest: +SKIP
        >>> run.summary[["set", "fire_rate", "delta_acc"]]                                          # doctest: +SKIP
    """
    check_batch_size(batch_size)
    if gate not in GATES:
        raise ValueError(f"gate must be one of {list(GATES)}, got {gate!r}")
    if not isinstance(found, CastCondition):
        raise ValueError(f"found must be a CastCondition (condition_grid(...).best), got {type(found).__name__}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number, got {alpha!r}")
    if not sets:
        raise ValueError("no sets given: pass {name: items}")
    cl = model.check_layer(found.layer)
    bl = cl if layer is None else model.check_layer(layer)
    if gate == "token" and bl != cl:
        raise ValueError(
            f"gate='token' steers at the condition layer {cl} (interp.steering.conditional); "
            f"got behaviour layer {bl}: use gate='input' to steer another layer"
        )
    c = _layer_vectors(model, condition, [cl], "condition vector", allow_transfer)[cl]
    v = _layer_vectors(model, vector, [bl], "behaviour vector", allow_transfer)[bl]
    for name, items in sets.items():
        if any(not isinstance(x, Item) for x in _check_set(items, str(name))):
            raise ValueError(f"the {name} set must hold Items: steering reports the effect on answers")
    frames = []
    for name, items in sets.items():
        items = list(items)
        for chunk in track(
            batches(items, batch_size), total=n_batches(len(items), batch_size), description=f"CAST on {name}", enabled=progress
        ):
            frames.append(_steer_batch(model, name, chunk, c, v, found, float(alpha), cl, bl, tokens, gate, prompt))
    per_item = pd.concat(frames, ignore_index=True)
    summary = per_item.groupby("set", sort=False).agg(
        n=("item", "size"),
        fire_rate=("fired", "mean"),
        fired_share=("fired_share", "mean"),
        acc_base=("correct_base", "mean"),
        acc_steered=("correct_steered", "mean"),
        delta_metric=("metric_change", "mean"),
        changed=("changed", "mean"),
    ).reset_index()
    summary.insert(6, "delta_acc", summary.acc_steered - summary.acc_base)
    return CastRun(items=per_item.drop(columns=["metric_change", "changed"]), summary=summary)


def _steer_batch(
    model: TracedModel, name: str, chunk: list[Item], c: Tensor, v: Tensor, found: CastCondition,
    alpha: float, cl: int, bl: int, tokens: Selector, gate: Gate, prompt: PromptFn | None,
) -> pd.DataFrame:
    batch = answer_batch(model, chunk, prompt)
    rows = torch.arange(len(chunk), device=batch.last.device)
    with torch.no_grad(), model.trace(batch.inputs):
        h = model.layers[cl].output.save()
        base = model.nn.output.logits[rows, batch.last].save()
    h = torch.as_tensor(h).float().cpu()
    base = torch.as_tensor(base).float().cpu()
    pooled = _pooled(h, pool_mask(model, batch.inputs, found.tokens, found.pool).cpu())
    sim = cast_similarity(pooled, c.cpu())
    steer_mask = model.mask(tokens, batch.inputs, allow_empty=True).cpu()  # type: ignore[attr-defined]
    if gate == "input":
        fired = found.fires(sim)
        share = fired.float()
        mask = steer_mask & fired[:, None]
        steer = add(v, bl, alpha, mask)
    else:
        token_fired = found.fires(cast_similarity(h, c.cpu())) & steer_mask
        share = token_fired.sum(1) / steer_mask.sum(1).clamp_min(1)
        fired = token_fired.any(1)
        mask = steer_mask
        steer = conditional(v, c, cl, alpha, threshold=found.threshold, above=found.comparator == "above", tokens=mask)
    if bool(mask.any()) and alpha != 0.0:
        with torch.no_grad(), model.trace(batch.inputs):
            apply_steering(model, [steer], masks=[mask.to(batch.last.device)])
            steered = model.nn.output.logits[rows, batch.last].save()
        steered = torch.as_tensor(steered).float().cpu()
    else:
        steered = base
    tok = model.tokenizer  # type: ignore[attr-defined]
    m0, m1 = batch.metric(base).numpy(), batch.metric(steered).numpy()
    p0 = np.array([int(o.argmax()) for o in option_logits(base, chunk, tok)])
    p1 = np.array([int(o.argmax()) for o in option_logits(steered, chunk, tok)])
    answer = np.array([it.answer for it in chunk])
    return pd.DataFrame({
        "set": name,
        "item": [it.id for it in chunk],
        "sim": sim.numpy(),
        "fired": fired.numpy(),
        "fired_share": share.numpy(),
        "answer": answer,
        "pred_base": p0,
        "pred_steered": p1,
        "metric_base": m0,
        "metric_steered": m1,
        "correct_base": p0 == answer,
        "correct_steered": p1 == answer,
        "metric_change": m1 - m0,
        "changed": p0 != p1,
    })


def cast_summary(grid: CastGrid, top: int = 10) -> pd.DataFrame:
    """The ``top`` rows of a ``condition_grid`` search, best F1 first (ties: higher accuracy).

    Columns as ``CastGrid.grid``; no model is run.

    Example:
        >>> cast_summary(condition_grid(mllm, positive, negative, v, [1]))   # doctest: +SKIP
    """
    return grid.grid.sort_values(["f1", "accuracy"], ascending=False).head(top)


__all__ = [
    "GATES",
    "POOLS",
    "CastCondition",
    "CastGrid",
    "CastRun",
    "cast_similarity",
    "cast_steer",
    "cast_summary",
    "condition_grid",
    "contrast_condition",
    "pool_mask",
]
