"""Activation patching: which layer and which positions carry the answer.

Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT") runs a clean
and a corrupted input, then re-runs the corrupted one with some activations replaced by the clean
run's and measures how much of the clean behaviour comes back. Following Heimersheim & Nanda 2024
("How to use and interpret activation patching"), the metric is a logit difference, the clean
answer's option logit minus the corrupt answer's, and the result is the recovered fraction

    (patched - corrupt) / (clean - corrupt),

1 when the patch restores the clean answer's margin, 0 when it changes nothing. Patches replace the
residual stream after one decoder layer at a position group (image, text, last, all, or any token
selector) or at one position at a time. Clean and corrupt inputs must have the same token layout
(the same real, image and special positions); they may differ in tokens (two prompts) or images
(two scenes differing in one fact).

Example:
    >>> res = activation_patching(mllm, clean_items, corrupt_items, positions=True)   # doctest: +SKIP
    >>> res.summary().pivot(index="layer", columns="group", values="recovered")   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from interp.analysis.common import (
    last_positions,
    named_selectors,
    position_frame,
    trace_residuals,
    vector_layers,
)
from interp.answers import encode_items, option_token_ids
from interp.items import Item, as_items, check_batch_size
from interp.models.traced import MLLM
from interp.progress import track as progress_bar
from interp.tokens import Selector

DEFAULT_GROUPS = ("image", "text", "last", "all")


@dataclass(frozen=True)
class PatchingResult:
    """Results of ``activation_patching``.

    Attributes:
        pairs: one row per pair: ``pair``, ``clean``, ``corrupt`` (item ids), ``metric_clean``,
            ``metric_corrupt`` (the clean answer's logit minus the corrupt answer's, on each run).
        groups: one row per (pair, layer, group): ``pair``, ``layer``, ``group``, ``n_patched``,
            ``metric_patched``, ``recovered`` ((patched - corrupt) / (clean - corrupt), NaN
            where clean == corrupt).
        positions: one row per (pair, layer, position) when asked for, else empty: ``pair``,
            ``layer``, ``position`` (index among the row's real tokens), ``token``, ``kind``,
            ``patch``, ``patch_row``, ``patch_col``, ``metric_patched``, ``recovered``.
    """

    pairs: pd.DataFrame
    groups: pd.DataFrame
    positions: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """Recovered fraction of the mean metric per (layer, group): (mean patched - mean
        corrupt) / (mean clean - mean corrupt), steadier than a mean of per-pair ratios.

        Columns: ``layer``, ``group``, ``n_pairs``, ``recovered``, ``recovered_pairs_mean``.
        """
        return _summarize(self.pairs, self.groups, ["layer", "group"])

    def position_summary(self) -> pd.DataFrame:
        """As ``summary`` per (layer, position, kind, patch): which single positions matter.

        Columns: ``layer``, ``position``, ``kind``, ``patch``, ``n_pairs``, ``recovered``,
        ``recovered_pairs_mean``.
        """
        if self.positions.empty:
            raise ValueError("no per-position results: run activation_patching with positions=True")
        return _summarize(self.pairs, self.positions, ["layer", "position", "kind", "patch"])


def _summarize(pairs: pd.DataFrame, table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    merged = table.merge(pairs[["pair", "metric_clean", "metric_corrupt"]], on="pair")
    rows = []
    for key, grp in merged.groupby(keys, sort=True):
        den = grp.metric_clean.mean() - grp.metric_corrupt.mean()
        rec = (grp.metric_patched.mean() - grp.metric_corrupt.mean()) / den if den != 0 else math.nan
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(n_pairs=len(grp), recovered=float(rec), recovered_pairs_mean=float(grp.recovered.mean()))
        rows.append(row)
    return pd.DataFrame(rows)


def _check_layout(mllm: MLLM, clean: dict[str, Tensor], corrupt: dict[str, Tensor], first: int) -> None:
    a, b = clean["attention_mask"].bool(), corrupt["attention_mask"].bool()
    ia = (clean["input_ids"] == mllm.image_token_id) & a
    ib = (corrupt["input_ids"] == mllm.image_token_id) & b
    if a.shape != b.shape:
        for r in range(min(a.shape[0], b.shape[0])):
            if int(a[r].sum()) != int(b[r].sum()):
                raise ValueError(
                    f"pair {first + r}: clean and corrupt inputs differ in token layout (clean has "
                    f"{int(a[r].sum())} tokens, corrupt {int(b[r].sum())}): patching needs the same "
                    "token layout on both sides"
                )
        raise ValueError(f"clean and corrupt batches have shapes {tuple(a.shape)} and {tuple(b.shape)}")
    for r in range(a.shape[0]):
        if not torch.equal(a[r], b[r]) or not torch.equal(ia[r], ib[r]):
            raise ValueError(
                f"pair {first + r}: clean and corrupt inputs differ in token layout (clean has "
                f"{int(a[r].sum())} tokens with {int(ia[r].sum())} image tokens, corrupt "
                f"{int(b[r].sum())} with {int(ib[r].sum())}): patching needs the same token layout "
                "on both sides"
            )


def _recovered(patched: float, corrupt: float, den: float) -> float:
    return (patched - corrupt) / den if den != 0 else math.nan


def _metric(logits: Tensor, ids: Tensor) -> Tensor:
    """Clean answer's logit minus corrupt answer's, per row; ``ids`` is (batch, 2)."""
    picked = logits.gather(1, ids.to(logits.device))
    return (picked[:, 0] - picked[:, 1]).double().cpu()


def _patched_logits(
    mllm: MLLM, inputs: dict[str, Tensor], layer: int, clean_h: Tensor, mask: Tensor
) -> Tensor:
    rows = torch.arange(inputs["input_ids"].shape[0])
    last = last_positions(inputs)
    m = mask.to(mllm.input_device).unsqueeze(-1)
    with torch.no_grad(), mllm.trace(inputs):
        envoy = mllm.layers[layer]
        envoy.output = torch.where(m, clean_h, envoy.output)
        out = mllm.nn.output.logits[rows, last].save()
    return torch.as_tensor(out).float().cpu()


def _repeat(inputs: dict[str, Tensor], k: int) -> dict[str, Tensor]:
    return {key: t.repeat(k, *([1] * (t.dim() - 1))) for key, t in inputs.items()}


def activation_patching(
    mllm: MLLM,
    clean: Sequence[Item],
    corrupt: Sequence[Item],
    *,
    layers: int | Iterable[int] | None = None,
    groups: Sequence[str] | Mapping[str, Selector] = DEFAULT_GROUPS,
    positions: bool = False,
    batch_size: int = 4,
    position_batch: int = 16,
    progress: bool = False,
) -> PatchingResult:
    """Patch clean activations into corrupted runs per layer and position group (and position).

    Args:
        mllm: the model.
        clean, corrupt: pairs of items (same length; pair i = ``clean[i]``, ``corrupt[i]``),
            with the same token layout and different answers.
        layers: layers to patch (default all).
        groups: token selectors to patch together (names, or ``{name: selector}`` with
            ``Positions``); a group may select nothing in a row (then nothing is patched).
        positions: also patch every single position, one at a time.
        batch_size: pairs per trace.
        position_batch: single positions patched per trace (the batch is repeated this often).

    Example:
        >>> res = activation_patching(mllm, clean, corrupt, layers=[0, 1])   # doctest: +SKIP
        >>> res.summary()   # doctest: +SKIP
    """
    clean_items = as_items(clean, what="clean items")
    corrupt_items = as_items(corrupt, what="corrupt items")
    if len(clean_items) != len(corrupt_items):
        raise ValueError(
            f"got {len(clean_items)} clean and {len(corrupt_items)} corrupt items: patching needs "
            "one corrupt item per clean item"
        )
    check_batch_size(batch_size)
    check_batch_size(position_batch)
    layer_list = vector_layers(mllm, None, layers)
    named = named_selectors(groups)
    ids_rows = []
    for i, (c, x) in enumerate(zip(clean_items, corrupt_items)):
        if c.answer == x.answer:
            raise ValueError(
                f"pair {i}: clean and corrupt items have the same answer ({c.answer_letter}): the "
                "logit difference between the two answers would be zero"
            )
        ids_c, ids_x = option_token_ids(mllm.tokenizer, c), option_token_ids(mllm.tokenizer, x)
        ids_rows.append([ids_c[c.answer], ids_x[x.answer]])
    answer_ids = torch.tensor(ids_rows)
    pair_rows, group_rows, pos_rows = [], [], []
    n = len(clean_items)
    starts = list(range(0, n, batch_size))
    for start in progress_bar(starts, total=len(starts), description="patching", enabled=progress):
        sl = slice(start, start + batch_size)
        c_items, x_items = clean_items[sl], corrupt_items[sl]
        c_in = {k: v.to(mllm.input_device) for k, v in encode_items(mllm, c_items).items()}
        x_in = {k: v.to(mllm.input_device) for k, v in encode_items(mllm, x_items).items()}
        _check_layout(mllm, c_in, x_in, start)
        masks = {name: mllm.mask(sel, c_in, allow_empty=True) for name, sel in named.items()}
        ids = answer_ids[sl]
        acts, c_logits = trace_residuals(mllm, c_in, layer_list)
        _, x_logits = trace_residuals(mllm, x_in, [layer_list[0]])
        assert c_logits is not None and x_logits is not None
        m_clean, m_corrupt = _metric(c_logits, ids), _metric(x_logits, ids)
        den = m_clean - m_corrupt
        for r in range(len(c_items)):
            pair_rows.append(
                {
                    "pair": start + r, "clean": c_items[r].id, "corrupt": x_items[r].id,
                    "metric_clean": float(m_clean[r]), "metric_corrupt": float(m_corrupt[r]),
                }
            )

        clean_dev = {la: h.to(device=mllm.input_device, dtype=mllm.dtype) for la, h in acts.items()}
        for layer in layer_list:
            for name, mask in masks.items():
                metric = _metric(_patched_logits(mllm, x_in, layer, clean_dev[layer], mask), ids)
                for r in range(len(c_items)):
                    group_rows.append(
                        {
                            "pair": start + r, "layer": layer, "group": name,
                            "n_patched": int(mask[r].sum()), "metric_patched": float(metric[r]),
                            "recovered": _recovered(float(metric[r]), float(m_corrupt[r]), float(den[r])),
                        }
                    )
        if positions:
            pos_rows.extend(
                _single_positions(mllm, c_items, x_in, clean_dev, layer_list, ids, m_corrupt, den,
                                  start, position_batch)
            )
    pos_cols = ["pair", "layer", "position", "token", "kind", "patch", "patch_row", "patch_col",
                "metric_patched", "recovered"]
    return PatchingResult(
        pd.DataFrame(pair_rows), pd.DataFrame(group_rows),
        pd.DataFrame(pos_rows) if pos_rows else pd.DataFrame(columns=pos_cols),
    )


def _single_positions(
    mllm: MLLM, c_items: Sequence[Item], x_in: dict[str, Tensor], clean_dev: dict[int, Tensor],
    layer_list: Sequence[int], ids: Tensor, m_corrupt: Tensor, den: Tensor, start: int, k: int,
) -> list[dict[str, object]]:
    frame = position_frame(mllm, x_in, c_items)
    batch, width = x_in["input_ids"].shape
    real = x_in["attention_mask"].bool().cpu()
    info = {(int(r.row), int(r.pos)): r for r in frame.itertuples()}
    rows: list[dict[str, object]] = []
    cols = list(range(width))
    for layer in layer_list:
        for c0 in range(0, width, k):
            chunk = cols[c0 : c0 + k]
            reps = len(chunk)
            inputs = _repeat(x_in, reps)
            clean_h = clean_dev[layer].repeat(reps, 1, 1)
            mask = torch.zeros(reps * batch, width, dtype=torch.bool)
            for j, p in enumerate(chunk):
                mask[j * batch : (j + 1) * batch, p] = real[:, p]
            logits = _patched_logits(mllm, inputs, layer, clean_h, mask)
            metric = _metric(logits, ids.repeat(reps, 1))
            for j, p in enumerate(chunk):
                for b in range(batch):
                    if not real[b, p]:
                        continue
                    t = info[(b, p)]
                    value = float(metric[j * batch + b])
                    rows.append(
                        {
                            "pair": start + b, "layer": layer, "position": int(t.position),
                            "token": t.token, "kind": t.kind, "patch": int(t.patch),
                            "patch_row": int(t.patch_row), "patch_col": int(t.patch_col),
                            "metric_patched": value,
                            "recovered": _recovered(value, float(m_corrupt[b]), float(den[b])),
                        }
                    )
    return rows


__all__ = ["DEFAULT_GROUPS", "PatchingResult", "activation_patching"]
