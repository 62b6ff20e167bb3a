"""The notebook pages' freshness check (``scripts/docs_notebooks.py``): what it must let pass (what
differs from one machine or directory to another) and what it must still catch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import docs_notebooks  # noqa: E402
from docs_notebooks import difference, numbers_agree  # noqa: E402


def page(output: str, *, code: str = "x = run(alpha=4.0)", prose: str = "Steer by +7.3 points.") -> str:
    """A page as the renderer writes one: prose, a code block, what the cell printed."""
    return f"# A notebook\n\n{prose}\n\n```python\n{code}\n```\n\n```text\n{output}\n```\n"


@pytest.mark.parametrize(("a", "b"), [
    ("0.123", "0.124"),          # one unit in the last digit
    ("0.124", "0.123"),
    ("-0.000", "0.000"),         # a rounded zero's sign
    ("+0.0", "-0.0"),
    ("0.100", "0.099"),          # across a rounding boundary
    ("7.624473e-08", "7.624474e-08"),
    ("1.0e-06", "9.9e-07"),      # the coarser of the two digits counts
    ("0.8625", "0.8625000000000001"),  # a float's shortest repr
    ("16", "16"),
])
def test_numbers_within_one_unit_of_the_last_digit_agree(a, b):
    assert numbers_agree(a, b)


@pytest.mark.parametrize(("a", "b"), [
    ("0.123", "0.130"),
    ("0.123", "0.125"),          # two units
    ("16", "17"),                # a count is exact
    ("0", "-1"),
    ("+2.5", "-2.5"),            # a sign that matters
    ("7.624473e-08", "7.624473e-07"),
    ("1.9073486328125e-06", "3.0994415283203125e-06"),  # float bits printed in full: not the same figure
])
def test_numbers_further_apart_disagree(a, b):
    assert not numbers_agree(a, b)


@pytest.mark.parametrize(("committed", "fresh"), [
    # printed numbers within one unit in the last digit
    ("accuracy 0.875 -> 0.625", "accuracy 0.876 -> 0.624"),
    # a pandas frame whose column widths follow its values
    ("   share  ratio\n0  0.0106  1.361\n1 -0.000  2.150", "   share  ratio\n0  0.0107  1.360\n1  0.000   2.150"),
    # digests: a sweep cell's key, a git commit
    ("cell a80f56768b29363881acbaa1 done", "cell ea29f4014c8caa353e104cae done"),
    ("at commit 5b886dd", "at commit e666d88"),
    # absolute and temporary paths, in any quoting
    ("saved to /tmp/tmpab12cd/runs/x.sqlite", "saved to /tmp/tmpzz9x7q/runs/x.sqlite"),
    ("PosixPath('/home/alice/interp/runs/a.json')", "PosixPath('/work/wt/runs/a.json')"),
    ("read C:\\Users\\bob\\runs\\x.csv", "read C:\\Users\\eve\\tmp\\x.csv"),
    # timings, rates, clock times
    ("the sweep took 3.2 s", "the sweep took 12 s"),
    ("done in 12 s", "done in 1.5 min"),
    ("scored 48 items in 950 ms (50.5 items/s)", "scored 48 items in 1.2 s (40.0 items/s)"),
    ("run of 2025-01-02 10:11:12", "run of 2026-03-04T09:08:07"),
])
def test_what_cannot_be_stable_passes(committed, fresh):
    assert difference(page(committed), page(fresh)) == ""


@pytest.mark.parametrize(("committed", "fresh"), [
    ("accuracy 0.875 -> 0.625", "accuracy 0.875 -> 0.688"),     # a printed number moved
    ("6 of 16 answers changed", "7 of 16 answers changed"),     # a count
    ("6 of 16 answers changed", "6 of 16 answers kept"),        # a word
    ("row a 0.5\nrow b 0.6", "row a 0.5"),                      # a missing row
    ("row a 0.5", "row a 0.5\nrow b 0.6"),                      # an extra one
    ("group  all  image\n0  1.0  0.999", "group  all  text\n0  1.0  0.999"),  # a header
    ("the sweep took 3.2 s", "the sweep took 3.2 s twice"),     # text around a masked timing
    ("layer 2: 0.5", "layer 3: 0.5"),                           # a layer in a name
    ("L2 @ +1", "L3 @ +1"),
    ("cell a80f56768b29363881acbaa1", "cell a80f56768b29363881acbaa1 0.5"),
])
def test_a_real_change_in_what_a_run_printed_fails(committed, fresh):
    assert difference(page(committed), page(fresh)) != ""


def test_the_notebook_text_is_compared_exactly():
    """Numbers in code and prose are the notebook's own, not a run's: one unit off still fails."""
    out = "0.5"
    assert difference(page(out), page(out)) == ""
    assert difference(page(out, code="x = run(alpha=4.0)"), page(out, code="x = run(alpha=4.1)")) != ""
    assert difference(page(out, code="p = '/tmp/a/b'"), page(out, code="p = '/tmp/a/c'")) != ""
    assert difference(page(out, prose="Steer by +7.3 points."), page(out, prose="Steer by +7.4 points.")) != ""


def test_a_displayed_markdown_table_is_read_as_output():
    table = "| vector | gain | p |\n|---|---|---|\n| meanshift/counting | {gain} | {p} |"
    committed = f"# A notebook\n\n{table.format(gain='+2.5', p='0.219')}\n"
    assert difference(committed, committed.replace("0.219", "0.220")) == ""
    assert difference(committed, committed.replace("0.219", "0.375")) != ""
    assert difference(committed, committed.replace("+2.5", "-2.5")) != ""
    assert difference(committed, committed.replace("meanshift", "probe")) != ""


def test_a_difference_is_named():
    why = difference(page("accuracy 0.875 -> 0.625"), page("accuracy 0.875 -> 0.688"))
    assert why == "the page prints 0.625 where a fresh run prints 0.688, after 'accuracy <n> ->'"
    assert "answers kept" in difference(page("6 answers changed"), page("6 answers kept"))


def test_freshness_check_catches_a_stale_page_and_a_missing_figure(tmp_path, monkeypatch):
    """compare() on a hand-made executed notebook: the rendered page passes, an edited one fails,
    a printed number may move one unit in its last digit, a figure whose file is missing is named."""
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("print(1.5)", outputs=[
            nbformat.v4.new_output("stream", name="stderr", text="/home/me/site-packages: a warning\n"),
            nbformat.v4.new_output("stream", name="stdout", text="1.5\n"),
            nbformat.v4.new_output("stream", name="stdout", text="done\n")]),
        nbformat.v4.new_code_cell("img", outputs=[nbformat.v4.new_output(
            "display_data", data={"image/png": "iVBORw0KGgo="})]),
    ])
    monkeypatch.setattr(docs_notebooks, "PAGES", tmp_path / "pages")
    monkeypatch.setattr(docs_notebooks, "ASSETS", tmp_path / "assets")
    monkeypatch.setattr(docs_notebooks, "ROOT", tmp_path)
    assert docs_notebooks.compare("x", nb) == ["pages/x.md is missing: run python scripts/docs_notebooks.py x"]
    docs_notebooks.write("x", nb)
    page = tmp_path / "pages" / "x.md"
    assert "```python\nprint(1.5)\n```\n\n```text\n1.5\ndone\n```" in page.read_text()  # chunks joined
    page.write_text(page.read_text().replace("1.5\ndone", "1.5\n```\n\n```text\ndone"))  # a run that chunked it
    assert docs_notebooks.compare("x", nb) == []
    docs_notebooks.write("x", nb)
    assert "](../assets/notebooks/x_cell02_0.png)" in page.read_text() and "a warning" not in page.read_text()
    assert docs_notebooks.compare("x", nb) == []
    page.write_text(page.read_text().replace("```text\n1.5", "```text\n1.6"))  # one unit in the last digit
    assert docs_notebooks.compare("x", nb) == []
    page.write_text(page.read_text().replace("```text\n1.6", "```text\n2.75"))  # a number that moved
    assert docs_notebooks.compare("x", nb) == [
        "pages/x.md differs from a fresh run of notebooks/x.ipynb (the page prints 2.75 where a fresh run "
        "prints 1.5, after ''): run python scripts/docs_notebooks.py x"]
    docs_notebooks.write("x", nb)
    page.write_text(page.read_text().replace("print(", "show("))
    assert "differs from a fresh run" in docs_notebooks.compare("x", nb)[0]
    docs_notebooks.write("x", nb)
    (tmp_path / "assets" / "x_cell02_0.png").unlink()
    assert docs_notebooks.compare("x", nb) == ["assets/x_cell02_0.png is missing"]
