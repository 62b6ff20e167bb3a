"""Writing artifacts so that nothing a user saved is lost: exclusive claims and atomic swaps.

Every file or folder interp writes (vectors, tables, figures, reports) goes through here:

- ``claim(target)``: an exclusive claim on ``target`` for the time of a write, held as a marker file
  beside it (``.{name}.lock``: ``filelock``'s ``SoftFileLock``, removed when the claim ends). A
  second writer waits up to ``wait`` seconds and is then refused with an error naming the target
  and the holder; a claim left by a process that no longer runs (a crash, a kill) is taken over,
  by one waiter only (filelock records the holder's process and start time).
- ``write_file(path, data)``: the bytes go to a temporary file in the same folder, are flushed to
  disk, and only then take the target's name (``os.replace``), so a reader sees the old file or
  the new one, never half of one. An existing file is replaced only with ``overwrite=True``.
- ``write_dir(target, fill)``: a folder is filled under a temporary name and renamed into place in
  one step, so two writers never leave a mixed folder behind.
- ``check_writable(folder)``: refuse an output folder that cannot be written before any work starts.

And the one reader of the JSONL files users give (corpora, contrast pairs, benchmarks):
``read_jsonl(path)``, which names the file and line of whatever it cannot read.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_file(folder / "table.csv", "a,b\\n1,2\\n").name
    'table.csv'
    >>> write_file(folder / "table.csv", "a,b\\n3,4\\n")      # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileExistsError: ...table.csv already exists: pass overwrite=True (--overwrite) to replace it
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import filelock

#: How long a writer waits for another writer's claim on the same target, in seconds.
CLAIM_WAIT = 30.0


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """``(line number, object)`` for each non-blank line of a UTF-8 JSON-lines file.

    A byte-order mark before the first line is dropped (editors on Windows write one). Bytes that
    are not UTF-8, a line that is not JSON, or one that is not a JSON object raise a ValueError
    naming ``path:line`` and what was found there.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.jsonl"
        >>> _ = path.write_bytes(b'\\xef\\xbb\\xbf{"a": 1}\\n\\n{"a": 2}\\n')
        >>> list(read_jsonl(path))
        [(1, {'a': 1}), (3, {'a': 2})]
    """
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column "
                    f"{err.start + 1}): expected a UTF-8 JSONL file; re-save it as UTF-8"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not valid JSON ({err.msg}): {line.strip()!r}") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {line.strip()!r}")
            yield number, row


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


def _unwritable(target: Path, err: OSError) -> OSError:
    """The error for a target whose folder cannot hold a file, naming the user's path (not the lock)."""
    if err.errno == errno.ENOSPC:
        return OSError(errno.ENOSPC, f"no space left on the device of {target.parent}: free some and run again "
                       "(what was written so far is kept)")
    reason = err.strerror or str(err)
    return PermissionError(f"{target} cannot be written: its folder {target.parent} does not take new files ({reason})")


@contextlib.contextmanager
def claim(target: str | os.PathLike[str], *, wait: float = CLAIM_WAIT) -> Iterator[Path]:
    """Hold an exclusive claim on ``target`` (a file or folder path) while the body writes it.

    Raises ``FileExistsError`` naming the target and the holder when another live process keeps
    its claim for longer than ``wait`` seconds, and ``PermissionError`` naming the target's folder
    when no file can be made there. The claim is released when the body ends, even if it raises.

    Example:
        >>> with claim(folder / "vector"):        # doctest: +SKIP
        ...     ...                               # nobody else writes folder/vector meanwhile
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _unwritable(target, err) from None
    lock = filelock.SoftFileLock(_lock_path(target), timeout=wait)
    try:
        lock.acquire()
    except filelock.Timeout:
        holder = f"process {lock.pid}" if lock.pid is not None else "another process"
        raise FileExistsError(
            f"{target} is being written by {holder}: wait for it to finish, or remove {lock.lock_file} if no such "
            "process runs"
        ) from None
    except OSError as err:
        raise _unwritable(target, err) from None
    try:
        yield target
    finally:
        lock.release()


def refuse_existing(path: Path, overwrite: bool, what: str = "") -> None:
    """Raise ``FileExistsError`` if ``path`` exists and ``overwrite`` is False."""
    if not overwrite and path.exists():
        raise FileExistsError(f"{what or path} already exists: pass overwrite=True (--overwrite) to replace it")


def write_file(path: str | os.PathLike[str], data: bytes | str, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically under a claim; refuse an existing file unless ``overwrite``.

    Example:
        >>> write_file(folder / "summary.md", "# results\\n", overwrite=True)   # doctest: +SKIP
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    with claim(path):
        refuse_existing(path, overwrite)
        replace_atomically(path, payload)
    return path


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, then give it ``path``'s
    name in one step: a reader sees the old file or the new one, never part of one. No claim and
    no overwrite check: callers that hold a claim (``write_file``, a folder being filled) use it.

    Example:
        >>> replace_atomically(folder / "vector.json", b"{}")   # doctest: +SKIP
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_dir(
    target: str | os.PathLike[str],
    fill: Callable[[Path], object],
    *,
    overwrite: bool = False,
    exists: Callable[[Path], bool] | None = None,
) -> Path:
    """Fill a new folder with ``fill(scratch)`` and rename it to ``target`` in one step, under a claim.

    Args:
        target: the folder to write.
        fill: writes the folder's files into the scratch folder it is given.
        overwrite: replace what ``target`` holds (the old folder is removed only after the new
            one is in place).
        exists: whether ``target`` already holds the artifact (default: it exists and is not
            empty); an empty folder a user made is filled, not refused.

    Example:
        >>> write_dir(out / "vector", lambda d: (d / "a.txt").write_text("x"))   # doctest: +SKIP
    """
    target = Path(target)
    held = exists if exists is not None else (lambda p: p.exists() and (not p.is_dir() or any(p.iterdir())))
    with claim(target):
        if held(target) and not overwrite:
            raise FileExistsError(f"{target} already exists: pass overwrite=True (--overwrite) to replace it")
        scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        try:
            fill(scratch)
            old = None
            if target.exists():
                if target.is_dir() and not any(target.iterdir()):
                    target.rmdir()
                else:
                    old = target.parent / f".{target.name}.old-{os.getpid()}"
                    os.replace(target, old)
            os.replace(scratch, target)
            if old is not None:
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink()
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return target


def run_identity(options: Mapping[str, object], *, exclude: Sequence[str] = ()) -> dict[str, object]:
    """What identifies a run: every option given, as JSON would record it, but those in ``exclude``
    (the options that change no number: where it writes, how it reports progress, ...).

    Derived from the options, not listed by hand: an option added to a command is part of the
    identity unless it is named here as changing nothing.

    Example:
        >>> run_identity({"seed": 0, "out": "runs/a", "dtype": None}, exclude=["out"])
        {'dtype': None, 'seed': 0}
    """
    kept = {k: v for k, v in sorted(options.items()) if k not in exclude}
    return json.loads(json.dumps(kept, default=lambda v: getattr(v, "value", str(v))))


#: The key of a run's ``config.json`` that holds its identity (``run_identity``).
IDENTITY_KEY = "identity"


def refuse_other_run(
    out: Path,
    files: Sequence[str],
    identity: Mapping[str, object],
    *,
    overwrite: bool,
    what: str,
    replaced: str,
    kept: str = "",
) -> None:
    """Refuse to replace the outputs a run with another identity wrote into the folder ``out``.

    ``out/config.json`` records the earlier run's identity (``IDENTITY_KEY``); the same identity (a
    rerun, a resume) passes, another is refused with the first option that differs, and outputs
    without a readable identity are refused as of unknown origin, unless ``overwrite``. Only the
    options in ``identity`` are compared (a check before the model loads leaves out its fingerprint).

    Example:
        >>> refuse_other_run(Path("runs/a"), ["table.csv"], {"seed": 0}, overwrite=False,
        ...                  what="sweep", replaced="its table.csv")            # doctest: +SKIP
    """
    held = [name for name in files if (out / name).exists()]
    if not held or overwrite:
        return
    try:
        previous = json.loads((out / "config.json").read_text()).get(IDENTITY_KEY)
    except (OSError, ValueError, AttributeError):
        previous = None
    if not isinstance(previous, dict):
        raise FileExistsError(
            f"--out {out} already holds {', '.join(held)} but no readable record of the {what} that wrote "
            "them (config.json's identity): pass --overwrite to replace them, or choose another --out"
        )
    differ = [k for k in identity if previous.get(k) != identity[k]]
    if differ:
        k = differ[0]
        raise FileExistsError(
            f"--out {out} already holds the tables of a {what} with other settings ({k} {previous.get(k)!r}, "
            f"now {identity[k]!r}): {replaced} would be replaced by this run's; pass "
            f"--overwrite to replace them{kept}, or choose another --out"
        )


def remove_stale(out: Path, known: Sequence[str], written: Sequence[Path]) -> list[Path]:
    """Remove the artifacts (``known``: paths relative to ``out``, files or folders) a run of this kind
    may write but this one did not: a report never keeps an earlier run's table beside a config that
    says it was not made. Returns what was removed.

    Example:
        >>> remove_stale(Path("runs/a"), ["replication.csv"], [Path("runs/a/table.csv")])   # doctest: +SKIP
        [PosixPath('runs/a/replication.csv')]
    """
    fresh = {Path(p).resolve() for p in written}
    removed = []
    for name in known:
        path = out / name
        if path.exists() and path.resolve() not in fresh:
            with claim(path):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            removed.append(path)
    return removed


def check_writable(
    folder: str | os.PathLike[str], *, what: str = "output folder", create: bool = True
) -> Path:
    """Refuse a folder that cannot be created or written, before any work starts.

    With ``create=False`` nothing is made: a folder that does not exist yet is judged by its
    nearest existing parent (where it would be made when the work writes).

    Raises ``NotADirectoryError`` for a file (or a file in the way of the folder) and
    ``PermissionError`` for a folder that cannot be written.

    Example:
        >>> check_writable(tempfile.mkdtemp()).is_dir()
        True
        >>> check_writable(Path(tempfile.mkdtemp()) / "later", create=False).exists()
        False
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"the {what} {folder} is a file: expected a folder")
    probed, label = folder, f"{what} {folder}"
    if not create:
        while not probed.exists() and probed != probed.parent:
            probed = probed.parent
        if not probed.is_dir():
            raise NotADirectoryError(f"the {what} {folder} cannot be made: {probed} is a file")
        if probed != folder:
            label = f"{what} {folder}: its parent {probed}"
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=probed, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"the {label} cannot be written ({err.strerror}): choose another") from None
    return folder


__all__ = [
    "CLAIM_WAIT",
    "IDENTITY_KEY",
    "check_writable",
    "claim",
    "refuse_existing",
    "refuse_other_run",
    "remove_stale",
    "replace_atomically",
    "run_identity",
    "write_dir",
    "write_file",
]
