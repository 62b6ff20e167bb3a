"""The demo's orchestration: every model through vectors, the sweep with its controls, the analyses
and the report.

Example:
    >>> report = run_demo(model="organism", n_train=20, n_test=40, strengths=(-1.0, 1.0))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from interp.demo.config import (
    CEILING_ITEMS,
    CEILING_STEPS,
    DEFAULT_REPLICATE,
    NOT_IDENTITY,
    OPTIONAL_FILES,
    REPORT_FILES,
    DemoConfig,
    DemoReport,
)
from interp.demo.estimate import estimate_seconds, minutes
from interp.demo.inside import analyses, figures, native_section, say, write_table
from interp.demo.report import model_summary, top_summary, torch_threads
from interp.demo.verdict import verdict_line, why_line
from interp.io import (
    IDENTITY_KEY,
    check_writable,
    refuse_other_run,
    remove_stale,
    run_identity,
    write_file,
)
from interp.prompts import MC_PREFIX, check_hint


def _resolve(cfg: DemoConfig) -> tuple[list[str], dict[str, list[str]]]:
    """The models and the benchmark's concept -> tasks pairing, with defaults filled into ``cfg``."""
    from interp.evaluation.benchmarks import concept_tasks, list_benchmarks
    from interp.models.sources import demo_models, model_source

    if cfg.model is None:
        cfg.model = tuple(demo_models())
        if not cfg.model:
            raise ValueError("no model given and no installed plugin names a demo model: pass model=")
    models = [cfg.model] if isinstance(cfg.model, str) else list(cfg.model)
    if not models or not all(isinstance(m, str) and m for m in models):
        raise ValueError(f"model must be a model name or a list of them, got {cfg.model!r}")
    if len(set(models)) != len(models):
        raise ValueError(f"model names a model twice: {models}")
    if cfg.benchmark is None:
        source = model_source(models[0])
        if source is None or source.benchmark is None:
            raise ValueError(f"{models[0]} has no benchmark of its own: pass benchmark= (one of {list_benchmarks()})")
        cfg.benchmark = source.benchmark
    if cfg.benchmark not in list_benchmarks():
        raise ValueError(f"unknown benchmark {cfg.benchmark!r}: the demo knows {sorted(list_benchmarks())}")
    return models, concept_tasks(cfg.benchmark)


def run_demo(config: DemoConfig | None = None, **overrides: Any) -> DemoReport:
    """Run the pipeline and write the report folder; returns where things are.

    With several models (the default: the demo models plugins name, both organisms) each gets its
    own subfolder of ``out`` and the top-level ``summary.md`` opens with one verdict line per model
    (also in ``DemoReport.verdicts``; ``parts`` holds each model's own report).

    Example:
        >>> report = run_demo(model="organism", n_train=20, n_test=40, strengths=(-1.0, 1.0))  # doctest: +SKIP
        >>> print("\\n".join(report.verdicts))                                                  # doctest: +SKIP
    """
    from interp.evaluation.benchmarks import benchmark_spec

    cfg = config or DemoConfig()
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise ValueError(f"unknown demo option {key!r}: options are {sorted(asdict(cfg))}")
        setattr(cfg, key, value)
    models, pairs = _resolve(cfg)
    if cfg.hint is not None:  # refused now, not after the models load and the train grid ran
        check_hint(cfg.hint, template=any(c in cfg.hint for c in "{}"), what="the hint")
    concepts = list(cfg.concepts) if cfg.concepts is not None else list(pairs)
    unknown = [c for c in concepts if c not in pairs]
    if unknown:
        raise ValueError(f"concepts {unknown} have no task in {cfg.benchmark}: choose among {sorted(pairs)}")
    if cfg.n_replicate is not None and cfg.n_replicate > 0 and not benchmark_spec(str(cfg.benchmark)).makes_fresh_items:
        raise ValueError(f"n_replicate draws fresh items, which the fixed benchmark {cfg.benchmark} does not make")

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    if len(models) == 1:
        return _run_one(replace(cfg, model=models[0]), concepts, pairs, start)
    out = Path(cfg.out)
    identity = run_identity(asdict(cfg), exclude=NOT_IDENTITY)
    refuse_other_run(out, ("summary.md", "config.json"), identity, overwrite=cfg.overwrite, what="demo",
                     replaced="its summary.md")
    check_writable(out)
    parts = []
    for k, model in enumerate(models):
        say(f"model {k + 1} of {len(models)}: {model} (report in {out / model})", cfg.progress)
        parts.append(_run_one(replace(cfg, model=model, out=str(out / model)), concepts, pairs, time.perf_counter()))
    import pandas as pd

    seconds = time.perf_counter() - start
    verdicts = tuple(v for p in parts for v in p.verdicts)
    summary = out / "summary.md"
    write_file(summary, top_summary(cfg, models, parts, seconds), overwrite=True)
    write_file(out / "config.json", json.dumps({**asdict(cfg), "models": models, "seconds": round(seconds),
                                                "torch_threads": torch_threads(), IDENTITY_KEY: identity},
                                               indent=2, default=str) + "\n", overwrite=True)
    say(f"done in {seconds:.0f} s: {summary}", cfg.progress)
    return DemoReport(
        out=out, summary=summary, verdicts=verdicts, parts=tuple(parts), why=tuple(w for p in parts for w in p.why),
        table=pd.concat([p.table.assign(model=m) for p, m in zip(parts, models)], ignore_index=True),
        grid=pd.concat([p.grid.assign(model=m) for p, m in zip(parts, models)], ignore_index=True),
        figures=[f for p in parts for f in p.figures],
    )


def _items(cfg: DemoConfig, split: str, tasks: list[str]) -> list[Any]:
    from interp.evaluation.benchmarks import benchmark_spec, load_benchmark

    assert cfg.benchmark is not None
    n = cfg.n_train if split == "train" else cfg.n_test
    if benchmark_spec(cfg.benchmark).generate is not None:
        bench = load_benchmark(cfg.benchmark, split=split, tasks=tasks, n_per_task=n, seed=cfg.seed)
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


def _hints(cfg: DemoConfig, concepts: list[str]) -> Any:
    """The prompting baseline: ``cfg.hint``, else the model's own words (its model source), else the default."""
    from interp.models.sources import prompting_hints

    if cfg.hint is not None:
        return cfg.hint if "{concept}" in cfg.hint else {c: f"{cfg.hint.rstrip()} {MC_PREFIX}" for c in concepts}
    own = prompting_hints(str(cfg.model), concepts)
    return own if own is not None else True


def _run_one(cfg: DemoConfig, concepts: list[str], pairs: dict[str, list[str]], start: float) -> DemoReport:
    """The demo on one model (``cfg.model`` a name) into ``cfg.out``."""
    import interp
    from interp.evaluation.benchmarks import fresh_items
    from interp.models.sources import model_source
    from interp.tokens import dead_cell

    assert isinstance(cfg.model, str)
    out = Path(cfg.out)
    identity = run_identity(asdict(cfg), exclude=NOT_IDENTITY)
    report_files = (*REPORT_FILES, *OPTIONAL_FILES)

    def refuse_other() -> None:
        refuse_other_run(out, report_files, identity, overwrite=cfg.overwrite, what="demo",
                         replaced="its report (tables, summary.md)", kept=" (results.sqlite keeps both runs' rows)")

    refuse_other()
    check_writable(out)
    say(f"loading {cfg.model} and its text backbone", cfg.progress)
    mllm = interp.load_mllm(cfg.model, device_map=cfg.device_map, dtype=cfg.dtype, remote=cfg.remote)
    identity["model_fingerprint"] = mllm.fingerprint().store_key(mllm.name)
    refuse_other()  # the same name may now hold other weights
    source = model_source(cfg.model)
    if source is not None:
        backbone = interp.load_text_backbone(mllm=cfg.model, remote=cfg.remote)
    else:
        backbone = interp.load_text_backbone(mllm=mllm, device_map=cfg.device_map, dtype=cfg.dtype, remote=cfg.remote)
    layers = list(range(mllm.n_layers)) if cfg.layers is None else [mllm.check_layer(x) for x in cfg.layers]
    corpus_source = (source.corpus_source if source is not None else None) or "default"

    say(f"building {len(cfg.methods)} x {len(concepts)} textual vectors from text alone", cfg.progress)
    vectors, targets = {}, {}
    for concept in concepts:
        for method in cfg.methods:
            name = f"{method}/{concept}"
            vectors[name] = _vector(backbone, concept, method, corpus_source, layers, out)
            targets[name] = pairs[concept]
    library = _library(cfg, backbone, corpus_source, concepts, layers, out)
    tasks = sorted({t for c in concepts for t in pairs[c]})
    train, test = _items(cfg, "train", tasks), _items(cfg, "test", tasks)
    hints = _hints(cfg, concepts)
    n_rep = _n_replicate(cfg)
    fresh = fresh_items(str(cfg.benchmark), tasks, n_rep, seed=cfg.seed) if n_rep else None

    n_cells = len(layers) * len(cfg.strengths) * len(cfg.selectors)
    n_dead = sum(dead_cell(mllm.n_layers, x, s) for x in layers for s in cfg.selectors) * len(cfg.strengths)
    estimate = None
    if cfg.progress:
        estimate = estimate_seconds(cfg, mllm, train, vectors, targets, layers, n_rep, len(library))
        reuse = (" as if nothing were done yet: this rerun reuses the results already in "
                 f"{out / 'results.sqlite'}, and takes less") if (out / "results.sqlite").is_file() else ""
        say(f"estimated time for this model: about {minutes(estimate.total)} on {torch_threads()} torch thread(s) "
            f"({estimate.describe()}){reuse}", True)
    choosing = (f"by successive halving from {cfg.halving_first} to {len(train) // max(len(tasks), 1)} train items per task"
                if cfg.halving_first else f"on {len(train)} train items")
    say(f"sweeping {n_cells - n_dead} live cells per vector ({n_dead} skipped: they cannot change the answer), chosen "
        f"{choosing}, reporting on {len(test)} test items"
        + (f", replicating the {cfg.replicate_top or 'all'} best on {n_rep} fresh scenes per task" if fresh else ""),
        cfg.progress)
    sweep_started = time.perf_counter()
    res = protocol(cfg, mllm, vectors, targets, layers, train, test, fresh, hints, out / "results.sqlite", library,
                   progress=cfg.progress)
    sweep_seconds = time.perf_counter() - sweep_started
    ceiling = _ceiling(cfg, mllm, res, vectors, train, test, out) if cfg.ceiling and not mllm.remote else None
    null = _null_runs(cfg, mllm, vectors, targets, layers, tasks, out) if cfg.null_runs else None
    tables = out / "tables"
    tables.mkdir(exist_ok=True)
    written = [write_table(res.grid, tables / "grid.csv"), write_table(res.table, tables / "table.csv")]
    for name, frame in (("replication", res.replication), ("specificity", res.specificity), ("transfer", res.transfer),
                        ("ceiling", ceiling), ("null", null)):
        if frame is not None:
            written.append(write_table(frame, tables / f"{name}.csv"))

    inside: dict[str, Any] = {}
    if cfg.analyses:
        inside = analyses(cfg, mllm, backbone, vectors, test, layers, tables)

    native = native_section(cfg, mllm, vectors, res, test, out) if cfg.analyses else []

    drawn: list[Path] = []
    if cfg.figures:
        drawn = figures(cfg, res, inside, out / "figures")

    verdict = verdict_line(cfg.model, res.table, inside, null=null, n_replicate=n_rep, ceiling=ceiling)
    why = why_line(cfg.model, res.table, inside)
    summary = out / "summary.md"
    write_file(summary, model_summary(cfg, res, inside, drawn, out, time.perf_counter() - start, verdict, hints,
                                      why=why, estimated=estimate.total if estimate is not None else None,
                                      ceiling=ceiling, native=native), overwrite=True)
    record = {**asdict(cfg), "n_replicate_used": n_rep, "prompting_hints": hints, "sweep": res.config,
              "torch_threads": torch_threads(), "verdict": verdict, IDENTITY_KEY: identity,
              "seconds": round(time.perf_counter() - start), "sweep_seconds": round(sweep_seconds),
              "estimated_seconds": round(estimate.total) if estimate is not None else None,
              "library": sorted(library)}
    write_file(out / "config.json", json.dumps(record, indent=2, default=str) + "\n", overwrite=True)
    written += [*(tables / f"{name}.csv" for name in _analysis_tables(inside, native)), *drawn]
    if drawn:
        written.append(out / "figures")
    remove_stale(out, OPTIONAL_FILES, written)
    say(f"{cfg.model} done in {time.perf_counter() - start:.0f} s: {summary}", cfg.progress)
    return DemoReport(out=out, table=res.table, grid=res.grid, summary=summary, figures=drawn,
                      verdicts=(verdict,), why=(why,) if why else ())


def protocol(cfg: DemoConfig, mllm: Any, vectors: dict[str, Any], targets: dict[str, Any], layers: list[int],
             train: list[Any], test: list[Any], fresh: list[Any] | None, hints: Any, store: Any,
             library: dict[str, Any], *, progress: bool) -> Any:
    """The demo's protocol on one set of vectors: choose (successive halving), test, replicate with
    every control. The pipeline null runs exactly this with random vectors."""
    from interp.evaluation import sweep
    from interp.evaluation.halving import Halving

    return sweep(
        mllm, vectors, layers, cfg.strengths, cfg.selectors, train, test, store=store,
        targets=targets, n_random=cfg.n_random, prompt_baseline=hints, batch_size=cfg.batch_size,
        seed=cfg.seed, progress=progress, replicate=fresh, replicate_top=cfg.replicate_top,
        replicate_random=cfg.replicate_random, specificity=cfg.specificity and len(test) > 0,
        control_vectors=library or None, transfer=cfg.transfer and fresh is not None,
        halving=Halving(first=cfg.halving_first) if cfg.halving_first else None,
    )


def _ceiling(cfg: DemoConfig, mllm: Any, res: Any, vectors: dict[str, Any], train: list[Any], test: list[Any],
             out: Path) -> Any:
    """A learned vector at each replicated cell (the most one vector there can do), bounded by the
    grid's largest strength, trained on the first ``CEILING_ITEMS`` train items of its task."""
    from interp.evaluation import ceiling
    from interp.vectors import Training

    table = res.table
    if table is None or "rep_gain" not in table or not table["rep_gain"].notna().any():
        return None
    rows = table[table["rep_gain"].notna()]
    by_task: dict[str, list[Any]] = {}
    for it in train:
        by_task.setdefault(it.task, []).append(it)
    items = [it for task in sorted(set(rows["task"])) for it in by_task.get(task, [])[:CEILING_ITEMS]]
    say(f"the ceiling: a learned vector at each of the {len(rows)} replicated cells", cfg.progress)
    training = Training(norm=max(abs(float(s)) for s in cfg.strengths), steps=CEILING_STEPS, patience=5, seed=cfg.seed)
    return ceiling(mllm, rows, vectors, items, test, training=training, store=out / "results.sqlite",
                   batch_size=cfg.batch_size, train_at_top=True)


def _library(cfg: DemoConfig, backbone: Any, source: str, concepts: list[str], layers: list[int],
             out: Path) -> dict[str, Any]:
    """Every other concept of the corpus source, by the demo's methods: the specificity control's
    comparison set (built like the swept vectors, saved beside them)."""
    if not (cfg.library and cfg.specificity):
        return {}
    from interp.vectors import library_vectors

    def cached(method: str, concept: str) -> Any:
        return _vector(backbone, concept, method, source, layers, out)

    lib = library_vectors(backbone, cfg.methods, source=source, layers=layers, exclude=concepts, cached=cached)
    if lib:
        say(f"and {len(lib)} vectors of the {len({v.meta.concept for v in lib.values()})} other concepts of its "
            "corpora: the specificity control's comparison set", cfg.progress)
    return lib


def _null_runs(cfg: DemoConfig, mllm: Any, vectors: dict[str, Any], targets: dict[str, Any], layers: list[int],
               tasks: list[str], out: Path) -> Any:
    """The pipeline null: ``cfg.null_runs`` more runs of the protocol with random vectors in place
    of the textual ones, each on its own train, test and fresh items; one row per run."""
    import pandas as pd

    from interp.evaluation.benchmarks import FRESH_START, fresh_items
    from interp.evaluation.null import claims_a_gain, null_vectors

    rows = []
    for k in range(cfg.null_runs):
        say(f"null pipeline {k + 1} of {cfg.null_runs}: random vectors in place of the textual ones", cfg.progress)
        run_cfg = replace(cfg, seed=cfg.seed + 1000 * (k + 1))
        train, test = _items(run_cfg, "train", tasks), _items(run_cfg, "test", tasks)
        n_rep = _n_replicate(cfg)
        fresh = (fresh_items(str(cfg.benchmark), tasks, n_rep, seed=run_cfg.seed, start=FRESH_START + 100_000 * (k + 1))
                 if n_rep else None)
        res = protocol(run_cfg, mllm, null_vectors(vectors, seed=run_cfg.seed), targets, layers, train, test, fresh,
                       False, out / "null.sqlite", {}, progress=False)
        table = res.table
        rep = table[table["rep_gain"].notna()] if table is not None and "rep_gain" in table else None
        rows.append({"run": k + 1, "seed": run_cfg.seed, "claims_a_gain": claims_a_gain(table),
                     "replicated_cells": len(rep) if rep is not None else 0,
                     "best_rep_gain": float(rep["rep_gain"].max()) if rep is not None and len(rep) else float("nan")})
    return pd.DataFrame(rows)


def _analysis_tables(inside: dict[str, Any], native: list[str]) -> list[str]:
    """The names of the analysis tables this run wrote (``inside.analyses`` and the native comparator)."""
    names: list[str] = [name for name in ("variance_share", "modality_gap", "lm_drift") if name in inside]
    if "isomorphic" in inside:
        names += ["isomorphic_accuracy", "isomorphic_similarity"]
    return names + (["native"] if native else [])


def _n_replicate(cfg: DemoConfig) -> int:
    from interp.evaluation.benchmarks import benchmark_spec

    if cfg.n_replicate is None:
        return DEFAULT_REPLICATE if benchmark_spec(str(cfg.benchmark)).makes_fresh_items else 0
    if isinstance(cfg.n_replicate, bool) or not isinstance(cfg.n_replicate, int) or cfg.n_replicate < 0:
        raise ValueError(f"n_replicate must be a non-negative int or None, got {cfg.n_replicate!r}")
    return cfg.n_replicate


__all__ = ["run_demo"]
