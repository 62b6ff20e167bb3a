"""Where the shipped organisms' parts are: their data directories, part kinds and names.

``DATA_DIRS`` maps each organism to its data directory; it is read at each call, so pointing an
entry at a copy of the data (as the corrupt-file tests do, with ``monkeypatch.setitem``) is
followed by everything here and in :mod:`interp.organism.manifest`.

Example:
    >>> locate("organism", "mllm").name
    'mllm'
"""

from __future__ import annotations

from pathlib import Path

#: The first organism's (PaliGemma) data directory and part kinds.
DATA_DIR = Path(__file__).resolve().parent / "data"
KINDS = ("mllm", "text", "sae", "concepts")
#: The LLaVA organism's data directory and part kinds (it shares the first's concept corpora).
LLAVA_DATA_DIR = Path(__file__).resolve().parent / "data_llava"
LLAVA_KINDS = ("mllm", "text", "sae")
#: The shipped organisms by the name ``load_mllm`` takes: the first (PaliGemma) and the LLaVA one.
NAMES = ("organism", "organism-llava")

#: Each organism's data directory, read at each call (tests point an entry at a copy).
DATA_DIRS: dict[str, Path] = {"organism": DATA_DIR, "organism-llava": LLAVA_DATA_DIR}
_KINDS = {"organism": KINDS, "organism-llava": LLAVA_KINDS}
_SCRIPTS = {"organism": "scripts/train_organism.py", "organism-llava": "scripts/train_organism_llava.py"}
_LABELS = {"organism": "organism", "organism-llava": "LLaVA organism"}


def _where(which: str) -> tuple[Path, tuple[str, ...], str]:
    """(data directory, part kinds, rebuild script) of the organism named ``which``."""
    if which not in DATA_DIRS:
        raise ValueError(f"unknown organism {which!r}: expected one of {', '.join(NAMES)}")
    return DATA_DIRS[which], _KINDS[which], _SCRIPTS[which]


def locate(which: str, kind: str) -> Path:
    """Directory of part ``kind`` of the organism named ``which`` (``"organism"`` or ``"organism-llava"``).

    Raises a ValueError for an unknown kind and a FileNotFoundError naming the rebuild command for
    a missing directory.

    Example:
        >>> locate("organism-llava", "text").name
        'text'
    """
    data_dir, kinds, script = _where(which)
    label = _LABELS[which]
    if kind not in kinds:
        raise ValueError(f"unknown {label} part {kind!r}: valid kinds are {', '.join(kinds)}")
    p = data_dir / kind
    if not p.is_dir():
        raise FileNotFoundError(f"{label} part {kind!r} is missing at {p}: run `python {script}`")
    return p


def path(kind: str, which: str = "organism") -> Path:
    """Directory of one shipped part: ``mllm``, ``text``, ``sae`` or ``concepts`` (the first organism's
    by default).

    ``sae`` holds one sae-lens SAE directory per backbone layer: ``sae/layer_{l}``.

    Example:
        >>> (path("sae") / "layer_0").name
        'layer_0'
    """
    return locate(which, kind)


__all__ = ["DATA_DIR", "DATA_DIRS", "KINDS", "LLAVA_DATA_DIR", "LLAVA_KINDS", "NAMES", "locate", "path"]
