"""Native vectors: directions from the MLLM's own image-token activations, to compare with textual ones.

Textual steering vectors (arXiv 2505.14071) are built on the text-only backbone from sentences
alone; the question they answer is whether an MLLM's textual side can teach its visual side. The
comparator is a *native* vector for the same concept, built from the MLLM's own residual stream
on the image tokens of a visual contrast: items whose images show the concept (``positive``)
against items whose images do not (``negative``), e.g. scenes with many vs few objects, or, for
a real benchmark, items whose answer is option A vs option B of a task. The methods mirror the
textual ones on image tokens (the standard activation-steering recipe: Turner et al. 2023,
"Activation Addition", arXiv 2308.10248; Rimsky et al. 2024, "Steering Llama 2 via Contrastive
Activation Addition", arXiv 2312.06681):

- ``diffmean``: ``v_l = mean(h_l on the positive items' image tokens) - mean(h_l on the negative
  items' image tokens)``, pooled over tokens (AxBench's DiffMean, CAA's difference of means).
- ``meanshift``: ``mean(h_l on the positive image tokens) - mean(h_l on all image tokens of the
  contrast)``: the shift of the concept's tokens from the pooled mean, as the textual MeanShift
  takes the anchor tokens' shift from the others. With two sets and no anchor positions it is
  ``diffmean`` times ``n_negative / n_all`` (same direction, smaller norm); it exists so that a
  textual meanshift vector has a native partner of its own name.
- ``probe``: image tokens labelled 1 (positive item) or 0; PCA to ``n_components``, logistic
  regression without bias, direction ``components^T w``, L2-normalized, its sign fixed so that the
  positive set projects higher (the textual probe's recipe).

``native_vector`` returns an ordinary ``SteeringVector`` whose metadata says it is native
(``params["native"] = True``, ``source_model`` = the MLLM), so saving, loading, merging and
``check_compatible`` work as for any vector. ``compare_native`` sets textual and native vectors
side by side: their cosine per layer, and the steering gain of each at the same cell (same layer,
selector, strength and edit norm) with the sweep's statistics.

Example:
    >>> mllm = interp.load_mllm("organism-llava")                                   # doctest: +SKIP
    >>> contrast = organism_contrast("counting", n=64)                              # doctest: +SKIP
    >>> native = native_vector(mllm, contrast, method="diffmean")                   # doctest: +SKIP
    >>> native.meta.params["native"]                                                # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from interp.activations import MaskedMean
from interp.errors import as_int
from interp.items import Item, as_items, n_batches
from interp.progress import track
from interp.vectors.checks import fingerprint
from interp.vectors.vector import SteeringVector, VectorMeta

if TYPE_CHECKING:
    from interp.evaluation.store import ResultStore
    from interp.evaluation.tables import SweepResult
    from interp.models.traced import MLLM
    from interp.types import DataFrame, ItemsLike, LayerSpec, PathLike

#: The methods ``native_vector`` knows.
NATIVE_METHODS = ("diffmean", "meanshift", "probe")

#: The organism's visual contrasts per concept: (task, what the positive and negative sets show).
ORGANISM_CONTRASTS = {
    "counting": ("Count", "scenes with 5-6 objects", "scenes with 1-2 objects"),
    "spatial_relationship": ("Relation", "the first named object left of the second", "right of it"),
    "attribute": ("Attribute", "the asked-about object is red", "it is blue"),
}


@dataclass(frozen=True)
class VisualContrast:
    """Two sets of items whose images differ in one visual concept.

    Attributes:
        concept: the concept the contrast stands for (a textual vector of the same concept is its
            partner in ``compare_native``).
        positive: items whose images show the concept (or option A).
        negative: items whose images do not (or option B).
        description: what the two sets are, for the vector's metadata.

    Example:
        >>> VisualContrast("counting", (), ()).concept
        'counting'
    """

    concept: str
    positive: tuple[Item, ...]
    negative: tuple[Item, ...]
    description: str = ""

    def hash(self) -> str:
        """A short hash of the concept and both sets' item ids.

        Example:
            >>> len(VisualContrast("c", (), ()).hash())
            16
        """
        text = "\n".join([self.concept, *(i.id for i in self.positive), "--", *(i.id for i in self.negative)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def labelled_contrast(
    items: ItemsLike, concept: str, *, task: str, positive: int = 0, negative: int = 1
) -> VisualContrast:
    """A contrast from labelled items: those of ``task`` answered by option ``positive`` vs ``negative``.

    The route for a real benchmark (e.g. CV-Bench Relation items whose answer is (A) vs (B)).

    Example:
        >>> c = labelled_contrast(items, "spatial_relationship", task="Relation")   # doctest: +SKIP
    """
    positive = as_int(positive, "positive", minimum=0)
    negative = as_int(negative, "negative", minimum=0)
    if positive == negative:
        raise ValueError(f"positive and negative must be different options, got {positive} for both")
    pool = [it for it in as_items(items, what="contrast items") if it.task == task]
    if not pool:
        raise ValueError(f"no item of task {task!r} to build a contrast from")
    return VisualContrast(
        concept,
        tuple(it for it in pool if it.answer == positive),
        tuple(it for it in pool if it.answer == negative),
        f"{task} items answered by option {positive} (positive) vs option {negative} (negative)",
    )


def organism_contrast(concept: str, n: int = 64, *, seed: int = 0, split: str = "val", start: int = 0) -> VisualContrast:
    """The organisms' visual contrast for ``concept``: ``n`` items per side from generated scenes.

    ``counting``: Count scenes with 5-6 objects vs 1-2; ``spatial_relationship``: Relation items
    (left/right questions) whose first named object is left vs right of the second;
    ``attribute``: Attribute colour questions whose object is red vs blue. Items come from
    ``split`` (the val scenes by default: held out from training and from the test items), scene
    indices from ``start``.

    Example:
        >>> c = organism_contrast("counting", n=4)
        >>> len(c.positive), len(c.negative)
        (4, 4)
    """
    from interp.organism.scenes import make_item

    if concept not in ORGANISM_CONTRASTS:
        raise ValueError(f"no organism contrast for concept {concept!r}: choose among {sorted(ORGANISM_CONTRASTS)}")
    n = as_int(n, "n", minimum=1)
    task, pos_text, neg_text = ORGANISM_CONTRASTS[concept]

    def side(d: dict) -> str | None:
        if concept == "counting":
            k = len(d["scene"].objects)
            return "pos" if k >= 5 else "neg" if k <= 2 else None
        if concept == "spatial_relationship":
            return {"left": "pos", "right": "neg"}.get(d["answer_text"])
        return {"red": "pos", "blue": "neg"}.get(d["answer_text"])

    sides: dict[str, list[dict]] = {"pos": [], "neg": []}
    index = start
    while min(len(s) for s in sides.values()) < n:
        if index - start > 200 * n:  # pragma: no cover - the organism's scenes make both sides common
            raise RuntimeError(f"could not find {n} items per side for {concept!r}")
        d = make_item(split, task, index, seed)
        index += 1
        s = side(d)
        if s is not None and len(sides[s]) < n:
            sides[s].append(d)
    return VisualContrast(
        concept, tuple(as_items(sides["pos"])), tuple(as_items(sides["neg"])),
        f"organism {split} {task} items: {pos_text} (positive) vs {neg_text} (negative)",
    )


def _check_contrast(contrast: VisualContrast) -> None:
    if not isinstance(contrast, VisualContrast):
        raise ValueError(
            f"contrast must be a VisualContrast (positive and negative items), got {type(contrast).__name__}: "
            "build one with organism_contrast or labelled_contrast"
        )
    for name, side in (("positive", contrast.positive), ("negative", contrast.negative)):
        if not side:
            raise ValueError(f"the contrast {contrast.concept!r} has an empty {name} set: both sets need items")
        bare = [it.id for it in side if not it.images]
        if bare:
            raise ValueError(
                f"the contrast {contrast.concept!r} has {name} items without an image (e.g. {bare[0]!r}): "
                "a native vector is built on image tokens"
            )


def _image_activations(
    mllm: MLLM, items: Sequence[Item], layers: Sequence[int], batch_size: int, progress: bool, what: str,
) -> dict[int, list[torch.Tensor]]:
    """Per layer, the residual stream at every image token of ``items`` (one tensor per batch)."""
    from interp.answers import encode_items

    out: dict[int, list[torch.Tensor]] = {layer: [] for layer in layers}
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    for batch in track(batches, total=n_batches(len(items), batch_size), description=what, enabled=progress):
        inputs = encode_items(mllm, batch)
        mask = mllm.mask("image", inputs, allow_empty=True)
        empty = [it.id for it, row in zip(batch, mask) if not bool(row.any())]
        if empty:
            raise ValueError(
                f"item {empty[0]!r} has no image tokens in {mllm.name}'s input: a native vector is built on image tokens"
            )
        saved = {}
        with torch.no_grad(), mllm.trace(inputs, logits_to_keep=1, use_cache=False):
            for layer in layers:
                saved[layer] = mllm.layers[layer].output.save()
        for layer in layers:
            h = torch.as_tensor(saved[layer])
            out[layer].append(h[mask.to(h.device)].float().cpu())
    return out


def native_vector(
    mllm: MLLM,
    contrast: VisualContrast,
    *,
    method: str = "diffmean",
    layers: LayerSpec = None,
    n_components: int = 10,
    batch_size: int = 16,
    progress: bool = False,
) -> SteeringVector:
    """A steering vector from ``mllm``'s own image-token activations on a visual contrast.

    Args:
        mllm: the MLLM (its decoder layers, output of layer ``l`` as for textual vectors).
        contrast: the positive and negative items (``organism_contrast``, ``labelled_contrast``).
        method: ``"diffmean"``, ``"meanshift"`` or ``"probe"`` (see the module's notes).
        layers: one layer, a list, ``"all"`` or None for every layer.
        n_components: PCA components of the probe.
        batch_size: items per forward pass.
        progress: progress lines or a bar.

    Returns:
        A ``SteeringVector`` with ``meta.method`` ``"native-<method>"``, ``meta.concept`` the
        contrast's concept, ``meta.source_model`` the MLLM and ``params["native"] = True``;
        ``extra`` records the image-token counts and, per layer, how far the two sets' mean
        projections onto the direction lie apart (``separation``: in pooled standard deviations).

    Example:
        >>> v = native_vector(mllm, organism_contrast("counting"), layers=[0, 1])   # doctest: +SKIP
        >>> v.meta.method                                                         # doctest: +SKIP
        'native-diffmean'
    """
    from interp.activations import resolve_layers

    if method not in NATIVE_METHODS:
        raise ValueError(f"unknown native method {method!r}: choose among {NATIVE_METHODS}")
    _check_contrast(contrast)
    n_components = as_int(n_components, "n_components", minimum=1)
    batch_size = as_int(batch_size, "batch_size", minimum=1)
    chosen = resolve_layers(mllm, layers)
    acts = {
        side: _image_activations(mllm, list(items), chosen, batch_size, progress, f"native {side}")
        for side, items in (("positive", contrast.positive), ("negative", contrast.negative))
    }
    tensors: dict[int, torch.Tensor] = {}
    separation: dict[str, float] = {}
    for layer in chosen:
        pos = torch.cat(acts["positive"][layer])
        neg = torch.cat(acts["negative"][layer])
        means = MaskedMean(), MaskedMean()
        means[0].update(layer, pos[None], torch.ones(1, len(pos), dtype=torch.bool))
        means[1].update(layer, neg[None], torch.ones(1, len(neg), dtype=torch.bool))
        if method == "diffmean":
            v = means[0].mean(layer) - means[1].mean(layer)
        elif method == "meanshift":
            pooled = (means[0].sums[layer] + means[1].sums[layer]) / (len(pos) + len(neg))
            v = (means[0].mean(layer).double() - pooled).float()
        else:
            v = _probe_direction(pos, neg, n_components)
        tensors[layer] = v
        d = v.double() / max(float(v.double().norm()), 1e-12)
        pp, pn = pos.double() @ d, neg.double() @ d
        spread = float(torch.cat([pp - pp.mean(), pn - pn.mean()]).std()) or 1e-12
        separation[str(layer)] = float(pp.mean() - pn.mean()) / spread
    first = chosen[0]
    meta = VectorMeta(
        method=f"native-{method}",
        concept=contrast.concept,
        source_model=str(mllm.name),
        d_model=int(mllm.d_model),
        n_layers=int(mllm.n_layers),
        corpus_hash=contrast.hash(),
        corpus_size=len(contrast.positive) + len(contrast.negative),
        params={"native": True, "method": method, "tokens": "image", "contrast": contrast.description,
                **({"n_components": n_components} if method == "probe" else {})},
        extra={
            "positive_items": len(contrast.positive), "negative_items": len(contrast.negative),
            "positive_tokens": int(sum(len(t) for t in acts["positive"][first])),
            "negative_tokens": int(sum(len(t) for t in acts["negative"][first])),
            "separation": separation,
        },
        normalized=method == "probe",
        source_fingerprint=fingerprint(mllm),
    )
    return SteeringVector(tensors, meta)


def _probe_direction(pos: torch.Tensor, neg: torch.Tensor, n_components: int) -> torch.Tensor:
    try:
        from sklearn.decomposition import PCA
        from sklearn.linear_model import LogisticRegression
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the native probe needs scikit-learn, one of interp's dependencies, missing here: pip install scikit-learn"
        ) from err
    x = torch.cat([pos, neg]).double().numpy()
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    k = min(n_components, x.shape[0] - 1, x.shape[1])
    if k < 1:
        raise ValueError("the native probe needs at least two image tokens")
    pca = PCA(n_components=k, random_state=0).fit(x)
    clf = LogisticRegression(fit_intercept=False, max_iter=1000).fit(pca.transform(x), y)
    d = torch.from_numpy(pca.components_.T @ clf.coef_[0])
    d = d / max(float(d.norm()), 1e-12)
    # Fix the sign by the data (the positive set projects higher), as the mean methods' sign is.
    if float((torch.from_numpy(x[: len(pos)]) @ d).mean()) < float((torch.from_numpy(x[len(pos):]) @ d).mean()):
        d = -d
    return d.float()


def _partner(native: Mapping[str, SteeringVector], textual: SteeringVector) -> str | None:
    """The native vector paired with ``textual``: same concept, the same method where there is one."""
    same = [n for n, v in native.items() if v.meta.concept == textual.meta.concept]
    for n in same:
        if native[n].meta.method == f"native-{textual.meta.method}":
            return n
    return same[0] if same else None


def compare_native(
    mllm: MLLM,
    textual: Mapping[str, SteeringVector],
    native: Mapping[str, SteeringVector],
    items: ItemsLike,
    *,
    cells: SweepResult | DataFrame | None = None,
    layers: LayerSpec = None,
    selector: str = "image",
    strength: float = 1.0,
    tasks: Sequence[str] | None = None,
    n_random: int = 10,
    store: ResultStore | PathLike | None = None,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> DataFrame:
    """Textual vs native vectors of the same concept: cosine per layer and the gain of each at the same cell.

    Each textual vector is paired with the native vector of its concept (the one of the same
    method, ``native-<method>``, where there is one). The gains are measured with the sweep's
    statistics on ``items``: accuracy minus the unsteered model's, a paired bootstrap 95% CI and
    the exact McNemar p (``interp.stats.paired_difference``), the textual vector against
    ``n_random`` random directions of the same norm, and native minus textual paired the same
    way. At a cell the native vector adds the *same edit norm* as the textual one (its multiplier
    is the textual ``alpha`` x ``|textual| / |native|``), so the random directions' q95 is one
    control for both.

    Args:
        mllm: the MLLM.
        textual: name -> textual vector (e.g. the sweep's vectors).
        native: name -> native vector (``native_vector``).
        items: the items to score on (test items, or fresh ones; not those the cells were chosen on).
        cells: a sweep's result (or its table): score each chosen cell of a paired textual vector
            (its layer, selector, strength, alpha and task). None: score every layer in ``layers``
            at ``selector`` and relative ``strength`` (relative to the mean residual norm of the
            selected tokens, as the sweep's), on ``tasks``.
        layers: the layers of the cosine table (and of the cells when ``cells`` is None).
        selector, strength, tasks: the cells when ``cells`` is None (tasks: all of ``items``').
        n_random: random directions per textual cell.
        store: a results store (file or object; None: in memory); a sweep's store reuses its rows.
        seed: first seed of the random directions.
        batch_size, progress: as the sweep's.

    Returns:
        One row per (textual, native, layer) with ``cosine``; where a cell was scored at that
        layer, one row per scored cell with ``task, selector, strength, n``, ``unsteered``,
        ``textual_gain`` / ``native_gain`` with ``_low`` / ``_high`` and ``_p``, ``random_q95_gain``,
        ``textual_beats_random`` / ``native_beats_random``, and ``native_minus_textual`` with its
        interval and p.

    Example:
        >>> natives = {"native/counting": native_vector(mllm, organism_contrast("counting"))}   # doctest: +SKIP
        >>> df = compare_native(mllm, vectors, natives, test, cells=res)                      # doctest: +SKIP
    """
    import pandas as pd

    from interp.evaluation.cells import model_fingerprint, residual_norms
    from interp.evaluation.controls import CELL_COLUMNS, _correct, _open, _steered_cell, replicate
    from interp.evaluation.tables import SweepResult
    from interp.stats import paired_difference

    if not isinstance(textual, Mapping) or not isinstance(native, Mapping):
        raise ValueError("textual and native must be mappings name -> SteeringVector")
    for name, v in native.items():
        if not v.meta.params.get("native"):
            raise ValueError(f"native vector {name!r} is not native (its meta.params lacks native=True): build it with native_vector")
        v.check_compatible(mllm)
    pairs = {t: p for t, v in textual.items() if (p := _partner(native, v)) is not None}
    if not pairs:
        raise ValueError(
            f"no textual vector shares a concept with a native one (textual concepts "
            f"{sorted({v.meta.concept for v in textual.values()})}, native {sorted({v.meta.concept for v in native.values()})})"
        )
    pool = as_items(items, what="items to compare on")
    if not pool:
        raise ValueError("compare_native needs items to score on: got none")
    if layers is None:
        common = sorted(set.intersection(*(set(textual[t].layers) & set(native[p].layers) for t, p in pairs.items())))
        chosen = [mllm.check_layer(x) for x in common]
    else:
        from interp.activations import resolve_layers

        chosen = resolve_layers(mllm, layers)
    rows = []
    for t, p in pairs.items():
        for layer in chosen:
            for name, v in ((t, textual[t]), (p, native[p])):
                if layer not in v.layers:
                    raise ValueError(f"vector {name!r} has no direction at layer {layer} (it has {list(v.layers)})")
            a, b = textual[t].at(layer).double(), native[p].at(layer).double()
            rows.append({"textual": t, "native": p, "concept": textual[t].meta.concept, "layer": layer,
                         "cosine": float(torch.nn.functional.cosine_similarity(a, b, dim=0))})
    cos = pd.DataFrame(rows)

    # The textual cells to score.
    if cells is not None:
        table = cells.table if isinstance(cells, SweepResult) else cells
        if table is None or any(c not in table.columns for c in CELL_COLUMNS):
            raise ValueError(f"cells must be a sweep's result or table with columns {list(CELL_COLUMNS)}")
        tcells = table[table["vector"].isin(list(pairs))].reset_index(drop=True)
        tcells = tcells[[c for c in CELL_COLUMNS]]
    else:
        task_list = sorted({it.task for it in pool}) if tasks is None else list(tasks)
        norms = residual_norms(mllm, pool[:32], chosen, [selector], batch_size=batch_size)
        recs = []
        for t in pairs:
            v = textual[t]
            for layer in chosen:
                vn = float(v.at(layer).norm())
                for task in task_list:
                    recs.append({"vector": t, "method": v.meta.method, "concept": v.meta.concept, "task": task,
                                 "selector": selector, "layer": layer, "strength": float(strength),
                                 "alpha": 0.0 if vn == 0 else float(strength) * norms[layer, selector] / vn})
        tcells = pd.DataFrame(recs, columns=list(CELL_COLUMNS))
    if not len(tcells):
        return cos
    ncells = tcells.copy()
    for i, r in ncells.iterrows():
        tv, nv = textual[str(r["vector"])], native[pairs[str(r["vector"])]]
        layer = int(r["layer"])
        if layer not in nv.layers:
            raise ValueError(f"native vector {pairs[str(r['vector'])]!r} has no direction at the cell's layer {layer}")
        nn_ = float(nv.at(layer).norm())
        ncells.loc[i, "alpha"] = 0.0 if nn_ == 0 else float(r["alpha"]) * float(tv.at(layer).norm()) / nn_
        ncells.loc[i, "vector"] = pairs[str(r["vector"])]
        ncells.loc[i, "method"] = nv.meta.method

    db, own = _open(store)
    try:
        rep_t = replicate(mllm, tcells, dict(textual), pool, store=db, n_random=n_random, seed=seed,
                          batch_size=batch_size, progress=progress)
        rep_n = replicate(mllm, ncells, dict(native), pool, store=db, n_random=0, seed=seed,
                          batch_size=batch_size, progress=progress)
        fp = model_fingerprint(mllm)
        out = []
        for (_, tr), (_, nr), (_, tc), (_, nc) in zip(rep_t.iterrows(), rep_n.iterrows(), tcells.iterrows(), ncells.iterrows()):
            ids = sorted(it.id for it in pool if it.task == tc["task"])
            got_native = _correct(db, _steered_cell(nc, native, fp).key, ids).numpy()
            got_textual = _correct(db, _steered_cell(tc, textual, fp).key, ids).numpy()
            diff = paired_difference(got_native, got_textual)
            q95 = float(tr.get("rep_random_q95_gain", float("nan")))
            out.append({
                "textual": tc["vector"], "native": nc["vector"], "layer": int(tc["layer"]), "task": tc["task"],
                "selector": tc["selector"], "strength": float(tc["strength"]), "n": int(tr["n_rep"]),
                "unsteered": float(tr["rep_unsteered_accuracy"]),
                "textual_gain": tr["rep_gain"], "textual_gain_low": tr["rep_gain_low"],
                "textual_gain_high": tr["rep_gain_high"], "textual_p": tr["rep_p"],
                "native_gain": nr["rep_gain"], "native_gain_low": nr["rep_gain_low"],
                "native_gain_high": nr["rep_gain_high"], "native_p": nr["rep_p"],
                "random_q95_gain": q95,
                "textual_beats_random": bool(tr["rep_gain"] > q95) if n_random else None,
                "native_beats_random": bool(nr["rep_gain"] > q95) if n_random else None,
                "native_minus_textual": diff.diff, "native_minus_textual_low": diff.low,
                "native_minus_textual_high": diff.high, "native_minus_textual_p": diff.p_value,
            })
    finally:
        if own:
            db.close()
    gains = pd.DataFrame(out)
    return cos.merge(gains, on=["textual", "native", "layer"], how="left")


__all__ = [
    "NATIVE_METHODS",
    "ORGANISM_CONTRASTS",
    "VisualContrast",
    "compare_native",
    "labelled_contrast",
    "native_vector",
    "organism_contrast",
]
