"""What the demo looks at inside the model: variance share, modality gap, drift, isomorphic inputs,
the native comparator, and the figures of it all.

Example:
    >>> inside = analyses(cfg, mllm, backbone, vectors, test, layers, tables)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interp.demo.config import DemoConfig
from interp.io import write_file
from interp.progress import stage

#: The analysis tables ``interp.figures.report_figures`` draws (the demo's other findings are text).
FIGURE_TABLES = ("variance_share", "modality_gap", "alignment", "isomorphic", "ood")
#: Items the analyses look at, taken in turn from each task.
N_INSIDE = 48


def say(msg: str, enabled: bool) -> None:
    """A progress line of the demo."""
    stage(msg, enabled=enabled, prefix="demo")


def write_table(frame: Any, path: Path) -> Path:
    """A report table, written atomically (a rerun of the same report rewrites it)."""
    return write_file(path, frame.to_csv(index=False), overwrite=True)


def spread(items: list[Any], n: int) -> list[Any]:
    """Up to ``n`` items taken in turn from each task (the first ``n`` would be one task's).

    Example:
        >>> class It:
        ...     def __init__(self, task): self.task = task
        >>> [it.task for it in spread([It("a"), It("a"), It("b")], 2)]
        ['a', 'b']
    """
    by_task: dict[str, list[Any]] = {}
    for it in items:
        by_task.setdefault(it.task, []).append(it)
    out: list[Any] = []
    k = 0
    while len(out) < min(n, len(items)):
        for group in by_task.values():
            if k < len(group) and len(out) < n:
                out.append(group[k])
        k += 1
    return out


def native_section(cfg: DemoConfig, mllm: Any, vectors: dict[str, Any], result: Any, test: list[Any],
                   out: Path) -> list[str]:
    """The native comparator: per concept, the MLLM's own image-token direction beside the textual vectors.

    On a benchmark whose plugin draws visual contrasts (``interp.vectors.visual_contrast``; the
    organism's scenes): a native diffmean vector per concept, its cosine with each textual vector
    per layer, and the gain of each at the textual vectors' chosen image-token cells (same layer,
    strength and edit norm) on the test items. Writes ``tables/native.csv``; returns the summary's lines.
    """
    from interp.evaluation import compare_native
    from interp.vectors import contrast_concepts, native_vector, visual_contrast

    assert cfg.benchmark is not None
    described = contrast_concepts(cfg.benchmark)
    concepts = sorted({v.meta.concept for v in vectors.values()} & set(described))
    table = result.table
    if not concepts or table is None or not len(table):
        return []
    cells = table[table["selector"] == "image"] if (table["selector"] == "image").any() else table
    say(f"native comparator: {len(concepts)} native vectors, {len(cells)} chosen cells", cfg.progress)
    natives = {f"native-diffmean/{c}": native_vector(mllm, visual_contrast(cfg.benchmark, c, n=32, seed=cfg.seed),
                                                     layers=result.config["layers"], batch_size=cfg.batch_size)
               for c in concepts}
    df = compare_native(mllm, vectors, natives, test, cells=cells, store=out / "results.sqlite", n_random=cfg.n_random,
                        seed=cfg.seed, batch_size=cfg.batch_size, progress=cfg.progress)
    write_table(df, out / "tables" / "native.csv")
    scored = df.dropna(subset=["native_gain"])
    lines = ["## Native comparator", "",
             f"A native vector per concept from the MLLM's own image tokens (diffmean on the {cfg.benchmark}'s visual "
             "contrast: " + "; ".join(f"{c}: {described[c][0]} vs {described[c][1]}" for c in concepts)
             + "), compared with the textual vectors (`tables/native.csv`).", ""]
    for c in concepts:
        cos = df[df["concept"] == c]["cosine"]
        lines.append(f"- {c}: cosine native vs textual over layers and methods {cos.min():+.2f} to {cos.max():+.2f}.")
    if len(scored):
        nat_wins = scored[scored["native_minus_textual_low"] > 0]
        txt_wins = scored[scored["native_minus_textual_high"] < 0]
        lines.append(
            f"- At the {len(scored)} chosen image-token cells (same layer, strength and edit norm, test items): mean gain "
            f"native {100 * scored['native_gain'].mean():+.1f} vs textual {100 * scored['textual_gain'].mean():+.1f} points; "
            f"native better (paired CI above 0) at {len(nat_wins)}, textual better at {len(txt_wins)}.")
    return [*lines, ""]


def analyses(cfg: DemoConfig, mllm: Any, backbone: Any, vectors: dict[str, Any], test: list[Any],
             layers: list[int], tables: Path) -> dict[str, Any]:
    """Variance share and modality gap on a sample of the test items; the language model's drift
    from the text backbone where the two are the same architecture; isomorphic inputs where the
    benchmark's world renders its scenes as text. Writes their tables; returns them by name."""
    import pandas as pd

    from interp.analysis import isomorphic, modality_gap, variance_share, world_of

    assert cfg.benchmark is not None
    world = world_of(cfg.benchmark)
    renders = world is not None and world.render_text is not None
    sample = spread(test, N_INSIDE)
    say(f"looking inside: variance share, modality gap{', isomorphic inputs' if renders else ''}", cfg.progress)
    shares = []
    for name, v in vectors.items():
        df = variance_share(mllm, v, sample, layers=layers, kinds=("image", "text"), seed=cfg.seed)
        shares.append(df.assign(vector=name, method=v.meta.method, concept=v.meta.concept))
    share = pd.concat(shares, ignore_index=True)
    gap = modality_gap(mllm, sample, layers=layers)
    write_table(share, tables / "variance_share.csv")
    write_table(gap, tables / "modality_gap.csv")
    out: dict[str, Any] = {"variance_share": share, "modality_gap": gap}
    drift = _drift(mllm, backbone)
    if drift is not None:
        out["lm_drift"] = drift
        write_table(pd.DataFrame([{"part": k, "relative_distance": v} for k, v in drift.items()]),
                    tables / "lm_drift.csv")
    if renders:
        iso = isomorphic(mllm, sample, backbone=backbone, layers=layers)
        write_table(iso.accuracy, tables / "isomorphic_accuracy.csv")
        write_table(iso.similarity, tables / "isomorphic_similarity.csv")
        out["isomorphic"] = iso
    return out


def _drift(mllm: Any, backbone: Any) -> dict[str, float] | None:
    """The language model's drift from a separate text backbone of the same architecture, else None."""
    from interp.analysis import language_model_drift

    if backbone.module is mllm.module or mllm.remote or backbone.remote:
        return None  # the backbone is the MLLM itself run on text, or the weights are not here
    try:
        return language_model_drift(mllm, backbone)
    except ValueError:
        return None  # another architecture (e.g. a hub MLLM's backbone under other parameter names)


def figures(cfg: DemoConfig, res: Any, inside: dict[str, Any], directory: Path) -> list[Path]:
    """The standard figures of the sweep and the analyses, into ``directory``."""
    from interp import figures as figs

    tables = {k: v for k, v in inside.items() if k in FIGURE_TABLES}
    return list(figs.report_figures(res, directory, static=cfg.static, **tables))


__all__ = ["FIGURE_TABLES", "N_INSIDE", "analyses", "figures", "native_section", "say", "spread", "write_table"]
