"""Ablation: remove positions or a direction at one layer and watch the answer.

Three ablations of the residual stream after a decoder layer, on the tokens a selector picks:

- ``zero``: set the activation to 0;
- ``mean``: set it to the mean activation of the same tokens over a reference set (mean
  ablation, e.g. Wang et al. 2022's IOI circuit; less off-distribution than zeros);
- ``direction``: remove the component along a vector's direction, h - (h . u) u (directional
  ablation, Arditi et al. 2024, "Refusal in Language Models Is Mediated by a Single Direction").

The effect on the answer is read from the option logits at the last prompt position: the right
option's logit minus the mean of the others, accuracy, and the right option's probability.
Ablating nothing (a selector that picks no token) leaves the logits bitwise unchanged.

Example:
    >>> df = ablation(mllm, items, tokens=["image"], modes=["zero", "mean"])   # doctest: +SKIP
    >>> ablation_summary(df)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import Tensor

from interp.activations import MaskedMean
from interp.analysis.common import (
    direction_at,
    iter_encoded,
    last_positions,
    named_selectors,
    trace_residuals,
    vector_layers,
)
from interp.answers import answer_stats
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM
from interp.steering import VectorLike
from interp.tokens import Selector

MODES = ("zero", "mean", "direction")


def _ablated_logits(
    mllm: MLLM, inputs: dict[str, Tensor], layer: int, mask: Tensor, mode: str, vec: Tensor | None
) -> Tensor:
    rows = torch.arange(inputs["input_ids"].shape[0])
    last = last_positions(inputs)
    m = mask.to(mllm.input_device).unsqueeze(-1)
    if mode != "zero" and vec is None:
        raise ValueError(f"ablation mode {mode!r} needs a vector at layer {layer}")
    ref = vec if vec is not None else torch.zeros(mllm.d_model)
    with torch.no_grad(), mllm.trace(inputs):
        envoy = mllm.layers[layer]
        h = envoy.output
        r = ref.to(device=h.device, dtype=h.dtype)
        if mode == "zero":
            new = torch.zeros_like(h)
        elif mode == "mean":
            new = r.expand_as(h)
        else:
            new = h - (h @ r).unsqueeze(-1) * r
        envoy.output = torch.where(m, new, h)
        out = mllm.nn.output.logits[rows, last].save()
    return torch.as_tensor(out).float().cpu()


def ablation(
    mllm: MLLM,
    items: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    tokens: Sequence[str] | Mapping[str, Selector] = ("image", "text"),
    modes: Sequence[str] = ("zero", "mean"),
    vector: VectorLike | None = None,
    reference: Sequence[Item] | None = None,
    batch_size: int = 8,
    progress: bool = False,
    allow_transfer: bool = False,
) -> pd.DataFrame:
    """Zero, mean or directional ablation per layer and token group; the effect on the answer.

    Args:
        mllm: the model.
        items: the items scored.
        layers: layers to ablate, one at a time (default all).
        tokens: token selectors to ablate (names, or ``{name: selector}`` with ``Positions``).
        modes: some of ``"zero"``, ``"mean"``, ``"direction"``.
        vector: the direction for ``"direction"`` (a ``SteeringVector`` or ``(d_model,)`` tensor).
        reference: items whose mean activation ``"mean"`` uses, per layer and token group
            (default: ``items`` themselves).
        allow_transfer: take a ``SteeringVector`` built on another model than ``mllm`` and its text
            backbone (a deliberate transfer experiment; ``interp.boundary``).

    Returns:
        One row per (item, layer, tokens, mode): ``item``, ``task``, ``layer``, ``tokens``,
        ``mode``, ``n_ablated`` (tokens ablated in the item), ``logit_diff``, ``correct``,
        ``p_answer`` (ablated), ``base_logit_diff``, ``base_correct``, ``base_p_answer``
        (unablated), ``d_logit_diff`` (ablated - base).

    Example:
        >>> ablation(mllm, items, layers=[0], modes=["direction"], vector=v)   # doctest: +SKIP
    """
    items = as_items(items)
    check_batch_size(batch_size)
    modes = [modes] if isinstance(modes, str) else list(modes)
    bad = [m for m in modes if m not in MODES]
    if not modes or bad:
        raise ValueError(f"modes must be some of {list(MODES)}, got {modes!r}")
    if "direction" in modes and vector is None:
        raise ValueError("mode 'direction' needs vector= (a SteeringVector or a (d_model,) tensor)")
    layer_list = vector_layers(mllm, None, layers)
    named = named_selectors(tokens, what="token groups")
    units: dict[int, Tensor] = {}
    if "direction" in modes:
        for layer in layer_list:
            v = direction_at(mllm, vector, layer, allow_transfer=allow_transfer)
            if float(v.norm()) == 0.0:
                raise ValueError(f"the vector is zero at layer {layer}: it has no direction to ablate")
            units[layer] = v / v.norm()
    means = (
        _reference_means(mllm, reference if reference is not None else items, layer_list, named, batch_size)
        if "mean" in modes else {}
    )
    rows = []
    for chunk, inputs in iter_encoded(
        mllm, items, batch_size=batch_size, progress_bar=progress, description="ablation"
    ):
        _, base_logits = trace_residuals(mllm, inputs, [layer_list[0]])
        assert base_logits is not None
        base = answer_stats(base_logits, chunk, mllm.tokenizer)
        masks = {name: mllm.mask(sel, inputs, allow_empty=True) for name, sel in named.items()}
        for layer in layer_list:
            for name, mask in masks.items():
                for mode in modes:
                    vec = means.get((layer, name)) if mode == "mean" else units.get(layer)
                    if mode == "mean" and vec is None:
                        if bool(mask.any()):
                            raise ValueError(
                                f"token group {name!r} selects no token in the reference items: "
                                "no mean to ablate with"
                            )
                        vec = torch.zeros(mllm.d_model)
                    stats = answer_stats(
                        _ablated_logits(mllm, inputs, layer, mask, mode, vec), chunk, mllm.tokenizer
                    )
                    for i, it in enumerate(chunk):
                        rows.append(
                            {
                                "item": it.id, "task": it.task, "layer": layer, "tokens": name,
                                "mode": mode, "n_ablated": int(mask[i].sum()),
                                "logit_diff": stats["logit_diff"][i], "correct": stats["correct"][i],
                                "p_answer": stats["p_answer"][i],
                                "base_logit_diff": base["logit_diff"][i],
                                "base_correct": base["correct"][i], "base_p_answer": base["p_answer"][i],
                                "d_logit_diff": stats["logit_diff"][i] - base["logit_diff"][i],
                            }
                        )
    return pd.DataFrame(rows)


def _reference_means(
    mllm: MLLM, reference: Sequence[Item], layers: Sequence[int], named: Mapping[str, Selector], batch_size: int
) -> dict[tuple[int, str], Tensor | None]:
    reference = as_items(reference, what="reference items")
    acc = {name: MaskedMean() for name in named}
    for _, inputs in iter_encoded(mllm, reference, batch_size=batch_size):
        acts, _ = trace_residuals(mllm, inputs, layers, logits=False)
        for name, sel in named.items():
            mask = mllm.mask(sel, inputs, allow_empty=True).cpu()
            for layer, h in acts.items():
                acc[name].update(layer, h, mask)
    # A group with no reference token has no mean: None, refused only where it must ablate something.
    return {
        (layer, name): mean.mean(layer) if mean.count(layer) else None
        for name, mean in acc.items()
        for layer in layers
    }


def ablation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Means over items per (layer, tokens, mode) of an ``ablation`` table. No model is run.

    Columns: ``layer``, ``tokens``, ``mode``, ``n``, ``accuracy``, ``base_accuracy``,
    ``logit_diff``, ``base_logit_diff``, ``d_logit_diff``, ``p_answer``, ``base_p_answer``.

    Example:
        >>> ablation_summary(ablation(mllm, items, layers=[0]))   # doctest: +SKIP
    """
    needed = {"layer", "tokens", "mode", "correct", "base_correct", "logit_diff", "base_logit_diff", "p_answer"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"the table lacks columns {sorted(missing)}: expected an ablation() table")
    g = table.groupby(["layer", "tokens", "mode"], sort=True)
    out = g.agg(
        n=("item", "size"), accuracy=("correct", "mean"), base_accuracy=("base_correct", "mean"),
        logit_diff=("logit_diff", "mean"), base_logit_diff=("base_logit_diff", "mean"),
        d_logit_diff=("d_logit_diff", "mean"), p_answer=("p_answer", "mean"),
        base_p_answer=("base_p_answer", "mean"),
    )
    return out.reset_index()


__all__ = ["MODES", "ablation", "ablation_summary"]
