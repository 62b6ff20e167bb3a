"""Two processes saving different vectors into one new folder: one wins, the other is refused.

Once both reported success and one vector was lost every time (sometimes the folder held one
vector's tensors and the other's config, unreadable). ``SteeringVector.save`` now claims the
folder and fills it under another name before renaming it into place, so a concurrent saver
waits, then finds the vector and gets ``FileExistsError``.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import torch

from interp.vectors import SteeringVector

ROUNDS = 20


def _vector(seed: int) -> SteeringVector:
    g = torch.Generator().manual_seed(seed)
    return SteeringVector.from_tensors(
        {0: torch.randn(64, generator=g), 3: torch.randn(64, generator=g)},
        method="meanshift", concept=f"writer-{seed}",
    )


def _race(seed: int, root: str, start, results) -> None:
    """Save this process's vector into ``root/round-N/vector`` for every round, starting together."""
    for round_ in range(ROUNDS):
        target = Path(root) / f"round-{round_}" / "vector"
        start.wait()
        try:
            _vector(seed).save(target)
            results.put((round_, seed, "saved"))
        except FileExistsError as err:
            results.put((round_, seed, f"refused: {err}"))
        except Exception as err:  # anything else is a failure the test reports
            results.put((round_, seed, f"error: {type(err).__name__}: {err}"))


def test_concurrent_saves_into_one_folder_lose_and_mix_nothing(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(seed, str(tmp_path), start, results)) for seed in (1, 2)]
    for p in procs:
        p.start()
    outcomes: dict[int, dict[int, str]] = {}
    for _ in range(2 * ROUNDS):
        round_, seed, what = results.get(timeout=300)
        outcomes.setdefault(round_, {})[seed] = what
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for round_, outcome in sorted(outcomes.items()):
        target = tmp_path / f"round-{round_}" / "vector"
        winners = [seed for seed, what in outcome.items() if what == "saved"]
        assert len(winners) == 1, f"round {round_}: {outcome}"
        loser = next(seed for seed in outcome if seed != winners[0])
        assert outcome[loser].startswith("refused: ") and "already holds a saved vector" in outcome[loser], outcome
        assert SteeringVector.load(target).equals(_vector(winners[0])), f"round {round_}: the saved vector is not the winner's"
        assert sorted(p.name for p in target.parent.iterdir()) == ["vector"], "scratch or lock files left behind"
