"""A planted task for the learned vector and the ceiling: a tiny PaliGemma whose answer a known
direction ``d`` at its last layer's last token fixes (tests/vectors/test_learned.py,
tests/evaluation/test_ceiling.py).

The head is untied from the embeddings and the row of letter A set to the row of B plus ``d``: the
A-minus-B logit is ``d . x`` on the final-normed last state ``x``. ``d`` points a little against
the items' mean state, so unsteered every item answers B (all are A); adding ``PLANTED_NORM`` x the
residual norm along ``d`` makes every item answer A. A private copy, so the session's shared tiny
models stay as built.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

import interp
from interp.answers import encode_items, letter_ids
from interp.items import Item
from interp.testing import tiny_image, tiny_mllm_dir

#: The planted edit's norm relative to the last token's residual. The final RMS norm before the
#: head rewards spending part of the budget on cancelling the residual itself (then the planted
#: component dominates the normalised state), a share that shrinks as the bound grows: the best
#: vector's cosine with the planted direction is about sqrt(1 - (|h| / bound)^2), 0.97 at 4x.
PLANTED_NORM = 4.0


def planted_items(prefix: str, n: int, start: int) -> list[Item]:
    return [
        Item(f"{prefix}/{i}", (tiny_image(seed=start + i),), f"Which shape {i}?", ("x", "y"), 0, task="Planted")
        for i in range(n)
    ]


def planted_task(directory: Path) -> tuple[interp.MLLM, torch.Tensor, list[Item], list[Item]]:
    """The planted model (built under ``directory``), ``d``, and 32 train and 32 test items."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mllm = interp.load_mllm(str(tiny_mllm_dir("paligemma", directory, seed=3)))
    head = mllm.module.lm_head
    head.weight = torch.nn.Parameter(head.weight.detach().clone())
    train, test = planted_items("train", 32, 0), planted_items("test", 32, 1000)
    with torch.no_grad():
        out = mllm.module(**encode_items(mllm, train + test), output_hidden_states=True, use_cache=False)
    x = out.hidden_states[-1][:, -1]  # the last layer's output after the final norm
    mean = x.mean(0) / x.mean(0).norm()
    r = torch.randn(mllm.d_model, generator=torch.Generator().manual_seed(0))
    r = r - (r @ mean) * mean
    d = r / r.norm() - 0.3 * mean
    d = d / d.norm()
    a, b = letter_ids(mllm.tokenizer, 2)
    with torch.no_grad():
        head.weight[a] = head.weight[b] + d
    return mllm, d, train, test
