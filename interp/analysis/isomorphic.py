"""Isomorphic inputs: the same scene as an image and as its text rendering.

After IsoBench (Fu et al. 2024, "IsoBench: Benchmarking Multimodal Foundation Models on
Isomorphic Representations"), which found models answer better from text than from the
equivalent image. Here each item is run three ways: the MLLM on the image (``image``), the MLLM
on the scene's text rendering without the image (``mllm_text``), and the text backbone on that
rendering (``backbone_text``, what textual vectors are built on). ``isomorphic`` compares their
accuracy and, per layer, their answer-position (last prompt token) states by cosine, distance
and linear CKA (Kornblith et al. 2019). ``steer_toward_text`` asks whether adding a textual vector
to the image run moves its answer-position state toward the text run's.

The rendering is the one the items' benchmark registered (``interp.analysis.worlds``; the organism's
writes its scene as the text backbone was trained on it); pass ``render=`` for other items.

Example:
    >>> res = isomorphic(mllm, items, backbone=backbone)   # doctest: +SKIP
    >>> res.accuracy.pivot(index="task", columns="run", values="accuracy")   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from interp.analysis.common import (
    cosine,
    iter_encoded,
    last_positions,
    linear_cka,
    trace_residuals,
    vector_layers,
)
from interp.analysis.worlds import text_rendering
from interp.answers import answer_stats, encode_items
from interp.items import Item, as_items, batches, check_batch_size, n_batches
from interp.models.traced import MLLM, TextBackbone, TracedModel
from interp.progress import track as progress_bar
from interp.steering import VectorLike, add, validate
from interp.tokens import Selector

RUNS = ("image", "mllm_text", "backbone_text")


@dataclass(frozen=True)
class IsomorphicResult:
    """Results of ``isomorphic``.

    Attributes:
        items: one row per (item, run): ``item``, ``task``, ``run``, ``correct``,
            ``logit_diff`` (right option minus the mean of the others), ``p_answer``.
        accuracy: one row per (run, task) plus task ``"all"``: ``run``, ``task``, ``n``,
            ``accuracy``, ``mean_logit_diff``.
        similarity: one row per (layer, pair of runs): ``layer``, ``a``, ``b``, ``n`` (items), ``cos_mean``,
            ``cos_std`` (per-item cosine of the last-token states), ``dist_mean`` (euclidean),
            ``cka`` (linear CKA of the items' last-token states, NaN with fewer than 2 items).
    """

    items: pd.DataFrame
    accuracy: pd.DataFrame
    similarity: pd.DataFrame


def _last_states(acts: dict[int, Tensor], inputs: dict[str, Tensor]) -> dict[int, Tensor]:
    rows = torch.arange(inputs["input_ids"].shape[0])
    last = last_positions(inputs).cpu()
    return {layer: h[rows, last] for layer, h in acts.items()}


def _runs(
    mllm: MLLM, backbone: TracedModel | None
) -> list[tuple[str, TracedModel, bool]]:
    runs: list[tuple[str, TracedModel, bool]] = [("image", mllm, True), ("mllm_text", mllm, False)]
    if backbone is not None:
        if not isinstance(backbone, TextBackbone):
            raise ValueError(f"backbone must be a TextBackbone (load_text_backbone), got {type(backbone).__name__}")
        if backbone.n_layers != mllm.n_layers or backbone.d_model != mllm.d_model:
            raise ValueError(
                f"backbone {backbone.name} ({backbone.n_layers} layers, d_model {backbone.d_model}) "
                f"does not match {mllm.name} ({mllm.n_layers} layers, d_model {mllm.d_model})"
            )
        runs.append(("backbone_text", backbone, False))
    return runs


def _check_text_only(mllm: MLLM, items: Sequence[Item], render: Callable[[Item], str]) -> None:
    enc = encode_items(mllm, items[:1], images=False, prompt=render, chat=False)
    if int((enc["input_ids"] == mllm.image_token_id).sum()):
        raise ValueError("the text rendering holds image tokens: render= must return text only")


def isomorphic(
    mllm: MLLM,
    items: Sequence[Item],
    *,
    backbone: TextBackbone | None = None,
    render: Callable[[Item], str] = text_rendering,
    layers: int | Iterable[int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> IsomorphicResult:
    """Run each item as image and as text; compare accuracy and answer-position states.

    Args:
        mllm: the MLLM (runs ``image`` and ``mllm_text``).
        items: items with images (for the default rendering, of a benchmark whose world renders its
            scenes as text: ``interp.analysis.worlds``).
        backbone: the text backbone (adds the ``backbone_text`` run); must have the MLLM's
            layer count and width.
        render: item -> the full text prompt, sent as it is (no family formatting); by default the
            rendering the items' benchmark registered.
        layers: layers to compare (default all).

    Example:
        >>> res = isomorphic(mllm, items, backbone=backbone, layers=[3])   # doctest: +SKIP
    """
    items = as_items(items)
    check_batch_size(batch_size)
    layer_list = vector_layers(mllm, None, layers)
    runs = _runs(mllm, backbone)
    _check_text_only(mllm, items, render)
    item_rows = []
    states: dict[str, dict[int, Tensor]] = {}
    for name, model, images in runs:
        per_layer: dict[int, list[Tensor]] = {layer: [] for layer in layer_list}
        for chunk, inputs in iter_encoded(
            model, items, batch_size=batch_size, images=images,
            prompt=None if images else render, chat=images,
            progress_bar=progress, description=f"isomorphic: {name}",
        ):
            acts, logits = trace_residuals(model, inputs, layer_list)
            assert logits is not None
            for layer, h in _last_states(acts, inputs).items():
                per_layer[layer].append(h.double())
            stats = answer_stats(logits, chunk, model.tokenizer)  # type: ignore[attr-defined]
            for i, it in enumerate(chunk):
                item_rows.append(
                    {
                        "item": it.id, "task": it.task, "run": name,
                        "correct": stats["correct"][i], "logit_diff": stats["logit_diff"][i],
                        "p_answer": stats["p_answer"][i],
                    }
                )
        states[name] = {layer: torch.cat(hs) for layer, hs in per_layer.items()}
    items_df = pd.DataFrame(item_rows)
    acc = []
    for name, _, _ in runs:
        sub = items_df[items_df.run == name]
        for task, grp in [*sub.groupby("task", sort=True), ("all", sub)]:
            acc.append(
                {
                    "run": name, "task": task, "n": len(grp),
                    "accuracy": float(grp.correct.mean()), "mean_logit_diff": float(grp.logit_diff.mean()),
                }
            )
    sims = []
    names = [r[0] for r in runs]
    for layer in layer_list:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                xa, xb = states[a][layer], states[b][layer]
                c = cosine(xa, xb)
                sims.append(
                    {
                        "layer": layer, "a": a, "b": b, "n": len(c),
                        "cos_mean": float(c.mean()),
                        "cos_std": float(c.std()) if len(c) > 1 else math.nan,
                        "dist_mean": float((xa - xb).norm(dim=-1).mean()),
                        "cka": linear_cka(xa, xb) if len(c) > 1 else math.nan,
                    }
                )
    return IsomorphicResult(items_df, pd.DataFrame(acc), pd.DataFrame(sims))


def steer_toward_text(
    mllm: MLLM,
    items: Sequence[Item],
    vector: VectorLike,
    layer: int,
    alphas: float | Sequence[float],
    *,
    tokens: Selector = "image",
    reference: TracedModel | None = None,
    render: Callable[[Item], str] = text_rendering,
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """Does adding ``alpha * vector`` at ``layer`` move the image run's answer-position state
    toward the text run's, at that layer and every later one?

    The target is the MLLM's own text run (``reference=None``) or another model's text run in
    the same residual space (the text backbone). ``allow_transfer`` takes a ``SteeringVector``
    built on another model than ``mllm`` and its text backbone (``interp.boundary``).

    Returns:
        One row per (alpha, layer >= ``layer``): ``alpha``, ``layer``, ``cos_plain``,
        ``cos_steered`` (mean over items of the cosine with the text run's last-token state),
        ``d_cos`` (steered - plain), ``d_cos_std``, ``dist_plain``, ``dist_steered``, ``d_dist``
        (mean euclidean distances and their change; negative = closer), ``n``.

    Example:
        >>> steer_toward_text(mllm, items, v, layer=1, alphas=[2.0, 4.0])   # doctest: +SKIP
    """
    items = as_items(items)
    check_batch_size(batch_size)
    mllm.check_layer(layer)
    alpha_list = [alphas] if isinstance(alphas, (int, float)) else list(alphas)
    if not alpha_list:
        raise ValueError("no alphas given")
    steers = validate(mllm, [add(vector, layer, a, tokens) for a in alpha_list], allow_transfer=allow_transfer)
    target = mllm if reference is None else reference
    if target.d_model != mllm.d_model or target.n_layers != mllm.n_layers:
        raise ValueError(f"reference {target.name} does not share {mllm.name}'s layers and width")
    later = list(range(layer, mllm.n_layers))
    text: dict[int, list[Tensor]] = {la: [] for la in later}
    plain: dict[int, list[Tensor]] = {la: [] for la in later}
    steered: dict[tuple[float, int], list[Tensor]] = {(a, la): [] for a in alpha_list for la in later}
    chunks = batches(items, batch_size)
    for chunk in progress_bar(chunks, total=n_batches(len(items), batch_size), description="steer toward text", enabled=progress):
        t_in = encode_items(target, chunk, images=False, prompt=render, chat=False)
        t_in = {k: v.to(target.input_device) for k, v in t_in.items()}
        acts, _ = trace_residuals(target, t_in, later, logits=False)
        for la, h in _last_states(acts, t_in).items():
            text[la].append(h.double())
        i_in = encode_items(mllm, chunk)
        i_in = {k: v.to(mllm.input_device) for k, v in i_in.items()}
        acts, _ = trace_residuals(mllm, i_in, later, logits=False)
        for la, h in _last_states(acts, i_in).items():
            plain[la].append(h.double())
        for a, steer in zip(alpha_list, steers):
            acts, _ = trace_residuals(mllm, i_in, later, logits=False, steers=[steer], allow_transfer=allow_transfer)
            for la, h in _last_states(acts, i_in).items():
                steered[(a, la)].append(h.double())
    rows = []
    for a in alpha_list:
        for la in later:
            t, p, s = torch.cat(text[la]), torch.cat(plain[la]), torch.cat(steered[(a, la)])
            cp, cs = cosine(p, t), cosine(s, t)
            dp, ds = (p - t).norm(dim=-1), (s - t).norm(dim=-1)
            rows.append(
                {
                    "alpha": float(a), "layer": la, "n": len(t),
                    "cos_plain": float(cp.mean()), "cos_steered": float(cs.mean()),
                    "d_cos": float((cs - cp).mean()),
                    "d_cos_std": float((cs - cp).std()) if len(t) > 1 else math.nan,
                    "dist_plain": float(dp.mean()), "dist_steered": float(ds.mean()),
                    "d_dist": float((ds - dp).mean()),
                }
            )
    return pd.DataFrame(rows)


__all__ = ["RUNS", "IsomorphicResult", "isomorphic", "steer_toward_text"]
