"""interp.io: exclusive claims, atomic file and folder writes, early writability checks."""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from interp.io import check_writable, claim, write_dir, write_file


def test_write_file_refuses_an_existing_file_unless_told(tmp_path):
    path = write_file(tmp_path / "t.csv", "a\n1\n")
    with pytest.raises(FileExistsError, match=r"t\.csv already exists: pass overwrite=True"):
        write_file(path, "a\n2\n")
    assert path.read_text() == "a\n1\n"
    write_file(path, "a\n2\n", overwrite=True)
    assert path.read_text() == "a\n2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]  # no temp or lock file left


def test_write_dir_swaps_a_whole_folder_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "vec"
    write_dir(target, lambda d: (d / "a").write_text("1"))
    with pytest.raises(FileExistsError, match="vec already exists"):
        write_dir(target, lambda d: (d / "a").write_text("2"))

    def broken(d: Path) -> None:
        (d / "a").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_dir(target, broken, overwrite=True)
    assert (target / "a").read_text() == "1"
    write_dir(target, lambda d: (d / "b").write_text("2"), overwrite=True)
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vec"]


def _hold(path: str, release: Any) -> None:
    with claim(path):
        release.wait(120)


def test_a_live_claim_makes_a_second_writer_wait_then_refuses_it(tmp_path):
    # The holder keeps its claim until told, and the test waits as long as a spawned process may
    # take to start on a loaded machine: no sleep decides the outcome.
    target = tmp_path / "x"
    ctx = mp.get_context("spawn")
    release = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(target), release))
    holder.start()
    lock = tmp_path / ".x.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and holder.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        assert lock.exists(), "the holder process never took its claim"
        with pytest.raises(FileExistsError, match=r"x is being written by process \d+: wait for it to finish"), \
                claim(target, wait=0.2):
            pass
    finally:
        release.set()
        holder.join()
    with claim(target):  # released once the holder is done
        pass


def _hold_forever(path: str, held: Any) -> None:
    with claim(path):
        held.set()
        time.sleep(600)


def _claim_and_log(path: str, log: str, go: Any) -> None:
    go.wait(120)
    with claim(path, wait=120):
        with open(log, "a") as f:
            f.write(f"start {time.monotonic()}\n")
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"end {time.monotonic()}\n")


def _crashed_claim(tmp_path: Path) -> Path:
    """The marker a writer killed mid-claim (kill -9) leaves behind."""
    ctx = mp.get_context("spawn")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_forever, args=(str(tmp_path / "x"), held))
    holder.start()
    assert held.wait(120), "the holder process never took its claim"
    holder.kill()
    holder.join()
    lock = tmp_path / ".x.lock"
    assert lock.exists()
    return lock


def test_a_claim_left_by_a_dead_process_is_taken_over(tmp_path):
    lock = _crashed_claim(tmp_path)
    with claim(tmp_path / "x", wait=5):
        assert lock.exists()
    assert not lock.exists()


def test_two_waiters_on_a_dead_claim_never_hold_it_together(tmp_path):
    # Two writers find the same crashed claim; each must take it in turn, never both at once.
    _crashed_claim(tmp_path)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    log = tmp_path / "log"
    writers = [ctx.Process(target=_claim_and_log, args=(str(tmp_path / "x"), str(log), go)) for _ in range(2)]
    for w in writers:
        w.start()
    go.set()
    for w in writers:
        w.join(240)
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"], events


def test_an_unwritable_folder_is_named_not_its_lock_file():
    with pytest.raises(PermissionError, match=r"/proc/interp-out/v cannot be written: its folder /proc/interp-out"):
        write_file(Path("/proc/interp-out/v"), "x")


def test_check_writable_refuses_a_read_only_folder(tmp_path):
    # /proc refuses new entries even to root (CI runs as root, for whom chmod does not bind).
    folder = Path("/proc/interp-out") if os.geteuid() == 0 else tmp_path / "ro"
    if folder.parent == tmp_path:
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(PermissionError, match="cannot be written"):
        check_writable(folder)


def test_check_writable_refuses_a_file_and_creates_a_missing_folder(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file: expected a folder"):
        check_writable(tmp_path / "f")
    assert check_writable(tmp_path / "new" / "out").is_dir()


def test_check_writable_without_create_makes_nothing_and_judges_the_nearest_parent(tmp_path, monkeypatch):
    target = tmp_path / "a" / "b"
    assert check_writable(target, create=False) == target
    assert not (tmp_path / "a").exists()
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError, match=r"the output folder .*f/out cannot be made: .*f is a file"):
        check_writable(tmp_path / "f" / "out", create=False)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("interp.io.tempfile.mkstemp", refuse)  # a read-only parent, even for root
    with pytest.raises(PermissionError, match=r"the output folder .*a/b: its parent .* cannot be written \(Permission denied\)"):
        check_writable(target, create=False)
    assert not (tmp_path / "a").exists()
