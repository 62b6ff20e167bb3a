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
``check_compatible`` work as for any vector; the arithmetic is the textual methods' own
(``interp.vectors.aggregate``) on image tokens. ``interp.evaluation.compare_native`` sets textual and
native vectors side by side. A benchmark whose items a plugin generates can register its visual
contrasts (``register_contrast_set``; the organism's: ``visual_contrast("organism", concept)``).

Example:
    >>> mllm = interp.load_mllm("organism-llava")                                   # doctest: +SKIP
    >>> contrast = visual_contrast("organism", "counting", n=64)                    # doctest: +SKIP
    >>> native = native_vector(mllm, contrast, method="diffmean")                   # doctest: +SKIP
    >>> native.meta.params["native"]                                                # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from interp.activations import MaskedMean, residual_fn
from interp.args import as_int
from interp.boundary import check_contrast
from interp.items import Item, as_items, n_batches
from interp.plugins import Registry
from interp.progress import track
from interp.vectors.aggregate import mean_difference, pooled_shift, probe_direction, require_sklearn
from interp.vectors.vector import SteeringVector, VectorMeta

if TYPE_CHECKING:
    from interp.items import ItemsLike
    from interp.models.traced import MLLM
    from interp.types import LayerSpec

#: The methods ``native_vector`` knows.
NATIVE_METHODS = ("diffmean", "meanshift", "probe")

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


@dataclass(frozen=True)
class ContrastSet:
    """The visual contrasts a plugin draws from the items of its generated benchmark.

    Attributes:
        concepts: concept -> (what the positive items show, what the negative ones show).
        make: ``(concept, n, *, seed, split, start) -> VisualContrast`` with ``n`` items per side.
    """

    concepts: Mapping[str, tuple[str, str]]
    make: Callable[..., VisualContrast]


#: Benchmark name -> its contrast set (plugins register theirs).
CONTRAST_SETS: Registry[ContrastSet] = Registry("contrast set")


def register_contrast_set(benchmark: str, contrasts: ContrastSet) -> None:
    """Let ``visual_contrast(benchmark, concept)`` draw contrasts for ``benchmark``'s concepts.

    Example:
        >>> register_contrast_set("mine", ContrastSet({"counting": ("many", "few")}, make))  # doctest: +SKIP
    """
    if not isinstance(contrasts, ContrastSet):
        raise ValueError(f"expected a ContrastSet, got {type(contrasts).__name__}")
    CONTRAST_SETS.register(benchmark, contrasts)


def contrast_concepts(benchmark: str) -> dict[str, tuple[str, str]]:
    """Concept -> (positive, negative) descriptions of the contrasts ``benchmark`` has (none: ``{}``).

    Example:
        >>> sorted(contrast_concepts("organism"))
        ['attribute', 'counting', 'spatial_relationship']
    """
    found = CONTRAST_SETS.find(benchmark)
    return dict(found.concepts) if found is not None else {}


def visual_contrast(
    benchmark: str, concept: str, n: int = 64, *, seed: int = 0, split: str = "val", start: int = 0
) -> VisualContrast:
    """``n`` items per side of the visual contrast for ``concept`` on a generated benchmark.

    On the organisms (``benchmark="organism"``): ``counting`` is Count scenes with 5-6 objects vs
    1-2; ``spatial_relationship`` Relation items whose first named object is left vs right of the
    second; ``attribute`` Attribute colour questions whose object is red vs blue. Items come from
    ``split`` (the val scenes by default: held out from training and from the test items), scene
    indices from ``start``.

    Example:
        >>> c = visual_contrast("organism", "counting", n=4)
        >>> len(c.positive), len(c.negative)
        (4, 4)
    """
    found = CONTRAST_SETS.find(benchmark)
    if found is None:
        raise ValueError(
            f"no visual contrasts for benchmark {benchmark!r}: contrasts are drawn from generated benchmarks "
            f"({CONTRAST_SETS.names()}); for a fixed benchmark use labelled_contrast"
        )
    if concept not in found.concepts:
        raise ValueError(
            f"no {benchmark} contrast for concept {concept!r}: choose among {sorted(found.concepts)}"
        )
    return found.make(concept, as_int(n, "n", minimum=1), seed=seed, split=split, start=start)


def _check_contrast(contrast: VisualContrast) -> None:
    if not isinstance(contrast, VisualContrast):
        raise ValueError(
            f"contrast must be a VisualContrast (positive and negative items), got {type(contrast).__name__}: "
            "build one with visual_contrast or labelled_contrast"
        )
    check_contrast(contrast)


def _image_activations(
    mllm: MLLM, items: Sequence[Item], layers: Sequence[int], batch_size: int, progress: bool, what: str,
) -> dict[int, list[torch.Tensor]]:
    """Per layer, the residual stream at every image token of ``items`` (one tensor per batch)."""
    from interp.answers import encode_items

    read = residual_fn(mllm)
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
        acts = read(inputs, layers)
        for layer in layers:
            out[layer].append(acts[layer][mask.cpu()])
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
        contrast: the positive and negative items (``visual_contrast``, ``labelled_contrast``).
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
        >>> v = native_vector(mllm, visual_contrast("organism", "counting"), layers=[0, 1])   # doctest: +SKIP
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
            v = mean_difference(means[0], means[1], layer)
        elif method == "meanshift":
            v = pooled_shift(means[0], means[1], layer)
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
        source_fingerprint=mllm.fingerprint().to_json(),
    )
    return SteeringVector(tensors, meta)


def _probe_direction(pos: torch.Tensor, neg: torch.Tensor, n_components: int) -> torch.Tensor:
    require_sklearn("the native probe")
    x = torch.cat([pos, neg]).double().numpy()
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    k = min(n_components, x.shape[0] - 1, x.shape[1])
    if k < 1:
        raise ValueError("the native probe needs at least two image tokens")
    d = probe_direction(x, y, k)[0]
    d = d / max(float(d.norm()), 1e-12)
    # Fix the sign by the data (the positive set projects higher), as the mean methods' sign is.
    if float((torch.from_numpy(x[: len(pos)]) @ d).mean()) < float((torch.from_numpy(x[len(pos):]) @ d).mean()):
        d = -d
    return d.float()


__all__ = [
    "CONTRAST_SETS",
    "NATIVE_METHODS",
    "ContrastSet",
    "VisualContrast",
    "contrast_concepts",
    "labelled_contrast",
    "native_vector",
    "register_contrast_set",
    "visual_contrast",
]
