"""What the model fingerprint costs on the real-size dry-run model (PaliGemma 2 3B @224, bf16).

``TracedModel.fingerprint()`` hashes every weight (SHA-256 streamed over each tensor's bytes, and
the language model's again for its own hash; ``interp.models.fingerprint``): the first call pays
for it, later calls only compare torch's in-place version counters of the parameters. The boundary
asks for it whenever a vector, a table or a bank meets a model, and a results store keys its rows
by it. ``checkpoint_fingerprint`` hashes the paired text backbone's decoder from its files, once
per checkpoint, when a vector that says it was built on that backbone first meets the MLLM.

The model is ``benchmarks/realsize_dryrun.py``'s (the published config's shape, 3.03B parameters,
random weights in bfloat16, built and cached on first use under ``$INTERP_BENCH_CACHE``: about two
minutes and 12 GB of disk, both checkpoints). In one process, after ``interp.load_mllm``:

- the first fingerprint after loading (the weights are memory-mapped: it also pages them in);
- the resident high-water mark over a fresh fingerprint, above the resident size before it, for
  ``tensor_hash`` as it is (hashlib reads each tensor's own buffer) and as it was before
  (``.numpy().tobytes()``: a copy of each tensor's bytes, 1.1 GiB for the 3B model's embedding);
  both give the same fingerprint;
- then, in interleaved rounds: a fresh fingerprint (the cache dropped) both ways, the cached one
  (mean over 100 calls), and one plain forward pass of one organism item (256 image tokens + the
  prompt);
- the text backbone checkpoint's fingerprint, once with its cache dropped.

Ratios are medians of the interleaved rounds, over the forward pass and over the load time.

Usage:
    python benchmarks/fingerprint_cost.py [--threads 1] [--rounds 3] [--tiny]

``--tiny`` runs the same code on the toy model of the same structure (a check of the script).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
import realsize_dryrun


def _kib(field: str) -> int:
    return realsize_dryrun._kib(field)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = common.argparse.ArgumentParser(description=__doc__, formatter_class=common.argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--tiny", action="store_true", help="the same code on a toy model of the same structure")
    args = p.parse_args(argv)
    common.quiet()
    threads = common.set_threads(args.threads)

    start = time.perf_counter()
    build = [sys.executable, realsize_dryrun.__file__, "--phase", "build", "--threads", str(threads)]
    subprocess.run(build + (["--tiny"] if args.tiny else []), check=True)  # a fresh process: its memory is its own
    built_s = time.perf_counter() - start
    mllm_dir, text_dir = realsize_dryrun.model_dirs(args.tiny)

    import torch

    import interp
    from interp.models import fingerprint as fingerprints

    start = time.perf_counter()
    mllm = interp.load_mllm(str(mllm_dir), dtype=torch.bfloat16)
    load_s = time.perf_counter() - start
    weights = realsize_dryrun.weights_bytes(mllm.module)
    decoder = sum(p.numel() * p.element_size() for p in mllm.torch_layers.parameters())
    item = common.organism_items("test", 1, tasks=["Count"])[0]
    inputs = mllm.encode([item.prompt()], [list(item.images)])

    def fresh() -> Any:
        mllm._fingerprint = None
        return mllm.fingerprint()

    def cached() -> Any:
        for _ in range(100):
            mllm.fingerprint()

    def forward() -> None:
        with torch.no_grad():
            mllm.module(**inputs)

    shipped = fingerprints.tensor_hash

    def copying_hash(named: Any) -> str | None:
        """``tensor_hash`` as it was: hashing a bytes copy of each tensor (the same digest)."""
        h = hashlib.sha256()
        with torch.no_grad():
            for name, t in sorted(named, key=lambda item: item[0]):
                if t.device.type == "meta":
                    return None
                flat = t.detach().reshape(-1).contiguous()
                h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
                h.update(flat.cpu().view(torch.uint8).numpy().tobytes())
        return h.hexdigest()[:16]

    def fresh_copying() -> Any:
        fingerprints.tensor_hash = copying_hash
        try:
            return fresh()
        finally:
            fingerprints.tensor_hash = shipped

    def peak(run: Any) -> tuple[float, float, Any]:
        realsize_dryrun._reset_peak()
        before = _kib("VmRSS")
        out = run()
        return (_kib("VmHWM") - before) / 1024, before / 1024, out

    start = time.perf_counter()
    first = fresh()
    first_s = time.perf_counter() - start
    peak_extra_mib, rss_mib, again = peak(fresh)
    peak_copying_mib, _, before_change = peak(fresh_copying)
    assert again == first == before_change, "the same weights must give the same fingerprint, both ways"
    forward()  # a first forward outside the rounds: its allocations are not timed

    ways = {"fingerprint (fresh)": fresh, "fingerprint (fresh, hashing a bytes copy, as before)": fresh_copying,
            "fingerprint (cached, per call)": cached, "forward (1 item)": forward}
    times, _ = common.interleaved(ways, rounds=args.rounds, warmup=False)
    med = {k: common.median(v) for k, v in times.items()}
    fingerprints._CHECKPOINTS.clear()
    start = time.perf_counter()
    fingerprints.checkpoint_fingerprint(text_dir, "bfloat16")
    med["text backbone checkpoint fingerprint (once)"] = time.perf_counter() - start
    med["fingerprint (cached, per call)"] /= 100
    fwd = med["forward (1 item)"]
    n_tokens = int(inputs["input_ids"].shape[1])

    size = "toy model of the same structure (--tiny): figures mean nothing" if args.tiny else "PaliGemma 2 3B @224 shape"
    print(f"\n{size}; bf16; random weights; build/cache check {built_s:.0f} s; torch threads {threads}")
    print(f"weights: {sum(p.numel() for p in mllm.module.parameters()) / 1e9:.3f}B parameters = {weights / 2**20:.0f} MiB "
          f"(decoder layers {decoder / 2**20:.0f} MiB, hashed twice: the whole model's hash and the language model's)")
    rows = [["load_mllm", load_s, load_s / fwd, 1.0, ""],
            ["first fingerprint after loading (pages the weights in)", first_s, first_s / fwd, first_s / load_s,
             f"{(weights + decoder) / 2**20 / first_s:.0f} MiB/s hashed"]]
    for name, s in med.items():
        rate = f"{(weights + decoder) / 2**20 / s:.0f} MiB/s hashed" if name.startswith("fingerprint (fresh") else ""
        rounds = "" if name.endswith("(once)") else f", median of {args.rounds}"
        rows.append([f"{name}{rounds}", s, s / fwd, s / load_s, rate])
    print(common.table(["what", "s", "/ forward", "/ load", ""], rows))
    print(f"forward: one item, {n_tokens} tokens; resident high-water mark over a fresh fingerprint: "
          f"+{peak_extra_mib:.0f} MiB above the {rss_mib:.0f} MiB before it (+{peak_copying_mib:.0f} MiB hashing a "
          "bytes copy of each tensor, as before)")
    result = {"benchmark": "fingerprint_cost", **common.environment(threads), "tiny": args.tiny,
              "params": sum(p.numel() for p in mllm.module.parameters()), "weights_mib": weights / 2**20,
              "decoder_mib": decoder / 2**20, "load_s": load_s, "first_fingerprint_s": first_s,
              "medians_s": med, "rounds": args.rounds, "forward_tokens": n_tokens,
              "fresh_over_forward": med["fingerprint (fresh)"] / fwd,
              "cached_over_forward": med["fingerprint (cached, per call)"] / fwd,
              "fresh_over_load": med["fingerprint (fresh)"] / load_s, "peak_extra_mib": peak_extra_mib,
              "peak_extra_copying_mib": peak_copying_mib}
    common.emit(result)
    return result


if __name__ == "__main__":
    common.main_guard(main)
