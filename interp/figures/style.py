"""The paper style shared by every figure, table checks, and saving to HTML, PNG, PDF or SVG.

plotly is imported on first use (``plotly_modules``), never when ``interp.figures`` is
imported. The style is one plotly template, ``"interp"``, registered the first time a figure is
built and applied per figure (``plotly.io.templates.default`` is left alone). Condition colours
are the same in every figure: unsteered grey, prompting orange, steered blue, random directions
purple (Okabe & Ito's colour-blind-safe palette).

Example:
    >>> from interp.figures.style import CONDITION_COLORS
    >>> CONDITION_COLORS["unsteered"]
    '#6E6E6E'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interp.formatting import finite

if TYPE_CHECKING:
    import pandas as pd

    from interp.types import Figure

#: Brings back plotly and kaleido (interp dependencies: missing only from a partial install).
INSTALL = "pip install plotly kaleido"
#: What static export needs besides kaleido.
CHROMIUM_HINT = (
    "static export (PNG/PDF/SVG) drives a Chromium browser through kaleido: install Chromium "
    "(Debian/Ubuntu: 'apt-get install chromium'; scripts/setup.sh does it) and kaleido "
    f"({INSTALL}), or save as .html"
)
#: The template's name in ``plotly.io.templates``.
TEMPLATE = "interp"
#: One colour per condition, in every figure.
CONDITION_COLORS = {
    "unsteered": "#6E6E6E",
    "prompt": "#E69F00",
    "steered": "#0072B2",
    "random": "#CC79A7",
}
#: One colour per token selector / token kind.
SELECTOR_COLORS = {
    "image": "#009E73",
    "text": "#D55E00",
    "both": "#56B4E9",
    "last": "#882255",
    "all": "#332288",
    "special": "#999999",
}
#: Steering methods share the blue-green family of "steered".
METHOD_COLORS = {
    "meanshift": "#0072B2",
    "probe": "#56B4E9",
    "sae": "#009E73",
    "diffmean": "#332288",
}
#: Steered variants that share a method (several vectors of one method in one figure).
STEERED_SHADES = ("#0072B2", "#56B4E9", "#009E73", "#332288", "#117733", "#44AA99", "#88CCEE", "#1F4E79")
#: Grey of cells that hold no value (a task x concept pair that was not evaluated).
MISSING_COLOR = "#E3E3E3"
#: Colours for anything else, in order (Okabe-Ito, then Tol's muted), leaving out the
#: unsteered grey, prompting orange and random purple so those keep their meaning.
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#56B4E9", "#332288", "#882255", "#117733", "#999933",
    "#44AA99", "#661100", "#6699CC", "#DDCC77",
)
#: Diverging scale for signed values (gains, cosines, recovered fractions): negative red, positive blue.
DIVERGING = "RdBu"
#: The smallest half-span (points) of a gain colour scale: a one-item difference on a small test
#: set (1 of 24 items is 4.2 points) must not look like the scale's full colour.
MIN_GAIN_SPAN = 10.0
#: The overlay that fades heatmap cells whose gain's confidence interval includes 0.
FADE_COLOR = "rgba(255, 255, 255, 0.62)"
#: Sequential scale for non-negative values (probabilities).
SEQUENTIAL = "Viridis"
#: Order of the known selectors and methods on axes and legends.
SELECTOR_ORDER = ("image", "text", "both", "last", "all")
METHOD_ORDER = ("meanshift", "probe", "sae", "diffmean")
#: Static formats ``save`` writes through kaleido.
STATIC_FORMATS = ("png", "pdf", "svg")
FORMATS = ("html", *STATIC_FORMATS)

_FONT = "Helvetica, Arial, sans-serif"


def plotly_modules() -> tuple[Any, Any]:
    """``(plotly.graph_objects, plotly.subplots.make_subplots)``, with the style registered.

    Raises:
        ImportError: plotly is missing, naming the install command.
    """
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as err:
        raise ImportError(f"interp.figures needs plotly: {INSTALL}") from err
    register_template()
    return go, make_subplots


def register_template() -> str:
    """Register the ``"interp"`` plotly template once (fonts, sizes, axes, colours) and return its name.

    Example:
        >>> import plotly.graph_objects as go                  # doctest: +SKIP
        >>> go.Figure(layout={"template": register_template()})   # doctest: +SKIP
    """
    import plotly.graph_objects as go
    import plotly.io as pio

    if TEMPLATE in pio.templates:
        return TEMPLATE
    axis = dict(
        showline=True, linecolor="#444444", linewidth=1, mirror=False, ticks="outside",
        tickcolor="#444444", ticklen=4, showgrid=True, gridcolor="#E6E6E6", gridwidth=1,
        zeroline=False, title=dict(font=dict(size=14)), tickfont=dict(size=12), automargin=True,
    )
    template = go.layout.Template(pio.templates["simple_white"])
    template.layout.update(
        font=dict(family=_FONT, size=13, color="#222222"),
        title=dict(font=dict(size=16), x=0.01, xanchor="left", y=0.98, yanchor="top"),
        colorway=list(PALETTE),
        paper_bgcolor="white",
        plot_bgcolor="white",
        margin=dict(l=70, r=30, t=70, b=60),
        legend=dict(font=dict(size=12), bgcolor="rgba(255,255,255,0.8)", borderwidth=0, tracegroupgap=2),
        xaxis=axis,
        yaxis=axis,
        coloraxis=dict(colorbar=dict(outlinewidth=0, thickness=14, ticks="outside", len=0.9)),
        hoverlabel=dict(font=dict(family=_FONT)),
    )
    template.data.heatmap = [go.Heatmap(colorbar=dict(outlinewidth=0, thickness=14))]
    pio.templates[TEMPLATE] = template
    return TEMPLATE


# -- tables ----------------------------------------------------------------------------------------
def frame(table: Any, what: str) -> pd.DataFrame:
    """``table`` as a non-empty pandas DataFrame, or a ValueError naming ``what`` was expected."""
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"expected {what} as a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        raise ValueError(f"the table is empty: expected {what} with at least one row")
    return table


def require(table: Any, columns: Iterable[str], what: str) -> pd.DataFrame:
    """``table`` if it is a non-empty DataFrame holding ``columns``, else a ValueError naming the missing ones.

    Example:
        >>> import pandas as pd
        >>> require(pd.DataFrame({"layer": [0]}), ["layer", "gain"], "a sweep table")
        Traceback (most recent call last):
        ...
        ValueError: the table lacks columns ['gain'] (it has ['layer']): expected a sweep table
    """
    table = frame(table, what)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks columns {missing} (it has {list(table.columns)}): expected {what}")
    return table


def select_rows(table: pd.DataFrame, filters: Mapping[str, Any]) -> pd.DataFrame:
    """Rows whose columns equal the given values (None: no filter); a value absent from its column is a ValueError."""
    for col, value in filters.items():
        if value is None:
            continue
        if col not in table.columns:
            raise ValueError(f"cannot filter on {col}={value!r}: the table has no {col!r} column")
        kept = table[table[col] == value]
        if kept.empty:
            have = sorted(map(str, table[col].dropna().unique()))
            raise ValueError(f"no rows with {col}={value!r}: the table has {col} {have}")
        table = kept
    return table


def steered_rows(table: Any) -> Any:
    """The steered rows of a sweep's table (a grid also holds the unsteered cell)."""
    if "condition" in table.columns:
        table = table[table["condition"] == "steered"]
        if table.empty:
            raise ValueError("the grid has no steered cells: expected SweepResult.grid with condition 'steered' rows")
    return table


def ordered(values: Iterable[Any], order: Sequence[Any] = ()) -> list[Any]:
    """Unique values, known ones in ``order`` first, the rest sorted (numbers numerically)."""
    seen = list(dict.fromkeys(values))
    known = [v for v in dict.fromkeys(order) if v in seen]
    rest = [v for v in seen if v not in known]
    try:
        rest = sorted(rest)
    except TypeError:
        rest = sorted(rest, key=str)
    return known + rest


def color_map(values: Sequence[Any], kind: str | None = None) -> dict[Any, str]:
    """A colour per value: the fixed colours of selectors, methods or conditions where they
    apply, else the palette (numbers get a sequential ramp)."""
    fixed = {"selector": SELECTOR_COLORS, "kind": SELECTOR_COLORS, "method": METHOD_COLORS,
             "condition": CONDITION_COLORS}.get(kind or "", {})
    if fixed and all(v in fixed for v in values):
        return {v: fixed[v] for v in values}
    if values and all(isinstance(v, (int, float, np.integer, np.floating)) for v in values) and len(values) > 1:
        from plotly.colors import sample_colorscale

        ramp = sample_colorscale(SEQUENTIAL, [0.1 + 0.75 * i / (len(values) - 1) for i in range(len(values))])
        return dict(zip(values, ramp))
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(values)}


def value_label(column: str, value: Any) -> str:
    """How a facet or legend shows a value: ``L2`` for a layer, ``+1`` for a strength, else str."""
    if column == "layer":
        return f"L{int(value)}"
    if column in ("strength", "alpha"):
        return f"{float(value):+g}"
    return str(value)


def symmetric_range(values: Iterable[Any], floor: float = 1e-9) -> float:
    """The largest finite absolute value (at least ``floor``): a diverging scale's half-range."""
    vals = [abs(float(v)) for v in values if finite(v)]
    return max([floor, *vals])


def gain_range(values: Iterable[Any], floor: float = MIN_GAIN_SPAN) -> float:
    """The half-span (points) of a diverging gain scale: the largest |gain|, at least ``floor``.

    Example:
        >>> gain_range([4.2, -1.0]), gain_range([-30.0, 12.0])
        (10.0, 30.0)
    """
    return symmetric_range(values, floor)


def table_split(table: Any, split: str | None, default: str) -> str:
    """The split a table was drawn from, for titles: ``split`` when given, else the table's one
    ``split`` column value, else ``default`` (``"train"`` for ``SweepResult.grid``, ``"test"``
    for ``SweepResult.table``).

    Example:
        >>> import pandas as pd
        >>> table_split(pd.DataFrame({"split": ["test"]}), None, "train"), table_split(pd.DataFrame(), None, "train")
        ('test', 'train')
    """
    if split is not None:
        if not isinstance(split, str) or not split.strip():
            raise ValueError(f"split must be a name such as 'train' or 'test', got {split!r}")
        return split
    if "split" in getattr(table, "columns", ()):
        found = sorted(map(str, table["split"].dropna().unique()))
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(f"the table mixes splits {found}: filter it to one split or pass split=")
    return default


def n_label(counts: Iterable[Any], what: str = "items") -> str:
    """``"n = 100 test items"`` when every count is one number, else ``"n = 24-100 ..."``;
    ``""`` when there is no count.

    Example:
        >>> n_label([100, 100], "test items per task"), n_label([24, 48], "items")
        ('n = 100 test items per task', 'n = 24-48 items')
    """
    vals = sorted({int(float(v)) for v in counts if finite(v)})
    if not vals:
        return ""
    return f"n = {vals[0]} {what}" if len(vals) == 1 else f"n = {vals[0]}-{vals[-1]} {what}"


#: Average glyph width of the figures' font as a share of its size (Helvetica/Arial run about
#: 0.5-0.55; 0.6 leaves room): what a layout budgets for a label or title it cannot measure.
CHAR_WIDTH = 0.6
#: The title's font size in the template (pixels), and the height one more title line takes.
TITLE_SIZE = 16
TITLE_LINE = 22


def text_width(text: Any, size: float) -> float:
    """Estimated width in pixels of ``text`` at font ``size`` (its longest ``<br>``-separated line).

    Example:
        >>> text_width("abcde", 10), text_width("ab<br>abcd", 10)
        (30.0, 24.0)
    """
    return max(len(line) for line in str(text).split("<br>")) * CHAR_WIDTH * float(size)


def wrap(text: str, width: float, size: float = TITLE_SIZE) -> str:
    """``text`` broken with ``<br>`` at spaces so that every line fits ``width`` pixels at font
    ``size`` (a single word longer than that stays whole).

    Example:
        >>> wrap("Cosine between the vectors at layer 1", 200)
        'Cosine between the<br>vectors at layer 1'
    """
    per_line = max(1, int(width // (CHAR_WIDTH * float(size))))
    lines: list[str] = []
    for word in str(text).split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= per_line:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def fit_title(fig: Figure, title: str, width: float, *, widest: float = 900) -> int:
    """Give ``fig`` a title that is whole within its width; returns the figure's width (pixels).

    The figure widens up to ``widest`` to hold the title on one line; a longer title wraps
    (``wrap``), its top margin grows by a line per extra line, and it is placed by its first
    line (plotly anchors a several-line title by its last line, so the first would be cut).

    Example:
        >>> import plotly.graph_objects as go                         # doctest: +SKIP
        >>> fit_title(go.Figure(), "A long title" * 20, 420)          # doctest: +SKIP
        900
    """
    room = 0.97  # the title starts at 1% of the width (the template's title x) and keeps 2% clear at the right
    need = (text_width(title, TITLE_SIZE) + 12) / room + 1
    width = int(max(width, min(need, widest)))
    shown = wrap(title, room * width - 12)
    extra = shown.count("<br>")
    top = int((fig.layout.margin.t if fig.layout.margin.t is not None else 70) + TITLE_LINE * extra)
    fig.update_layout(width=width, margin=dict(t=top), title=dict(text=shown))
    if extra:
        height = float(fig.layout.height or 450)
        fig.update_layout(title=dict(y=0.98 - TITLE_LINE * extra / height, yanchor="top"))
    return width


def legend_swatch(go: Any, name: str, color: str, *, line: str | None = None) -> Any:
    """A legend-only entry (a square of ``color``) naming what a heatmap's grey or faded cells
    mean; it draws nothing on the axes."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True, hoverinfo="skip",
                      marker=dict(symbol="square", size=14, color=color,
                                  line=dict(color=line or "#999999", width=1)))


def band(go: Any, x: Any, low: Any, high: Any, color: str, name: str,
         *, legendgroup: str | None = None, opacity: float = 0.18) -> list[Any]:
    """Two scatter traces filling between ``low`` and ``high`` (the lower one carries ``name``)."""
    fill = to_rgba(color, opacity)
    group = legendgroup or name
    upper = go.Scatter(x=list(x), y=list(high), mode="lines", line=dict(width=0), hoverinfo="skip",
                       showlegend=False, legendgroup=group, name=f"{name} (upper)")
    lower = go.Scatter(x=list(x), y=list(low), mode="lines", line=dict(width=0), fill="tonexty",
                       fillcolor=fill, hoverinfo="skip", showlegend=False, legendgroup=group, name=name)
    return [upper, lower]


def faded_cells(go: Any, mask: Sequence[Sequence[bool]], x: Sequence[Any], y: Sequence[Any], name: str) -> Any | None:
    """A half-transparent white ``Heatmap`` named ``name`` over the cells where ``mask`` is True
    (drawn over the values: those cells look washed out), or None when no cell is masked."""
    cover = [[1.0 if m else None for m in row] for row in mask]
    if all(v is None for row in cover for v in row):
        return None
    return go.Heatmap(z=cover, x=list(x), y=list(y), colorscale=[[0, FADE_COLOR], [1, FADE_COLOR]],
                      showscale=False, hoverinfo="skip", name=name, xgap=2, ygap=2)


def missing_cells(go: Any, z: Sequence[Sequence[float | None]], x: Sequence[Any], y: Sequence[Any]) -> Any | None:
    """A grey ``Heatmap`` named ``"not evaluated"`` over the cells of ``z`` that hold no value
    (None or NaN), or None when every cell has one."""
    holes = [[1.0 if v is None or not finite(v) else None for v in row] for row in z]
    if all(v is None for row in holes for v in row):
        return None
    return go.Heatmap(z=holes, x=list(x), y=list(y), colorscale=[[0, MISSING_COLOR], [1, MISSING_COLOR]],
                      showscale=False, hoverinfo="skip", name="not evaluated", xgap=2, ygap=2)


def to_rgba(color: str, alpha: float) -> str:
    """``"#RRGGBB"`` or ``"rgb(r, g, b)"`` as ``"rgba(r, g, b, alpha)"``."""
    if color.startswith("#") and len(color) == 7:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    else:
        nums = re.findall(r"[\d.]+", color)
        r, g, b = (int(float(v)) for v in nums[:3])
    return f"rgba({r}, {g}, {b}, {alpha})"


def finish(fig: Figure, *, title: str | None, width: int, height: int, subtitle: str | None = None,
           **layout: Any) -> Figure:
    """Apply the template, title (and a smaller subtitle line under it) and size (layout pixels)
    to ``fig`` and return it."""
    fig.update_layout(template=TEMPLATE, width=int(width), height=int(height), **layout)
    if title:
        fig.update_layout(title=dict(text=title))
    if subtitle:
        fig.update_layout(title=dict(subtitle=dict(text=subtitle, font=dict(size=12, color="#555555"))))
    return fig


# -- saving ----------------------------------------------------------------------------------------
def _format_of(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext == "htm":
        ext = "html"
    if ext not in FORMATS:
        raise ValueError(f"cannot save a figure as {path.name!r}: the extension must be one of {['.' + f for f in FORMATS]}")
    return ext


def save(fig: Figure, path: str | Path, *, scale: float = 2.0, include_plotlyjs: str | bool = "directory") -> Path:
    """Write ``fig`` to ``path``: interactive HTML, or PNG/PDF/SVG through kaleido by extension.

    Args:
        fig: a ``plotly.graph_objects.Figure``.
        path: ``*.html``, ``*.png``, ``*.pdf`` or ``*.svg``; parent folders are created.
        scale: pixel density of PNG (2 = twice the layout's pixels).
        include_plotlyjs: for HTML, plotly's option: ``"directory"`` (default) writes
            ``plotly.min.js`` once beside the file, so pages work offline and stay small.

    Raises:
        ValueError: an unknown extension.
        RuntimeError: static export failed (no Chromium or kaleido), saying what to install.

    Example:
        >>> save(gains_grid(res.table), "figures/gains.pdf")   # doctest: +SKIP
    """
    return save_all([fig], [path], scale=scale, include_plotlyjs=include_plotlyjs)[0]


def save_all(
    figs: Sequence[Figure], paths: Sequence[str | Path], *, scale: float = 2.0,
    include_plotlyjs: str | bool = "directory",
) -> list[Path]:
    """``save`` for several figures; static ones share one browser session (one start-up).

    Example:
        >>> save_all([fig_a, fig_b], ["a.png", "b.svg"])   # doctest: +SKIP
    """
    if len(figs) != len(paths):
        raise ValueError(f"got {len(figs)} figures and {len(paths)} paths: give one path per figure")
    out = [Path(p) for p in paths]
    formats = [_format_of(p) for p in out]
    static_figs, static_paths = [], []
    for fig, path, fmt in zip(figs, out, formats):
        if not hasattr(fig, "write_html"):
            raise ValueError(f"expected a plotly Figure to save to {path.name}, got {type(fig).__name__}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "html":
            fig.write_html(str(path), include_plotlyjs=include_plotlyjs, full_html=True)
        else:
            static_figs.append(fig)
            static_paths.append(path)
    if static_figs:
        _export_static(static_figs, static_paths, scale)
    return out


def _export_static(figs: list[Any], paths: list[Path], scale: float) -> None:
    try:
        import kaleido  # noqa: F401
        import plotly.io as pio
    except ImportError as err:
        raise RuntimeError(f"cannot write {paths[0].name}: kaleido is not installed; {CHROMIUM_HINT}") from err
    # write_images does not read the layout's size (plotly 6-7), so pass it on.
    widths = [fig.layout.width or None for fig in figs]
    heights = [fig.layout.height or None for fig in figs]
    try:
        pio.write_images(figs, [str(p) for p in paths], scale=scale, width=widths, height=heights)
    except Exception as err:
        raise RuntimeError(f"static export of {paths[0].name} failed ({type(err).__name__}: {err}); {CHROMIUM_HINT}") from err
    empty = [p.name for p in paths if not p.exists() or p.stat().st_size == 0]
    if empty:
        raise RuntimeError(f"static export wrote nothing to {empty}; {CHROMIUM_HINT}")


def slug(name: str) -> str:
    """A file-name-safe version of ``name`` (``"meanshift/counting"`` -> ``"meanshift_counting"``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("_") or "figure"
