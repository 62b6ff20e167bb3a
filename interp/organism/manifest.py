"""The organisms' checksum manifests: record, check and verify every shipped model, SAE and corpus file.

``MANIFEST.json`` in each organism's data directory records the size and sha256 of its files.
Loading checks that the part it loads is complete (:func:`check`: every file there, at its
shipped size) and :func:`verify` checks every file's hash, so a missing, truncated or altered file
is named, not run.

The cache of files that last matched their hashes is this module's ``_CHECKED``; a test that
swaps it for an empty one isolates itself.

Example:
    >>> sorted(verify())
    ['concepts', 'mllm', 'sae', 'text']
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from interp.errors import CorruptArtifactError
from interp.organism.parts import _where, locate

#: sha256 and size of every shipped model, SAE and corpus file, relative to the data directory.
MANIFEST_FILE = "MANIFEST.json"

#: (organism, kind) -> (path, size, mtime) of its files when they last matched the manifest's hashes.
_CHECKED: dict[tuple[str, str], tuple[tuple[str, int, int], ...]] = {}


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


__all__ = ["MANIFEST_FILE", "check", "verify", "write_manifest"]
