"""Training loops' plumbing: seeding, learning-rate schedule, time budgets, item and text streams,
the LM loss, atomic checkpoint writes and the JSON-lines log; shared by both training scripts.

Example:
    >>> cosine_lr(0, 1000) < cosine_lr(100, 1000)
    True
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from interp.organism.corpus import scene_document
from interp.organism.recipe.model import build_tokenizer
from interp.organism.scenes import MAX_OBJECTS, TASKS, make_item, sample_scene, scene_split


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's random generators (what each training phase does first).

    Example:
        >>> seed_everything(0)
    """
    random.seed(seed)
    torch.manual_seed(seed)


def cosine_lr(step: int, total: int, warmup: int = 100, progress: float | None = None) -> float:
    """Warmup then cosine decay to 5% of the peak, as a multiplier.

    ``progress`` (0..1) overrides ``step / total`` for the decay, e.g. to follow a time budget.

    Example:
        >>> cosine_lr(0, 1000) < cosine_lr(100, 1000)
        True
    """
    if step < warmup:
        return (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup) if progress is None else progress
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


class Budget:
    """Training progress as the larger of steps done / steps and seconds spent / time budget.

    Example:
        >>> b = Budget(steps=10, minutes=0)
        >>> b.progress(5)
        0.5
    """

    def __init__(self, steps: int, minutes: float):
        self.steps = steps
        self.seconds = minutes * 60
        self.t0 = time.time()

    def progress(self, step: int) -> float:
        """Fraction of the budget used after ``step`` steps."""
        p = step / max(1, self.steps)
        if self.seconds > 0:
            p = max(p, (time.time() - self.t0) / self.seconds)
        return min(1.0, p)


def train_item_stream(seed: int, tasks=TASKS, weights=None) -> Iterator[dict]:
    """Endless random train-split items (tasks drawn with ``weights``).

    Example:
        >>> next(train_item_stream(0))["split"]
        'train'
    """
    rng = random.Random(f"stream/{seed}")
    i = 0
    while True:
        t = rng.choices(list(tasks), weights=weights)[0]
        yield make_item("train", t, 1_000_000 + i, seed)
        i += 1


def _lm_loss(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    lg = logits[:, :-1].reshape(-1, logits.shape[-1])
    tg = ids[:, 1:].reshape(-1)
    m = mask[:, 1:].reshape(-1).float()
    loss = F.cross_entropy(lg, tg, reduction="none")
    return (loss * m).sum() / m.sum().clamp(min=1)


def save_pretrained_atomically(out_dir: Path, *parts: Any) -> None:
    """Write ``parts`` (a model, its tokenizer or processor: anything with ``save_pretrained``)
    into ``out_dir`` through a temporary sibling renamed into place, so a crash during the
    write leaves the old directory, not half a checkpoint.

    Example:
        >>> save_pretrained_atomically(Path("runs/x/mllm"), model, processor)   # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for part in parts:
        part.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


class JsonLog:
    """Append-only JSON-lines training log.

    Example:
        >>> JsonLog(None).write({"step": 0})
    """

    def __init__(self, path: Path | None):
        self.path = path

    def write(self, row: dict) -> None:
        """Write one row (with a wall-clock stamp)."""
        if self.path is None:
            return
        row = {"time": round(time.time(), 1), **row}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def scene_text_stream(seed: int) -> Iterator[str]:
    """Endless train-split scene documents (rendering + true statements).

    Example:
        >>> next(scene_text_stream(0)).startswith("there")
        True
    """
    rng = random.Random(f"docs/{seed}")
    while True:
        s = sample_scene(rng, rng.randint(1, MAX_OBJECTS))
        if scene_split(s) == "train":
            yield scene_document(s, rng)


def save_mllm(model, out_dir: Path, seed: int, processor: Callable[[Any], Any]) -> None:
    """Save an MLLM in eval mode with its processor (``processor(build_tokenizer(seed))``), atomically,
    and put the model back in the mode it was in.

    Example:
        >>> from interp.organism.recipe.model import build_processor
        >>> save_mllm(model, Path("runs/x/mllm"), 0, build_processor)   # doctest: +SKIP
    """
    was = model.training
    model.eval()
    save_pretrained_atomically(out_dir, model, processor(build_tokenizer(seed)))
    model.train(was)
