"""Run every benchmark, each in its own process, then print the targets met and missed.

Each benchmark's output streams through as it runs; its last line (one JSON object) is
collected. The end is a table of every target (model, figure, value, target, PASS/MISS) and one
JSON line holding all results. Options are passed on to every benchmark (``--threads``,
``--quick``/``--full``, ``--models``); ``--only`` picks benchmarks by name.

Usage:
    python benchmarks/run_all.py [--only sweep_speed ...] [--threads 1] [--quick|--full] [--models ...]
"""

from __future__ import annotations

import json
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
            elif bench == "activation_memory":
                add(bench, model, "peak largest/smallest corpus", m["peak_ratio"], res["target"]["peak_ratio"], True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.parser(__doc__)
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, default=None, help="benchmarks to run (default: all)")
    args = p.parse_args(argv)
    threads = common.set_threads(args.threads)
    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, int] = {}
    for name in args.only or BENCHMARKS:
        cmd = command(name, args)
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        last = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.strip():
                last = line
        if proc.wait() != 0:
            failed[name] = proc.returncode
            print(f"=== {name} failed with exit code {proc.returncode}", flush=True)
            continue
        results[name] = json.loads(last)
        print(f"=== {name} took {time.perf_counter() - start:.0f} s", flush=True)
    rows = summarize(results)
    print("\nTargets (ratios measured side by side in one process; see each benchmark above for how):")
    print(common.table(["benchmark", "model", "figure", "value", "target", "verdict"], rows))
    if failed:
        print(f"failed: {failed}")
    out = {"benchmark": "run_all", "env": common.environment(threads), "results": results,
           "summary": [dict(zip(["benchmark", "model", "figure", "value", "target", "verdict"], r)) for r in rows],
           "failed": failed}
    common.emit(out)
    if failed:
        sys.exit(1)
    return out


if __name__ == "__main__":
    common.main_guard(main)
