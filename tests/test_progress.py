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


def test_a_tracked_loop_reports_its_status_and_notes_in_plain_lines(capsys):
    bar = Progress(enabled=True, interval=0.0)
    for step in bar.track(range(3), "text backbone"):
        bar.status(f"lm {1.0 / (step + 1):.3f}")
        if step == 1:
            bar.note("text step 2: val 0.5")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "text backbone: 0/3 started"
    # the periodic line after step 0 carries step 0's status; the note stays a line of its own
    assert re.fullmatch(r"text backbone: 1/3 \(33%\), \d+ s, about \d+ s left; lm 1\.000", lines[1])
    assert "text step 2: val 0.5" in lines
    assert re.fullmatch(r"text backbone: 3/3 done in \d+ s; lm 0\.333", lines[-1])


def test_a_tracked_loop_that_breaks_closes_its_display(capsys):
    bar = Progress(enabled=True, interval=3600.0)
    for step in bar.track(range(10), "mllm"):
        if step == 2:
            break
    bar.note("after the loop")
    # closed without a "done" line (the loop did not finish), and the note after it still prints
    err = capsys.readouterr().err.splitlines()
    assert err == ["mllm: 0/10 started", "after the loop"]


def test_a_tracked_loop_on_a_terminal_shows_status_beside_the_bar_and_keeps_notes(monkeypatch, capsys):
    import interp.progress as progress

    monkeypatch.setattr(progress, "_on_terminal", lambda stream: True)
    bar = Progress(enabled=True)
    for step in bar.track(range(2), "sae layer 0"):
        bar.status(f"mse {0.5 / (step + 1):.3f}")
        bar.note(f"sae step {step}")
    printed = capsys.readouterr()
    assert "sae step 0" in printed.out and "sae step 1" in printed.out


def test_a_disabled_tracked_loop_prints_nothing(capsys):
    bar = Progress(enabled=False)
    assert list(bar.track(iter([1, 2]), "x")) == [1, 2]
    bar.status("lm 1.0")
    bar.note("hidden")
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
