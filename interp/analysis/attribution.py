"""Attribution of a model's answer to residual-stream positions and to SAE features.

Three first-order (gradient) attributions of the answer's logit difference ``m`` (the right
option's logit minus the mean logit of the other options, at the last prompt position), each
from one forward and one backward pass through an nnsight trace:

- **Gradient x activation** (Shrikumar et al. 2016, "Not just a black box"; Simonyan et al.
  2014 for the gradient itself): ``h_{l,p} . dm/dh_{l,p}`` per layer ``l`` and position ``p``.
- **Attribution patching** (Nanda 2023, "Attribution patching"; Syed et al. 2023, "Attribution
  patching outperforms automated circuit discovery"): the linear estimate of activation
  patching, ``(h^corrupt_{l,p} - h^clean_{l,p}) . dm/dh_{l,p}`` taken at the clean run, i.e.
  how much ``m`` would change if position ``p`` of layer ``l`` were patched from the corrupt run.
- **SAE feature attribution**: which features of a text-trained SAE fire on the selected tokens
  (image tokens by default) and how much each moves ``m``: activation times the gradient along
  the feature's decoder row, ``f_i(h) (d_i . dm/dh)``, summed over the selected tokens (the
  feature-level gradient x activation of Marks et al. 2024, "Sparse feature circuits").

Gradients are read with ``.grad`` on saved layer outputs inside ``with metric.backward():``
within the trace (nnsight 0.8). Parameters are frozen for the call (and restored, even when it
raises) so no ``.grad`` accumulates on the model.

Example:
    >>> from interp.items import from_record              # doctest: +SKIP
    >>> from interp.organism.scenes import make_item                     # doctest: +SKIP
    >>> items = [from_record(make_item("test", "Count", i)) for i in range(8)]  # doctest: +SKIP
    >>> df = gradient_x_activation(mllm, items)                         # doctest: +SKIP
    >>> df.groupby(["layer", "kind"]).attribution.sum()                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import nnsight
import numpy as np
import pandas as pd
import torch
from jaxtyping import Float
from torch import Tensor

from interp.activations import resolve_layers
from interp.analysis.common import position_frame
from interp.answers import encode_items, option_token_ids
from interp.items import Item, as_items, batches, n_batches
from interp.models.traced import TracedModel
from interp.progress import track
from interp.tokens import Selector, last_token_index
from interp.vectors.sae import SaeSource

#: ``prompt(item) -> str``: the text a model is given for an item.
PromptFn = Callable[[Item], str]


# -- items -> batches with a differentiable answer metric ----------------------------------------
@dataclass(frozen=True, eq=False)
class AnswerBatch:
    """Encoded items and the answer metric as a linear function of the last position's logits.

    ``metric(logits) = (logits[:, ids] * weights).sum(-1)``: by default the right option's logit
    minus the mean logit of the item's other options (``interp.analysis.common.answer_logit_diff``);
    against a paired item, the right option's logit minus that item's answer's.

    Attributes:
        items: the items, in batch order.
        inputs: the encoded batch (on the model's input device).
        ids: token ids of every option of the batch.
        weights: ``(batch, len(ids))`` metric weights.
        last: index of the last prompt position of each row.
    """

    items: list[Item]
    inputs: dict[str, Tensor]
    ids: list[int]
    weights: Tensor
    last: Tensor

    def metric(self, logits: Float[Tensor, "batch vocab"]) -> Float[Tensor, " batch"]:
        """The answer metric of each row from the last position's logits.

        Example:
            >>> batch = answer_batch(mllm, items)                         # doctest: +SKIP
            >>> batch.metric(logits[torch.arange(len(items)), batch.last])  # doctest: +SKIP
        """
        return (logits[:, self.ids] * self.weights.to(logits.device, logits.dtype)).sum(-1)


def answer_batch(
    model: TracedModel,
    items: Sequence[Item],
    prompt: PromptFn | None = None,
    *,
    versus: Sequence[Item] | None = None,
) -> AnswerBatch:
    """Encode items (``interp.analysis.common.encode_items``) with their answer metric.

    Args:
        model: an ``MLLM`` (prompts and images) or a ``TextBackbone`` (prompts).
        items: the items.
        prompt: item -> prompt text (default ``Item.prompt()``); a text backbone needs the text
            that stands in for the image (``interp.analysis.organism_text_prompt`` for the organism).
        versus: paired items: the metric becomes the right option's logit minus the logit of
            the paired item's answer (the logit difference activation patching uses).

    Example:
        >>> batch = answer_batch(mllm, items[:4])   # doctest: +SKIP
    """
    items = as_items(items)
    if versus is not None and len(versus) != len(items):
        raise ValueError(f"versus has {len(versus)} items for {len(items)} items: give one per item")
    inputs = encode_items(model, items, images=isinstance(getattr(model, "image_token_id", None), int), prompt=prompt)
    inputs = {k: v.to(model.input_device) for k, v in inputs.items()}
    tok = model.tokenizer  # type: ignore[attr-defined]
    options = [option_token_ids(tok, it) for it in items]
    ids = sorted({i for opts in options for i in opts})
    col = {token: j for j, token in enumerate(ids)}
    weights = torch.zeros(len(items), len(ids))
    for row, (it, opts) in enumerate(zip(items, options)):
        right = opts[it.answer]
        if versus is None:
            for token in opts:
                weights[row, col[token]] = -1.0 / (len(opts) - 1)
        else:
            other = option_token_ids(tok, versus[row])[versus[row].answer]
            if other == right:
                raise ValueError(
                    f"item {it.id!r} and its paired item {versus[row].id!r} have the same answer "
                    f"token: their logit difference is zero"
                )
            if other not in col:
                col[other] = len(ids)
                ids.append(other)
                weights = torch.cat([weights, torch.zeros(len(items), 1)], dim=1)
            weights[row, col[other]] = -1.0
        weights[row, col[right]] = 1.0
    last = last_token_index(inputs["attention_mask"])
    return AnswerBatch(items, inputs, ids, weights.to(model.input_device), last)



# -- gradients through nnsight -------------------------------------------------------------------
@contextlib.contextmanager
def frozen_parameters(model: TracedModel) -> Iterator[None]:
    """Turn off ``requires_grad`` on every parameter for the block, then restore each flag.

    Gradients then flow only from the layer outputs the analysis marks, and nothing accumulates
    in ``param.grad``.

    Example:
        >>> with frozen_parameters(mllm):                                # doctest: +SKIP
        ...     assert not any(p.requires_grad for p in mllm.module.parameters())
    """
    params = list(model.module.parameters())
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


@dataclass(frozen=True, eq=False)
class _Pass:
    acts: dict[int, Tensor]
    grads: dict[int, Tensor]
    metric: Tensor


def _grad_pass(model: TracedModel, batch: AnswerBatch, layers: Sequence[int]) -> _Pass:
    """One forward + backward: layer outputs, their gradients and the metric (float32, CPU)."""
    order = sorted(layers)
    rows = torch.arange(len(batch.items), device=batch.last.device)
    with frozen_parameters(model), torch.enable_grad(), model.trace(batch.inputs):
        first = model.layers[order[0]].output
        first.requires_grad_(True)
        outs = [first] + [model.layers[layer].output for layer in order[1:]]
        saved = nnsight.save([h.save() for h in outs])
        logits = model.nn.output.logits[rows, batch.last]
        metric = batch.metric(logits)
        metric_saved = nnsight.save(metric)
        total = metric.sum()
        grads = nnsight.save([])
        with total.backward():
            for h in reversed(outs):
                grads.append(h.grad.save())
    grads = grads[::-1]
    return _Pass(
        acts={layer: torch.as_tensor(h).detach().float().cpu() for layer, h in zip(order, saved)},
        grads={layer: torch.as_tensor(g).detach().float().cpu() for layer, g in zip(order, grads)},
        metric=torch.as_tensor(metric_saved).detach().float().cpu(),
    )


def _plain_pass(model: TracedModel, batch: AnswerBatch, layers: Sequence[int]) -> _Pass:
    """One forward without gradients: layer outputs and the metric."""
    order = sorted(layers)
    rows = torch.arange(len(batch.items), device=batch.last.device)
    with torch.no_grad(), model.trace(batch.inputs):
        saved = nnsight.save([model.layers[layer].output.save() for layer in order])
        logits = model.nn.output.logits[rows, batch.last]
        metric = nnsight.save(batch.metric(logits))
    return _Pass(
        acts={layer: torch.as_tensor(h).float().cpu() for layer, h in zip(order, saved)},
        grads={},
        metric=torch.as_tensor(metric).float().cpu(),
    )


def _frame(
    model: TracedModel,
    batch: AnswerBatch,
    per_layer: Mapping[int, Mapping[str, Tensor]],
    columns: Mapping[str, Any],
) -> pd.DataFrame:
    """Long table: one row per (item, layer, real position), positions as ``position_frame``.

    ``per_layer`` gives ``(batch, pos)`` value tensors per layer and column name; ``columns``
    one value per item.
    """
    pos = position_frame(model, batch.inputs, batch.items)
    rows, cols = pos.row.to_numpy(), pos.pos.to_numpy()
    base = pos.drop(columns=["row", "pos", "token_id"])
    for name, col in columns.items():
        base[name] = np.asarray(col)[rows]
    frames = []
    for layer, values in per_layer.items():
        df = base.copy()
        df.insert(1, "layer", layer)
        for name, v in values.items():
            df[name] = v.numpy()[rows, cols]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# -- gradient x activation -----------------------------------------------------------------------
def gradient_x_activation(
    model: TracedModel,
    items: Sequence[Item],
    layers: int | Sequence[int] | None = None,
    *,
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> pd.DataFrame:
    """Gradient x activation of the answer's logit difference per layer and position.

    ``attribution = h_{l,p} . dm/dh_{l,p}`` where ``h_{l,p}`` is the output of decoder layer
    ``l`` at position ``p`` and ``m`` the right option's logit minus the mean of the other
    options' (``interp.analysis.common.answer_logit_diff``).

    Returns:
        One row per (item, layer, real position): ``item`` (id), ``layer``, ``position`` (index
        among the row's real tokens), ``token``, ``kind`` (``image``, ``text``, ``last``,
        ``special``), ``patch``, ``patch_row``, ``patch_col`` (image tokens; else -1),
        ``metric`` (the item's ``m``), ``attribution``.

    Example:
        >>> df = gradient_x_activation(mllm, items, layers=[0, 1])     # doctest: +SKIP
        >>> df.groupby(["layer", "kind"]).attribution.sum()            # doctest: +SKIP
    """
    items = as_items(items)
    chosen = resolve_layers(model, layers)
    frames = []
    for chunk in track(
        batches(items, batch_size), total=n_batches(len(items), batch_size),
        description="gradient x activation", enabled=progress,
    ):
        batch = answer_batch(model, chunk, prompt)
        run = _grad_pass(model, batch, chosen)
        per_layer = {layer: {"attribution": (run.acts[layer] * run.grads[layer]).sum(-1)} for layer in chosen}
        frames.append(_frame(model, batch, per_layer, {"metric": run.metric.numpy()}))
    return pd.concat(frames, ignore_index=True)


# -- attribution patching ------------------------------------------------------------------------
Metric = Literal["answer", "pair"]


def attribution_patching(
    model: TracedModel,
    clean: Sequence[Item],
    corrupt: Sequence[Item],
    layers: int | Sequence[int] | None = None,
    *,
    metric: Metric = "answer",
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> pd.DataFrame:
    """Attribution patching: the first-order estimate of patching each (layer, position).

    For each clean/corrupt pair (same token layout), ``attribution = (h^corrupt - h^clean) .
    dm/dh`` at the clean run estimates ``m(clean run with h_{l,p} from the corrupt run) -
    m(clean run)``. Costs one forward + backward on the clean batch and one forward on the
    corrupt batch, whatever the number of positions.

    Args:
        clean: items the metric is about.
        corrupt: one item per clean item whose prompt encodes to the same token layout (e.g.
            the same question about another image).
        metric: ``"answer"``: the clean item's right option logit minus the mean of its other
            options; ``"pair"``: the clean answer's logit minus the corrupt answer's (the
            metric of ``interp.analysis.activation_patching``; answers must differ).

    Returns:
        One row per (pair, layer, real position): ``item`` (clean id), ``layer``, ``position``,
        ``token``, ``kind``, ``patch``, ``patch_row``, ``patch_col``, ``corrupt`` (its id),
        ``metric_clean``, ``metric_corrupt`` (``m`` on the corrupt run), ``attribution``
        (estimated change of ``m``), ``delta_norm`` (``|h^corrupt - h^clean|``).

    Example:
        >>> df = attribution_patching(mllm, clean_items, corrupt_items)   # doctest: +SKIP
        >>> df.groupby("layer").attribution.sum()                         # doctest: +SKIP
    """
    clean = as_items(clean, what="clean items")
    corrupt = as_items(corrupt, what="corrupt items")
    if len(clean) != len(corrupt):
        raise ValueError(f"got {len(clean)} clean items and {len(corrupt)} corrupt ones: give one corrupt item per clean item")
    if metric not in ("answer", "pair"):
        raise ValueError(f"metric must be 'answer' or 'pair', got {metric!r}")
    for a, b in zip(clean, corrupt):
        if a.choices != b.choices:
            raise ValueError(
                f"clean item {a.id!r} has options {list(a.choices)} but corrupt item {b.id!r} has "
                f"{list(b.choices)}: a pair must share its options"
            )
    chosen = resolve_layers(model, layers)
    frames = []
    pairs = list(zip(clean, corrupt))
    for chunk in track(
        batches(pairs, batch_size), total=n_batches(len(pairs), batch_size),
        description="attribution patching", enabled=progress,
    ):
        good, bad = [a for a, _ in chunk], [b for _, b in chunk]
        clean_batch = answer_batch(model, good, prompt, versus=bad if metric == "pair" else None)
        corrupt_inputs = answer_batch(model, bad, prompt).inputs
        _check_layout(clean_batch.inputs, corrupt_inputs, chunk)
        # the corrupt run is scored with the clean items' metric
        corrupt_batch = AnswerBatch(bad, corrupt_inputs, clean_batch.ids, clean_batch.weights, clean_batch.last)
        bad_run = _plain_pass(model, corrupt_batch, chosen)
        good_run = _grad_pass(model, clean_batch, chosen)
        per_layer = {}
        for layer in chosen:
            delta = bad_run.acts[layer] - good_run.acts[layer]
            per_layer[layer] = {
                "attribution": (delta * good_run.grads[layer]).sum(-1),
                "delta_norm": delta.norm(dim=-1),
            }
        frames.append(_frame(
            model, clean_batch, per_layer,
            {
                "corrupt": [b.id for b in bad],
                "metric_clean": good_run.metric.numpy(),
                "metric_corrupt": bad_run.metric.numpy(),
            },
        ))
    return pd.concat(frames, ignore_index=True)


def _check_layout(clean: dict[str, Tensor], corrupt: dict[str, Tensor], chunk: list[tuple[Item, Item]]) -> None:
    ca, cb = clean["attention_mask"], corrupt["attention_mask"]
    if ca.shape == cb.shape and torch.equal(ca, cb):
        return
    if ca.shape == cb.shape:
        a, b = next((a, b) for (a, b), ra, rb in zip(chunk, ca.tolist(), cb.tolist()) if ra != rb)
    else:
        a, b = chunk[0]
    raise ValueError(
        f"clean item {a.id!r} and corrupt item {b.id!r} encode to different token layouts "
        f"(batch shapes {tuple(ca.shape)} vs {tuple(cb.shape)}): attribution patching needs pairs "
        "whose prompts have the same length"
    )


# -- SAE features on image tokens ----------------------------------------------------------------
@dataclass(frozen=True)
class SaeAttribution:
    """What a text SAE's features do on the selected tokens.

    Attributes:
        features: one row per (layer, feature) that fired at least once: ``layer``,
            ``feature``, ``n_tokens`` (selected tokens seen), ``fire_rate`` (share of them where
            the feature is > 0), ``mean_act`` (over all selected tokens), ``max_act``,
            ``mean_act_active`` (over the tokens where it fired), ``attribution`` (mean over
            items of ``sum_t f_i(h_t) (d_i . dm/dh_t)``), ``abs_attribution`` (mean over items of
            its absolute value), ``decoder_norm`` (``|d_i|``).
        layers: one row per layer: ``layer``, ``n_items``, ``n_tokens``, ``l0`` (mean active
            features per token), ``fve`` (fraction of variance of the selected tokens' states
            the SAE explains), and the decomposition of gradient x activation over the selected
            tokens (mean over items): ``total`` (``h . g``) = ``features`` (sum of feature
            attributions) + ``bias`` (``b_dec . g``) + ``error`` (``(h - sae(h)) . g``).
    """

    features: pd.DataFrame
    layers: pd.DataFrame


def _sae_weights(sae: Any) -> tuple[Tensor, Tensor]:
    w_dec = getattr(sae, "W_dec", None)
    b_dec = getattr(sae, "b_dec", None)
    if not isinstance(w_dec, Tensor) or not isinstance(b_dec, Tensor):
        raise ValueError(f"{type(sae).__name__} is not a sae-lens SAE: it needs W_dec and b_dec tensors")
    return w_dec.detach().float(), b_dec.detach().float()


def sae_feature_attribution(
    model: TracedModel,
    items: Sequence[Item],
    saes: SaeSource | None = None,
    layers: int | Sequence[int] | None = None,
    *,
    tokens: Selector = "image",
    prompt: PromptFn | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> SaeAttribution:
    """Which SAE features fire on ``tokens`` (image tokens by default) and how much each moves the answer.

    A feature's attribution on one item is ``sum_t f_i(h_t) (d_i . dm/dh_t)`` over the selected
    tokens ``t`` (activation x gradient along its decoder row ``d_i``). With ``h = sum_i f_i d_i
    + b_dec + error``, the features, the decoder bias and the SAE error add up to gradient x
    activation on those tokens (the ``layers`` table).

    Args:
        model: the MLLM (or a text backbone with ``tokens="text"``).
        saes: anything ``interp.vectors.load_saes`` takes (a model source's name such as
            ``"organism"``, a directory, a ``{layer: SAE}`` mapping); None: the SAEs of the model
            source ``model`` comes from.
        layers: layers to analyse (default: every layer the SAEs cover).
        tokens: token selector of the positions to analyse.

    Example:
        >>> res = sae_feature_attribution(mllm, items, "organism", layers=[0])   # doctest: +SKIP
        >>> res.features.sort_values("abs_attribution").tail()                  # doctest: +SKIP
    """
    from interp.vectors.sae import default_saes, load_saes

    items = as_items(items)
    wanted = None if layers is None else resolve_layers(model, layers)
    loaded, _ = load_saes(default_saes(model) if saes is None else saes, wanted)
    chosen = resolve_layers(model, sorted(loaded))
    weights = {}
    for layer in chosen:
        w_dec, b_dec = _sae_weights(loaded[layer])
        if w_dec.shape[1] != model.d_model:
            raise ValueError(
                f"the SAE for layer {layer} decodes to {w_dec.shape[1]} dims but {model.name} has d_model {model.d_model}"
            )
        weights[layer] = (w_dec, b_dec)
    acc = {
        layer: {
            "n": torch.zeros((), dtype=torch.float64),
            "active": torch.zeros(weights[layer][0].shape[0], dtype=torch.float64),
            "sum": torch.zeros(weights[layer][0].shape[0], dtype=torch.float64),
            "max": torch.zeros(weights[layer][0].shape[0], dtype=torch.float64),
            "attr": torch.zeros(weights[layer][0].shape[0], dtype=torch.float64),
            "abs": torch.zeros(weights[layer][0].shape[0], dtype=torch.float64),
            "parts": torch.zeros(4, dtype=torch.float64),
            "resid": torch.zeros((), dtype=torch.float64),
            "s1": torch.zeros(model.d_model, dtype=torch.float64),
            "s2": torch.zeros((), dtype=torch.float64),
        }
        for layer in chosen
    }
    n_items = 0
    for chunk in track(
        batches(items, batch_size), total=n_batches(len(items), batch_size),
        description="SAE feature attribution", enabled=progress,
    ):
        batch = answer_batch(model, chunk, prompt)
        mask = model.mask(tokens, batch.inputs).cpu()  # type: ignore[attr-defined]
        run = _grad_pass(model, batch, chosen)
        n_items += len(chunk)
        for layer in chosen:
            sae = loaded[layer]
            w_dec, b_dec = weights[layer]
            a = acc[layer]
            h, g = run.acts[layer], run.grads[layer]
            with torch.no_grad():
                feats = sae.encode(h[mask].to(sae.W_dec.dtype)).float()
            recon = feats @ w_dec + b_dec
            along = g[mask] @ w_dec.T
            contrib = feats * along
            row_of = torch.nonzero(mask)[:, 0]
            per_item = torch.zeros(len(chunk), feats.shape[1]).index_add_(0, row_of, contrib)
            a["n"] += feats.shape[0]
            a["active"] += (feats > 0).sum(0).double()
            a["sum"] += feats.sum(0).double()
            a["max"] = torch.maximum(a["max"], feats.amax(0).double() if feats.numel() else a["max"])
            a["attr"] += per_item.sum(0).double()
            a["abs"] += per_item.abs().sum(0).double()
            hm, gm = h[mask], g[mask]
            a["parts"] += torch.stack([
                (hm * gm).sum(), contrib.sum(), (b_dec * gm).sum(), ((hm - recon) * gm).sum()
            ]).double()
            a["resid"] += ((hm - recon) ** 2).sum().double()
            a["s1"] += hm.sum(0).double()
            a["s2"] += (hm**2).sum().double()
    feature_rows, layer_rows = [], []
    for layer in chosen:
        a = acc[layer]
        n = float(a["n"])
        w_dec, _ = weights[layer]
        fired = torch.nonzero(a["active"] > 0).flatten()
        feature_rows.append(pd.DataFrame({
            "layer": layer,
            "feature": fired.numpy(),
            "n_tokens": int(n),
            "fire_rate": (a["active"][fired] / max(n, 1.0)).numpy(),
            "mean_act": (a["sum"][fired] / max(n, 1.0)).numpy(),
            "max_act": a["max"][fired].numpy(),
            "mean_act_active": (a["sum"][fired] / a["active"][fired]).numpy(),
            "attribution": (a["attr"][fired] / n_items).numpy(),
            "abs_attribution": (a["abs"][fired] / n_items).numpy(),
            "decoder_norm": w_dec[fired].norm(dim=-1).double().numpy(),
        }))
        total_var = float(a["s2"] - (a["s1"] ** 2).sum() / max(n, 1.0))
        parts = (a["parts"] / n_items).tolist()
        layer_rows.append({
            "layer": layer,
            "n_items": n_items,
            "n_tokens": int(n),
            "l0": float(a["active"].sum() / max(n, 1.0)),
            "fve": 1.0 - float(a["resid"]) / total_var if total_var > 0 else float("nan"),
            "total": parts[0],
            "features": parts[1],
            "bias": parts[2],
            "error": parts[3],
        })
    return SaeAttribution(features=pd.concat(feature_rows, ignore_index=True), layers=pd.DataFrame(layer_rows))


def attribution_summary(table: pd.DataFrame, value: str = "attribution") -> pd.DataFrame:
    """Per (layer, kind): each item's sum of ``value`` over the kind's tokens, averaged over items.

    Reads a ``gradient_x_activation`` or ``attribution_patching`` table (columns ``item``,
    ``layer``, ``kind`` and ``value``); no model is run. Columns: ``layer``, ``kind``, ``value``.

    Example:
        >>> attribution_summary(gradient_x_activation(mllm, items, [0]))   # doctest: +SKIP
    """
    per_item = table.groupby(["item", "layer", "kind"], sort=True)[value].sum().reset_index()
    return per_item.groupby(["layer", "kind"], sort=True)[value].mean().reset_index()


__all__ = [
    "AnswerBatch",
    "PromptFn",
    "SaeAttribution",
    "answer_batch",
    "attribution_patching",
    "attribution_summary",
    "frozen_parameters",
    "gradient_x_activation",
    "sae_feature_attribution",
]
