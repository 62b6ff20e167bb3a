"""A small organism sweep run in a subprocess by the kill-and-resume tests.

Usage: python sweep_worker.py STORE [--fast]
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ["HF_HUB_OFFLINE"] = "1"
warnings.simplefilter("ignore")


def setup():
    import torch

    import interp
    from interp.evaluation.items import from_organism
    from interp.organism.scenes import make_split
    from interp.vectors import SteeringVector

    torch.set_num_threads(1)
    mllm = interp.load_mllm("organism")
    g = torch.Generator().manual_seed(0)
    vec = SteeringVector.from_tensors(
        {layer: torch.randn(mllm.d_model, generator=g) for layer in range(mllm.n_layers)},
        method="random", concept="counting", n_layers=mllm.n_layers,
    )
    train = [from_organism(d) for d in make_split("val", 6, tasks=["Count", "Relation"])]
    test = [from_organism(d) for d in make_split("test", 6, tasks=["Count", "Relation"])]
    args = dict(
        vectors={"v": vec}, layers=[0, 1, 2], strengths=[-2.0, 1.0, 2.0], selectors=["image", "text"],
        train=train, test=test, n_random=3, batch_size=1, progress=False,
    )
    return mllm, args


if __name__ == "__main__":
    from interp.evaluation.sweep import sweep

    mllm, args = setup()
    sweep(mllm, store=sys.argv[1], naive="--fast" not in sys.argv, **args)
    print("done")
