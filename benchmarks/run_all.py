"""Run every benchmark, each in its own process, then print the targets met and missed.

Each benchmark's output streams through as it runs; its last line (one JSON object) is
collected. The end is a table of every target (model, figure, value, target, PASS/MISS) and one
JSON line holding all results. Options are passed on to every benchmark (``--threads``,
``--quick``/``--full``, ``--models``); ``--only`` picks benchmarks by name.

``--processes N`` runs each benchmark N times, each in a fresh process, and reports each figure's
median over the processes, its range and how many processes met the target; the verdict is the
median's. On the 1.5M organism a ratio of two few-millisecond forwards moves by several percent
from one process to the next with nothing changed (the rounds inside one process agree far
better than that), so one process cannot tell 0.88 from 0.92: a target that close is judged on
several.

Usage:
    python benchmarks/run_all.py [--only sweep_speed ...] [--threads 1] [--quick|--full] [--models ...]
                                 [--processes N]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

BENCHMARKS = ("steering_overhead", "scoring_speed", "sweep_speed", "extraction", "activation_memory")


def command(name: str, args: Any) -> list[str]:
    """The command line that runs benchmark ``name`` with the options given to run_all."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}: expected one of {', '.join(BENCHMARKS)}")
    cmd = [sys.executable, str(Path(__file__).resolve().parent / f"{name}.py"), "--threads", str(args.threads)]
    if args.quick:
        cmd.append("--quick")
    if args.full:
        cmd.append("--full")
    if args.models:
        cmd += ["--models", *args.models]
    if args.rounds:
        cmd += ["--rounds", str(args.rounds)]
    return cmd


def summarize(results: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """One row per target: [benchmark, model, figure, value, target, verdict] from the JSON lines."""
    rows: list[list[Any]] = []

    def add(bench: str, model: str, figure: str, value: Any, target: Any, at_most: bool, note: str = "") -> None:
        if value is None:
            rows.append([bench, model, figure, "-", "-" if target is None else target, "n/a"])
            return
        verdict = "-" if target is None else common.verdict(float(value), float(target), at_most=at_most)
        rows.append([bench, model, figure + note, float(value), "-" if target is None else f"{'<=' if at_most else '>='} {target}", verdict])

    for bench, res in results.items():
        for model, m in res.get("models", {}).items():
            if bench == "steering_overhead":
                add(bench, model, "steered/plain", m["ratios"]["steered/plain"], res["target"]["steered/plain"], True)
            elif bench == "scoring_speed":
                s = m["summary"]
                target = res["target"]["speedup"] if model == "organism" else None
                add(bench, model, "items/s speed-up (min)", s["speedup_min"], target, False)
                add(bench, model, "agreement on format (min)", s["agreement_min_on_format"],
                    res["target"]["agreement"] if model == "organism" else None, False)
            elif bench == "sweep_speed":
                note = " (extrapolated)" if m["sampled"] else ""
                add(bench, model, "sweep/reference", m["ratios"]["sweep/reference"], m["target"]["sweep/reference"], True, note)
                add(bench, model, "sweep/naive", m["ratios"]["sweep/naive"], m["target"]["sweep/naive"], True, note)
                rows.append([bench, model, "identical to naive", str(m["identical_to_naive"]), "True",
                             "PASS" if m["identical_to_naive"] else "MISS"])
                rows.append([bench, model, "same chosen cells", str(m["same_chosen_cells"]), "True",
                             ("PASS" if m["same_chosen_cells"] else "MISS") if model == "organism" else "- (random)"])
            elif bench == "extraction":
                r = m["ratios"]
                add(bench, model, "memory ratio (worst)", max(r["memory_ratio_x1"], r["memory_ratio_x10"]),
                    res["target"]["memory_ratio"], True)
                add(bench, model, "throughput ratio (worst)", min(r["throughput_ratio_x1"], r["throughput_ratio_x10"]),
                    res["target"]["throughput_ratio"], False)
                add(bench, model, "throughput ratio, nnsight read (worst)",
                    min(r["nnsight_throughput_ratio_x1"], r["nnsight_throughput_ratio_x10"]), None, False)
            elif bench == "activation_memory":
                add(bench, model, "peak largest/smallest corpus", m["peak_ratio"], res["target"]["peak_ratio"], True)
    return rows


def summarize_processes(results: dict[str, list[dict[str, Any]]]) -> list[list[Any]]:
    """One row per target over several processes of each benchmark: [benchmark, model, figure,
    median, range, target, verdict of the median, processes meeting the target].

    Example:
        >>> res = lambda v: {"target": {"steered/plain": 1.05}, "models": {"organism": {"ratios": {"steered/plain": v}}}}
        >>> summarize_processes({"steering_overhead": [res(1.04), res(1.07), res(1.03)]})[0][3:]
        [1.04, '1.03-1.07', '<= 1.05', 'PASS', '2/3']
    """
    rows: list[list[Any]] = []
    for bench, runs in results.items():
        per_process = [summarize({bench: res}) for res in runs]
        if not per_process:
            continue
        for group in zip(*per_process, strict=True):
            first = group[0]
            if any(r[:3] != first[:3] for r in group):
                raise ValueError(f"{bench}: the processes report different figures ({[r[:3] for r in group]})")
            values = [r[3] for r in group]
            met = sum(r[5] == "PASS" for r in group)
            if not all(isinstance(v, float) for v in values):
                same = len({str(v) for v in values}) == 1
                rows.append([*first[:3], values[0] if same else "/".join(map(str, values)), "-", first[4],
                             first[5] if len({r[5] for r in group}) == 1 else "MIXED", f"{met}/{len(group)}"])
                continue
            median = statistics.median(values)
            if first[4] == "-":
                verdict = "-"
            else:
                at_most = str(first[4]).startswith("<=")
                verdict = common.verdict(median, float(str(first[4]).split()[-1]), at_most=at_most)
            rows.append([*first[:3], median, f"{min(values):.3g}-{max(values):.3g}", first[4], verdict,
                         "-" if first[4] == "-" else f"{met}/{len(group)}"])
    return rows


def run_one(cmd: list[str]) -> tuple[int, str]:
    """Run one benchmark process, streaming its output; (exit code, its last non-empty line)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line
    return proc.wait(), last


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__)
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=None, help="benchmarks to run (default: all)")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="run each benchmark N times, each in a fresh process, and judge each figure's median")
    args = p.parse_args(argv)
    if args.processes < 1:
        p.error(f"--processes must be at least 1, got {args.processes}")
    threads = common.set_threads(args.threads)
    results: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, int] = {}
    for name in args.only or BENCHMARKS:
        cmd = command(name, args)
        for i in range(args.processes):
            of = f" (process {i + 1} of {args.processes})" if args.processes > 1 else ""
            print(f"\n=== {name}{of}: {' '.join(cmd[1:])}", flush=True)
            start = time.perf_counter()
            code, last = run_one(cmd)
            if code != 0:
                failed[name] = code
                print(f"=== {name} failed with exit code {code}", flush=True)
                break
            results.setdefault(name, []).append(json.loads(last))
            print(f"=== {name} took {time.perf_counter() - start:.0f} s", flush=True)
        if name in failed:
            results.pop(name, None)  # not judged on the processes that did finish
    if args.processes == 1:
        rows = summarize({name: runs[0] for name, runs in results.items()})
        header = ["benchmark", "model", "figure", "value", "target", "verdict"]
        print("\nTargets (ratios measured side by side in one process; see each benchmark above for how):")
    else:
        rows = summarize_processes(results)
        header = ["benchmark", "model", "figure", "median", "range", "target", "verdict", "processes meeting it"]
        print(f"\nTargets (each figure's median over {args.processes} processes; within a process, ratios measured "
              "side by side; see each benchmark above for how):")
    print(common.table(header, rows))
    if failed:
        print(f"failed: {failed}")
    out = {"benchmark": "run_all", "env": common.environment(threads), "processes": args.processes,
           "results": {name: runs[0] if args.processes == 1 else runs for name, runs in results.items()},
           "summary": [dict(zip(header, r, strict=True)) for r in rows], "failed": failed}
    common.emit(out)
    if failed:
        sys.exit(1)
    return out


if __name__ == "__main__":
    common.main_guard(main)
