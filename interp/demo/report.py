"""The demo's Markdown reports: one ``summary.md`` per model and the top one with every verdict.

Example:
    >>> print(top_summary(cfg, ["organism"], [report], 120.0))   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from interp.demo.config import DemoConfig, DemoReport
from interp.evaluation.tables import measured
from interp.formatting import finite, flag, interval_of, missing, point_label, points


def torch_threads() -> int:
    """The torch CPU threads the run used (every report states them beside its wall time)."""
    import torch

    return int(torch.get_num_threads())


#: What each figure shows, by file stem (prefix for the per-task accuracy figures).
def _caption(stem: str, res: Any, n_inside: int) -> str:
    cfg = res.config
    n_test = sorted({int(n) for n in res.table["n_test"]}) if len(res.table) else []
    per_test = f"n = {', '.join(map(str, n_test))} test items per row"
    if stem.startswith("accuracy_"):
        return (f"Train accuracy over layers x strengths for one concept and task: the grid the cell is chosen on "
                f"(n = {cfg['n_train']} train items in all, over the tasks)")
    return {
        "gains": f"Gains of the chosen cells over the unsteered model, on test ({per_test}); the figure's title "
                 "says how it picks among methods",
        "method_table": f"The chosen cells per method on test ({per_test})",
        "variance_share": f"Share of image- and text-token variance along each textual vector against random "
                          f"directions ({n_inside} test items)",
        "modality_gap": f"Modality gap per layer: mean image vs mean text token ({n_inside} test items)",
        "isomorphic": f"The same scenes given as images and as text ({n_inside} test items)",
    }.get(stem, stem)


def _wilson(row: Any) -> str:
    if "n" not in row or not row["n"]:
        return ""
    from interp.stats import wilson

    n = int(row["n"])
    low, high = wilson(round(float(row["accuracy"]) * n), n)
    return f" [{float(low):.2f}, {float(high):.2f}]"


def _figure_lines(figures: list[Path], res: Any, out: Path, n_inside: int) -> list[str]:
    lines: list[str] = []
    stems = sorted({p.stem for p in figures})
    for stem in stems:
        files = {p.suffix: p for p in figures if p.stem == stem}
        caption = _caption(stem, res, n_inside)
        png = files.get(".png")
        html = files.get(".html")
        if png is not None:
            lines += [f"![{caption}]({png.relative_to(out)})", ""]
        lines += [f"*{caption}.*" + (f" [Interactive]({html.relative_to(out)})" if html is not None else ""), ""]
    return lines


def model_summary(cfg: DemoConfig, res: Any, inside: dict[str, Any], figures: list[Path], out: Path, seconds: float,
             verdict: str = "", hints: Any = True, why: str = "", estimated: float | None = None,
             ceiling: Any = None, native: Sequence[str] = ()) -> str:
    """One model's summary.md: the verdict and why, the table, the replication with its controls, the
    ceiling, what the analyses found, the native comparator's section (``native``:
    ``inside.native_section``'s lines), the figures and files, and last the wall time."""
    table = res.table
    n_cells = len(res.config["layers"]) * len(res.config["strengths"]) * len(res.config["selectors"])
    sig = table[(table["gain_low"] > 0) & (table["p_value"] < 0.05)] if len(table) else table
    beats = sig[sig["above_random"].map(measured)] if "above_random" in sig else sig
    n_per_row = sorted({int(n) for n in table["n_test"]}) if len(table) else []
    skipped = res.config.get("skipped") or []
    n_inside = min(len(table) and int(res.config["n_test"]), 48)
    lines = [
        f"# interp demo: textual steering on {cfg.model} (benchmark: {cfg.benchmark})",
        "",
        f"## Verdict: {cfg.model}",
        "",
        verdict,
        "",
        *([why, ""] if why else []),
        "## The sweep",
        "",
        f"{len(res.config['vectors'])} textual vectors ({', '.join(cfg.methods)}) x layers {res.config['layers']} x "
        f"relative strengths {res.config['strengths']} x selectors {res.config['selectors']}. Each vector's cell "
        f"was chosen per task and selector among {n_cells - len(skipped) * len(res.config['strengths'])} live cells "
        + _choosing(res.config, cfg)
        + f", and is reported on {cfg.n_test} held-out test items of the task ({res.config['n_test']} in all), which "
        "played no part in the choice; each figure's caption says which split it shows.",
        "",
    ]
    if skipped:
        lines += [
            f"Skipped, not run: {', '.join(f'L{layer} {sel}' for layer, sel in skipped)} "
            f"({len(skipped) * len(res.config['strengths'])} of {n_cells} cells per vector). Steering is prefill-only "
            "and the answer is read at the last position, so an edit of other tokens at the last decoder layer cannot "
            "change it: these cells equal the unsteered model by construction and are never chosen.",
            "",
        ]
    lines += [
        "Gains are accuracy minus the unsteered model's on the same items, in points, with a paired "
        "bootstrap 95% CI; p is the exact McNemar test, Holm-adjusted over the table. The headline is the "
        "replicated gain, on fresh scenes that played no part in choosing the cell (when replicated); the test "
        "gain of a cell chosen among many is optimistic. 'random q95' is the 95th percentile of "
        f"{cfg.replicate_random} random directions of the same norm at the same cell on the fresh scenes (a q95 "
        "is reported only from 20 or more). 'mde' is the smallest gain the Holm-corrected test detects with 80% "
        "power on those items at the discordance random directions show there (`interp.evaluation.power`).",
        "",
        f"Each row is scored on n = {', '.join(map(str, n_per_row)) or '0'} test items of its task"
        + (f" and, where replicated, n = {int(table['n_rep'].max())} fresh scenes"
           if "n_rep" in table and table["n_rep"].notna().any() else "")
        + f". Prompting baseline hint: {_hint_text(hints)}",
        "",
        res.to_markdown(),
        "",
        f"Cells with a positive, significant test gain (CI above 0, p < 0.05): {len(sig)} of {len(table)}; "
        f"of those, above the random-direction control: {len(beats)}.",
        "",
    ]
    rep = res.replication
    if rep is not None and len(rep):
        lines += _section(
            "Replication",
            f"The {len(rep)} chosen cells with the largest test gains, as chosen, on {int(rep['n_rep'].iloc[0])} fresh "
            "scenes per task (gain in points, paired bootstrap 95% CI, McNemar p Holm-adjusted over these rows, "
            "random q95 on the same scenes):",
            ["vector", "task", "selector", "cell", "test gain", "replicated gain [95% CI]", "p (Holm)", "mde",
             "random q95", "prior shift (share)", "beats prior", "replicated"],
            ([r["vector"], r["task"], r["selector"], point_label(r["layer"], r["strength"]), points(r["test_gain"]),
              interval_of(r, "rep_gain"), f"{r['rep_p_holm']:.3g}", f"{100 * r.get('rep_mde', float('nan')):.1f}",
              points(r.get("rep_random_q95_gain")),
              f"{points(r.get('rep_prior_gain'))} ({_share(r.get('rep_prior_share'))})",
              flag(r.get("rep_beats_prior")), bool(r["replicated"])] for _, r in rep.iterrows()),
        )
    cost = res.transfer
    if cost is not None and len(cost):
        lines += _section(
            "Transfer cost",
            f"Each replicated cell, as chosen, on the tasks it was not chosen for ({int(cost['n'].max())} fresh scenes "
            "per task; gain in points over unsteered, paired bootstrap 95% CI):",
            ["vector", "chosen for", "selector", "cell", "other task", "gain [95% CI]"],
            ([r["vector"], r["task"], r["selector"], point_label(r["layer"], r["strength"]), r["other_task"],
              interval_of(r, "gain")] for _, r in cost.iterrows()),
        )
    if ceiling is not None and len(ceiling):
        lines += _section(
            "The ceiling",
            "At each replicated cell, a vector trained by gradient on the task's train items (`interp.learned_vector`, "
            "bounded by the grid's largest strength): the most one additive vector there can do. Gains on the test "
            f"items (n = {int(ceiling['n_test'].max())} per task); the textual gain as a fraction of the learned one with "
            "a paired bootstrap 95% CI (none where the learned gain's CI reaches 0); cosine of the two vectors.",
            ["vector", "task", "cell", "textual gain", "learned gain", "textual / learned", "cosine"],
            ([r["vector"], r["task"], f"{r['selector']} {point_label(r['layer'], r['strength'])}",
              interval_of(r, "textual_gain"), interval_of(r, "learned_gain"),
              _fraction(r["textual_fraction"], r["textual_fraction_low"], r["textual_fraction_high"]),
              f"{r['learned_cosine']:+.2f}"] for _, r in ceiling.iterrows()),
        )
    spec = res.specificity
    if spec is not None and len(spec):
        where = "the fresh scenes" if rep is not None else "the test items"
        lines += _section(
            "Specificity",
            f"At each of those cells, on {where} (n = {int(spec['n'].max())} per task): the gain over unsteered of "
            "the chosen vector and of each control (another concept's vector rescaled to the same norm, or the "
            "flipped sign); 'specific' means the chosen vector beats every control (paired CI of the difference "
            "above 0).",
            ["vector", "task", "selector", "control", "cosine", "gain", "control gain", "specific"],
            ([r["vector"], r["task"], r["selector"], r["control"], f"{r['control_cosine']:+.2f}", points(r["gain"]),
              points(r["control_gain"]), bool(r["specific"])] for _, r in spec.iterrows()),
        )
    if "variance_share" in inside:
        vs = inside["variance_share"]
        img = vs[vs["kind"] == "image"]
        lines += [
            "## Inside",
            "",
            f"Share of image-token variance along the textual vectors ({n_inside} test items): "
            f"{img['share'].min():.4f}-{img['share'].max():.4f} (a random direction: {img['uniform'].iloc[0]:.4f}; "
            f"ratio to random {img['ratio'].min():.2f}-{img['ratio'].max():.2f}).",
            "",
        ]
        if "lm_drift" in inside:
            lines += ["Language-model drift from the text backbone the vectors were built on (relative weight "
                      "distance): " + ", ".join(f"{k} {v:.3f}" for k, v in inside["lm_drift"].items()) + ".", ""]
        lines += [
            f"Modality gap per layer ({n_inside} test items; cosine of the mean image and mean text token; linear "
            "CKA on per-item means):",
            "",
            *_table(["layer", "cosine", "distance", "CKA"],
                    ([int(r["layer"]), f"{r['cosine']:.3f}", f"{r['distance']:.2f}", f"{r['cka']:.3f}"]
                     for _, r in inside["modality_gap"].iterrows())),
            "",
        ]
    if "isomorphic" in inside:
        acc = inside["isomorphic"].accuracy
        alls = acc[acc["task"] == "all"]
        lines += [f"Isomorphic inputs (the same {n_inside} test scenes as image and as text): accuracy " + ", ".join(
            f"{r['run']} {r['accuracy']:.3f}{_wilson(r)}" for _, r in alls.iterrows()) + " (Wilson 95% CIs).", ""]
    if native:
        lines += [*native, ""]
    if figures:
        lines += ["## Figures", "", *_figure_lines(figures, res, out, n_inside)]
    lines += [
        "## Files",
        "",
        "- `vectors/`: the textual vectors (`vector.safetensors` + `vector.json` each)",
        "- `results.sqlite`: every (item, cell) result; rerunning reuses it",
        "- `tables/`: `grid.csv` (train, every cell; `skipped` marks the cells not run), `table.csv` (test, chosen "
        "cells, with the replicated and specificity columns), `replication.csv`, `specificity.csv`, analyses",
        "",
        f"Finished in {seconds:.0f} s on {torch_threads()} torch thread(s)"
        + (f" (estimated at the start: {estimated:.0f} s)" if estimated else "") + ".",
        "",
    ]
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table: the header, its rule, one line per row of cells (printed with ``str``)."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header),
            *(f"| {' | '.join(map(str, row))} |" for row in rows)]


def _section(title: str, text: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A report section: ``## title``, a paragraph, a table, a blank line."""
    return [f"## {title}", "", text, "", *_table(header, rows), ""]


def _share(x: Any) -> str:
    """A share as a whole percentage; ``-`` where it was not measured."""
    return "-" if missing(x) else f"{100 * x:.0f}%"


def _fraction(f: float, low: float, high: float) -> str:
    """The textual / learned fraction with its interval; "-" where undefined or unbounded."""
    return f"{f:.2f} [{low:.2f}, {high:.2f}]" if all(map(finite, (f, low, high))) else "-"



def _choosing(config: dict[str, Any], cfg: DemoConfig) -> str:
    halving = config.get("halving")
    if not halving:
        return f"on {cfg.n_train} train items of the task ({config['n_train']} in all)"
    rounds = halving["rounds"]
    sizes = " -> ".join(str(r["n_per_task"]) for r in rounds)
    return (f"by successive halving on the train items of the task (every live cell on {rounds[0]['n_per_task']}, "
            f"the best third of each group on 3x more: {sizes} items per task; {halving['evaluations']} item x cell "
            f"evaluations against {halving['full_grid_evaluations']} for the full grid at the same final n)")


def top_summary(cfg: DemoConfig, models: list[str], parts: list[DemoReport], seconds: float) -> str:
    lines = [
        f"# interp demo: textual steering on {' and '.join(models)} (benchmark: {cfg.benchmark})",
        "",
        "## Verdict",
        "",
        *(f"- {v}" for p in parts for v in p.verdicts),
        "",
        "Each verdict gives first the replicated gain (fresh scenes that played no part in choosing the cell) with "
        "its 95% CI, or the smallest gain the replication could have detected (80% power); then the controls of "
        "the best cell: the answer-prior shift, specificity against every other concept and the flipped sign, the "
        "random directions' q95, the cost on the other tasks, the learned vector's ceiling and the protocol's "
        "false-claim rate (the whole pipeline run with random vectors). Each model's report says why.",
        "",
        "## Reports",
        "",
        *(f"- [{m}]({m}/summary.md)" for m in models),
        "",
        f"Finished in {seconds:.0f} s on {torch_threads()} torch thread(s).",
        "",
    ]
    return "\n".join(lines)


def _hint_text(hints: Any) -> str:
    if hints is True:
        return "the default template (`interp.prompts.PROMPTING_TEMPLATE`) per concept."
    if isinstance(hints, str):
        return f"`{hints}`."
    if isinstance(hints, dict):
        return "; ".join(f"{c}: `{h}`" for c, h in hints.items()) + "."
    return "none."


__all__ = ["model_summary", "top_summary", "torch_threads"]
