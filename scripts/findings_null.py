"""The protocol's false-claim rate: the demo's whole pipeline run with random vectors, many times.

``interp.demo.run_demo(null_runs=N)`` runs choose (successive halving) -> test -> replicate N more
times with random directions (each textual vector's per-layer norms, names and concepts) in place
of the textual vectors, each run on its own train, test and fresh scenes, and counts the runs whose
table claims a replicated gain (the demo's "helps" rule: replicated, i.e. CI on the test gain's
side, Holm p < 0.05 and above the random directions' q95). This script runs it on one organism and
writes ``docs/findings_null.md`` (appending one section per model) from its ``null.csv``.

The settings are the demo's protocol at a reduced size (stated in the page): the claim rule and
its controls are the demo's; the grid is smaller (two methods) so 20 runs fit in an hour of one
core. Nothing here is chosen by its result: the settings were fixed before the first run.

Run:
    HF_HUB_OFFLINE=1 python scripts/findings_null.py --model organism --runs 20
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The null's protocol: the demo's claim rule and controls at a reduced grid (fixed before any run).
SETTINGS = dict(methods=("meanshift", "diffmean"), n_train=144, halving_first=48, n_test=100, n_random=0,
                n_replicate=300, replicate_top=2, replicate_random=20, specificity=False, library=False,
                transfer=False, ceiling=False, analyses=False, figures=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="organism")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "outputs" / "null"))
    ap.add_argument("--page", default=str(ROOT / "docs" / "findings_null.md"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import pandas as pd
    import torch

    torch.set_num_threads(args.threads)
    from interp.demo import run_demo
    from interp.evaluation.null import false_claim_rate

    started = time.perf_counter()
    report = run_demo(model=args.model, out=str(Path(args.out) / args.model), null_runs=args.runs, overwrite=True,
                      **SETTINGS)
    null = pd.read_csv(report.out / "tables" / "null.csv")
    rate = false_claim_rate(list(null["claims_a_gain"].astype(bool)))
    minutes = (time.perf_counter() - started) / 60
    command = f"HF_HUB_OFFLINE=1 python scripts/findings_null.py --model {args.model} --runs {args.runs}"
    section = [
        f"## {args.model}",
        "",
        f"{rate}.",
        "",
        f"Command: `{command}` ({minutes:.0f} min on {torch.get_num_threads()} torch thread(s), including the "
        "textual run the null runs stand beside). Settings: " + json.dumps(SETTINGS) + ".",
        "",
        "| run | replicated cells | best replicated gain | claims a gain |",
        "|---|---|---|---|",
        *(f"| {int(r['run'])} | {int(r['replicated_cells'])} | "
          f"{'-' if r['best_rep_gain'] != r['best_rep_gain'] else f'{100 * r.best_rep_gain:+.1f}'} | "
          f"{'yes' if r['claims_a_gain'] else 'no'} |" for _, r in null.iterrows()),
        "",
        f"The textual run beside them: {report.verdicts[0]}",
        "",
    ]
    page = Path(args.page)
    head = ("# The protocol's false-claim rate\n\nThe demo's whole pipeline (choose by successive halving, test, "
            "replicate with 20 random directions, Holm) run with random vectors in place of the textual ones: "
            "how often it claims a replicated gain. The target is at most 5%. Produced by "
            "`scripts/findings_null.py`; each model's section gives its command.\n\n")
    text = page.read_text() if page.exists() else head
    marker = f"## {args.model}\n"
    if marker in text:  # replace this model's section, keep the others
        before, _, after = text.partition(marker)
        rest = after.split("\n## ", 1)
        text = before + ("\n## " + rest[1] if len(rest) > 1 else "")
    page.write_text(text.rstrip("\n") + "\n\n" + "\n".join(section))
    print(f"{args.model}: {rate}; wrote {page}")


if __name__ == "__main__":
    main()
