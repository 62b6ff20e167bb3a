"""A small organism sweep run in a subprocess by the kill-and-resume tests.

Usage: python sweep_worker.py STORE [--fast] [--pause SECONDS]

``--pause`` sleeps after every committed batch, so a test can bound how many batches one run
commits before it is killed whatever the machine's speed.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ["HF_HUB_OFFLINE"] = "1"
warnings.simplefilter("ignore")


def random_vectors(mllm, concepts, seed):  # type: ignore[no-untyped-def]
    """``{"random/<concept>": vector}``: a random direction at every layer per concept, drawn in
    order from one generator seeded ``seed``."""
    import torch

    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(seed)
    return {
        f"random/{c}": SteeringVector.from_tensors(
            {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
            method="random", concept=c, n_layers=mllm.n_layers,
        )
        for c in concepts
    }


def key_rows(df):  # type: ignore[no-untyped-def]
    """Result rows in one order (cell fields, then item), for comparing two runs' rows."""
    cols = ["condition", "vector", "layer", "selector", "strength", "seed", "item_id"]
    return df.sort_values(cols).reset_index(drop=True)


def setup():
    import torch

    import interp
    from interp.items import from_record
    from interp.organism.scenes import make_split

    torch.set_num_threads(1)
    mllm = interp.load_mllm("organism")
    vec = random_vectors(mllm, ["counting"], seed=0)["random/counting"]
    train = [from_record(d) for d in make_split("val", 6, tasks=["Count", "Relation"])]
    test = [from_record(d) for d in make_split("test", 6, tasks=["Count", "Relation"])]
    args = dict(
        vectors={"v": vec}, layers=[0, 1, 2], strengths=[-2.0, 1.0, 2.0], selectors=["image", "text"],
        train=train, test=test, n_random=3, batch_size=1, progress=False,
    )
    return mllm, args


if __name__ == "__main__":
    import time

    from interp.evaluation.store import ResultStore
    from interp.evaluation.sweep import sweep

    if "--pause" in sys.argv:
        pause = float(sys.argv[sys.argv.index("--pause") + 1])
        add_rows = ResultStore.add_rows

        def add_rows_then_pause(self, rows):  # type: ignore[no-untyped-def]
            add_rows(self, rows)
            time.sleep(pause)

        ResultStore.add_rows = add_rows_then_pause  # type: ignore[method-assign]
    mllm, args = setup()
    sweep(mllm, store=sys.argv[1], naive="--fast" not in sys.argv, **args)
    print("done")
