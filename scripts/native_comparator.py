"""The native comparator on an organism: textual vectors vs the MLLM's own image-token directions.

For each concept (counting, spatial_relationship, attribute) a native vector by each of
``diffmean``, ``meanshift`` and ``probe`` (``interp.native_vector``) from the organism's visual
contrast on val scenes (``interp.vectors.organism_contrast``), set beside the textual vector of
the same concept and method (sae's partner: native diffmean) with ``interp.compare_native``:
cosine per layer, and the gain of each at the textual vector's chosen image-token cells of the
organism's recorded sweep (``steering_table.csv``: chosen on train, reported on test; same layer,
strength and edit norm), scored on fresh test scenes neither was chosen on.

Run (a few minutes per organism on one core):
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/native_comparator.py --model organism-llava
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/native_comparator.py --model organism
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's interp, not an installed copy


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="organism-llava", choices=["organism", "organism-llava"])
    ap.add_argument("--n", type=int, default=200, help="fresh test scenes per task")
    ap.add_argument("--start", type=int, default=40_000, help="first scene index of the fresh scenes")
    ap.add_argument("--contrast-n", type=int, default=64, help="val items per side of each visual contrast")
    ap.add_argument("--n-random", type=int, default=0, help="random directions per textual cell")
    ap.add_argument("--out", default=None, help="output folder (default runs/native_<model>)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    import interp
    from interp.evaluation import residual_norms
    from interp.items import from_record
    from interp.organism import parts
    from interp.organism.scenes import make_split
    from interp.vectors import compare_native, native_vector, organism_contrast

    started = time.perf_counter()
    out = Path(args.out or f"runs/native_{args.model}")
    out.mkdir(parents=True, exist_ok=True)
    data = parts.LLAVA_DATA_DIR if args.model == "organism-llava" else parts.DATA_DIR
    table = pd.read_csv(data / "steering_table.csv")
    cells = table[table["selector"] == "image"].reset_index(drop=True)
    mllm = interp.load_mllm(args.model)
    backbone = interp.load_text_backbone(mllm=args.model)
    layers = list(range(mllm.n_layers))
    textual = {name: interp.compute(backbone, name.split("/")[1], name.split("/")[0], source="organism", layers=layers)
               for name in sorted(set(cells["vector"]))}
    # The recomputed vectors must be the sweep's: its alpha = strength x norm / |v| must come back.
    tasks = sorted(set(table["task"]))
    train = [from_record(d) for d in make_split("val", 240, tasks=tasks)]
    norms = residual_norms(mllm, train[:32], layers, ["image"])
    for c in cells.itertuples():
        expect = float(c.strength) * norms[int(c.layer), "image"] / float(textual[c.vector].at(int(c.layer)).norm())
        if abs(expect - float(c.alpha)) > 1e-3 * max(1.0, abs(float(c.alpha))):
            raise RuntimeError(f"{c.vector}: recomputed alpha {expect} differs from the sweep's {c.alpha}")
    concepts = sorted({v.meta.concept for v in textual.values()})
    natives = {}
    for concept in concepts:
        contrast = organism_contrast(concept, n=args.contrast_n)
        for method in ("diffmean", "meanshift", "probe"):
            natives[f"native-{method}/{concept}"] = native_vector(mllm, contrast, method=method, layers=layers)
    fresh = [from_record(d) for d in make_split("test", args.n, tasks=sorted(set(cells["task"])), start=args.start)]
    print(f"{args.model}: {len(textual)} textual, {len(natives)} native vectors; {len(cells)} chosen image cells; "
          f"{len(fresh)} fresh scenes from index {args.start}; torch threads {torch.get_num_threads()}", flush=True)
    df = compare_native(mllm, textual, natives, fresh, cells=cells, store=out / "results.sqlite",
                        n_random=args.n_random, batch_size=32, progress=True)
    df.to_csv(out / "native.csv", index=False)
    sep = {n: v.meta.extra["separation"] for n, v in natives.items()}
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    print("\nseparation of the contrast sets along each native vector (pooled SDs), per layer:")
    print(pd.DataFrame(sep).T.round(2).to_string())
    print("\ncosine native vs textual per layer:")
    print(df.pivot_table(index=["textual", "native"], columns="layer", values="cosine").round(3).to_string())
    scored = df.dropna(subset=["native_gain"])
    cols = ["textual", "native", "task", "layer", "strength", "n", "unsteered", "textual_gain", "textual_gain_low",
            "textual_gain_high", "textual_p", "native_gain", "native_gain_low", "native_gain_high", "native_p",
            "native_minus_textual", "native_minus_textual_low", "native_minus_textual_high", "native_minus_textual_p"]
    print("\ngains at the chosen image-token cells (fresh scenes; points = x100):")
    print(scored[cols].round(3).to_string())
    print(f"\nmean gain textual {100 * scored['textual_gain'].mean():+.2f}, native {100 * scored['native_gain'].mean():+.2f} "
          f"points over {len(scored)} cells; native better (paired CI > 0) at "
          f"{int((scored['native_minus_textual_low'] > 0).sum())}, textual better at "
          f"{int((scored['native_minus_textual_high'] < 0).sum())}; done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
