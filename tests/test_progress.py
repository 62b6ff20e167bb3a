"""interp.progress: silent unless enabled, plain periodic lines when standard error is not a terminal."""

from __future__ import annotations

import re

from interp.progress import Progress, stage, track


def test_disabled_progress_prints_nothing(capsys):
    assert list(track(range(3), total=3, description="x")) == [0, 1, 2]
    with Progress(enabled=False) as bar:
        bar.start("cells", 2)
        bar.advance(2)
    stage("hidden", enabled=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_plain_lines_when_not_on_a_terminal(capsys):
    with Progress(enabled=True, interval=0.0) as bar:
        bar.start("sweep: train grid", total=4)
        bar.advance(1)
        bar.advance(3)
        bar.start("sweep: test", total=2)
        bar.advance(2)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "sweep: train grid: 0/4 started"
    assert re.fullmatch(r"sweep: train grid: 1/4 \(25%\), \d+ s, about \d+ s left", lines[1])
    assert re.fullmatch(r"sweep: train grid: 4/4 \(100%\), \d+ s, about 0 s left", lines[2])
    assert re.fullmatch(r"sweep: train grid: 4/4 done in \d+ s", lines[3])
    assert lines[4] == "sweep: test: 0/2 started"
    assert re.fullmatch(r"sweep: test: 2/2 done in \d+ s", lines[-1])


def test_plain_lines_are_spaced_by_the_interval(capsys):
    with Progress(enabled=True, interval=3600.0) as bar:
        bar.start("batches", total=100)
        for _ in range(100):
            bar.advance()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2  # started, done: no line in between within the hour
    assert lines[-1].startswith("batches: 100/100 done in")


def test_track_and_stage_print_plain_lines(capsys):
    assert list(track(["a", "b"], total=2, description="items", enabled=True)) == ["a", "b"]
    stage("loading the organism")
    err = capsys.readouterr().err
    assert "items: 0/2 started" in err and "items: 2/2 done in" in err
    assert err.rstrip().endswith("interp loading the organism")
