"""The GPU check script (benchmarks/gpu_check.py) refuses without CUDA and runs on the CPU at toy
size; the cell-batching benchmark runs and finds stacked rows equal. Nothing here needs a GPU."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
ROOT = BENCH_DIR.parent


def _module(name: str):
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return importlib.import_module(name)


@pytest.mark.parametrize("argv, message", [
    ([], "no CUDA device is available"),
    (["--device", "cuda"], "--device cuda asked for, but no CUDA device is available"),
])
def test_the_gpu_check_refuses_without_cuda(monkeypatch, argv, message):
    gpu_check = _module("gpu_check")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert gpu_check.main(argv) == 2
    assert message in err.getvalue()


def test_the_gpu_check_refuses_an_unknown_device():
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert _module("gpu_check").main(["--device", "tpu"]) == 2
    assert "--device must be cuda, cuda:N or cpu, got 'tpu'" in err.getvalue()


@pytest.mark.slow
def test_the_gpu_check_runs_every_check_on_the_cpu_at_toy_size(tmp_path):
    out = tmp_path / "check.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "gpu_check.py"), "--dry-run", "--only", "overhead", "scoring", "sweep",
         "remote", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["dry_run"] is True and result["failed"] == []
    checks = result["checks"]
    assert set(checks) == {"overhead", "scoring", "sweep", "remote"}
    assert checks["overhead"]["ratio"] > 0 and checks["scoring"]["items_per_s"] > 0
    assert checks["sweep"]["ways"]["8 per forward"]["same_predictions"] is True
    assert "(CPU dry run: not judged)" in proc.stdout


@pytest.mark.slow
def test_the_cell_batching_benchmark_finds_stacked_rows_equal():
    threads = torch.get_num_threads()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            result = _module("cell_batching").main(["--quick"])
    finally:
        torch.set_num_threads(threads)
    ways = result["models"]["organism"]["ways"]
    assert set(ways) == {"one at a time", "4 per forward", "8 per forward"}
    for w in ways.values():
        assert w["same_predictions"] is True and w["max_abs_p_diff"] <= 1e-5 and w["cells_items_per_s"] > 0
    assert json.loads(buf.getvalue().strip().splitlines()[-1])["benchmark"] == "cell_batching"
