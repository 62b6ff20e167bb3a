"""The standard set of figures for a sweep (and the analyses run beside it), written to a folder.

Example:
    >>> paths = report_figures(res, "outputs/demo/figures")   # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interp.figures.accuracy import accuracy_curves, ood_bars
from interp.figures.inside import (
    alignment_curves,
    isomorphic_curves,
    modality_gap_curves,
    variance_share_curves,
)
from interp.figures.results import gains_grid, method_table
from interp.figures.style import FORMATS, STATIC_FORMATS, n_label, save_all, slug, table_split

if TYPE_CHECKING:
    from interp.analysis import IsomorphicResult
    from interp.evaluation.tables import SweepLike
    from interp.types import DataFrame, Figure


def _tables(result: Any) -> tuple[Any, Any]:
    """``(grid, table)`` from a SweepResult, a mapping with those keys, or one DataFrame."""
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return (result, None) if "n_correct" in result.columns else (None, result)
    if isinstance(result, Mapping):
        grid, table = result.get("grid"), result.get("table")
    elif hasattr(result, "grid") or hasattr(result, "table"):
        grid, table = getattr(result, "grid", None), getattr(result, "table", None)
    else:
        raise ValueError(f"expected a SweepResult, a {{'grid': ..., 'table': ...}} mapping or a DataFrame, "
                         f"got {type(result).__name__}")
    if grid is None and table is None:
        raise ValueError("the result has neither a grid nor a table to draw")
    return grid, table


def sweep_figures(result: SweepLike) -> dict[str, Figure]:
    """The sweep's standard figures by file stem: ``gains``, ``method_table`` (from the test
    table) and ``accuracy_<concept>_<task>`` per concept and task (from the train grid: strength
    on x, one panel per layer, a row per method (per vector where two share a method), a line
    per selector). Every title names the split its figure is drawn from and its n.

    Example:
        >>> sorted(sweep_figures(res))   # doctest: +SKIP
        ['accuracy_counting_Count', 'gains', 'method_table']
    """
    grid, table = _tables(result)
    figs: dict[str, Any] = {}
    if table is not None and len(table):
        figs["gains"] = gains_grid(table)
        figs["method_table"] = method_table(table)
    elif grid is not None and len(grid):
        figs["gains"] = gains_grid(grid)
    if grid is not None and len(grid):
        split = table_split(grid, None, "train")
        steered = grid[grid["condition"] == "steered"] if "condition" in grid.columns else grid
        for (concept, task), sub in steered.groupby(["concept", "task"], sort=True):
            n_vectors, n_methods = sub["vector"].nunique(), sub["method"].nunique()
            rows = None if n_vectors == 1 else "method" if n_methods == n_vectors else "vector"
            n = n_label(sub["n"], f"{split} items per point") if "n" in sub.columns else ""
            figs[f"accuracy_{slug(concept)}_{slug(task)}"] = accuracy_curves(
                grid, concept=concept, task=task, facet_row=rows,
                vector=sub["vector"].iloc[0] if n_vectors == 1 else None, split=split,
                title=f"{split.capitalize()} accuracy: {concept} on {task}" + (f" · {n}" if n else ""),
            )
    return figs


def report_figures(
    result: SweepLike,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ("html", "png"),
    static: bool = True,
    variance_share: DataFrame | None = None,
    modality_gap: DataFrame | None = None,
    alignment: DataFrame | None = None,
    isomorphic: DataFrame | IsomorphicResult | None = None,
    ood: DataFrame | None = None,
) -> list[Path]:
    """Write the standard figures of a sweep, and of any analysis tables given, to ``out_dir``.

    Figures (file stems): ``gains``, ``method_table``, ``accuracy_<concept>_<task>``
    (``sweep_figures``), and when their tables are given ``variance_share``, ``modality_gap``,
    ``alignment``, ``isomorphic`` and ``ood``. Each is written in every format of ``formats``;
    static formats go through kaleido in one browser session. If static export fails (no
    Chromium), the HTML files are still written and a warning says what to install.

    Args:
        result: a ``SweepResult``, a ``{"grid": ..., "table": ...}`` mapping or one of the tables.
        out_dir: the folder (created).
        formats: some of ``"html"``, ``"png"``, ``"pdf"``, ``"svg"``.
        static: False writes HTML only (whatever ``formats`` says).
        variance_share, modality_gap, alignment, isomorphic, ood: analysis tables (see
            ``variance_share_curves``, ``modality_gap_curves``, ``alignment_curves``,
            ``isomorphic_curves``, ``ood_bars``).

    Returns:
        The paths written, figure by figure in the order above, formats in the order given.

    Example:
        >>> report_figures(res, "outputs/figures", formats=("html", "pdf"))   # doctest: +SKIP
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    bad = [f for f in formats if f not in FORMATS]
    if not formats or bad:
        raise ValueError(f"formats must be some of {list(FORMATS)}, got {formats!r}")
    if not static:
        formats = [f for f in formats if f not in STATIC_FORMATS] or ["html"]
    figs = sweep_figures(result)
    extra: dict[str, tuple[Any, Callable[..., Figure]]] = {
        "variance_share": (variance_share, variance_share_curves),
        "modality_gap": (modality_gap, modality_gap_curves),
        "alignment": (alignment, alignment_curves),
        "isomorphic": (isomorphic, isomorphic_curves),
        "ood": (ood, ood_bars),
    }
    for name, (table, factory) in extra.items():
        if table is not None:
            figs[name] = factory(table)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html = [(fig, out / f"{stem}.html") for stem, fig in figs.items() if "html" in formats]
    pictures = [(fig, out / f"{stem}.{fmt}") for stem, fig in figs.items() for fmt in formats if fmt != "html"]
    written = save_all([f for f, _ in html], [p for _, p in html])
    if pictures:
        try:
            written += save_all([f for f, _ in pictures], [p for _, p in pictures])
        except RuntimeError as err:
            warnings.warn(f"report_figures wrote HTML only: {err}", RuntimeWarning, stacklevel=2)
    order = {stem: i for i, stem in enumerate(figs)}
    rank = {fmt: i for i, fmt in enumerate(formats)}
    return sorted(written, key=lambda p: (order[p.stem], rank[p.suffix.lstrip(".")]))


__all__ = ["report_figures", "sweep_figures"]
