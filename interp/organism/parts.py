"""Where the shipped organisms' parts are: their data directories, part kinds and names.

``interp.organism.DATA_DIR`` (the first organism) and ``interp.organism.llava.DATA_DIR`` (the
LLaVA organism) are read from those modules at each call, not bound here at import, so pointing
either at a copy of the data (as the corrupt-file tests do) is followed by everything here and in
:mod:`interp.organism.manifest`.

Example:
    >>> locate("organism", "mllm").name
    'mllm'
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
KINDS = ("mllm", "text", "sae", "concepts")
#: The LLaVA organism's data directory and part kinds (``interp.organism.llava`` re-exports them).
LLAVA_DATA_DIR = Path(__file__).resolve().parent / "data_llava"
LLAVA_KINDS = ("mllm", "text", "sae")
#: The shipped organisms by the name ``load_mllm`` takes: the first (PaliGemma) and the LLaVA one.
NAMES = ("organism", "organism-llava")


def part_path(data_dir: Path, kind: str, kinds: tuple[str, ...], label: str, script: str) -> Path:
    """``data_dir / kind`` if ``kind`` is one of ``kinds`` and the directory exists.

    Raises a ValueError for an unknown kind and a FileNotFoundError naming ``script`` (the
    rebuild command) for a missing directory; ``label`` names the organism in both.

    Example:
        >>> part_path(DATA_DIR, "mllm", KINDS, "organism", "scripts/train_organism.py").name
        'mllm'
    """
    if kind not in kinds:
        raise ValueError(f"unknown {label} part {kind!r}: valid kinds are {', '.join(kinds)}")
    p = data_dir / kind
    if not p.is_dir():
        raise FileNotFoundError(f"{label} part {kind!r} is missing at {p}: run `python {script}`")
    return p


def _where(which: str) -> tuple[Path, tuple[str, ...], str]:
    """(data directory, part kinds, rebuild script) of the organism named ``which``."""
    if which == "organism":
        return sys.modules["interp.organism"].DATA_DIR, KINDS, "scripts/train_organism.py"
    if which == "organism-llava":
        from interp.organism import llava

        return llava.DATA_DIR, llava.KINDS, "scripts/train_organism_llava.py"
    raise ValueError(f"unknown organism {which!r}: expected one of {', '.join(NAMES)}")


def path(kind: str) -> Path:
    """Directory of one shipped part of the organism: ``mllm``, ``text``, ``sae`` or ``concepts``.

    ``sae`` holds one sae-lens SAE directory per backbone layer: ``sae/layer_{l}``.

    Example:
        >>> (path("sae") / "layer_0").name
        'layer_0'
    """
    return part_path(_where("organism")[0], kind, KINDS, "organism", "scripts/train_organism.py")


def llava_path(kind: str) -> Path:
    """Directory of one part of the LLaVA organism: ``mllm``, ``text`` or ``sae``.

    Example:
        >>> llava_path("mllm").name
        'mllm'
    """
    data_dir = _where("organism-llava")[0]
    return part_path(data_dir, kind, LLAVA_KINDS, "LLaVA organism", "scripts/train_organism_llava.py")


def locate(which: str, kind: str) -> Path:
    """Directory of part ``kind`` of the organism named ``which`` (``"organism"`` or ``"organism-llava"``).

    Example:
        >>> locate("organism", "text").name
        'text'
    """
    data_dir, kinds, script = _where(which)
    return part_path(data_dir, kind, kinds, which, script)


def owner(path_: str | os.PathLike[str], kind: str) -> str | None:
    """The organism whose shipped directory of part ``kind`` is ``path_``, or None.

    Example:
        >>> owner(path("text"), "text")
        'organism'
    """
    for which in NAMES:
        try:
            if Path(path_).resolve() == (_where(which)[0] / kind).resolve():
                return which
        except (OSError, ValueError):
            return None
    return None


def is_part(path_: str | os.PathLike[str], kind: str) -> bool:
    """Whether ``path_`` is the shipped directory of part ``kind`` of an organism (given as a path).

    Example:
        >>> is_part(path("text"), "text")
        True
    """
    return owner(path_, kind) is not None


__all__ = ["DATA_DIR", "KINDS", "LLAVA_DATA_DIR", "LLAVA_KINDS", "NAMES", "is_part", "llava_path", "locate", "owner", "part_path", "path"]
