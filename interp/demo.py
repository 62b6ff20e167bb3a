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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from interp.io import check_writable, refuse_other_run, write_file
from interp.progress import stage
from interp.prompts import CONCEPT_TASKS, MC_PREFIX, organism_hint
from interp.prompts import ORGANISM_HINTS as ORGANISM_HINTS  # re-exported: its home was here

METHODS = ("meanshift", "probe", "sae", "diffmean")


#: The demo's default models: the positive control (LLaVA-style organism, whose language model is
#: the text backbone itself) first, then the organism whose language model drifted in training.
DEFAULT_MODELS = ("organism-llava", "organism")
#: Fresh scenes per task the chosen cells are replicated on by default (organism benchmark): enough
#: for a paired 95% CI of a few points.
DEFAULT_REPLICATE = 300


@dataclass
class DemoConfig:
    """What the demo runs (its wall time on this project's machines: see the README).

    ``model`` is one model, or several (the default: both organisms, the positive control first),
    each reported in its own subfolder ``out/<model>`` under a top-level ``summary.md`` that opens
    with one verdict line per model. ``n_replicate`` fresh scenes per task (organism benchmark;
    None: ``DEFAULT_REPLICATE`` there, 0 elsewhere) score the ``replicate_top`` chosen cells with
    the largest test gains again on items that played no part in the choice (the headline);
    ``specificity`` compares those cells with the other concepts' vectors and the flipped sign;
    ``hint`` replaces the prompting baseline's hint (a template with ``{concept}``, or one text
    for every concept). A rerun with the same settings rewrites its own report; a report of other
    settings in ``out`` is kept unless ``overwrite``.
    """

    model: str | Sequence[str] = DEFAULT_MODELS
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
    n_random: int = 5
    n_replicate: int | None = None
    replicate_top: int | None = 8
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
    verdicts: tuple[str, ...] = ()
    parts: tuple[DemoReport, ...] = ()


#: The settings a demo report records; a report of other settings is not replaced without overwrite.
REPORT_SETTINGS = ("model", "benchmark", "benchmark_path", "methods", "concepts", "layers", "strengths", "selectors",
                   "n_train", "n_test", "n_random", "n_replicate", "replicate_top", "specificity", "hint", "seed")
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

    With several models (the default: both organisms) each gets its own subfolder of ``out`` and
    the top-level ``summary.md`` opens with one verdict line per model (also in
    ``DemoReport.verdicts``; ``parts`` holds each model's own report).

    Example:
        >>> report = run_demo(model="organism", n_train=20, n_test=40, strengths=(-1.0, 1.0))  # doctest: +SKIP
        >>> print("\n".join(report.verdicts))                                                  # doctest: +SKIP
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
    models = [cfg.model] if isinstance(cfg.model, str) else list(cfg.model)
    if not models or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"model must be a model name or a list of them, got {cfg.model!r}")
    if len(set(models)) != len(models):
        raise ValueError(f"model names a model twice: {models}")
    if cfg.n_replicate is not None and cfg.n_replicate > 0 and cfg.benchmark != "organism":
        raise ValueError("n_replicate draws fresh scenes, which only the organism benchmark has")

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    if len(models) == 1:
        return _run_one(replace(cfg, model=models[0]), concepts, start)
    out = Path(cfg.out)
    settings = json.loads(json.dumps({k: asdict(cfg)[k] for k in REPORT_SETTINGS}, default=str))
    refuse_other_run(out, ("summary.md", "config.json"), settings, overwrite=cfg.overwrite, what="demo",
                     replaced="its summary.md")
    check_writable(out)
    parts = []
    for k, model in enumerate(models):
        _say(f"model {k + 1} of {len(models)}: {model} (report in {out / model})", cfg.progress)
        parts.append(_run_one(replace(cfg, model=model, out=str(out / model)), concepts, time.perf_counter()))
    import pandas as pd

    seconds = time.perf_counter() - start
    verdicts = tuple(v for p in parts for v in p.verdicts)
    summary = out / "summary.md"
    write_file(summary, _top_summary(cfg, models, parts, seconds), overwrite=True)
    write_file(out / "config.json", json.dumps({**asdict(cfg), "models": models, "seconds": round(seconds),
                                                "torch_threads": _threads()}, indent=2, default=str) + "\n",
               overwrite=True)
    _say(f"done in {seconds:.0f} s: {summary}", cfg.progress)
    return DemoReport(
        out=out, summary=summary, verdicts=verdicts, parts=tuple(parts),
        table=pd.concat([p.table.assign(model=m) for p, m in zip(parts, models)], ignore_index=True),
        grid=pd.concat([p.grid.assign(model=m) for p, m in zip(parts, models)], ignore_index=True),
        figures=[f for p in parts for f in p.figures],
    )


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _run_one(cfg: DemoConfig, concepts: list[str], start: float) -> DemoReport:
    """The demo on one model (``cfg.model`` a name) into ``cfg.out``."""
    import interp
    from interp.evaluation import sweep

    assert isinstance(cfg.model, str)
    pairs = CONCEPT_TASKS[cfg.benchmark]
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
    n_rep = _n_replicate(cfg)
    fresh = None
    if n_rep:
        from interp.evaluation.benchmarks import load_benchmark

        fresh = list(load_benchmark("organism", split="test", tasks=tasks, n_per_task=n_rep, seed=cfg.seed,
                                    start=REPLICATION_START))

    from interp.evaluation.sweep import dead_cell

    n_cells = len(layers) * len(cfg.strengths) * len(cfg.selectors)
    n_dead = sum(dead_cell(mllm.n_layers, x, s) for x in layers for s in cfg.selectors) * len(cfg.strengths)
    if cfg.progress:
        est = _estimate(cfg, mllm, train, vectors, targets, layers, n_rep)
        _say(f"estimated time for the sweep and its controls: about {_minutes(est)} on {_threads()} torch "
             f"thread(s) (from one timed batch; the analyses and figures come on top)", True)
    _say(f"sweeping {n_cells - n_dead} live cells per vector ({n_dead} skipped: they cannot change the answer) "
         f"on {len(train)} train items, reporting on {len(test)} test items"
         + (f", replicating the {cfg.replicate_top or 'all'} best on {len(fresh)} fresh scenes" if fresh else ""),
         cfg.progress)
    res = sweep(
        mllm, vectors, layers, cfg.strengths, cfg.selectors, train, test, store=out / "results.sqlite",
        targets=targets, n_random=cfg.n_random, prompt_baseline=hints, batch_size=cfg.batch_size,
        seed=cfg.seed, progress=cfg.progress, replicate=fresh, replicate_top=cfg.replicate_top,
        specificity=cfg.specificity and len(test) > 0,
    )
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    _write_table(res.grid, tables / "grid.csv")
    _write_table(res.table, tables / "table.csv")
    for name, frame in (("replication", res.replication), ("specificity", res.specificity)):
        if frame is not None:
            _write_table(frame, tables / f"{name}.csv")

    inside: dict[str, Any] = {}
    if cfg.analyses:
        inside = _analyses(cfg, mllm, backbone, vectors, test, layers, tables)

    native = _native(cfg, mllm, vectors, res, test, out) if cfg.analyses else []

    figures: list[Path] = []
    if cfg.figures:
        figures = _figures(cfg, res, inside, out / "figures")

    verdict = _verdict_line(cfg.model, res.table, inside)
    summary = out / "summary.md"
    write_file(summary, _summary(cfg, res, inside, figures, out, time.perf_counter() - start, verdict, hints)
               + "\n".join(native), overwrite=True)
    record = {**asdict(cfg), "n_replicate_used": n_rep, "prompting_hints": hints, "sweep": res.config,
              "torch_threads": _threads(), "verdict": verdict}
    write_file(out / "config.json", json.dumps(record, indent=2, default=str) + "\n", overwrite=True)
    _say(f"{cfg.model} done in {time.perf_counter() - start:.0f} s: {summary}", cfg.progress)
    return DemoReport(out=out, table=res.table, grid=res.grid, summary=summary, figures=figures,
                      verdicts=(verdict,))


#: Where the demo's replication scenes start on the organism: far from the test items' indices, so
#: they are fresh scenes with their own ids that played no part in choosing or reporting a cell.
REPLICATION_START = 10_000


def _n_replicate(cfg: DemoConfig) -> int:
    if cfg.n_replicate is None:
        return DEFAULT_REPLICATE if cfg.benchmark == "organism" else 0
    if isinstance(cfg.n_replicate, bool) or not isinstance(cfg.n_replicate, int) or cfg.n_replicate < 0:
        raise ValueError(f"n_replicate must be a non-negative int or None, got {cfg.n_replicate!r}")
    return cfg.n_replicate


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _estimate(cfg: DemoConfig, mllm: Any, train: list[Any], vectors: dict[str, Any], targets: dict[str, Any],
              layers: list[int], n_rep: int) -> float:
    """Seconds the sweep and its controls should take, from one timed batch of the shared pass.

    Times, on one batch of train items, the base pass (the vision tower and the decoder once,
    ``interp.evaluation.cells.BasePass``) and one steered cell at each live layer (only the layers
    above it run); then counts the batches and cells of the train grid, the test cells (chosen
    cells, random directions, the prompting baseline: a full pass) and the replication with its
    controls. Rough: batch shapes vary and the machine may be shared, so the run also says how
    long it took.
    """
    import math

    import torch

    from interp.answers import encode_items
    from interp.evaluation.cells import BasePass
    from interp.evaluation.sweep import dead_cell
    from interp.steering import add

    if not train:
        return 0.0
    n = mllm.n_layers
    live = [(x, s) for x in layers for s in cfg.selectors if not dead_cell(n, x, s)]
    batch = train[: cfg.batch_size]
    inputs = encode_items(mllm, batch)
    kept = sorted({x for x, _ in live})
    BasePass(mllm, inputs, kept)  # warm-up
    t0 = time.perf_counter()
    bp = BasePass(mllm, inputs, kept)
    scale = cfg.batch_size / len(batch)
    t_base = (time.perf_counter() - t0) * scale
    direction = torch.ones(mllm.d_model, dtype=mllm.dtype)
    took = []
    for x, s in live:
        t0 = time.perf_counter()
        bp.steered(add(direction, x, 1e-3, s))
        took.append((time.perf_counter() - t0) * scale)
    t_cell = sum(took) / max(len(took), 1)
    tasks = sorted({t for ts in targets.values() for t in ts})
    per_task = {t: sum(t in targets[v] for v in vectors) for t in tasks}
    batches = lambda k: math.ceil(k / cfg.batch_size)  # noqa: E731
    seconds = 0.0
    for nv in per_task.values():
        seconds += batches(cfg.n_train) * (t_base + nv * len(live) * len(cfg.strengths) * t_cell)
        seconds += batches(cfg.n_test) * (2 * t_base + nv * len(cfg.selectors) * (1 + cfg.n_random) * t_cell)
    rows = sum(per_task.values()) * len(cfg.selectors)
    top = rows if cfg.replicate_top is None else min(cfg.replicate_top, rows)
    if n_rep:
        n_concepts = len({v.meta.concept for v in vectors.values()})
        controls = cfg.n_random + (n_concepts if cfg.specificity else 0)
        seconds += batches(n_rep) * (min(top, len(tasks)) * t_base + top * (1 + controls) * t_cell)
    return seconds


def _verdict_line(model: str, table: Any, inside: dict[str, Any]) -> str:
    """One plain line: where textual steering helps on ``model`` (the replicated estimate), or
    that it does not, and what the model shows about why."""
    if table is None or not len(table):
        return f"{model}: no chosen cell was reported (no test items)."
    rep = table[table["rep_gain"].notna()] if "rep_gain" in table else table.iloc[0:0]
    helps = False
    if len(rep):
        n_rep = int(rep["n_rep"].max())
        held = rep[rep["replicated"].astype(bool) & (rep["rep_gain"] > 0)]
        if len(held):
            helps = True
            b = held.sort_values("rep_gain", ascending=False).iloc[0]
            above = "above" if bool(b.get("rep_above_random", False)) else "not above"
            head = (
                f"{model}: textual steering helps at {len(held)} of {len(rep)} replicated cells on {n_rep} fresh "
                f"scenes per task; best {_cell(b)}: {_points(b, 'rep_gain')}, Holm p {b['rep_p_holm']:.2g}, "
                f"{above} every random direction (q95 {100 * b['rep_random_q95_gain']:+.1f}), {_specific(b)}"
            )
        else:
            b = rep.sort_values("rep_gain", ascending=False).iloc[0]
            head = (
                f"{model}: textual steering does not help: none of the {len(rep)} best chosen cells replicates on "
                f"{n_rep} fresh scenes per task (best: {_cell(b)} {_points(b, 'rep_gain')})"
            )
    else:
        sig = table[(table["gain_low"] > 0) & (table["p_holm"] < 0.05)]
        head = (
            f"{model}: {len(sig)} of {len(table)} chosen cells gain on test (CI above 0, Holm p < 0.05); "
            "not replicated, so these test gains, each the best of many cells, are optimistic"
        )
    why = _why(table, inside)
    line = head + (("; elsewhere: " if helps else "; why: ") + "; ".join(why) if why else "")
    harms = table[(table["gain_high"] < 0) & (table["p_value"] < 0.05)]
    if len(harms):
        w = harms.sort_values("gain").iloc[0]
        line += (f"; {len(harms)} harm{'s' * (len(harms) > 1)} on test significant before correction (worst "
                 f"{_cell(w)}: {_points(w, 'gain')}, p {w['p_value']:.2g}, Holm p {w['p_holm']:.2g})")
    if len(rep):
        rep_harms = rep[(rep["rep_gain_high"] < 0) & (rep["rep_p_holm"] < 0.05)]
        if len(rep_harms):
            w = rep_harms.sort_values("rep_gain").iloc[0]
            line += (f"; {len(rep_harms)} significant harm{'s' * (len(rep_harms) > 1)} on the fresh scenes (worst "
                     f"{_cell(w)}: {_points(w, 'rep_gain')}, Holm p {w['rep_p_holm']:.2g})")
    return line + "."


def _cell(r: Any) -> str:
    return f"{r['vector']} on {r['task']} ({r['selector']} tokens, L{int(r['layer'])} @ {float(r['strength']):+g})"


def _points(r: Any, col: str) -> str:
    return f"{100 * r[col]:+.1f} points [{100 * r[col + '_low']:+.1f}, {100 * r[col + '_high']:+.1f}]"


def _specific(r: Any) -> str:
    if "specific" not in r or r["specific"] != r["specific"]:
        return "specificity not measured"
    if bool(r["specific"]):
        return "specific to its concept (beats the flipped sign and every other concept's vector)"
    who = [w for w, col in (("the flipped sign", "beats_flipped"), ("another concept's vector", "beats_other_concepts"))
           if r.get(col) == r.get(col) and not bool(r.get(col))]
    return "not specific: " + (" and ".join(who) or "a control") + " does about as well"


def _why(table: Any, inside: dict[str, Any]) -> list[str]:
    why = []
    by_task = table.drop_duplicates("task").set_index("task")["unsteered_accuracy"]
    ceiling = sorted(t for t, a in by_task.items() if a >= 0.98)
    if ceiling:
        why.append(f"{', '.join(ceiling)} {'is' if len(ceiling) == 1 else 'are'} at the ceiling unsteered "
                   "(accuracy >= 0.98: no gain possible)")
    if "variance_share" in inside:
        img = inside["variance_share"]
        img = img[img["kind"] == "image"]
        if len(img):
            why.append(f"the textual vectors hold {img['ratio'].min():.1f}-{img['ratio'].max():.1f}x a random "
                       "direction's share of image-token variance")
    if "lm_drift" in inside:
        drift = max(inside["lm_drift"].values())
        why.append(
            "its language model is the text backbone the vectors were built on (drift 0)" if drift == 0 else
            f"its language model drifted from the text backbone the vectors were built on (relative weight "
            f"distance up to {drift:.2f})"
        )
    if "isomorphic" in inside:
        alls = inside["isomorphic"].accuracy
        alls = alls[alls["task"] == "all"].set_index("run")["accuracy"]
        text = "mllm_text" if "mllm_text" in alls else "text"
        if "image" in alls and text in alls:
            why.append(f"modality gap: the same scenes are answered at {alls['image']:.2f} as images and "
                       f"{alls[text]:.2f} as text")
    return why


def _spread(items: list[Any], n: int) -> list[Any]:
    """Up to ``n`` items taken in turn from each task (the first ``n`` would be one task's)."""
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

    sample = _spread(test, 48)
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
    from interp.organism import NAMES as ORGANISMS

    if cfg.model in ORGANISMS:
        from interp.organism.recipe.evaluate import language_model_drift

        out["lm_drift"] = language_model_drift(mllm=mllm.module, text=backbone.module)
        _write_table(pd.DataFrame([{"part": k, "relative_distance": v} for k, v in out["lm_drift"].items()]),
                     tables / "lm_drift.csv")
    if cfg.benchmark == "organism":
        iso = isomorphic(mllm, sample, backbone=backbone, layers=layers)
        _write_table(iso.accuracy, tables / "isomorphic_accuracy.csv")
        _write_table(iso.similarity, tables / "isomorphic_similarity.csv")
        out["isomorphic"] = iso
    return out


def _figures(cfg: DemoConfig, res: Any, inside: dict[str, Any], directory: Path) -> list[Path]:
    from interp import figures

    tables = {k: v for k, v in inside.items() if k in FIGURE_TABLES}
    return list(figures.report_figures(res, directory, static=cfg.static, **tables))


#: The analysis tables ``interp.figures.report_figures`` draws (the demo's other findings are text).
FIGURE_TABLES = ("variance_share", "modality_gap", "alignment", "isomorphic", "ood")


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


def _summary(cfg: DemoConfig, res: Any, inside: dict[str, Any], figures: list[Path], out: Path, seconds: float,
             verdict: str = "", hints: Any = True) -> str:
    table = res.table
    n_cells = len(res.config["layers"]) * len(res.config["strengths"]) * len(res.config["selectors"])
    sig = table[(table["gain_low"] > 0) & (table["p_value"] < 0.05)] if len(table) else table
    beats = sig[sig["above_random"].astype(bool)] if "above_random" in sig else sig
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
        "## The sweep",
        "",
        f"{len(res.config['vectors'])} textual vectors ({', '.join(cfg.methods)}) x layers {res.config['layers']} x "
        f"relative strengths {res.config['strengths']} x selectors {res.config['selectors']}. Each vector's cell "
        f"was chosen per task and selector as the best of {n_cells - len(skipped) * len(res.config['strengths'])} "
        f"live cells on {cfg.n_train} train items of the task ({res.config['n_train']} in all), and is reported on "
        f"{cfg.n_test} held-out test items of the task ({res.config['n_test']} in all), which played no part in the "
        "choice; each figure's caption says which split it shows.",
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
        f"{cfg.n_random} random directions of the same norm at the same cell.",
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
        lines += [
            "## Replication",
            "",
            f"The {len(rep)} chosen cells with the largest test gains, as chosen, on {int(rep['n_rep'].iloc[0])} fresh "
            "scenes per task (gain in points, paired bootstrap 95% CI, McNemar p Holm-adjusted over these rows, "
            "random q95 on the same scenes):",
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
    spec = res.specificity
    if spec is not None and len(spec):
        where = "the fresh scenes" if rep is not None else "the test items"
        lines += [
            "## Specificity",
            "",
            f"At each of those cells, on {where} (n = {int(spec['n'].max())} per task): the gain over unsteered of "
            "the chosen vector and of each control (another concept's vector rescaled to the same norm, or the "
            "flipped sign); 'specific' means the chosen vector beats every control (paired CI of the difference "
            "above 0).",
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
            "| layer | cosine | distance | CKA |",
            "|---|---|---|---|",
        ]
        for _, r in inside["modality_gap"].iterrows():
            lines.append(f"| {int(r['layer'])} | {r['cosine']:.3f} | {r['distance']:.2f} | {r['cka']:.3f} |")
        lines.append("")
    if "isomorphic" in inside:
        acc = inside["isomorphic"].accuracy
        alls = acc[acc["task"] == "all"]
        lines += [f"Isomorphic inputs (the same {n_inside} test scenes as image and as text): accuracy " + ", ".join(
            f"{r['run']} {r['accuracy']:.3f}" for _, r in alls.iterrows()) + ".", ""]
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
        f"Finished in {seconds:.0f} s on {_threads()} torch thread(s).",
        "",
    ]
    return "\n".join(lines)


def _top_summary(cfg: DemoConfig, models: list[str], parts: list[DemoReport], seconds: float) -> str:
    lines = [
        f"# interp demo: textual steering on {' and '.join(models)} (benchmark: {cfg.benchmark})",
        "",
        "## Verdict",
        "",
        *(f"- {v}" for p in parts for v in p.verdicts),
        "",
        "Each verdict gives the replicated estimate (fresh scenes that played no part in choosing the cell) with "
        "its 95% CI, whether it is above the random directions of the same norm and whether it is specific to its "
        "concept; where steering does not help, what the model shows about why.",
        "",
        "## Reports",
        "",
        *(f"- [{m}]({m}/summary.md)" for m in models),
        "",
        f"Finished in {seconds:.0f} s on {_threads()} torch thread(s).",
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
    parser.add_argument("--model", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--benchmark", default="organism", choices=sorted(CONCEPT_TASKS))
    parser.add_argument("--benchmark-path", default=None)
    parser.add_argument("--out", default="outputs/demo")
    parser.add_argument("--n-train", type=int, default=48)
    parser.add_argument("--n-test", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report = run_demo(model=args.model[0] if len(args.model) == 1 else tuple(args.model), benchmark=args.benchmark,
                      benchmark_path=args.benchmark_path, out=args.out, n_train=args.n_train, n_test=args.n_test)
    print("\n".join(report.verdicts))
    print(f"summary: {report.summary}")


if __name__ == "__main__":
    main()
