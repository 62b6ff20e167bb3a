"""The holdout split shared by the out-of-distribution sets (What'sUp, BLINK, CLEVR counting).

They are reported whole by default; ``n_val=K`` holds out ``K`` rows as their selection split
the way the reference does (scikit-learn's ``train_test_split(test_size=K, random_state=42)``).

Example:
    >>> from interp.evaluation.benchmarks import load_benchmark
    >>> load_benchmark("clevr_count", path="data/clevr", split="val", n_val=100)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from interp.evaluation.benchmarks.core import Skipped, _Table


def _plan_holdout(
    table: _Table, split: str, tasks: Sequence[str], options: Mapping[str, Any]
) -> tuple[dict[str, list[int]], list[Skipped]]:
    """One task; with ``n_val`` > 0 the reference's ``train_test_split``: val = perm[:n_val]."""
    n, n_val = table.n_rows, options["n_val"]
    rows = list(range(n))
    if split == "all" or (split == "test" and n_val == 0):
        chosen = rows
    elif n_val == 0:
        raise ValueError(
            f"split {split!r} needs n_val: by default the whole set is the test split; "
            "pass n_val=K to hold out K rows as the selection split ('train'/'val'), "
            "as the reference code does"
        )
    elif n_val >= n:
        raise ValueError(f"n_val={n_val} leaves no test rows: the source has {n} rows")
    else:
        perm = np.random.RandomState(options["seed"]).permutation(n).tolist()
        chosen = perm[n_val:] if split == "test" else perm[:n_val]
    return {t: chosen for t in tasks}, []
