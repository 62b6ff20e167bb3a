"""``interp figures``: the standard figures from a sweep's or the demo's CSV tables (no model runs).

Example:
    $ interp figures runs/counting --out runs/counting/figures
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from interp.cli import _app as cli
from interp.cli import _inputs


class FigureFormat(str, Enum):
    html = "html"
    png = "png"
    pdf = "pdf"
    svg = "svg"


FIGURES_EXAMPLE = (
    "[bold]Examples[/]:\n\n"
    "  interp figures runs/counting --out runs/counting/figures\n\n"
    "  interp figures outputs/demo --out paper/figures --format pdf svg\n\n"
    "Reads grid.csv and table.csv (and variance_share.csv, modality_gap.csv, isomorphic_similarity.csv) "
    "from the folder or its tables/ subfolder; runs no model."
)
#: CSV tables ``interp figures`` reads, by ``report_figures`` argument.
FIGURE_TABLES = {
    "grid": "grid.csv", "table": "table.csv", "variance_share": "variance_share.csv",
    "modality_gap": "modality_gap.csv", "isomorphic": "isomorphic_similarity.csv",
}


#: Columns the figures read from the sweep's tables (the demo's are checked by their figures).
REQUIRED_COLUMNS = {
    "grid": ("vector", "method", "concept", "task", "layer", "selector", "strength", "n", "n_correct", "gain"),
    "table": ("vector", "method", "concept", "task", "selector", "layer", "strength", "accuracy", "gain"),
}


def read_table(path: Path, key: str) -> Any:
    """A CSV table the figures draw, refused unless it is whole: UTF-8, parsed with the expected
    columns, every row as wide as the header, and (for the sweep's tables) at least one row."""
    import csv
    import io

    import pandas as pd

    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not a UTF-8 CSV table (byte 0x{data[err.start]:02x} at offset {err.start}): expected the "
            "table interp sweep or interp demo wrote"
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0]:
        raise ValueError(f"{path} is empty: expected a CSV table with a header row")
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if row and len(row) != width:
            cut = number == len(rows) and not text.endswith("\n")
            raise ValueError(
                f"{path}: line {number} has {len(row)} fields but the header has {width}"
                + (": the file ends inside its last row (an interrupted write or copy); write it again"
                   if cut else ": expected the table interp sweep or interp demo wrote")
            )
    if len(rows) > 1 and not text.endswith("\n"):
        raise ValueError(
            f"{path} ends inside its last row (no final newline: an interrupted write or copy): write it again"
        )
    try:
        df = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path} is not a CSV table ({err}): expected the table interp sweep or interp demo wrote") from None
    missing = [c for c in REQUIRED_COLUMNS.get(key, ()) if c not in df.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}: expected the {path.name} interp sweep or interp demo wrote")
    if key in REQUIRED_COLUMNS and not len(df):
        raise ValueError(f"{path} holds a header but no rows: nothing to draw (did the sweep finish?)")
    return df


@cli.app.command(cls=cli.multi_value("--format"), epilog=FIGURES_EXAMPLE)
@cli.user_errors
def figures(
    results: Annotated[Path, typer.Argument(help="A folder written by interp sweep or interp demo.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the figures.")],
    format: Annotated[list[FigureFormat] | None, typer.Option("--format", "-f", help="html, png, pdf, svg (several: --format html png). Default: html png.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace figures already in --out.")] = False,
) -> None:
    """Draw the standard figures from a sweep's or the demo's CSV tables (no model runs)."""
    import os
    import shutil
    import tempfile
    import warnings

    if not results.is_dir():
        raise ValueError(f"{results} is not a directory: expected the folder interp sweep or interp demo wrote")
    _inputs.check_out_dir(out)
    found: dict[str, Any] = {}
    for key, name in FIGURE_TABLES.items():
        for folder in (results, results / "tables"):
            if (folder / name).is_file():
                found[key] = read_table(folder / name, key)
                break
    if "grid" not in found and "table" not in found:
        raise ValueError(
            f"{results} holds no grid.csv or table.csv (nor does {results / 'tables'}): expected the folder "
            "interp sweep or interp demo wrote"
        )
    from interp.figures import report_figures

    formats = [f.value for f in format or [FigureFormat.html, FigureFormat.png]]
    grid, table = found.pop("grid", None), found.pop("table", None)
    _inputs.writable(out, "--out folder")
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=out, prefix=".figures-", suffix=".tmp"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            drawn = report_figures({"grid": grid, "table": table}, scratch, formats=formats, **found)
        paths = [out / p.name for p in drawn]
        made = sorted(scratch.iterdir())  # the figures and plotly.min.js beside the HTML
        # plotly's own script is the same file every time; replacing it loses nothing.
        held = [p.name for p in made if (out / p.name).exists() and p.name != "plotly.min.js"]
        if held and not overwrite:
            raise FileExistsError(
                f"--out {out} already holds {', '.join(held)}: pass --overwrite to replace them, or choose another --out"
            )
        for p in made:
            os.replace(p, out / p.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            cli.err_console.print(f"[bold yellow]note:[/] {escape(str(w.message))}", soft_wrap=True, highlight=False)
    if not paths:
        raise cli.fail(f"no figure was written to {out}: static export failed (see the note above); --format html needs no browser", 1)
    for path in paths:
        cli.console.print(escape(str(path)), soft_wrap=True, highlight=False)
    cli.console.print(f"{len(paths)} files written to {escape(str(out))}", soft_wrap=True)
