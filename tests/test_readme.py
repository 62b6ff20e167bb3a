"""The README's snippets run as written, on the model organism.

Python snippets run in order in one namespace (the second continues from the first); lines of
``bash`` snippets that start with ``interp `` run through the CLI. A snippet that needs hub
weights is marked ``<!-- needs-weights -->`` in the comment lines right above its fence and is
skipped.
"""

from __future__ import annotations

import linecache
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARK = "needs-weights"


@dataclass(frozen=True)
class Snippet:
    lang: str
    code: str
    line: int
    comments: tuple[str, ...] = ()

    def marked(self, mark: str) -> bool:
        """Whether an HTML comment right above the fence carries ``mark``."""
        return any(mark in c for c in self.comments)

    @property
    def needs_weights(self) -> bool:
        return self.marked(SKIP_MARK)


def snippets(source: Path | str) -> list[Snippet]:
    """Fenced code blocks (at the start of a line) of a markdown file or text, in order."""
    text = source.read_text() if isinstance(source, Path) else source
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = re.fullmatch(r"```(\w*)\s*", lines[i])
        if not opening:
            i += 1
            continue
        comments, j = [], i - 1
        while j >= 0 and lines[j].strip().startswith("<!--"):
            comments.append(lines[j].strip())
            j -= 1
        end = lines.index("```", i + 1)
        found.append(Snippet(opening.group(1), "\n".join(lines[i + 1 : end]), i + 1, tuple(comments)))
        i = end + 1
    return found


def run_python(code: str, name: str, namespace: dict[str, object]) -> None:
    """Execute a snippet; its source goes into linecache, where nnsight reads traced blocks from."""
    linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
    exec(compile(code, name, "exec"), namespace)


def test_readme_opens_with_make_demo_and_make_test():
    first = snippets(README)[0]
    commands = [line.split("#")[0].strip() for line in first.code.splitlines()]
    assert commands[:2] == ["make demo", "make test"]


def test_readme_python_snippets_run_on_the_organism(tmp_path, monkeypatch, capsys):
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    runnable = [s for s in snippets(README) if s.lang == "python" and not s.needs_weights]
    assert len(runnable) >= 2, "the README should show the quick start and the own-trace snippet"
    namespace: dict[str, object] = {"__name__": "readme"}
    for snippet in runnable:
        run_python(snippet.code, f"README.md:{snippet.line}", namespace)
    printed = capsys.readouterr().out
    assert printed.count("\n") >= len(runnable)


def test_readme_shell_commands_run_through_the_cli(tmp_path, monkeypatch):
    from interp import SteeringVector
    from interp.cli import app

    monkeypatch.chdir(tmp_path)
    commands = [
        shlex.split(line, comments=True)
        for s in snippets(README)
        if s.lang == "bash" and not s.needs_weights
        for line in s.code.splitlines()
        if line.startswith("interp ")
    ]
    assert commands, "the README should show the interp command"
    runner = CliRunner()
    for argv in commands:
        result = runner.invoke(app, argv[1:])
        assert result.exit_code == 0, f"{shlex.join(argv)}\n{result.output}"
        if argv[1] == "extract":
            out = argv[argv.index("--out") + 1]
            assert SteeringVector.load(tmp_path / out).meta.concept == argv[argv.index("--concept") + 1]


def readme_shell_snippets() -> list[Snippet]:
    """The README's bash snippets that run the interp command."""
    return [s for s in snippets(README) if s.lang == "bash"
            and any(line.startswith(("interp ", ".venv/bin/interp ")) for line in s.code.splitlines())]


def test_readme_shell_snippets_activate_the_venv_before_interp():
    """A fresh clone has interp only in .venv (scripts/setup.sh): a bare ``interp`` is 'command not found'."""
    activate = re.compile(r"(\.|source) \.venv/bin/activate\b")
    shell = readme_shell_snippets()
    assert shell, "the README should show the interp command"
    for s in shell:
        lines = [line for line in s.code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        first = next(i for i, line in enumerate(lines) if line.startswith(("interp ", ".venv/bin/interp ")))
        bare = [line for line in lines if line.startswith("interp ")]
        assert not bare or any(activate.match(line) for line in lines[:first]), (
            f"README.md:{s.line}: the snippet runs interp without activating .venv first")


def ignored(path: str) -> bool:
    """Whether git ignores ``path`` in this checkout (its .gitignore: git check-ignore, or the
    top-level folder patterns when git is not there)."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", path],
                              capture_output=True, timeout=30)
        if done.returncode in (0, 1):
            return done.returncode == 0
    except (OSError, subprocess.SubprocessError):
        pass
    top = path.strip("/").split("/")[0]
    patterns = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    return top in patterns


def test_readme_shell_snippets_write_only_where_git_ignores():
    """What the README's commands write (--out) must not show up as new files in the repository."""
    outs = []
    for s in readme_shell_snippets():
        for line in s.code.splitlines():
            argv = shlex.split(line, comments=True)
            outs += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--out"]
    assert outs, "the README's commands write their results with --out"
    for out in outs:
        assert ignored(out), f"README's command writes {out}, which git does not ignore (.gitignore)"
    assert not ignored("interp/vectors/__init__.py")  # the check itself tells ignored from tracked


def test_readme_links_point_to_files_that_exist():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links its documentation pages"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_snippet_parser_reads_the_skip_mark(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n<!-- needs-weights -->\n```python\nload('big')\n```\n\n"
        "<!-- --8<-- [start:x] -->\n```python\nprint(1)\n```\n"
    )
    got = snippets(page)
    assert [(s.lang, s.code, s.needs_weights) for s in got] == [
        ("python", "load('big')", True),
        ("python", "print(1)", False),
    ]


@pytest.mark.parametrize("fence", ["```bash", "```"])
def test_snippet_parser_keeps_the_language(tmp_path, fence):
    page = tmp_path / "page.md"
    page.write_text(f"{fence}\ninterp --help\n```\n")
    (only,) = snippets(page)
    assert only.lang == fence[3:] and only.code == "interp --help"


def test_import_interp_exposes_its_subpackages_lazily():
    """``interp.evaluation``, ``interp.analysis``, ``interp.figures`` and ``interp.compare_native`` work
    after a bare ``import interp``, without ``import interp`` importing them (it stays as fast as
    importing torch) or loading any plugin (the organism is found when one of its names is asked for)."""
    code = (
        "import sys, interp\n"
        "lazy = interp.LAZY_SUBMODULES\n"
        "assert set(lazy) == {'analysis', 'evaluation', 'figures'}\n"
        "assert not [n for n in lazy if f'interp.{n}' in sys.modules], 'import interp imported a lazy subpackage'\n"
        "assert 'interp.organism' not in sys.modules, 'import interp loaded the organism plugin'\n"
        "assert set(lazy) <= set(dir(interp)) and 'compare_native' in dir(interp)\n"
        "for n in lazy:\n"
        "    assert getattr(interp, n).__name__ == f'interp.{n}'\n"
        "assert interp.compare_native.__module__ == 'interp.evaluation.native'\n"
        "assert interp.evaluation.load_benchmark('organism', tasks=['Count'], n_per_task=1)[0].task == 'Count'\n"
        "assert 'interp.organism' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_unknown_interp_attributes_raise_attribute_error(monkeypatch):
    import interp

    with pytest.raises(AttributeError, match="module 'interp' has no attribute 'no_such_name'"):
        _ = interp.no_such_name
    monkeypatch.setattr(interp, "LAZY_SUBMODULES", (*interp.LAZY_SUBMODULES, "not_shipped"))
    with pytest.raises(AttributeError, match=r"interp.not_shipped is not part of this version of interp"):
        _ = interp.not_shipped
    assert not hasattr(interp, "not_shipped")
