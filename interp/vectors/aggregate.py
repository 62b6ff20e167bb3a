"""The vector methods' arithmetic, apart from how activations are collected.

A textual method collects residual-stream activations on the text backbone (anchor tokens and
the others, or the two sides of contrast pairs); a native vector collects them on the MLLM's image
tokens (``interp.vectors.native``). Both turn what they collected into a direction with the same
pure functions, as steering-vectors keeps ``record_activations`` apart from its aggregators:

- ``mean_difference``: the mean of one set of tokens minus another's (MeanShift's anchor vs other
  tokens, DiffMean's positive vs negative sentences: arXiv 2505.14071; AxBench, Wu et al. 2025);
- ``pooled_shift``: the mean of one set minus the pooled mean of both;
- ``probe_direction``: PCA then logistic regression without bias, the direction
  ``components^T w`` (the paper's linear probe);
- ``first_principal_component``: the top principal axis of a set of rows and the share of their
  variance along it (the ``pca`` method's reading vector of contrast-pair differences: RepE,
  Zou et al. 2023).

Example:
    >>> a, b = MaskedMean(), MaskedMean()
    >>> a.update(0, torch.ones(1, 2, 3), torch.tensor([[True, True]]))
    >>> b.update(0, torch.zeros(1, 2, 3), torch.tensor([[True, False]]))
    >>> mean_difference(a, b, 0).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.activations import MaskedMean


def mean_difference(a: MaskedMean, b: MaskedMean, layer: int) -> Float[Tensor, " d_model"]:
    """``mean(a) - mean(b)`` at ``layer`` (float32, from the float64 sums).

    Example:
        >>> a, b = MaskedMean(), MaskedMean()
        >>> a.update(1, torch.full((1, 1, 2), 3.0), torch.tensor([[True]]))
        >>> b.update(1, torch.ones(1, 1, 2), torch.tensor([[True]]))
        >>> mean_difference(a, b, 1).tolist()
        [2.0, 2.0]
    """
    return a.mean(layer) - b.mean(layer)


def pooled_shift(part: MaskedMean, rest: MaskedMean, layer: int) -> Float[Tensor, " d_model"]:
    """``mean(part) - mean(part and rest pooled)`` at ``layer``: the shift of one set from the mean of
    all tokens (``mean_difference`` times ``n_rest / n_all``: the same direction, a smaller norm).

    Example:
        >>> a, b = MaskedMean(), MaskedMean()
        >>> a.update(0, torch.full((1, 1, 2), 4.0), torch.tensor([[True]]))
        >>> b.update(0, torch.zeros(1, 3, 2), torch.tensor([[True, True, True]]))
        >>> pooled_shift(a, b, 0).tolist()
        [3.0, 3.0]
    """
    pooled = (part.sums[layer] + rest.sums[layer]) / (part.count(layer) + rest.count(layer))
    return (part.mean(layer).double() - pooled).float()


def require_sklearn(what: str) -> None:
    """Refuse, naming ``what`` and the pip command, when scikit-learn (a core dependency) is missing.

    Example:
        >>> require_sklearn("the probe")
    """
    try:
        import sklearn.decomposition
        import sklearn.linear_model
        import sklearn.metrics  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"{what} needs scikit-learn, one of interp's dependencies, missing here: pip install scikit-learn"
        ) from err


def probe_direction(
    x: np.ndarray, y: np.ndarray, n_components: int, *, seed: int = 0, max_iter: int = 1000
) -> tuple[Float[Tensor, " d_model"], Any, Any]:
    """PCA to ``n_components``, logistic regression without bias; the direction ``components^T w``.

    Returns ``(direction, pca, classifier)``: the float64 direction, unnormalized (each caller
    normalizes and orients it), and the fitted scikit-learn objects.

    Example:
        >>> x = np.r_[np.ones((5, 3)), -np.ones((5, 3))] + np.random.default_rng(0).normal(0, 0.1, (10, 3))
        >>> d, _, _ = probe_direction(x, np.r_[np.ones(5), np.zeros(5)], 2)
        >>> bool(d.sum() > 0)
        True
    """
    require_sklearn("the probe")
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    pca = PCA(n_components=n_components, random_state=seed).fit(x)
    clf = LogisticRegression(fit_intercept=False, max_iter=max_iter).fit(pca.transform(x), y)
    return torch.from_numpy(pca.components_.T @ clf.coef_[0]), pca, clf


def first_principal_component(
    x: Float[Tensor, "n d_model"], *, centered: bool = False
) -> tuple[Float[Tensor, " d_model"], float]:
    """The first principal axis of the rows of ``x`` and the share of their variance along it.

    Uncentred (the default), the axis is the top right singular vector of ``x``: the unit ``u``
    that maximises ``sum_i (x_i . u)^2``, and the share is ``s_1^2 / sum_k s_k^2`` of the rows'
    second moment. That equals ordinary (centred) PCA of the rows taken with both signs,
    ``{x_i} + {-x_i}``, whose mean is exactly 0. ``centered=True`` subtracts the rows' mean first
    (scikit-learn's ``PCA``: the share is its ``explained_variance_ratio_[0]``). Computed in
    float64; the sign is the SVD's, so callers orient the axis themselves.

    Raises:
        ValueError: ``x`` is not a non-empty 2-D array, is not finite, or has no variance to
            explain (every row zero, or every row the same when centred).

    Example:
        >>> axis, share = first_principal_component(torch.tensor([[2.0, 0.0], [-3.0, 0.0], [0.0, 1.0]]))
        >>> [round(abs(a), 6) for a in axis.tolist()], round(share, 4)
        ([1.0, 0.0], 0.9286)
    """
    x = torch.as_tensor(x).double()
    if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"expected a non-empty (n, d) array of rows, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the rows contain NaN or inf values")
    if centered:
        x = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    total = float((s**2).sum())
    if total == 0.0:
        what = "every row equals their mean" if centered else "every row is zero"
        raise ValueError(f"no variance to explain: {what}")
    return vh[0], float(s[0] ** 2) / total


__all__ = ["first_principal_component", "mean_difference", "pooled_shift", "probe_direction", "require_sklearn"]
