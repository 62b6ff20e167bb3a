"""The model organism: a small PaliGemma trained on a fully known world of coloured shapes.

``interp`` ships a tiny but really trained MLLM (``PaliGemmaForConditionalGeneration``: SigLIP tower
+ Gemma 2 language model), its text-only backbone (``Gemma2ForCausalLM``), one sae-lens SAE per
backbone layer and concept corpora in the world's vocabulary, all as package data laid out like hub
checkpoints. See ``interp/organism/ORGANISM.md`` for sizes, training and measured accuracies, and
``scripts/train_organism.py`` to rebuild everything from seeds. ``MANIFEST.json`` records the
sha256 of every shipped model, SAE and corpus file: loading ``"organism"`` checks that the
part it loads is complete (every file there, at its shipped size), and ``verify()`` checks every
file's hash, so a missing, truncated or altered file is named, not run.

A second organism, ``"organism-llava"`` (:mod:`interp.organism.llava`, card in
``interp/organism/data_llava/CARD.md``), is a LLaVA trained in front of a frozen six-layer version
of the text backbone; it has its own parts and manifest, and the functions here that check files
take its name as ``which=``.

Example:
    >>> from interp import organism
    >>> organism.path("mllm").name
    'mllm'
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from interp.errors import CorruptArtifactError
from interp.prompts import MC_PREFIX, NUMBER_PREFIX, PALIGEMMA_PREFIX

DATA_DIR = Path(__file__).resolve().parent / "data"
KINDS = ("mllm", "text", "sae", "concepts")
#: sha256 and size of every shipped model, SAE and corpus file, relative to ``DATA_DIR``.
MANIFEST_FILE = "MANIFEST.json"


def path(kind: str) -> Path:
    """Directory of one shipped part of the organism: ``mllm``, ``text``, ``sae`` or ``concepts``.

    ``sae`` holds one sae-lens SAE directory per backbone layer: ``sae/layer_{l}``.

    Example:
        >>> (path("sae") / "layer_0").name
        'layer_0'
    """
    return part_path(DATA_DIR, kind, KINDS, "organism", "scripts/train_organism.py")


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


#: The shipped organisms by the name ``load_mllm`` takes: the first (PaliGemma) and the LLaVA one.
NAMES = ("organism", "organism-llava")


def _where(which: str) -> tuple[Path, tuple[str, ...], str]:
    """(data directory, part kinds, rebuild script) of the organism named ``which``."""
    if which == "organism":
        return DATA_DIR, KINDS, "scripts/train_organism.py"
    if which == "organism-llava":
        from interp.organism import llava

        return llava.DATA_DIR, llava.KINDS, "scripts/train_organism_llava.py"
    raise ValueError(f"unknown organism {which!r}: expected one of {', '.join(NAMES)}")


def locate(which: str, kind: str) -> Path:
    """Directory of part ``kind`` of the organism named ``which`` (``"organism"`` or ``"organism-llava"``).

    Example:
        >>> locate("organism", "text").name
        'text'
    """
    data_dir, kinds, script = _where(which)
    return part_path(data_dir, kind, kinds, which, script)


def _rebuild(which: str) -> str:
    """How to restore the files of the organism named ``which``, for error messages."""
    script = _where(which)[2]
    arg = "" if which == "organism" else repr(which)
    return (
        "reinstall interp to restore the shipped files (pip install --force-reinstall interp), or "
        f"rebuild them with `python {script}` and then record the new files with "
        f"interp.organism.write_manifest({arg})"
    )


def _label(which: str) -> str:
    """The organism's name in error messages: "organism" or "organism-llava organism"."""
    return "organism" if which == "organism" else f"{which} organism"


def _files(kind: str, which: str = "organism") -> list[Path]:
    root = _where(which)[0] / kind
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(which: str = "organism") -> Path:
    """Record the size and sha256 of every shipped model, SAE and corpus file in ``MANIFEST.json``.

    The organism builds call this after writing new files; ``check`` and ``verify`` compare
    against it. ``which`` names the organism (``"organism"`` or ``"organism-llava"``); each has
    its own manifest in its data directory.

    Example:
        >>> write_manifest().name   # doctest: +SKIP
        'MANIFEST.json'
    """
    data_dir, kinds, _ = _where(which)
    entries = {
        str(f.relative_to(data_dir).as_posix()): {"bytes": f.stat().st_size, "sha256": _sha256(f)}
        for kind in kinds
        for f in _files(kind, which)
    }
    out = data_dir / MANIFEST_FILE
    out.write_text(json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n")
    _CHECKED.clear()
    return out


def _manifest(which: str = "organism") -> dict[str, dict[str, object]]:
    file = _where(which)[0] / MANIFEST_FILE
    label = f"{_label(which)}'s"
    try:
        return dict(json.loads(file.read_text())["files"])
    except FileNotFoundError:
        raise CorruptArtifactError(f"the {label} checksum manifest {file} is missing: {_rebuild(which)}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptArtifactError(
            f"the {label} checksum manifest {file} cannot be read ({err}): {_rebuild(which)}"
        ) from None


#: (organism, kind) -> (path, size, mtime) of its files when they last matched the manifest's hashes.
_CHECKED: dict[tuple[str, str], tuple[tuple[str, int, int], ...]] = {}


def _stamp(kind: str, which: str) -> tuple[tuple[str, int, int], ...]:
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _files(kind, which))


def check(kind: str, *, full: bool = False, which: str = "organism") -> None:
    """Check one shipped part against the manifest: every file present and of its shipped size.

    Loading ``"organism"`` (or ``"organism-llava"``, with ``which``) calls this: it costs a
    ``stat`` per file and catches missing and truncated files. ``full=True`` (what ``verify``
    does) also compares each file's sha256, which catches a file altered in place; it hashes
    about 10 MB, and skips files whose size and modification time have not changed since they
    last matched.

    Raises:
        CorruptArtifactError: naming the first missing, truncated or altered file and how to
            restore it.

    Example:
        >>> check("mllm")
    """
    data_dir = locate(which, kind).parent
    rebuild = _rebuild(which)
    label = _label(which)
    entries = {name: e for name, e in _manifest(which).items() if name.split("/", 1)[0] == kind}
    if not entries:
        raise CorruptArtifactError(f"the {label}'s manifest lists no {kind!r} files: {rebuild}")
    for name, entry in sorted(entries.items()):
        file = data_dir / name
        if not file.is_file():
            raise CorruptArtifactError(f"{label} file {file} is missing: {rebuild}")
        size, shipped = file.stat().st_size, int(entry["bytes"])  # type: ignore[call-overload]
        if size != shipped:
            what = "truncated" if size < shipped else "altered"
            raise CorruptArtifactError(
                f"{label} file {file} is {what}: {size} bytes, the shipped file has {shipped}: {rebuild}"
            )
    if not full:
        return
    stamp = _stamp(kind, which)
    if _CHECKED.get((which, kind)) == stamp:
        return
    for name, entry in sorted(entries.items()):
        file = data_dir / name
        if _sha256(file) != entry["sha256"]:
            raise CorruptArtifactError(
                f"{label} file {file} was altered: its sha256 differs from the shipped file's: {rebuild}"
            )
    _CHECKED[(which, kind)] = stamp


def verify(which: str = "organism") -> dict[str, int]:
    """Check every shipped part of an organism against its manifest (every file's sha256).

    The first organism's parts are ``mllm``, ``text``, ``sae`` and ``concepts``; the LLaVA
    organism's (``which="organism-llava"``) ``mllm``, ``text`` and ``sae`` (it shares the first's
    concept corpora). Returns the number of files checked per part.

    Raises:
        CorruptArtifactError: naming the first bad file and how to restore it.

    Example:
        >>> sorted(verify())
        ['concepts', 'mllm', 'sae', 'text']
    """
    _CHECKED.clear()
    counts = {}
    for kind in _where(which)[1]:
        check(kind, full=True, which=which)
        counts[kind] = len(_files(kind, which))
    return counts


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


def format_prompt(item: dict) -> str:
    """The exact text prompt the organism MLLM was trained on for a CV-Bench-style item.

    It is ``"answer en " + MC_PREFIX + item["prompt"]``; pass it with the image to the processor.

    Example:
        >>> format_prompt({"prompt": "Q? Select from the following choices.\\n(A) x\\n(B) y"})[:20]
        'answer en Answer the'
    """
    if "prompt" not in item:
        raise ValueError("item has no 'prompt' field: expected a CV-Bench-style item dict")
    return PALIGEMMA_PREFIX + MC_PREFIX + item["prompt"]


def format_text_prompt(item: dict) -> str:
    """The text backbone's prompt for an item: the scene's text rendering, a newline, then the
    MLLM prompt (the tokenizer adds ``<bos>``; append ``"\\n"`` before the answer as PaliGemma does).

    Example:
        >>> from interp.organism.scenes import make_item
        >>> format_text_prompt(make_item("test", "Count", 0)).startswith("there")
        True
    """
    from interp.organism.scenes import render_text

    if "scene" not in item:
        raise ValueError("item has no 'scene' field: build it with interp.organism.scenes")
    return render_text(item["scene"]) + "\n" + format_prompt(item)


__all__ = [
    "DATA_DIR",
    "KINDS",
    "MANIFEST_FILE",
    "MC_PREFIX",
    "NAMES",
    "NUMBER_PREFIX",
    "PALIGEMMA_PREFIX",
    "check",
    "format_prompt",
    "format_text_prompt",
    "is_part",
    "locate",
    "owner",
    "part_path",
    "path",
    "verify",
    "write_manifest",
]
