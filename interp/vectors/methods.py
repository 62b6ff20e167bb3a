"""Textual steering vector methods: mean shift, linear probe and difference of means.

From arXiv 2505.14071 (textual steering vectors for MLLMs):

- **MeanShift**: ``v_l = mean(h_l at anchor tokens) - mean(h_l at the other non-BOS tokens)``,
  pooled over all sentences of a concept, kept unnormalized (the paper adds it raw).
- **Probe**: every non-BOS token labelled 1 if it is an anchor token, else 0; PCA to 10
  components, logistic regression without bias; the direction ``components^T w``, L2-normalized.

And from AxBench (Wu et al. 2025):

- **DiffMean**: mean of ``h_l`` over the tokens of sentences that express the concept minus the
  mean over minimally different sentences that do not.

And from representation engineering (Zou et al. 2023, "Representation Engineering", arXiv
2310.01405: linear artificial tomography's reading vector, which repeng also builds):

- **PCA**: per contrast pair, ``h_l`` mean-pooled over each sentence's content tokens, positive
  minus negative; the first principal component of those differences (uncentred: see ``pca``),
  unit norm, signed so that the positive sentences project higher.

All layers come from one pass over the corpus; mean-based methods stream float64 sums, so
memory is flat in corpus size (PCA keeps one pooled vector per sentence and layer).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from interp.activations import Reader
from interp.args import as_bool, as_float, as_int
from interp.concepts import ConceptCorpus, ContrastPairs, encode_corpus, encode_texts
from interp.types import JSONDict
from interp.vectors.aggregate import (
    first_principal_component,
    mean_difference,
    probe_direction,
    require_sklearn,
)
from interp.vectors.checks import DataQualityWarning, check_corpus, check_pairs
from interp.vectors.registry import VectorMethod, reading, register_method
from interp.vectors.vector import SteeringVector, VectorMeta


def _check_corpus(data: Any, method: str) -> ConceptCorpus:
    if not isinstance(data, ConceptCorpus):
        raise ValueError(
            f"{method} needs a ConceptCorpus (sentences with anchors), got {type(data).__name__}"
            + (": use 'diffmean' for contrast pairs (or 'pca')" if isinstance(data, ContrastPairs) else "")
        )
    if len(data) == 0:
        raise ValueError(f"{method}: the corpus {data.name!r} is empty")
    return data



def _meta(
    model: Any, method: str, data: Any, params: dict[str, Any], checks: JSONDict | None = None, **kw: Any
) -> VectorMeta:
    return VectorMeta(
        method=method,
        concept=data.name,
        source_model=str(model.name),
        d_model=int(model.d_model),
        n_layers=int(model.n_layers),
        corpus_hash=data.hash(),
        corpus_size=len(data),
        params=params,
        source_fingerprint=model.fingerprint().to_json(),
        checks=dict(checks or {}),
        **kw,
    )


@register_method("meanshift")
def meanshift(normalize: bool = False) -> VectorMethod:
    """MeanShift vectors (arXiv 2505.14071): anchor-token mean minus other-token mean, per layer.

    Args:
        normalize: L2-normalize each layer (the reference keeps them raw).

    Example:
        >>> v = meanshift()(backbone, load_corpus("counting"))   # doctest: +SKIP
    """
    normalize = as_bool(normalize, "meanshift's normalize")

    def body(model: Any, data: Any, read: Reader) -> SteeringVector:
        corpus, checks = check_corpus(model, _check_corpus(data, "meanshift"), "meanshift")
        batches = encode_corpus(model.tokenizer, corpus, batch_size=read.batch_size)
        anchor, other = read.means(
            batches, len(corpus), "meanshift", [lambda b: b.anchors, lambda b: b.content_mask & ~b.anchors]
        )
        tensors = {layer: mean_difference(anchor, other, layer) for layer in read.layers}
        first = read.layers[0]
        counts = {"anchor_tokens": anchor.count(first), "other_tokens": other.count(first)}
        vec = SteeringVector(
            tensors,
            _meta(model, "meanshift", corpus, {"normalize": normalize, "backend": read.backend}, checks, extra=counts),
        )
        return vec.normalized() if normalize else vec

    return reading(body)


@register_method("diffmean")
def diffmean(normalize: bool = False) -> VectorMethod:
    """DiffMean vectors (AxBench): mean over positive sentences' tokens minus negatives', per layer.

    Takes ``ContrastPairs``; a ``ConceptCorpus`` is refused.

    Example:
        >>> v = diffmean()(backbone, load_pairs("negation"))   # doctest: +SKIP
    """
    normalize = as_bool(normalize, "diffmean's normalize")

    def body(model: Any, data: Any, read: Reader) -> SteeringVector:
        if not isinstance(data, ContrastPairs):
            raise ValueError(f"diffmean needs ContrastPairs (positive/negative sentences), got {type(data).__name__}")
        if len(data.pairs) == 0:
            raise ValueError(f"diffmean: the pairs {data.name!r} are empty")
        data, checks = check_pairs(model, data, "diffmean")
        (positive,), (negative,) = (
            read.means(encode_texts(model.tokenizer, texts, batch_size=read.batch_size), len(texts),
                       f"diffmean {side}", [lambda b: b.content_mask])
            for side, texts in (("positive", data.positives), ("negative", data.negatives))
        )
        tensors = {layer: mean_difference(positive, negative, layer) for layer in read.layers}
        vec = SteeringVector(tensors, _meta(model, "diffmean", data, {"normalize": normalize, "backend": read.backend}, checks))
        return vec.normalized() if normalize else vec

    return reading(body)


def _check_nonempty_sides(pairs: ContrastPairs, encoded: Mapping[str, Sequence[Any]], method: str) -> None:
    """Refuse a pair with a side that has no content token (only BOS or other special tokens),
    before any forward pass: it has no activations to pool."""
    for side, batches in encoded.items():
        for batch in batches:
            for i, text, row in zip(batch.indices, batch.texts, batch.content_mask):
                if not bool(row.any()):
                    raise ValueError(
                        f"{method}: pair {i} of {pairs.name!r} has an empty {side} side: {text!r} holds "
                        "no content token (only BOS or special tokens), so it has no activations to pool"
                    )


@register_method("pca")
def pca(centered: bool = False) -> VectorMethod:
    """RepE reading vectors (Zou et al. 2023): the first principal component of pair differences.

    Per layer: each sentence's activations averaged over its content tokens (not BOS, special
    or padding tokens: the tokens DiffMean pools), the positive minus the negative sentence of
    each pair, then the first principal component of those differences, unit norm, signed so
    that the positive sentences project higher on average (the mean difference has a positive
    component along it). Takes ``ContrastPairs`` (at least two pairs); a ``ConceptCorpus`` is
    refused.

    Uncentred by default. RepE's reading vector is PCA of differences whose pair order was
    shuffled at random (each difference points either way), then centred; uncentred PCA is that
    computation with both orders of every pair taken at once (the set ``{d_i} + {-d_i}`` has mean
    exactly 0), so nothing depends on a shuffle's seed. Centring consistently ordered differences,
    which is what repeng's ``pca_diff`` does (scikit-learn's PCA centres), subtracts their mean,
    i.e. the difference-of-means direction, and keeps only how the pairs vary around it:
    ``centered=True`` gives that reading, for comparison with repeng.

    ``meta.extra`` records, per layer, ``explained_variance_ratio`` (the share of the
    differences' variance along the component: second moment uncentred, variance centred),
    ``pairs_positive_higher`` (the fraction of pairs whose positive sentence projects higher:
    RepE's accuracy on its own training pairs), and ``n_pairs``.

    Args:
        centered: subtract the differences' mean before the PCA (repeng's ``pca_diff``).

    Example:
        >>> v = pca()(backbone, load_pairs("negation"))              # doctest: +SKIP
        >>> v.meta.extra["explained_variance_ratio"]["1"]            # doctest: +SKIP
    """
    centered = as_bool(centered, "pca's centered")

    def body(model: Any, data: Any, read: Reader) -> SteeringVector:
        if not isinstance(data, ContrastPairs):
            raise ValueError(f"pca needs ContrastPairs (positive/negative sentences), got {type(data).__name__}")
        data, checks = check_pairs(model, data, "pca")
        if len(data) < 2:
            raise ValueError(
                f"pca: the pairs {data.name!r} hold {len(data)} distinct pair: a principal component "
                "needs at least 2 (the component of one difference is that difference: use 'diffmean')"
            )
        encoded = {
            side: list(encode_texts(model.tokenizer, texts, batch_size=read.batch_size))
            for side, texts in (("positive", data.positives), ("negative", data.negatives))
        }
        _check_nonempty_sides(data, encoded, "pca")
        pooled = {side: read.pooled(batches, len(data), f"pca {side}", lambda b: b.content_mask)
                  for side, batches in encoded.items()}
        tensors, share, agree = {}, {}, {}
        for layer in read.layers:
            diffs = pooled["positive"][layer] - pooled["negative"][layer]
            try:
                axis, ratio = first_principal_component(diffs, centered=centered)
            except ValueError as err:
                raise ValueError(f"pca: the pair differences of {data.name!r} at layer {layer}: {err}") from None
            along = diffs @ axis
            mean = float(along.mean())
            # Oriented by the mean difference; on an exact tie, by the majority of pairs.
            if mean < 0 or (mean == 0 and int((along < 0).sum()) > int((along > 0).sum())):
                axis, along = -axis, -along
            tensors[layer] = (axis / axis.norm()).float()
            share[str(layer)] = ratio
            agree[str(layer)] = float((along > 0).double().mean())
        extra = {"explained_variance_ratio": share, "pairs_positive_higher": agree, "n_pairs": len(data)}
        params = {"centered": centered, "pooling": "mean over content tokens", "backend": read.backend}
        return SteeringVector(tensors, _meta(model, "pca", data, params, checks, extra=extra, normalized=True))

    return reading(body)


def collect_token_activations(
    model: Any,
    corpus: ConceptCorpus,
    layers: Sequence[int],
    *,
    batch_size: int = 16,
    backend: str = "auto",
    progress: bool = False,
) -> tuple[dict[int, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Activations at every non-BOS token, their anchor labels and sentence ids.

    Returns:
        ``({layer: (n_tokens, d_model)}, labels (n_tokens,) bool, sentence (n_tokens,) long)``.
    """
    read = Reader(model, layers=list(layers), backend=backend, batch_size=batch_size, progress=progress)
    feats, (labels, sentence) = read.rows(
        encode_corpus(model.tokenizer, corpus, batch_size=batch_size), len(corpus), "activations",
        lambda b: b.content_mask,
        [lambda b: b.anchors, lambda b: torch.tensor(b.indices).unsqueeze(1).expand_as(b.content_mask)],
    )
    return feats, labels, sentence


@register_method("probe")
def probe(n_components: int = 10, held_out: float = 0.2, seed: int = 0, max_iter: int = 1000) -> VectorMethod:
    """Linear-probe vectors (arXiv 2505.14071): PCA + logistic regression without bias.

    Sentences (not tokens) are split into train and held-out sets, so the reported accuracy is
    on unseen sentences; the direction is refit on all sentences. ``extra`` records, per layer,
    the held-out accuracy, the balanced accuracy and the majority-class baseline. Anchor tokens
    are a minority and the regression has no bias (as in the paper), so plain accuracy can sit
    below the majority baseline while the direction is good: read the balanced accuracy.

    Args:
        n_components: PCA components (10 in the paper).
        held_out: fraction of sentences held out for the accuracy report.
        seed: split seed.

    Example:
        >>> v = probe()(backbone, load_corpus("spatial_relationship"))   # doctest: +SKIP
        >>> v.meta.extra["held_out_accuracy"]                             # doctest: +SKIP
    """
    n_components = as_int(n_components, "n_components", minimum=1)
    held_out = as_float(held_out, "held_out")
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be in (0, 1), got {held_out}")
    seed = as_int(seed, "seed", minimum=0)
    max_iter = as_int(max_iter, "max_iter", minimum=1)

    def body(model: Any, data: Any, read: Reader) -> SteeringVector:
        require_sklearn("the probe method")
        from sklearn.metrics import balanced_accuracy_score

        corpus, checks = check_corpus(model, _check_corpus(data, "probe"), "probe")
        if len(corpus) < 2:
            raise ValueError(
                f"probe: corpus {corpus.name!r} has {len(corpus)} distinct sentence: the held-out "
                "accuracy needs at least 2 (sentences are split into train and held-out sets)"
            )
        chosen, backend = read.layers, read.backend
        feats, labels, sentence = collect_token_activations(
            model, corpus, chosen, batch_size=read.batch_size, backend=backend, progress=read.progress
        )
        y = labels.numpy().astype(int)
        if y.min() == y.max():
            raise ValueError("probe: every token has the same label; the corpus needs anchor and other tokens")
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(corpus))
        n_test = max(1, round(held_out * len(corpus)))
        test_ids = set(order[:n_test].tolist())
        is_test = np.array([int(s) in test_ids for s in sentence.tolist()])
        k = min(n_components, int(model.d_model), len(y))

        tensors, accuracy, balanced, baseline = {}, {}, {}, {}
        for layer in chosen:
            x = feats[layer].double().numpy()
            if is_test.any() and (~is_test).any() and len(set(y[~is_test])) == 2:
                _, pca, clf = probe_direction(x[~is_test], y[~is_test], k, seed=seed, max_iter=max_iter)
                predicted = clf.predict(pca.transform(x[is_test]))
                accuracy[str(layer)] = float((predicted == y[is_test]).mean())
                balanced[str(layer)] = float(balanced_accuracy_score(y[is_test], predicted))
                baseline[str(layer)] = float(max(y[is_test].mean(), 1 - y[is_test].mean()))
            direction = probe_direction(x, y, k, seed=seed, max_iter=max_iter)[0].float()
            norm = direction.norm()
            if float(norm) == 0.0:
                raise ValueError(f"probe: the direction at layer {layer} is zero")
            tensors[layer] = direction / norm
        extra = {
            "held_out_accuracy": accuracy,
            "held_out_balanced_accuracy": balanced,
            "majority_baseline": baseline,
            "n_tokens": len(y),
            "n_anchor_tokens": int(y.sum()),
        }
        params = {"n_components": k, "held_out": held_out, "seed": seed, "backend": backend}
        if not accuracy:
            checks = {
                **checks,
                "held_out": "no held-out accuracy: the training sentences lack anchor or other "
                "tokens for this split; add sentences or change seed",
            }
            warnings.warn(
                f"probe: no held-out accuracy for corpus {corpus.name!r} ({len(corpus)} sentences): "
                "the training split has one label only; recorded in meta.checks['held_out']",
                DataQualityWarning,
                stacklevel=2,
            )
        return SteeringVector(tensors, _meta(model, "probe", corpus, params, checks, extra=extra, normalized=True))

    return reading(body)
