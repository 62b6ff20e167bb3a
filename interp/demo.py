"""The paper's whole pipeline in one command, on the model organism by default.

1. Load the MLLM and its text-only backbone.
2. Build textual steering vectors (arXiv 2505.14071) by every method (meanshift, probe, sae,
   diffmean) for each concept, from sentences alone, on the backbone.
3. Sweep layer x strength x selector on the train split, choose each vector's cell per task with
   the paper's rule, and report it on held-out test items beside the unsteered model, a
   prompting baseline and random directions of the same norm, with bootstrap CIs, exact McNemar
   p-values and Holm's correction.
4. Look inside: how much of the image tokens' variance lies along each textual vector (against
   random directions), the modality gap per layer, and the same scenes given as text
   (isomorphic inputs; organism only).
5. Write a report folder: vectors, the results store, tables (CSV), figures (HTML and PNG) and
   ``summary.md``.

A second run with the same arguments reuses the saved vectors and every finished result row.

Run ``interp demo`` (or ``python -m interp.demo``); ``--help`` for options. With weights and a GPU:
``interp demo --model google/paligemma2-3b-mix-448 --benchmark cvbench``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interp.io import check_writable, refuse_other_run, write_file
from interp.progress import stage
from interp.prompts import CONCEPT_TASKS, MC_PREFIX, organism_hint
from interp.prompts import ORGANISM_HINTS as ORGANISM_HINTS  # re-exported: its home was here

METHODS = ("meanshift", "probe", "sae", "diffmean")


@dataclass
class DemoConfig:
    """What the demo runs. The defaults take about four minutes of one CPU core (measured: 194 s user, 3:54 wall).

    ``n_replicate`` fresh scenes per task (organism benchmark) score each chosen cell again on items
    that played no part in the choice; ``specificity`` compares each chosen cell with the other
    concepts' vectors and the flipped sign; ``hint`` replaces the prompting baseline's hint (a
    template with ``{concept}``, or one text for every concept). A rerun with the same settings
    rewrites its own report; a report of other settings in ``out`` is kept unless ``overwrite``.
    """

    model: str = "organism"
    benchmark: str = "organism"
    benchmark_path: str | None = None
    out: str = "outputs/demo"
    methods: Sequence[str] = METHODS
    concepts: Sequence[str] | None = None
    layers: Sequence[int] | None = None
    strengths: Sequence[float] = (-1.0, -0.5, 0.5, 1.0)
    selectors: Sequence[str] = ("image", "text", "both")
    n_train: int = 48
    n_test: int = 100
    n_random: int = 10
    n_replicate: int = 0
    specificity: bool = True
    hint: str | None = None
    overwrite: bool = False
    batch_size: int = 32
    seed: int = 0
    analyses: bool = True
    figures: bool = True
    static: bool = True
    progress: bool = True
    device_map: Any = None
    dtype: Any = None
    remote: bool | str = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoReport:
    """Where the demo wrote its outputs, and its main tables (pandas DataFrames)."""

    out: Path
    table: Any
    grid: Any
    summary: Path
    figures: list[Path]


#: The settings a demo report records; a report of other settings is not replaced without overwrite.
REPORT_SETTINGS = ("model", "benchmark", "benchmark_path", "methods", "concepts", "layers", "strengths", "selectors",
                   "n_train", "n_test", "n_random", "n_replicate", "specificity", "hint", "seed")
REPORT_FILES = ("tables/table.csv", "summary.md", "config.json")


def _write_table(frame: Any, path: Path) -> None:
    """A report table, written atomically (a rerun of the same report rewrites it)."""
    write_file(path, frame.to_csv(index=False), overwrite=True)


def _say(msg: str, enabled: bool) -> None:
    stage(msg, enabled=enabled, prefix="demo")


def _items(cfg: DemoConfig, split: str, tasks: list[str]) -> list[Any]:
    from interp.evaluation.benchmarks import load_benchmark

    n = cfg.n_train if split == "train" else cfg.n_test
    if cfg.benchmark == "organism":
        bench = load_benchmark("organism", split=split, tasks=tasks, n_per_task=n, seed=cfg.seed)
    else:
        bench = load_benchmark(cfg.benchmark, cfg.benchmark_path, split=split, tasks=tasks, limit=n)
    return list(bench)


def _vector(backbone: Any, concept: str, method: str, source: str, layers: list[int], out: Path) -> Any:
    """Load the saved vector if a previous run left one for this model, else compute and save it."""
    from interp.vectors import SteeringVector, compute

    directory = out / "vectors" / f"{method}__{concept}"
    if directory.exists():
        v = SteeringVector.load(directory)
        if v.meta.source_model == backbone.name and all(layer in v.layers for layer in layers):
            return v
        raise ValueError(
            f"{directory} holds a vector from another run ({v.meta.source_model}, layers "
            f"{list(v.layers)}): remove it or pick another --out; the demo does not overwrite it"
        )
    v = compute(backbone, concept, method, source=source, layers=layers)
    v.save(directory)
    return v


def run_demo(config: DemoConfig | None = None, **overrides: Any) -> DemoReport:
    """Run the pipeline and write the report folder; returns where things are.

    Example:
        >>> report = run_demo(n_train=20, n_test=40, strengths=(-1.0, 1.0))   # doctest: +SKIP
        >>> print(report.summary.read_text())                                 # doctest: +SKIP
    """
    cfg = config or DemoConfig()
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"unknown demo option {key!r}: options are {sorted(asdict(cfg))}")
        setattr(cfg, key, value)
    if cfg.benchmark not in CONCEPT_TASKS:
        raise ValueError(f"unknown benchmark {cfg.benchmark!r}: the demo knows {sorted(CONCEPT_TASKS)}")
    pairs = CONCEPT_TASKS[cfg.benchmark]
    concepts = list(cfg.concepts) if cfg.concepts is not None else list(pairs)
    unknown = [c for c in concepts if c not in pairs]
    if unknown:
        raise ValueError(f"concepts {unknown} have no task in {cfg.benchmark}: choose among {sorted(pairs)}")

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.simplefilter("ignore")
    import interp
    from interp.evaluation import sweep

    start = time.perf_counter()
    out = Path(cfg.out)
    settings = json.loads(json.dumps({k: asdict(cfg)[k] for k in REPORT_SETTINGS}, default=str))
    refuse_other_run(out, REPORT_FILES, settings, overwrite=cfg.overwrite, what="demo",
                     replaced="its report (tables, summary.md)", kept=" (results.sqlite keeps both runs' rows)")
    check_writable(out)
    _say(f"loading {cfg.model} and its text backbone", cfg.progress)
    mllm = interp.load_mllm(cfg.model, device_map=cfg.device_map, dtype=cfg.dtype, remote=cfg.remote)
    from interp.organism import NAMES as ORGANISMS

    if cfg.model in ORGANISMS:
        backbone = interp.load_text_backbone(mllm=cfg.model, remote=cfg.remote)
    else:
        backbone = interp.load_text_backbone(mllm=mllm, device_map=cfg.device_map, dtype=cfg.dtype, remote=cfg.remote)
    layers = list(range(mllm.n_layers)) if cfg.layers is None else [mllm.check_layer(x) for x in cfg.layers]
    source = "organism" if cfg.model in ORGANISMS else "default"

    _say(f"building {len(cfg.methods)} x {len(concepts)} textual vectors from text alone", cfg.progress)
    vectors, targets = {}, {}
    for concept in concepts:
        for method in cfg.methods:
            name = f"{method}/{concept}"
            vectors[name] = _vector(backbone, concept, method, source, layers, out)
            targets[name] = pairs[concept]
    tasks = sorted({t for c in concepts for t in pairs[c]})
    train, test = _items(cfg, "train", tasks), _items(cfg, "test", tasks)
    hints: Any = True
    if cfg.hint is not None:
        hints = cfg.hint if "{concept}" in cfg.hint else {c: f"{cfg.hint.rstrip()} {MC_PREFIX}" for c in concepts}
    elif cfg.model in ORGANISMS:
        hints = {c: organism_hint(c) for c in concepts}

    n_cells = len(layers) * len(cfg.strengths) * len(cfg.selectors)
    _say(f"sweeping {n_cells} cells per vector on {len(train)} train items, reporting on {len(test)} test items", cfg.progress)
    res = sweep(
        mllm, vectors, layers, cfg.strengths, cfg.selectors, train, test, store=out / "results.sqlite",
        targets=targets, n_random=cfg.n_random, prompt_baseline=hints, batch_size=cfg.batch_size,
        seed=cfg.seed, progress=cfg.progress,
    )
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    _write_table(res.grid, tables / "grid.csv")
    _write_table(res.table, tables / "table.csv")

    controls = _controls(cfg, mllm, res, vectors, test, tasks, out)
    for name, frame in controls.items():
        _write_table(frame, tables / f"{name}.csv")

    inside: dict[str, Any] = {}
    if cfg.analyses:
        inside = _analyses(cfg, mllm, backbone, vectors, test, layers, tables)

    native = _native(cfg, mllm, vectors, res, test, out) if cfg.analyses else []

    figures: list[Path] = []
    if cfg.figures:
        figures = _figures(cfg, res, inside, out / "figures")

    summary = out / "summary.md"
    write_file(summary, _summary(cfg, res, inside, figures, out, time.perf_counter() - start, controls, hints)
               + "\n".join(native), overwrite=True)
    record = {**asdict(cfg), "prompting_hints": hints, "sweep": res.config}
    write_file(out / "config.json", json.dumps(record, indent=2, default=str) + "\n", overwrite=True)
    _say(f"done in {time.perf_counter() - start:.0f} s: {summary}", cfg.progress)
    return DemoReport(out=out, table=res.table, grid=res.grid, summary=summary, figures=figures)


#: Where the demo's replication scenes start on the organism: far from the test items' indices, so
#: they are fresh scenes with their own ids that played no part in choosing or reporting a cell.
REPLICATION_START = 10_000


def _controls(cfg: DemoConfig, mllm: Any, res: Any, vectors: dict[str, Any], test: list[Any],
              tasks: list[str], out: Path) -> dict[str, Any]:
    """Replication on fresh scenes (organism benchmark, ``n_replicate`` per task) and specificity."""
    from interp.evaluation import replicate, specificity

    found: dict[str, Any] = {}
    if not len(res.table):
        return found
    store = out / "results.sqlite"
    if cfg.n_replicate > 0:
        if cfg.benchmark != "organism":
            raise ValueError("n_replicate draws fresh scenes, which only the organism benchmark has")
        from interp.evaluation.benchmarks import load_benchmark

        fresh = list(load_benchmark("organism", split="test", tasks=tasks, n_per_task=cfg.n_replicate,
                                    seed=cfg.seed, start=REPLICATION_START))
        _say(f"replicating {len(res.table)} chosen cells on {len(fresh)} fresh scenes", cfg.progress)
        found["replication"] = replicate(mllm, res, vectors, fresh, store=store, n_random=cfg.n_random,
                                         seed=cfg.seed, batch_size=cfg.batch_size, progress=cfg.progress)
    if cfg.specificity and len({v.meta.concept for v in vectors.values()}) >= 1:
        _say(f"specificity: other concepts and the flipped sign at {len(res.table)} chosen cells", cfg.progress)
        found["specificity"] = specificity(mllm, res, vectors, test, store=store, batch_size=cfg.batch_size,
                                           progress=cfg.progress)
    return found


def _verdict(cfg: DemoConfig, res: Any, controls: dict[str, Any], inside: dict[str, Any]) -> list[str]:
    """The summary's opening lines: where textual steering helps, in numbers, and where not and why."""
    table = res.table
    lines = [f"## Verdict: {cfg.model}", ""]
    if not len(table):
        return [*lines, "No chosen cell was reported (no test items).", ""]
    ceiling = sorted({r["task"] for _, r in table.iterrows() if r["unsteered_accuracy"] >= 0.98})
    harms = table[(table["gain_high"] < 0) & (table["p_value"] < 0.05)]
    rep = controls.get("replication")
    spec = controls.get("specificity")
    specific = (
        spec.drop_duplicates(["vector", "task", "selector"]).set_index(["vector", "task", "selector"])["specific"]
        if spec is not None and len(spec) else None
    )
    if rep is not None:
        held = rep[rep["replicated"] & (rep["rep_gain"] > 0)]
        n_rep = int(rep["n_rep"].iloc[0])
        if len(held):
            best = held.sort_values("rep_gain", ascending=False).iloc[0]
            key = (best["vector"], best["task"], best["selector"])
            is_specific = None if specific is None or key not in specific.index else bool(specific[key])
            lines.append(
                f"**Textual steering helps** at {len(held)} of {len(rep)} chosen cells on {n_rep} fresh scenes per "
                f"task that played no part in the choice. Best replicated: {best['vector']} on {best['task']} "
                f"{best['selector']} tokens, L{int(best['layer'])} @ {best['strength']:+g}: "
                f"{100 * best['rep_gain']:+.1f} points [{100 * best['rep_gain_low']:+.1f}, {100 * best['rep_gain_high']:+.1f}], "
                f"p (Holm) {best['rep_p_holm']:.2g}, above every random direction's q95 "
                f"({100 * best['rep_random_q95_gain']:+.1f}); "
                + ("specific to its concept." if is_specific else "not specific: another concept's vector or the flipped sign does as well."
                   if is_specific is False else "specificity not measured.")
            )
        else:
            lines.append(
                f"**Textual steering does not help here**: none of the {len(rep)} chosen cells replicates on "
                f"{n_rep} fresh scenes per task (gain CI above 0, Holm p < 0.05, above random)."
            )
    else:
        sig = table[(table["gain_low"] > 0) & (table["p_value"] < 0.05)]
        lines.append(
            f"{len(sig)} of {len(table)} chosen cells show a positive, significant test gain; no replication was "
            "run (n_replicate=0), so a test gain chosen as the best of many cells is an optimistic figure."
        )
    why = []
    if "variance_share" in inside:
        img = inside["variance_share"]
        img = img[img["kind"] == "image"]
        if len(img):
            why.append(
                f"the textual vectors hold {img['ratio'].min():.1f}-{img['ratio'].max():.1f}x a random direction's "
                "share of image-token variance"
            )
    if ceiling:
        why.append(f"{', '.join(ceiling)} sit at the ceiling unsteered (accuracy >= 0.98: no gain is possible)")
    if "isomorphic" in inside:
        alls = inside["isomorphic"].accuracy
        alls = alls[alls["task"] == "all"].set_index("run")["accuracy"]
        if "image" in alls and "text" in alls:
            why.append(
                f"the modality gap: the same scenes are answered at {alls['image']:.2f} as images and {alls['text']:.2f} as text"
            )
    if why:
        lines += ["", "What the model shows: " + "; ".join(why) + "."]
    if len(harms):
        lines += ["", f"**Significant harms** ({len(harms)}): " + "; ".join(
            f"{r['vector']} on {r['task']} {r['selector']} L{int(r['layer'])} @ {r['strength']:+g}: "
            f"{100 * r['gain']:+.1f} [{100 * r['gain_low']:+.1f}, {100 * r['gain_high']:+.1f}], p {r['p_value']:.2g}"
            for _, r in harms.iterrows()) + "."]
    return [*lines, ""]


def _native(cfg: DemoConfig, mllm: Any, vectors: dict[str, Any], result: Any, test: list[Any], out: Path) -> list[str]:
    """The native comparator: per concept, the MLLM's own image-token direction beside the textual vectors.

    On the organism benchmark only (its scenes give the visual contrasts, ``organism_contrast``):
    a native diffmean vector per concept, its cosine with each textual vector per layer, and the
    gain of each at the textual vectors' chosen image-token cells (same layer, strength and edit
    norm) on the test items. Writes ``tables/native.csv``; returns the summary's lines.
    """
    from interp.vectors import compare_native, native_vector, organism_contrast
    from interp.vectors.native import ORGANISM_CONTRASTS

    concepts = sorted({v.meta.concept for v in vectors.values()} & set(ORGANISM_CONTRASTS))
    table = result.table
    if cfg.benchmark != "organism" or not concepts or table is None or not len(table):
        return []
    cells = table[table["selector"] == "image"] if (table["selector"] == "image").any() else table
    _say(f"native comparator: {len(concepts)} native vectors, {len(cells)} chosen cells", cfg.progress)
    natives = {f"native-diffmean/{c}": native_vector(mllm, organism_contrast(c, n=32, seed=cfg.seed),
                                                     layers=result.config["layers"], batch_size=cfg.batch_size)
               for c in concepts}
    df = compare_native(mllm, vectors, natives, test, cells=cells, store=out / "results.sqlite", n_random=cfg.n_random,
                        seed=cfg.seed, batch_size=cfg.batch_size, progress=cfg.progress)
    _write_table(df, out / "tables" / "native.csv")
    scored = df.dropna(subset=["native_gain"])
    lines = ["## Native comparator", "",
             "A native vector per concept from the MLLM's own image tokens (diffmean on the organism's visual contrast: "
             + "; ".join(f"{c}: {ORGANISM_CONTRASTS[c][1]} vs {ORGANISM_CONTRASTS[c][2]}" for c in concepts)
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


def _analyses(cfg: DemoConfig, mllm: Any, backbone: Any, vectors: dict[str, Any], test: list[Any],
              layers: list[int], tables: Path) -> dict[str, Any]:
    import pandas as pd

    from interp.analysis import isomorphic, modality_gap, variance_share

    sample = test[: min(len(test), 48)]
    _say(f"looking inside: variance share, modality gap{', isomorphic inputs' if cfg.benchmark == 'organism' else ''}", cfg.progress)
    shares = []
    for name, v in vectors.items():
        df = variance_share(mllm, v, sample, layers=layers, kinds=("image", "text"), seed=cfg.seed)
        shares.append(df.assign(vector=name, method=v.meta.method, concept=v.meta.concept))
    share = pd.concat(shares, ignore_index=True)
    gap = modality_gap(mllm, sample, layers=layers)
    _write_table(share, tables / "variance_share.csv")
    _write_table(gap, tables / "modality_gap.csv")
    out: dict[str, Any] = {"variance_share": share, "modality_gap": gap}
    if cfg.benchmark == "organism":
        iso = isomorphic(mllm, sample, backbone=backbone, layers=layers)
        _write_table(iso.accuracy, tables / "isomorphic_accuracy.csv")
        _write_table(iso.similarity, tables / "isomorphic_similarity.csv")
        out["isomorphic"] = iso
    return out


def _figures(cfg: DemoConfig, res: Any, inside: dict[str, Any], directory: Path) -> list[Path]:
    from interp import figures

    return list(figures.report_figures(res, directory, static=cfg.static, **inside))


def _summary(cfg: DemoConfig, res: Any, inside: dict[str, Any], figures: list[Path], out: Path, seconds: float,
             controls: dict[str, Any] | None = None, hints: Any = True) -> str:
    from interp.evaluation import selection_note, table_markdown

    table = res.table
    n_cells = len(res.config["layers"]) * len(res.config["strengths"]) * len(res.config["selectors"])
    sig = table[(table["gain_low"] > 0) & (table["p_value"] < 0.05)] if len(table) else table
    beats = sig[sig["beats_random"].astype(bool)] if "beats_random" in sig else sig
    controls = controls or {}
    n_per_row = sorted({int(n) for n in table["n_test"]}) if len(table) else []
    lines = [
        f"# interp demo: textual steering on {cfg.model} ({cfg.benchmark})",
        "",
        *_verdict(cfg, res, controls, inside),
        "## The sweep",
        "",
        f"{len(res.config['vectors'])} textual vectors ({', '.join(cfg.methods)}) x layers {res.config['layers']} x "
        f"relative strengths {res.config['strengths']} x selectors {res.config['selectors']}. "
        + selection_note(n_cells, res.config["n_train"], res.config["n_test"]),
        "",
        "Gains are test accuracy minus the unsteered model's on the same items, in points, with a paired "
        "bootstrap 95% CI; p is the exact McNemar test, Holm-adjusted over the table; 'random q95 gain' is "
        f"the 95th percentile of {cfg.n_random} random directions of the same norm at the same cell.",
        "",
        f"Each row is scored on n = {', '.join(map(str, n_per_row)) or '0'} test items of its task. Prompting "
        f"baseline hint: {_hint_text(hints)}",
        "",
        table_markdown(table),
        "",
        f"Cells with a positive, significant test gain (CI above 0, p < 0.05): {len(sig)} of {len(table)}; "
        f"of those, above the random-direction control: {len(beats)}.",
        "",
    ]
    if "replication" in controls:
        rep = controls["replication"]
        lines += [
            "## Replication",
            "",
            f"Each chosen cell, as chosen, on {int(rep['n_rep'].iloc[0])} fresh scenes per task (gain in points, "
            "paired bootstrap 95% CI, McNemar p Holm-adjusted, random q95 on the same scenes):",
            "",
            "| vector | task | selector | cell | test gain | replicated gain [95% CI] | p (Holm) | random q95 | replicated |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for _, r in rep.iterrows():
            lines.append(
                f"| {r['vector']} | {r['task']} | {r['selector']} | L{int(r['layer'])} @ {r['strength']:+g} | "
                f"{100 * r['test_gain']:+.1f} | {100 * r['rep_gain']:+.1f} [{100 * r['rep_gain_low']:+.1f}, "
                f"{100 * r['rep_gain_high']:+.1f}] | {r['rep_p_holm']:.3g} | "
                f"{100 * r.get('rep_random_q95_gain', float('nan')):+.1f} | {bool(r['replicated'])} |"
            )
        lines.append("")
    if "specificity" in controls and len(controls["specificity"]):
        spec = controls["specificity"]
        lines += [
            "## Specificity",
            "",
            "At each chosen cell, on the test items: the gain over unsteered of the chosen vector and of each control "
            "(another concept's vector rescaled to the same norm, or the flipped sign); 'specific' means the chosen "
            "vector beats every control (paired CI of the difference above 0).",
            "",
            "| vector | task | selector | control | cosine | gain | control gain | specific |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for _, r in spec.iterrows():
            lines.append(
                f"| {r['vector']} | {r['task']} | {r['selector']} | {r['control']} | {r['control_cosine']:+.2f} | "
                f"{100 * r['gain']:+.1f} | {100 * r['control_gain']:+.1f} | {bool(r['specific'])} |"
            )
        lines.append("")
    if "variance_share" in inside:
        vs = inside["variance_share"]
        img = vs[vs["kind"] == "image"]
        lines += [
            "## Inside",
            "",
            f"Share of image-token variance along the textual vectors: {img['share'].min():.4f}-{img['share'].max():.4f} "
            f"(a random direction: {img['uniform'].iloc[0]:.4f}; ratio to random {img['ratio'].min():.2f}-{img['ratio'].max():.2f}).",
            "",
            "Modality gap per layer (cosine of the mean image and mean text token; linear CKA on per-item means):",
            "",
            "| layer | cosine | distance | CKA |",
            "|---|---|---|---|",
        ]
        for _, r in inside["modality_gap"].iterrows():
            lines.append(f"| {int(r['layer'])} | {r['cosine']:.3f} | {r['distance']:.2f} | {r['cka']:.3f} |")
        lines.append("")
    if "isomorphic" in inside:
        acc = inside["isomorphic"].accuracy
        alls = acc[acc["task"] == "all"]
        lines += ["Isomorphic inputs (the same scenes as image and as text): accuracy " + ", ".join(
            f"{r['run']} {r['accuracy']:.3f}" for _, r in alls.iterrows()) + ".", ""]
    if figures:
        lines += ["## Figures", ""] + [f"- [{p.name}]({p.relative_to(out)})" for p in figures] + [""]
    lines += [
        "## Files",
        "",
        "- `vectors/`: the textual vectors (`vector.safetensors` + `vector.json` each)",
        "- `results.sqlite`: every (item, cell) result; rerunning reuses it",
        "- `tables/`: `grid.csv` (train, every cell), `table.csv` (test, chosen cells), `replication.csv`, "
        "`specificity.csv`, analyses",
        "",
        f"Finished in {seconds:.0f} s.",
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


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m interp.demo``: the demo with its defaults (the CLI's ``interp demo`` has options)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="organism")
    parser.add_argument("--benchmark", default="organism", choices=sorted(CONCEPT_TASKS))
    parser.add_argument("--benchmark-path", default=None)
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--n-train", type=int, default=48)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = run_demo(model=args.model, benchmark=args.benchmark, benchmark_path=args.benchmark_path,
                      out=args.out, n_train=args.n_train, n_test=args.n_test)
    print(report.summary.read_text())


if __name__ == "__main__":
    main()
