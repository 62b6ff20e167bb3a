"""The findings pages' figure settings (``scripts/docs_figures.py``): they name the command that
made the figures, never a folder of the machine that ran it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import docs_figures  # noqa: E402

#: An absolute path of some machine: /tmp/..., /home/..., /work/..., /Users/..., C:\...
MACHINE_PATH = re.compile(r"(?<![\w.])(/tmp/|/var/|/home/|/work/|/Users/|/root/|[A-Z]:\\)")


def test_the_shown_command_leaves_out_where_the_files_went():
    argv = ["--work", "/tmp/demo-timed", "--models", "organism", "--assets=/tmp/assets", "--n-test", "100"]
    assert docs_figures.shown_command(argv) == "python scripts/docs_figures.py --models organism --n-test 100"
    assert docs_figures.shown_command([]) == "python scripts/docs_figures.py"


def test_the_settings_page_names_the_command_not_a_machine_path():
    text = docs_figures.settings_page("organism", {"n_test": 100}, docs_figures.shown_command(
        ["--work", "/tmp/x"]), 12.0, 1, ["gains"])
    assert "made by `python scripts/docs_figures.py`" in text and not MACHINE_PATH.search(text)


def test_no_findings_page_or_included_settings_names_a_machine_path():
    pages = [*ROOT.glob("docs/findings_*.md"), *ROOT.glob("docs/assets/findings/*/settings.txt")]
    assert len(pages) >= 4
    for path in pages:
        found = MACHINE_PATH.search(path.read_text())
        assert found is None, f"{path.relative_to(ROOT)} names a machine path at {found.start()}"
