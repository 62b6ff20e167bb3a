"""Printing and saving the findings scripts' tables (shared by findings_inside.py and
findings_cast_lora.py, which import it from their own folder)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def markdown(df: pd.DataFrame) -> str:
    """A markdown table (floats to 3 decimals) without the optional tabulate dependency."""

    def cell(x: object) -> str:
        if isinstance(x, (float, np.floating)):
            return f"{x:.3f}"
        return str(x).replace("\n", "\\n").replace("|", "\\|")

    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def show(title: str, df: pd.DataFrame, out: Path | None, name: str) -> None:
    """Print ``df`` under ``title``; also write ``out/name.csv`` when ``out`` is given."""
    print(f"\n### {title}\n")
    print(markdown(df))
    if out is not None:
        df.to_csv(out / f"{name}.csv", index=False)


def prepare(seed: int, out: Path | None) -> None:
    """One thread, every generator seeded with ``seed``, and the CSV folder made if asked for."""
    torch.set_num_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
