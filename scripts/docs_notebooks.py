"""Render the notebooks as docs pages with their outputs: ``docs/notebook_pages/<name>.md``.

Each notebook in ``notebooks/`` is executed top to bottom (nbclient, a fresh kernel, a temporary
working directory, offline) and written as a markdown page: its markdown cells as they are, each
code cell as a ``python`` block, then what the cell printed to stdout (text blocks; stderr's
warnings are left out), the markdown it
displayed, and its figures as PNG files under ``docs/assets/notebooks/`` (plotly figures exported
through kaleido, which needs Chromium). The notebooks themselves stay committed without outputs;
``tests/test_notebooks.py`` executes them and checks each page is fresh (``compare``): the text
as it is, except what no two machines or directories share (digests, absolute paths, timings),
which is masked, and printed numbers, which may differ by one unit in their last digit.

Usage:
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/docs_notebooks.py [NAME ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PAGES = ROOT / "docs" / "notebook_pages"
ASSETS = ROOT / "docs" / "assets" / "notebooks"
NAMES = ("01_quickstart", "02_paper_on_the_organism", "03_looking_inside", "04_conditional_steering_and_lora",
         "05_real_checkpoint")
#: Seconds one cell may take.
CELL_TIMEOUT = 600
#: The comment above each code block: the docs tests do not run rendered notebook code again.
NOT_RUN = "<!-- not-run: a rendered notebook; tests/test_notebooks.py executes the notebook itself -->"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def execute(name: str, workdir: Path) -> Any:
    """Run ``notebooks/<name>.ipynb`` top to bottom in ``workdir``; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


def _source(cell: Any) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else str(src)


def _text_block(text: str) -> str:
    text = _ANSI.sub("", text).rstrip("\n")
    return f"```text\n{text}\n```\n" if text.strip() else ""


def figure_name(name: str, cell: int, k: int) -> str:
    """The asset file of the ``k``-th figure a code cell displayed."""
    return f"{name}_cell{cell:02d}_{k}.png"


def render(name: str, nb: Any, *, export: bool = True) -> tuple[str, list[tuple[Any, Path]]]:
    """The page of an executed notebook, and the (figure, path) pairs it shows.

    ``export=False`` lists the figures without building them (for the freshness check)."""
    import plotly.io as pio

    parts = [f"<!-- Rendered by scripts/docs_notebooks.py from notebooks/{name}.ipynb: do not edit. -->\n"]
    pictures: list[tuple[Any, Path]] = []
    code_index = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            # links from notebooks/ to ../docs/<page>.md point, from docs/notebook_pages/, to ../<page>.md
            parts.append(_source(cell).rstrip().replace("](../docs/", "](../") + "\n")
            continue
        if cell["cell_type"] != "code":
            continue
        code_index += 1
        parts.append(f"{NOT_RUN}\n```python\n{_source(cell).rstrip()}\n```\n")
        k = 0
        printed = ""  # consecutive stdout chunks are one block (how a run chunks them varies)
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                if out.get("name") == "stdout":  # stderr holds warnings with this machine's paths
                    printed += out.get("text", "")
                continue
            parts.append(_text_block(printed))
            printed = ""
            if kind == "error":
                raise RuntimeError(f"{name}: cell {code_index} raised {out.get('ename')}: {out.get('evalue')}")
            elif kind in ("execute_result", "display_data"):
                data = out.get("data", {})
                path = ASSETS / figure_name(name, code_index, k)
                if "application/vnd.plotly.v1+json" in data:
                    fig = pio.from_json(json.dumps(data["application/vnd.plotly.v1+json"])) if export else None
                    pictures.append((fig, path))
                elif "image/png" in data:
                    pictures.append((base64.b64decode(data["image/png"]) if export else None, path))
                elif "text/markdown" in data:
                    parts.append(str(data["text/markdown"]).rstrip() + "\n")
                    continue
                else:
                    parts.append(_text_block(str(data.get("text/plain", ""))))
                    continue
                parts.append(f"![figure {k + 1} of cell {code_index}](../assets/notebooks/{path.name})\n")
                k += 1
        parts.append(_text_block(printed))
    source = f"notebooks/{name}.ipynb"
    parts.append(f"---\n\nThe notebook: `{source}` in the repository (committed without outputs); this page "
                 "shows one run of it, made by `python scripts/docs_notebooks.py`.\n")
    return "\n".join(p for p in parts if p), pictures


#: What a run cannot reproduce on another machine or in another directory, masked wherever a page
#: is compared except in its ``python`` blocks: timestamps, absolute paths, timings and rates.
_UNSTABLE = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"), "<timestamp>"),
    (re.compile(r"(?<![\w.~])(?:[A-Za-z]:\\|~?/)(?:[\w.@+-]+[/\\])+[\w.@+-]*"), "<path>"),
    (re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?\s?(?:ms|µs|us|ns|s|sec|secs|seconds?|min|mins|minutes?|h|hours?)\b"),
     "<time>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?[A-Za-z]+/s\b"), "<rate>"),
)
#: A run of 7 or more hex characters: masked as a digest when it has a digit and a letter and is
#: not the end of a number in exponent form (``624473e`` in ``7.624473e-08``).
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{7,}(?![0-9A-Za-z])")
#: A number standing on its own (the digits of a name such as ``cell03`` or ``L2`` are text).
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
#: Where a printed number stood, in the text the freshness check compares.
_SLOT = "<n>"


def _digest(match: re.Match[str]) -> str:
    s = match.group()
    if re.search(r"\d", s) and re.search(r"[A-Fa-f]", s) and not re.fullmatch(r"\d+[eE]\d*", s):
        return "<hex>"
    return s


def _mask(line: str) -> str:
    for pattern, replacement in _UNSTABLE:
        line = pattern.sub(replacement, line)
    return _HEX.sub(_digest, line)


def comparable(page: str) -> tuple[str, list[tuple[str, str]]]:
    """What the freshness check reads of a page: its text with what cannot be stable masked and the
    printed numbers taken out, and those numbers (each with the text before it on its line).

    The notebook's own code (``python`` blocks) is kept as it is. Elsewhere digests, absolute
    paths, timings and timestamps are masked; in what a run printed (``text`` blocks, and table
    rows, the form in which cells display markdown tables) each number is taken out to be compared
    by value (``numbers_agree``); numbers in the prose keep their text. Whitespace is collapsed (a
    table's column widths follow its values) and adjacent text blocks are joined (a run may split
    what a cell printed into several chunks).

    Example:
        >>> comparable("```text\\ntook 3.2 s: 0.25 of 40\\n```")
        ('```text took <time>: <n> of <n> ```', [('0.25', 'took <time>:'), ('40', 'took <time>: <n> of')])
    """
    raw = page.splitlines()
    lines: list[str] = []
    numbers: list[tuple[str, str]] = []
    fence: str | None = None
    skip = 0
    for i, line in enumerate(raw):
        if skip:
            skip -= 1
            continue
        if line.startswith("```"):
            if fence == "text" and raw[i + 1:i + 3] == ["", "```text"]:
                skip = 2  # what a cell printed, split in two blocks: one
                continue
            fence = line[3:].strip() if fence is None else None
        elif fence != "python":
            line = _mask(line)
            if fence == "text" or line.lstrip().startswith("|"):
                parts = _NUMBER.split(line)
                numbers += [(number, " ".join(_SLOT.join(parts[: k + 1]).split())[-60:])
                            for k, number in enumerate(_NUMBER.findall(line))]
                line = _SLOT.join(parts)
        lines.append(line)
    return " ".join("\n".join(lines).split()), numbers


def numbers_agree(a: str, b: str) -> bool:
    """Whether two printed numbers are the same figure: integers (counts, sizes, indices) only if
    equal; others within one unit in the last digit printed (of the coarser of the two).

    Example:
        >>> numbers_agree("0.123", "0.124"), numbers_agree("0.123", "0.130"), numbers_agree("16", "17")
        (True, False, False)
    """
    if a == b:
        return True
    decimals = [Decimal(s) for s in (a, b) if re.search(r"[.eE]", s)]
    if not decimals:
        return False
    unit = Decimal(1).scaleb(max(int(d.as_tuple().exponent) for d in decimals))
    return abs(Decimal(a) - Decimal(b)) <= unit


def difference(page: str, fresh: str) -> str:
    """Where a committed page and a fresh rendering of its notebook differ beyond what cannot be
    stable (``comparable``, ``numbers_agree``); empty where they agree."""
    text, numbers = comparable(page)
    fresh_text, fresh_numbers = comparable(fresh)
    if text != fresh_text or len(numbers) != len(fresh_numbers):
        i = next((i for i, (x, y) in enumerate(zip(text, fresh_text)) if x != y), min(len(text), len(fresh_text)))
        return f"the page has {text[max(i - 40, 0):i + 40]!r} where a fresh run has {fresh_text[max(i - 40, 0):i + 40]!r}"
    for (a, where), (b, _) in zip(numbers, fresh_numbers):
        if not numbers_agree(a, b):
            return f"the page prints {a} where a fresh run prints {b}, after {where!r}"
    return ""


def compare(name: str, nb: Any) -> list[str]:
    """Why the committed page of ``name`` is not what rendering the executed ``nb`` gives
    (empty: fresh). Compares the page's text (``difference``), and that every figure file exists."""
    page = PAGES / f"{name}.md"
    if not page.is_file():
        return [f"{page.relative_to(ROOT)} is missing: run python scripts/docs_notebooks.py {name}"]
    fresh, pictures = render(name, nb, export=False)
    problems = []
    why = difference(page.read_text(), fresh)
    if why:
        problems.append(f"{page.relative_to(ROOT)} differs from a fresh run of notebooks/{name}.ipynb ({why}): "
                        f"run python scripts/docs_notebooks.py {name}")
    problems += [f"{p.relative_to(ROOT)} is missing" for _, p in pictures if not p.is_file()]
    return problems


def write(name: str, nb: Any) -> Path:
    """Render an executed notebook to its page and figure files; returns the page."""
    from interp import figures

    text, pictures = render(name, nb)
    ASSETS.mkdir(parents=True, exist_ok=True)
    for old in ASSETS.glob(f"{name}_cell*.png"):
        old.unlink()
    plots = [(f, p) for f, p in pictures if not isinstance(f, bytes)]
    for f, p in pictures:
        if isinstance(f, bytes):
            p.write_bytes(f)
    if plots:
        figures.save_all([f for f, _ in plots], [p for _, p in plots], scale=1.5)
    PAGES.mkdir(parents=True, exist_ok=True)
    page = PAGES / f"{name}.md"
    page.write_text(text)
    return page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NAMES), help="notebooks to render (default: all)")
    args = parser.parse_args(argv)
    for name in args.names:
        if name not in NAMES:
            parser.error(f"unknown notebook {name!r}: choose among {list(NAMES)}")
        with tempfile.TemporaryDirectory() as tmp:
            page = write(name, execute(name, Path(tmp)))
        print(f"{name}: {page.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
