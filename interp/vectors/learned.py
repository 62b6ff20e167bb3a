"""Learned steering vectors: the most one vector can do at a cell, trained on labelled items.

A textual vector's gain at a cell (layer, token set) says little until it is set beside the
ceiling: the gain of the best single vector added there. ``learned_vector`` estimates it by
training one vector ``v`` on the MLLM's own labelled items, the way Subramani et al. 2022
("Extracting Latent Steering Vectors from Pretrained Language Models", arXiv 2205.05124) learn a
steering vector by gradient with the model frozen; ReFT (Wu et al. 2024, arXiv 2404.03592) trains
richer interventions on the residual stream the same way. Here the intervention is exactly
``interp.steering.add(v, layer, 1.0, tokens)``, so a learned vector sweeps, saves and steers like
any other.

The recipe:

- **Edit**: ``h_l <- h_l + v`` at the output of decoder layer ``layer`` on the tokens ``tokens``
  selects (image, text, both, last or all), on the prompt, as ``interp.steering.add`` edits it.
- **Objective**: the mean over train items of the correct option's log-probability among the
  item's options, read at the last prompt position as ``interp.answers`` reads answers (the
  option letters' logits, or the numbers' for counting items), softmax over those options only.
- **Norm bound**: ``||v|| <= bound``, where ``bound = norm x`` the mean L2 norm of the residual
  stream on the selected tokens at that layer over the train items (``relative=True``, the
  default: the sweep's relative strengths mean the same), or ``norm`` itself
  (``relative=False``). The default ``norm=1.0`` is the largest strength of the demo's grid.
- **Optimiser**: projected normalised gradient ascent. ``v = bound * u``; each step moves ``u``
  by ``lr / sqrt(step)`` along the full-batch gradient's direction, then projects ``u`` onto the
  unit ball. Normalised steps are rotation invariant: the path does not depend on the basis of
  the residual stream, while Adam's per-coordinate scaling does (with a constant gradient ``g``
  Adam steps along ``sign(g)``, not ``g``). On the planted task of the tests both end near the
  planted direction (cosine 0.975 here, 0.953 with Adam at lr 0.05 over the same 100 steps);
  the step length is in units of the bound, so ``lr`` means the same on every model.
  ``u`` starts at 0 (the unsteered model), so the only randomness is the split.
- **Early stopping**: the items are split (``seed``) into train and validation; after each step
  the validation loss is measured, and training stops after ``patience`` steps without a new
  best. The vector returned is the step with the lowest validation loss (step >= 1, so it is
  never the zero vector; ``meta.extra`` records the unsteered validation loss and accuracy
  beside it, so a vector that does no better than nothing says so).

Gradients come from a plain torch forward with a hook on the decoder layer's output (removed in
``finally``), under ``torch.no_grad`` up to the edit, so only the layers above it are
differentiated; the model's parameters are read, never written (``torch.autograd.grad`` with
respect to ``u`` only: no ``.grad`` is set on any weight).

Example:
    >>> mllm = interp.load_mllm("organism")                                        # doctest: +SKIP
    >>> train = interp.evaluation.load_benchmark("organism", split="train", tasks=["Count"])  # doctest: +SKIP
    >>> v = learned_vector(mllm, train, layer=1, tokens="image")                   # doctest: +SKIP
    >>> v.meta.params["learned"], v.layers                                         # doctest: +SKIP
    (True, (1,))
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from interp.answers import encode_items, option_token_ids
from interp.args import as_bool, as_float, as_int
from interp.boundary import check_prompts
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM
from interp.progress import track
from interp.tokens import SELECTOR_NAMES, dead_cell
from interp.vectors.vector import SteeringVector, VectorMeta

if TYPE_CHECKING:
    from interp.items import ItemsLike

#: Items each side of the split needs at least: the train part to take a gradient over, the
#: validation part to stop on (one item's loss is too noisy to stop on).
MIN_PER_SPLIT = 2

def min_items(val_fraction: float) -> int:
    """The fewest items a split with ``val_fraction`` of them held out for validation can take.

    Example:
        >>> min_items(0.25), min_items(0.5), min_items(0.1)
        (6, 4, 15)
    """
    for n in range(2 * MIN_PER_SPLIT, 100_000):
        n_val = round(val_fraction * n)
        if n_val >= MIN_PER_SPLIT and n - n_val >= MIN_PER_SPLIT:
            return n
    raise ValueError(f"val_fraction {val_fraction} leaves no split with {MIN_PER_SPLIT} items on each side")


def items_digest(items: Sequence[Item]) -> str:
    """Which items, in which order: the digest ``learned_vector`` records as ``meta.corpus_hash``
    (``ceiling`` checks a given learned vector against the task's train items with it).

    Example:
        >>> items_digest([Item("a", (), "q", ("x", "y"), 0)])
        'ca978112ca1bbdca'
    """
    return hashlib.sha256("\n".join(it.id for it in items).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Training:
    """How ``learned_vector`` trains: the norm bound and the optimiser's settings, checked once.

    ``ceiling`` passes one ``Training`` to every cell it trains, so the settings are stated (and
    checked) once where a vector is learned per cell. The fields mean what ``learned_vector``'s
    arguments of the same names mean.

    Args:
        norm: the bound on ``||v||``: times the mean residual norm of the selected train tokens
            when ``relative`` (default 1.0, the demo grid's largest strength), else absolute.
        relative: whether ``norm`` is relative (the sweep's convention) or absolute.
        steps: at most this many full-batch steps.
        lr: the step length in units of the bound, at step ``t`` divided by ``sqrt(t)``.
        val_fraction: the share of items held out for early stopping.
        patience: stop after this many steps without a lower validation loss.
        seed: the train/validation split's seed.

    Example:
        >>> Training(norm=0.5, steps=20).val_fraction
        0.25
        >>> Training(lr=0)
        Traceback (most recent call last):
        ...
        ValueError: lr must be > 0, got 0.0
    """

    norm: float = 1.0
    relative: bool = True
    steps: int = 100
    lr: float = 0.25
    val_fraction: float = 0.25
    patience: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            norm = as_float(self.norm, "norm")
        except ValueError:
            raise ValueError(f"the norm bound must be a finite number > 0, got {self.norm!r}") from None
        if norm <= 0:
            raise ValueError(f"the norm bound must be a finite number > 0, got {norm!r}: ||v|| <= 0 leaves only v = 0")
        lr = as_float(self.lr, "lr")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        val_fraction = as_float(self.val_fraction, "val_fraction")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        checked = {
            "norm": norm, "relative": as_bool(self.relative, "relative"), "lr": lr, "val_fraction": val_fraction,
            "steps": as_int(self.steps, "steps", minimum=1), "patience": as_int(self.patience, "patience", minimum=1),
            "seed": as_int(self.seed, "seed", minimum=0),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class _Batch:
    """Encoded items with their selector mask, option token ids and answers."""

    inputs: dict[str, Tensor]
    mask: Tensor
    options: tuple[tuple[int, ...], ...]
    answers: tuple[int, ...]


def _encode(mllm: MLLM, items: Sequence[Item], tokens: str, batch_size: int) -> list[_Batch]:
    out = []
    for start in range(0, len(items), batch_size):
        chunk = list(items[start : start + batch_size])
        inputs = encode_items(mllm, chunk)
        try:
            mask = mllm.mask(tokens, inputs)
        except ValueError as err:
            raise ValueError(f"learned_vector: tokens={tokens!r} on items {chunk[0].id!r}...: {err}") from None
        options = tuple(tuple(option_token_ids(mllm.tokenizer, it)) for it in chunk)
        out.append(_Batch(inputs, mask, options, tuple(it.answer for it in chunk)))
    return out


def _forward(
    mllm: MLLM, batch: _Batch, layer: int, v: Tensor | None, norms: list[Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """Per item: the correct option's log-probability and whether it is the argmax option.

    With ``v``, ``h <- h + v`` on the batch's mask at ``layer``'s output, and the result is
    differentiable with respect to ``v`` (the layers below the edit run without autograd).
    ``norms`` collects the L2 norms of the selected tokens' residuals at ``layer`` (unedited).
    """
    module = mllm.torch_layers[layer]
    seen: list[bool] = []

    def hook(_module: torch.nn.Module, _args: object, output: object) -> object:
        h = output[0] if isinstance(output, tuple) else output
        assert isinstance(h, Tensor)
        seen.append(True)
        mask = batch.mask.to(h.device)
        if norms is not None:
            norms.append(h.detach()[mask].float().norm(dim=-1).cpu())
        if v is None:
            return None
        if v.requires_grad:
            # Autograd from the edit on: the layers above it are differentiated with respect to v.
            torch.set_grad_enabled(True)
        edited = torch.where(mask.unsqueeze(-1), h + v.to(device=h.device, dtype=h.dtype), h)
        return (edited, *output[1:]) if isinstance(output, tuple) else edited

    inputs = {k: t.to(mllm.input_device) for k, t in batch.inputs.items()}
    handle = module.register_forward_hook(hook)
    try:
        # Leaving this block restores the grad mode the hook switched on.
        with torch.no_grad():
            out = mllm.module(**inputs, logits_to_keep=1, use_cache=False)
            logits = out.logits[:, -1].float()
    finally:
        handle.remove()
    if not seen:
        raise RuntimeError(f"the forward of {mllm.name} never ran decoder layer {layer}")
    if not bool(torch.isfinite(logits.detach()).all()):
        raise ValueError(
            f"learned_vector: the forward at layer {layer} gave NaN or inf logits; lower the norm bound"
        )
    logp, right = [], []
    for row, ids, answer in zip(logits, batch.options, batch.answers):
        opts = row[list(ids)]
        logp.append(torch.log_softmax(opts, dim=-1)[answer])
        right.append(int(opts.detach().argmax()) == answer)
    return torch.stack(logp), torch.tensor(right)


def _evaluate(
    mllm: MLLM, batches: Sequence[_Batch], layer: int, v: Tensor | None, norms: list[Tensor] | None = None
) -> tuple[float, float]:
    """Mean loss (negative log-probability of the right option) and accuracy, without gradients."""
    total, correct, n = 0.0, 0, 0
    for batch in batches:
        logp, right = _forward(mllm, batch, layer, None if v is None else v.detach(), norms)
        total += float(-logp.detach().double().sum())
        correct += int(right.sum())
        n += len(right)
    return total / n, correct / n


def _check_settings(mllm: MLLM, layer: int, tokens: str) -> int:
    if not isinstance(mllm, MLLM):
        raise ValueError(
            f"learned_vector trains on an MLLM's own items: expected an interp.MLLM (interp.load_mllm), "
            f"got {type(mllm).__name__}"
        )
    mllm.require_local("learned_vector (gradients through the model's local weights)")
    if torch.is_inference_mode_enabled():
        raise ValueError("learned_vector needs autograd, which torch.inference_mode() turns off: call it outside")
    layer = mllm.check_layer(layer)
    if not isinstance(tokens, str) or tokens not in SELECTOR_NAMES:
        raise ValueError(f"unknown tokens {tokens!r}: learned_vector takes a named selector, one of {list(SELECTOR_NAMES)}")
    if dead_cell(mllm.n_layers, layer, tokens):
        raise ValueError(
            f"layer {layer} with tokens={tokens!r} is a dead cell: it is {mllm.name}'s last decoder layer, "
            f"where an edit reaches the answer only at its own position, and {tokens!r} never includes "
            "the answer position (the last token): no vector there can change the answer, so there is "
            "nothing to learn; use a lower layer or tokens='last' / 'all'"
        )
    return layer


def learned_vector(
    mllm: MLLM,
    items: ItemsLike,
    *,
    layer: int,
    tokens: str = "image",
    norm: float = 1.0,
    relative: bool = True,
    steps: int = 100,
    lr: float = 0.25,
    val_fraction: float = 0.25,
    patience: int = 10,
    batch_size: int = 16,
    seed: int = 0,
    concept: str | None = None,
    progress: bool = False,
    on_step: Callable[[int, float], None] | None = None,
) -> SteeringVector:
    """Train one vector at (``layer``, ``tokens``) to maximise the right option's log-probability.

    See the module's notes for the recipe. All checks run before any training.

    Args:
        mllm: a local MLLM (gradients need its weights here).
        items: labelled train items (they must play no part in testing the vector); split into
            train and validation by ``seed``.
        layer: the decoder layer whose output is edited (the vector has only this layer).
        tokens: ``"image"``, ``"text"``, ``"both"``, ``"last"`` or ``"all"``.
        norm: the bound on ``||v||``: times the mean residual norm of the selected train tokens
            at ``layer`` when ``relative`` (default 1.0), else absolute.
        relative: whether ``norm`` is relative (the sweep's convention) or absolute.
        steps: at most this many full-batch steps.
        lr: the step length in units of the bound, at step ``t`` divided by ``sqrt(t)``.
        val_fraction: the share of items held out for early stopping (at least
            ``MIN_PER_SPLIT`` = 2 items each side: ``min_items(val_fraction)`` items in all).
        patience: stop after this many steps without a lower validation loss.
        batch_size: items per forward pass (the gradient is over all train items).
        seed: the split's seed (the only randomness: training starts at ``v = 0``).
        concept: the concept the vector stands for (default: the items' tasks, ``"Count"``).
        progress: progress lines or a bar over the steps.
        on_step: called with ``(step, validation loss)`` after each step.

    Returns:
        A ``SteeringVector`` at ``layer`` with ``meta.method`` ``"learned"``,
        ``meta.params["learned"] = True`` and the settings (seed included), ``source_model`` the
        MLLM and its fingerprint; ``meta.extra`` holds the bound, the split sizes, the loss
        histories, the best step, whether it stopped early, and the validation loss and accuracy
        unsteered and with the vector.

    Raises:
        ValueError: too few items for the split (naming how many are needed), a dead cell, a
            bound that is not a finite number > 0, unknown ``tokens``, items whose options cannot
            be read at one position, or a selector that selects no token of an item.

    Example:
        >>> v = learned_vector(mllm, train_items, layer=1, tokens="image", norm=0.5)   # doctest: +SKIP
        >>> v.meta.extra["val_accuracy"], v.meta.extra["val_accuracy_unsteered"]      # doctest: +SKIP
    """
    layer = _check_settings(mllm, layer, tokens)
    training = Training(norm, relative, steps, lr, val_fraction, patience, seed)
    norm, relative, steps, lr = training.norm, training.relative, training.steps, training.lr
    val_fraction, patience, seed = training.val_fraction, training.patience, training.seed
    batch_size = check_batch_size(batch_size)
    progress = as_bool(progress, "progress")
    pool = as_items(items, what="learned_vector's items", unique_ids=True)
    check_prompts(mllm, pool, what="learned_vector's items")
    n_val = round(val_fraction * len(pool))
    if n_val < MIN_PER_SPLIT or len(pool) - n_val < MIN_PER_SPLIT:
        raise ValueError(
            f"learned_vector needs at least {min_items(val_fraction)} labelled items for val_fraction="
            f"{val_fraction:g} ({MIN_PER_SPLIT} to train on and {MIN_PER_SPLIT} to stop on), got {len(pool)}"
        )
    order = np.random.default_rng(seed).permutation(len(pool))
    val_items = [pool[i] for i in sorted(order[:n_val].tolist())]
    train_items = [pool[i] for i in sorted(order[n_val:].tolist())]
    for it in pool:
        option_token_ids(mllm.tokenizer, it)
    train = _encode(mllm, train_items, tokens, batch_size)
    val = _encode(mllm, val_items, tokens, batch_size)

    norms: list[Tensor] = []
    train_loss0, train_acc0 = _evaluate(mllm, train, layer, None, norms)
    residual_norm = float(torch.cat(norms).double().mean())
    bound = norm * residual_norm if relative else norm
    if not math.isfinite(bound) or bound <= 0:
        raise ValueError(
            f"the norm bound is {bound!r}: {norm:g} x the mean residual norm {residual_norm!r} of the selected "
            f"tokens at layer {layer}; pass relative=False and an absolute norm"
        )
    val_loss0, val_acc0 = _evaluate(mllm, val, layer, None)

    u = torch.zeros(mllm.d_model, dtype=torch.float32, requires_grad=True)
    best_u, best_step, best_loss = u.detach().clone(), 0, math.inf
    train_history: list[float] = []
    val_history: list[float] = []
    since_best, stopped_early = 0, False
    n_train = len(train_items)
    for step in track(range(1, steps + 1), total=steps, description="learned vector", enabled=progress):
        grad = torch.zeros_like(u)
        loss_sum = 0.0
        for batch in train:
            # enable_grad: a caller's torch.no_grad() must not turn the gradient off.
            with torch.enable_grad():
                logp, _ = _forward(mllm, batch, layer, bound * u)
                loss = -logp.sum() / n_train
                (g,) = torch.autograd.grad(loss, u)
            grad += g
            loss_sum += float(loss.detach())
        train_history.append(loss_sum)
        g_norm = float(grad.norm())
        if g_norm == 0.0:
            if step == 1:
                raise ValueError(
                    f"the gradient at layer {layer}, tokens={tokens!r} is exactly zero: the selected tokens "
                    "do not reach the answer in this model, so there is nothing to learn"
                )
            break
        with torch.no_grad():
            u -= (lr / math.sqrt(step)) * grad / g_norm
            length = float(u.norm())
            if length > 1.0:
                u /= length
        val_loss, _ = _evaluate(mllm, val, layer, bound * u)
        val_history.append(val_loss)
        if on_step is not None:
            on_step(step, val_loss)
        if val_loss < best_loss:
            best_u, best_step, best_loss, since_best = u.detach().clone(), step, val_loss, 0
        else:
            since_best += 1
            if since_best >= patience:
                stopped_early = True
                break
    v = (bound * best_u).detach()
    val_loss_best, val_acc_best = _evaluate(mllm, val, layer, v)
    train_loss_best, train_acc_best = _evaluate(mllm, train, layer, v)

    tasks = sorted({it.task or "items" for it in pool})
    meta = VectorMeta(
        method="learned",
        concept=concept if concept is not None else "+".join(tasks),
        source_model=str(mllm.name),
        d_model=int(mllm.d_model),
        n_layers=int(mllm.n_layers),
        corpus_hash=items_digest(pool),
        corpus_size=len(pool),
        params={
            "learned": True, "layer": layer, "tokens": tokens, "norm": norm, "relative": relative,
            "steps": steps, "lr": lr, "val_fraction": val_fraction, "patience": patience,
            "batch_size": batch_size, "seed": seed, "init": "zeros",
            "objective": "mean log-probability of the right option among the item's options",
            "optimizer": "projected normalised gradient ascent, step lr/sqrt(t) in units of the bound",
        },
        extra={
            "tasks": tasks, "n_train": n_train, "n_val": len(val_items),
            "residual_norm": residual_norm, "norm_bound": bound, "vector_norm": float(v.norm()),
            "relative_norm": float(v.norm()) / residual_norm,
            "best_step": best_step, "steps_run": len(val_history), "stopped_early": stopped_early,
            "train_loss_history": train_history, "val_loss_history": val_history,
            "train_loss_unsteered": train_loss0, "train_accuracy_unsteered": train_acc0,
            "train_loss": train_loss_best, "train_accuracy": train_acc_best,
            "val_loss_unsteered": val_loss0, "val_accuracy_unsteered": val_acc0,
            "val_loss": val_loss_best, "val_accuracy": val_acc_best,
        },
        normalized=False,
        source_fingerprint=mllm.fingerprint().to_json(),
    )
    return SteeringVector({layer: v}, meta)


__all__ = ["MIN_PER_SPLIT", "Training", "items_digest", "learned_vector", "min_items"]
