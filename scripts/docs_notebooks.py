"""Render the notebooks as docs pages with their outputs: ``docs/notebook_pages/<name>.md``.

Each notebook in ``notebooks/`` is executed top to bottom (nbclient, a fresh kernel, a temporary
working directory, offline) and written as a markdown page: its markdown cells as they are, each
code cell as a ``python`` block, then what the cell printed to stdout (text blocks; stderr's
warnings are left out), the markdown it
displayed, and its figures as PNG files under ``docs/assets/notebooks/`` (plotly figures exported
through kaleido, which needs Chromium). The notebooks themselves stay committed without outputs;
``tests/test_notebooks.py`` executes them and checks each page is fresh (``compare``).

Usage:
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python scripts/docs_notebooks.py [NAME ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import tempfile
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


def _masked(text: str) -> str:
    """A page with its numbers masked (timings and last float digits vary by machine) and
    whitespace collapsed, and adjacent text blocks joined (a run may split what a cell printed
    into several chunks): what the freshness check compares."""
    text = re.sub(r"\n```\n\n```text\n", "\n", text)
    return " ".join(re.sub(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", "#", text).split())


def compare(name: str, nb: Any) -> list[str]:
    """Why the committed page of ``name`` is not what rendering the executed ``nb`` gives
    (empty: fresh). Compares the page's text with numbers masked, and that every figure file exists."""
    page = PAGES / f"{name}.md"
    if not page.is_file():
        return [f"{page.relative_to(ROOT)} is missing: run python scripts/docs_notebooks.py {name}"]
    fresh, pictures = render(name, nb, export=False)
    problems = []
    if _masked(fresh) != _masked(page.read_text()):
        problems.append(f"{page.relative_to(ROOT)} differs from a fresh run of notebooks/{name}.ipynb: "
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
