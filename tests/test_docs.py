"""The documentation site: a strict mkdocs build, every page in the nav, and runnable examples.

Python snippets of each page run in order in one namespace on the model organism, and lines of
``bash`` snippets that start with ``interp `` run through the CLI, after expanding the
``--8<--`` includes the pages take from the README. Snippets marked ``needs-weights`` or
``not-run`` in an HTML comment right above their fence are skipped.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_readme import run_python, snippets
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_MARKS = ("needs-weights", "not-run")
INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"\s*$', flags=re.MULTILINE)


def expand_includes(text: str) -> str:
    """Replace ``--8<-- "file"`` / ``--8<-- "file:section"`` lines as pymdownx.snippets does."""

    def include(match: re.Match[str]) -> str:
        body = (ROOT / match.group(1)).read_text()
        section = match.group(2)
        if section is None:
            return body
        start = re.search(rf"^.*--8<-- \[start:{section}\].*$", body, flags=re.MULTILINE)
        end = re.search(rf"^.*--8<-- \[end:{section}\].*$", body, flags=re.MULTILINE)
        if start is None or end is None:
            raise AssertionError(f"{match.group(1)} has no section {section!r}")
        return body[start.end() + 1 : end.start()]

    return INCLUDE.sub(include, text)


def page_text(path: Path) -> str:
    """The visible text of a built page, whitespace collapsed."""
    text = html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))
    return " ".join(text.split())


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def runnable_pages() -> list[Path]:
    out = []
    for page in pages():
        for s in snippets(expand_includes(page.read_text())):
            if not any(s.marked(m) for m in SKIP_MARKS) and (
                s.lang == "python" or (s.lang == "bash" and "\ninterp " in f"\n{s.code}")
            ):
                out.append(page)
                break
    return out


def nav_files(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [f for entry in nav for f in nav_files(entry)]
    if isinstance(nav, dict):
        return [f for value in nav.values() for f in nav_files(value)]
    raise AssertionError(f"unexpected nav entry {nav!r}")


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    yaml = pytest.importorskip("yaml", reason="pyyaml comes with mkdocs: pip install -e '.[docs]'")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = nav_files(config["nav"])
    on_disk = sorted(str(p.relative_to(DOCS)) for p in pages())
    assert sorted(set(listed)) == on_disk, "pages missing from the nav, or nav entries without a page"
    assert len(listed) == len(set(listed)), "a page is listed twice in the nav"


def test_mkdocs_build_is_strict_clean(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed: pip install -e '.[docs]' to build the documentation")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    card = [
        line for line in (ROOT / "interp/organism/ORGANISM.md").read_text().splitlines()
        if len(line) > 40 and re.fullmatch(r"[A-Za-z0-9 ,.;:()'-]+", line)
    ]
    assert card, "the organism's card has plain lines to look for"
    organism = page_text(site / "organism" / "index.html")
    assert all(line.strip() in organism for line in card[:3]), "the card is not included on the organism page"
    steering = page_text(site / "reference" / "steering" / "index.html")
    assert "steered_generate" in steering and "h_l <- h_l + alpha * v" in steering
    index = page_text(site / "index.html")
    assert 'interp.load_text_backbone(mllm="organism-llava")' in index and "--8<--" not in index
    # The findings pages and the notebook pages with figures show images, and every image is in the build.
    for name in ("findings_main", "findings_inside", "findings_cast_lora", "findings_ceiling",
                 "notebook_pages/02_paper_on_the_organism",
                 "notebook_pages/03_looking_inside"):
        images = site_images(site, name)
        assert images, f"{name} shows no image"
    for page in sorted((site / "notebook_pages").rglob("index.html")):
        site_images(site, str(page.parent.relative_to(site)))
    # No docstring renders as quotes: a ">>>" example or a line starting with ">=" used to.
    for page in sorted((site / "reference").rglob("index.html")):
        quoted = re.findall(r"<blockquote>(.*?)</blockquote>", page.read_text(), flags=re.S)
        assert not quoted, f"{page.relative_to(site)} renders docstring text as a quote: {quoted[0][:200]}"


def site_images(site: Path, name: str) -> list[Path]:
    """The files the ``<img>`` elements of built page ``name`` show; each must exist in the build."""
    page = site / name / "index.html"
    found = []
    for src in re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", page.read_text()):
        assert not src.startswith(("http:", "https:", "data:")), f"{name}: image {src} is not a file of the site"
        path = (page.parent / html.unescape(src)).resolve()
        assert path.is_file() and path.stat().st_size > 1000, f"{name}: image {src} is not in the built site"
        found.append(path)
    return found


def test_site_images_finds_the_images_of_a_page_and_refuses_missing_ones(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "a.png").write_bytes(b"x" * 2000)
    (tmp_path / "p" / "index.html").write_text('<p><img alt="a" src="../assets/a.png" /></p>')
    assert site_images(tmp_path, "p") == [(tmp_path / "assets" / "a.png").resolve()]
    (tmp_path / "p" / "index.html").write_text('<img src="../assets/b.png">')
    with pytest.raises(AssertionError, match="not in the built site"):
        site_images(tmp_path, "p")


@pytest.mark.parametrize("page", runnable_pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run_on_the_organism(page, tmp_path, monkeypatch, capsys):
    from interp.cli import app

    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs"}
    runner = CliRunner()
    ran = 0
    for s in snippets(expand_includes(page.read_text())):
        if any(s.marked(m) for m in SKIP_MARKS):
            continue
        name = f"{page.relative_to(ROOT)}:{s.line}"
        if s.lang == "python":
            run_python(s.code, name, namespace)
            ran += 1
        elif s.lang == "bash":
            for line in s.code.splitlines():
                if line.startswith("interp "):
                    argv = shlex.split(line, comments=True)
                    result = runner.invoke(app, argv[1:])
                    assert result.exit_code == 0, f"{name}: {line}\n{result.output}"
                    ran += 1
    assert ran > 0
    capsys.readouterr()


def test_include_expansion_takes_one_section(tmp_path):
    text = expand_includes('before\n--8<-- "README.md:cli"\nafter')
    (block,) = [s for s in snippets(text) if s.lang == "bash"]
    assert block.code.startswith(". .venv/bin/activate") and "\ninterp extract " in block.code
    assert text.startswith("before\n") and text.endswith("after")
