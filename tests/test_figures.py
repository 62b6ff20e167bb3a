"""interp.figures: every factory on small tables (hand-built, or real ones from a tiny organism
sweep and analyses), bad tables refused, saving to HTML and (where Chromium is installed) PNG/SVG,
and the report set."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from interp import figures
from interp.formatting import point_label
from interp.stats import wilson

HAS_CHROMIUM = shutil.which("chromium") is not None or shutil.which("chromium-browser") is not None
needs_chromium = pytest.mark.skipif(not HAS_CHROMIUM, reason="static export needs Chromium (apt-get install chromium)")


# -- hand-built tables -----------------------------------------------------------------------------
def result_table() -> pd.DataFrame:
    """A SweepResult.table: two methods x counting (Count) and spatial (Relation), two selectors."""
    rows = []
    spec = [
        # method, concept, task, selector, layer, strength, acc, base, p_holm, prompt, train gain
        ("meanshift", "counting", "Count", "image", 2, 1.0, 0.60, 0.50, 0.01, 0.55, 0.02),
        ("meanshift", "counting", "Count", "text", 1, -0.5, 0.48, 0.50, 0.90, 0.55, 0.01),
        ("probe", "counting", "Count", "image", 3, 2.0, 0.70, 0.50, 0.20, 0.55, 0.08),
        ("probe", "counting", "Count", "text", 0, 1.0, 0.50, 0.50, 1.00, 0.55, 0.04),
        ("meanshift", "spatial", "Relation", "image", 1, 0.5, 0.82, 0.80, 0.60, 0.70, 0.05),
        ("meanshift", "spatial", "Relation", "text", 2, -1.0, 0.74, 0.80, 0.30, 0.70, 0.05),
    ]
    for m, c, t, s, layer, st, acc, base, p, prompt, train_gain in spec:
        rows.append({
            "vector": f"{m}/{c}", "method": m, "concept": c, "task": t, "selector": s, "layer": layer,
            "strength": st, "alpha": 2 * st, "n_cells": 8, "train_gain": train_gain, "n_test": 100,
            "unsteered_accuracy": base, "accuracy": acc, "accuracy_low": acc - 0.1, "accuracy_high": acc + 0.08,
            "gain": acc - base, "gain_low": acc - base - 0.05, "gain_high": acc - base + 0.05, "p_value": p / 2,
            "prompt_accuracy": prompt, "gain_vs_prompt": acc - prompt, "p_vs_prompt": 0.5, "n_random": 5,
            "random_mean_gain": 0.01, "random_q95_gain": 0.04, "random_p": 0.1, "beats_random": True, "p_holm": p,
        })
    return pd.DataFrame(rows)


def result_grid() -> pd.DataFrame:
    """A SweepResult.grid: one vector on Count, layers 0-1, strengths -1/+1, image/text, plus unsteered."""
    correct = {(0, -1.0, "image"): 6, (0, 1.0, "image"): 9, (1, -1.0, "image"): 7, (1, 1.0, "image"): 9,
               (0, -1.0, "text"): 5, (0, 1.0, "text"): 8, (1, -1.0, "text"): 8, (1, 1.0, "text"): 4}
    rows = [{
        "vector": "meanshift/counting", "method": "meanshift", "concept": "counting", "condition": "steered",
        "task": "Count", "layer": layer, "selector": sel, "strength": st, "alpha": st, "n": 10, "n_correct": k,
        "accuracy": k / 10, "unsteered_accuracy": 0.7, "gain": k / 10 - 0.7, "cell": f"c{i}",
    } for i, ((layer, st, sel), k) in enumerate(correct.items())]
    rows.append({"vector": "", "method": "", "concept": "", "condition": "unsteered", "task": "Count",
                 "layer": -1, "selector": "", "strength": 0.0, "alpha": 0.0, "n": 10, "n_correct": 7,
                 "accuracy": 0.7, "unsteered_accuracy": 0.7, "gain": 0.0, "cell": "u"})
    return pd.DataFrame(rows)


def names(fig) -> list[str]:
    return [t.name for t in fig.data]


def shown(fig) -> list[str]:
    """Legend entries: traces shown in the legend."""
    return [t.name for t in fig.data if t.showlegend is not False]


# -- real tables: a tiny organism sweep and analyses -----------------------------------------------
@pytest.fixture(scope="module")
def organism():
    from interp.models import load_mllm

    return load_mllm("organism")


@pytest.fixture(scope="module")
def sweep_result(organism):
    from interp.evaluation.sweep import sweep
    from interp.items import from_record
    from interp.organism.scenes import make_split
    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(0)
    vectors = {
        f"{m}/counting": SteeringVector.from_tensors(
            {layer: torch.randn(organism.d_model, generator=g) for layer in (0, 1)},
            method=m, concept="counting", n_layers=organism.n_layers,
        )
        for m in ("meanshift", "probe")
    }
    train = [from_record(d) for d in make_split("val", 4, tasks=["Count"])]
    test = [from_record(d) for d in make_split("test", 4, tasks=["Count"])]
    return sweep(organism, vectors, layers=[0, 1], strengths=[-1.0, 1.0], selectors=["image", "text"],
                 train=train, test=test, n_random=2, batch_size=8, progress=False)


@pytest.fixture(scope="module")
def items():
    from interp.analysis.common import as_items
    from interp.organism.scenes import make_split

    return as_items(make_split("test", 1, tasks=["Count", "Attribute"]))


# -- import and dependencies -----------------------------------------------------------------------
def test_import_loads_neither_plotly_nor_analysis_code():
    code = (
        "import sys, interp.figures\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('plotly', 'kaleido') "
        "or m.startswith(('interp.analysis', 'interp.evaluation'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_plotly_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(ImportError, match=r"interp.figures needs plotly: pip install plotly kaleido"):
        figures.gains_grid(result_table())


def test_style_is_one_registered_template_with_fixed_condition_colours():
    import plotly.io as pio

    fig = figures.ood_bars(result_table().assign(benchmark="B")[lambda t: t.vector == "meanshift/counting"],
                           selector="image")
    assert figures.TEMPLATE in pio.templates
    assert fig.layout.template.layout.font.family.startswith("Helvetica")
    colors = {t.name: t.marker.color for t in fig.data}
    assert colors == {"unsteered": figures.CONDITION_COLORS["unsteered"], "prompting": figures.CONDITION_COLORS["prompt"],
                      "steered": figures.CONDITION_COLORS["steered"], "random": figures.CONDITION_COLORS["random"]}
    assert pio.templates.default != figures.TEMPLATE  # the user's default is left alone
    # no other line or bar takes the unsteered, prompting or random colour
    baselines = {figures.CONDITION_COLORS[c] for c in ("unsteered", "prompt", "random")}
    assert not set(fig.layout.template.layout.colorway) & baselines


# -- table checks ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("factory", "table", "match"),
    [
        (figures.gains_grid, pd.DataFrame({"task": ["Count"], "gain": [0.1]}), r"lacks columns \['layer', 'strength', 'concept', 'selector'\]"),
        (figures.method_table, pd.DataFrame(), "the table is empty"),
        (figures.accuracy_curves, result_table(), r"lacks columns \['n', 'n_correct'\]"),
        (figures.ood_bars, result_table(), r"lacks columns \['benchmark'\].*'benchmark' column"),
        (figures.alignment_curves, [1, 2], "pandas DataFrame, got list"),
        (figures.modality_gap_curves, pd.DataFrame({"layer": [0], "cosine": [1.0]}), r"\['cka', 'distance', 'norm_image', 'norm_text'\]"),
        (figures.projection_map, pd.DataFrame({"layer": [0], "kind": ["image"], "projection": [1.0]}), r"\['patch_row', 'patch_col'\]"),
        (figures.attribution_heatmap, pd.DataFrame({"layer": [0], "kind": ["image"]}), r"\['item', 'attribution'\]"),
    ],
)
def test_bad_tables_are_refused_naming_missing_columns(factory, table, match):
    with pytest.raises(ValueError, match=match):
        factory(table)


def test_filters_name_the_values_a_table_has():
    with pytest.raises(ValueError, match=r"no rows with method='sae': the table has method \['meanshift', 'probe'\]"):
        figures.gains_grid(result_table(), method="sae")


# -- results ---------------------------------------------------------------------------------------
def panels(fig) -> list:
    """The value heatmaps of a gains grid or method table (not the grey, faded or legend traces)."""
    return [t for t in fig.data if t.type == "heatmap" and t.name not in ("not evaluated", "CI includes 0")]


def test_gains_grid_labels_each_cell_with_its_gain_and_layer_at_strength():
    fig = figures.gains_grid(result_table())
    assert isinstance(fig, go.Figure)
    heat = panels(fig)
    assert [t.name for t in heat] == ["image", "text"]
    image = heat[0]
    assert list(image.y) == ["Count", "Relation"] and list(image.x) == ["counting", "spatial"]
    # Count x counting on image: probe (+20 test, +8 train, L3 @ +2) beats meanshift (+10, +2 train);
    # p_holm 0.2 earns no star
    assert image.text[0][0] == "+20.0<br>L3 @ +2<br>probe"
    assert image.z[0][0] == pytest.approx(20.0)
    assert image.text[1][1] == "+2.0<br>L1 @ +0.5<br>meanshift"
    # text panel: Count x counting, meanshift -2 (train +1) vs probe 0 (train +4): probe's wins
    assert heat[1].text[0][0] == "+0.0<br>L0 @ +1<br>probe"
    # the pairs never evaluated (Count x spatial, Relation x counting) are the grey cells
    holes = [t for t in fig.data if t.name == "not evaluated"]
    assert len(holes) == 2 and holes[0].z[0][1] == 1.0 and holes[0].z[0][0] is None
    assert image.text[0][1] == ""
    assert fig.layout.xaxis.title.text == "concept" and fig.layout.yaxis.title.text == "task"
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax == pytest.approx(-20.0)


def test_gains_grid_picks_the_method_on_train_not_on_test():
    table = result_table()
    table.loc[table.method == "probe", "train_gain"] = 0.0  # probe still best on test (+20), worst on train
    fig = figures.gains_grid(table)
    image = panels(fig)[0]
    assert image.text[0][0] == "+10.0*<br>L2 @ +1<br>meanshift"
    assert "picked on train" in fig.layout.title.subtitle.text
    # a table without train gains can only pick on test: the title says so
    fig = figures.gains_grid(table.drop(columns="train_gain"))
    assert panels(fig)[0].text[0][0] == "+20.0<br>L3 @ +2<br>probe"
    assert "picked on test" in fig.layout.title.subtitle.text
    with pytest.raises(ValueError, match="pick must be 'train'"):
        figures.gains_grid(table.drop(columns="train_gain"), pick="train")


def test_gains_grid_titles_say_the_split_and_n_of_their_data(sweep_result):
    test_fig = figures.gains_grid(result_table())
    assert test_fig.layout.title.text.startswith("Test gain over unsteered")
    assert "n = 100 test items per cell" in test_fig.layout.title.subtitle.text
    assert "n = 100 test items" in panels(test_fig)[0].customdata[0][0]
    train_fig = figures.gains_grid(sweep_result.grid, method="meanshift")
    assert train_fig.layout.title.text.startswith("Train gain over unsteered")
    assert "n = 4 train items per cell" in train_fig.layout.title.subtitle.text
    # a split column or argument wins over the guess from the table's kind
    assert figures.gains_grid(result_table(), split="replication").layout.title.text.startswith("Replication gain")
    assert figures.gains_grid(result_table().assign(split="val")).layout.coloraxis.colorbar.title.text.startswith("val")


def test_gains_grid_colour_scale_does_not_stretch_one_item_to_full_scale():
    one = result_table()[lambda t: t.method == "meanshift"].copy()
    one["gain"] = [-1 / 24, 0.0, 0.0, 0.0]  # one wrong item out of 24: -4.2 points
    fig = figures.gains_grid(one)
    cmax = fig.layout.coloraxis.cmax
    assert fig.layout.coloraxis.cmin == -cmax and cmax >= figures.style.MIN_GAIN_SPAN == 10.0
    assert abs(panels(fig)[0].z[0][0]) / cmax < 0.5
    big = result_table().assign(gain=lambda t: t.gain * 3)  # +60 points: the scale grows with the data
    assert figures.gains_grid(big).layout.coloraxis.cmax == pytest.approx(60.0)


def test_gains_grid_fades_cells_whose_ci_includes_zero_and_names_grey_and_faded_cells():
    table = result_table()
    fig = figures.gains_grid(table, method="meanshift")
    fade = [t for t in fig.data if t.name == "CI includes 0"]
    # image panel: Count +10 [+5, +15] is clear of 0; Relation +2 [-3, +7] includes it
    assert fade[0].z[0][0] is None and fade[1 - 1].z[1][1] == 1.0
    assert "includes 0" in panels(fig)[0].customdata[1][1]
    legend = [t.name for t in fig.data if t.type == "scatter" and t.showlegend]
    assert legend == ["faded: 95% CI of the gain includes 0", "grey: not evaluated (no vector for this pair)"]
    assert fig.layout.showlegend is True
    clear = table.assign(gain_low=0.01, gain_high=0.3, gain=0.1)[lambda t: t.concept == "counting"]
    fig = figures.gains_grid(clear)
    assert not [t for t in fig.data if t.name in ("CI includes 0", "not evaluated")]
    assert not [t for t in fig.data if t.type == "scatter"]


def test_gains_grid_stars_holm_significant_gains_for_one_method():
    fig = figures.gains_grid(result_table(), method="meanshift")
    assert fig.data[0].text[0][0] == "+10.0*<br>L2 @ +1"  # p_holm 0.01, one method: no method line
    assert fig.data[0].text[1][1] == "+2.0<br>L1 @ +0.5"


def test_gains_grid_from_a_grid_chooses_the_cells_the_sweep_chose(sweep_result):
    res = sweep_result
    fig = figures.gains_grid(res.grid, method="meanshift")
    chosen = res.table[res.table.method == "meanshift"].set_index("selector")
    for trace in fig.data:
        row = chosen.loc[trace.name]
        g = res.grid
        gain = 100 * g[(g.vector == "meanshift/counting") & (g.selector == trace.name)
                       & (g.layer == row.layer) & (g.strength == row.strength)].gain.iloc[0]
        assert trace.text[0][0] == f"{gain:+.1f}<br>{point_label(row.layer, row.strength)}"


def test_method_table_has_unsteered_and_prompting_rows_above_the_methods():
    fig = figures.method_table(result_table())
    heat = panels(fig)
    assert [t.name for t in heat] == ["Count", "Relation"]
    assert fig.layout.title.text == "Test accuracy (%) by method and selector · n = 100 test items per task"
    assert [a.text for a in fig.layout.annotations][:2] == ["Count (n = 100)", "Relation (n = 100)"]
    assert "grey: not evaluated" in [t.name for t in fig.data if t.type == "scatter"]
    assert fig.layout.coloraxis.cmax == pytest.approx(20.0)  # probe +20
    assert figures.method_table(result_table().assign(gain=0.04)).layout.coloraxis.cmax == pytest.approx(10.0)
    count = heat[0]
    assert list(count.y) == ["unsteered", "prompting", "meanshift", "probe"]
    assert list(count.x) == ["image", "text"]
    assert list(count.text[0]) == ["50.0", "50.0"]
    assert count.z[1][0] == pytest.approx(5.0) and count.text[1][0] == "55.0<br>+5.0"
    assert count.text[2][0] == "60.0<br>+10.0*<br>L2 @ +1"
    assert count.z[3][0] == pytest.approx(20.0)
    # Relation has no probe vector: its probe row is grey
    relation_holes = [t for t in fig.data if t.type == "heatmap" and t.name == "not evaluated"]
    assert len(relation_holes) == 1 and list(relation_holes[0].z[3]) == [1.0, 1.0]


def test_accuracy_curves_draw_wilson_bands_and_the_unsteered_line():
    grid = result_grid()
    fig = figures.accuracy_curves(grid)
    assert isinstance(fig, go.Figure)
    # per layer panel: a band (2 traces) and a line per selector, then the unsteered band and line
    assert len(fig.data) == 2 * (3 + 3 + 3)
    assert shown(fig) == ["image", "text", "unsteered"]
    assert [a.text for a in fig.layout.annotations] == ["L0", "L1"]
    assert fig.layout.xaxis.title.text == "strength" and fig.layout.yaxis.title.text == "train accuracy (%)"
    assert fig.layout.title.text == "Train accuracy by strength · n = 10 train items per point"
    line = next(t for t in fig.data if t.name == "image" and t.mode == "lines+markers")
    assert list(line.x) == [-1.0, 1.0] and list(line.y) == pytest.approx([60.0, 90.0])
    upper, lower = fig.data[0], fig.data[1]
    low, high = wilson([6, 9], [10, 10])
    assert list(lower.y) == pytest.approx(list(100 * low)) and list(upper.y) == pytest.approx(list(100 * high))
    assert lower.fill == "tonexty"
    base = next(t for t in fig.data if t.name == "unsteered")
    assert list(base.y) == pytest.approx([70.0, 70.0]) and base.line.dash == "dash"


def test_accuracy_curves_say_the_split_they_are_drawn_from():
    fig = figures.accuracy_curves(result_grid(), split="test")
    assert fig.layout.title.text.startswith("Test accuracy") and fig.layout.yaxis.title.text == "test accuracy (%)"
    fig = figures.accuracy_curves(result_grid().assign(split="val"))
    assert fig.layout.title.text.startswith("Val accuracy by strength · n = 10 val items per point")
    with pytest.raises(ValueError, match=r"mixes splits \['test', 'train'\]"):
        figures.accuracy_curves(result_grid().assign(split=["train", "test"] * 4 + ["train"]))


def test_accuracy_curves_by_layer_colour_strengths():
    fig = figures.accuracy_curves(result_grid(), x="layer", color="strength", facet_col="selector")
    assert shown(fig) == ["-1", "+1", "unsteered"]
    assert [a.text for a in fig.layout.annotations] == ["image", "text"]
    assert fig.layout.xaxis.title.text == "layer"


def test_accuracy_curves_refuse_points_with_several_rows():
    grid = pd.concat([result_grid(), result_grid().assign(vector="probe/counting", method="probe")])
    with pytest.raises(ValueError, match=r"several grid rows per point .*\['vector', 'method'\]"):
        figures.accuracy_curves(grid)
    assert shown(figures.accuracy_curves(grid, facet_row="method")) == ["image", "text", "unsteered"]
    with pytest.raises(ValueError, match="x must be 'strength' or 'layer'"):
        figures.accuracy_curves(grid, x="alpha", method="probe")


def test_wilson_interval_matches_the_formula():
    low, high = wilson([0, 8, 10], [10, 10, 10])
    z = 1.959963984540054
    p, n = 0.8, 10
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert low[1] == pytest.approx(centre - half) and high[1] == pytest.approx(centre + half)
    assert low[0] == 0.0 and high[2] == 1.0 and high[0] > 0.0 and low[2] < 1.0
    with pytest.raises(ValueError, match="0 <= n_correct <= n"):
        wilson([11], [10])


def test_ood_bars_group_benchmarks_with_conditions():
    table = result_table()
    ood = pd.concat([table.assign(benchmark="What'sUp"), table.assign(benchmark="CLEVR")])
    ood = ood[ood.vector == "meanshift/counting"]
    fig = figures.ood_bars(ood, selector="image")
    assert names(fig) == ["unsteered", "prompting", "steered", "random"]
    steered = fig.data[2]
    assert list(steered.x) == ["What'sUp", "CLEVR"] and list(steered.y) == pytest.approx([60.0, 60.0])
    assert list(steered.error_y.array) == pytest.approx([8.0, 8.0]) and list(steered.error_y.arrayminus) == pytest.approx([10.0, 10.0])
    assert list(fig.data[3].y) == pytest.approx([51.0, 51.0]) and list(fig.data[3].error_y.array) == pytest.approx([3.0, 3.0])
    gains = figures.ood_bars(ood, selector="image", value="gain")
    assert names(gains) == ["prompting", "steered", "random"]
    assert list(gains.data[1].y) == pytest.approx([10.0, 10.0])
    assert gains.layout.yaxis.title.text == "gain over unsteered (points)"
    with pytest.raises(ValueError, match="several rows per benchmark and vector: filter with selector="):
        figures.ood_bars(ood)


def test_ood_bars_name_several_vectors():
    ood = result_table()[lambda t: (t.task == "Count") & (t.selector == "image")].assign(benchmark="CLEVR")
    fig = figures.ood_bars(ood)
    assert names(fig) == ["unsteered", "prompting", "meanshift/counting", "probe/counting",
                          "random: meanshift/counting", "random: probe/counting"]
    assert fig.data[2].marker.color != fig.data[3].marker.color


# -- inside: curves per layer ----------------------------------------------------------------------
def test_alignment_curves_per_kind_with_sd_band():
    table = pd.DataFrame({
        "layer": [0, 0, 1, 1], "kind": ["image", "text"] * 2, "mean_cos": [0.1, 0.3, 0.2, 0.4],
        "std_cos": [0.05] * 4, "cos_of_mean": [0.5, 0.6, 0.7, 0.8],
    })
    fig = figures.alignment_curves(table)
    assert shown(fig) == ["image", "text"]
    line = next(t for t in fig.data if t.name == "text" and t.mode == "lines+markers")
    assert list(line.y) == pytest.approx([0.3, 0.4])
    band = next(t for t in fig.data if t.name == "text ± 1 sd")
    assert list(band.y) == pytest.approx([0.25, 0.35])
    fig2 = figures.alignment_curves(table, value="cos_of_mean")
    assert len(fig2.data) == 2 and list(fig2.data[0].y) == pytest.approx([0.5, 0.7])
    with pytest.raises(ValueError, match="value must be 'mean_cos' or 'cos_of_mean'"):
        figures.alignment_curves(table, value="max_cos")


def test_variance_share_curves_relative_to_a_random_direction():
    d = 128
    table = pd.DataFrame({
        "layer": [0, 1, 0, 1], "kind": ["image", "image", "text", "text"], "share": [2 / d, 3 / d, 1 / d, 1 / d],
        "random_mean": [1 / d] * 4, "random_std": [0.1 / d] * 4, "uniform": [1 / d] * 4, "vector": ["ms/counting"] * 4,
    })
    fig = figures.variance_share_curves(table)
    assert [a.text for a in fig.layout.annotations] == ["image tokens", "text tokens"]
    assert shown(fig) == ["random (expected)", "ms/counting"]
    line = next(t for t in fig.data if t.name == "ms/counting")
    assert list(line.y) == pytest.approx([2.0, 3.0])
    band = next(t for t in fig.data if t.name == "random directions")
    assert list(band.y) == pytest.approx([0.8, 0.8])


def test_variance_share_band_stops_at_zero():
    d = 64  # random directions spread 0.7 x uniform: mean - 2 sd would be -0.4
    table = pd.DataFrame({"layer": [0, 1], "kind": ["image"] * 2, "share": [0.5 / d, 2 / d],
                          "random_mean": [1 / d] * 2, "random_std": [0.7 / d] * 2, "uniform": [1 / d] * 2})
    fig = figures.variance_share_curves(table)
    lower = next(t for t in fig.data if t.name == "random directions")
    upper = next(t for t in fig.data if t.name == "random directions (upper)")
    assert min(lower.y) == 0.0 and list(upper.y) == pytest.approx([2.4, 2.4])
    assert fig.layout.yaxis.rangemode == "nonnegative"


def test_modality_gap_and_isomorphic_curves():
    gap = pd.DataFrame({"layer": [0, 1], "cosine": [0.3, 0.6], "cka": [0.9, 0.95], "distance": [12.0, 9.0],
                        "norm_image": [14.0, 15.0], "norm_text": [7.0, 10.0]})
    fig = figures.modality_gap_curves(gap)
    assert names(fig) == ["cosine of means", "CKA", "distance", "|mean image|", "|mean text|"]
    assert list(fig.data[0].y) == pytest.approx([0.3, 0.6]) and fig.data[2].xaxis == "x2"
    sim = pd.DataFrame({"layer": [0, 1, 0, 1], "a": ["image"] * 4, "b": ["mllm_text"] * 2 + ["backbone_text"] * 2,
                        "cos_mean": [0.2, 0.5, 0.1, 0.3], "cos_std": [0.1] * 4, "dist_mean": [1.0] * 4, "cka": [0.4] * 4})
    iso = figures.isomorphic_curves(sim)
    assert shown(iso) == ["image vs mllm_text", "image vs backbone_text"]


def test_isomorphic_curves_give_n_and_draw_coinciding_pairs_as_one_visible_line():
    from interp.analysis import IsomorphicResult
    from interp.figures.style import text_width

    # a frozen language model: the MLLM's text run and the backbone's are the same states
    sim = pd.DataFrame({
        "layer": [0, 2] * 3, "a": ["image"] * 4 + ["mllm_text"] * 2,
        "b": ["mllm_text"] * 2 + ["backbone_text"] * 4, "n": [48] * 6,
        "cos_mean": [0.94, 0.85, 0.94, 0.85, 1.0, 1.0], "cos_std": [0.08] * 4 + [0.0] * 2,
        "dist_mean": [4.0, 12.0, 4.0, 12.0, 0.0, 0.0], "cka": [0.94, 0.86, 0.94, 0.86, 1.0, 1.0],
    })
    fig = figures.isomorphic_curves(sim)
    assert shown(fig) == ["image vs mllm_text = image vs backbone_text", "mllm_text vs backbone_text"]
    lines = [t for t in fig.data if t.showlegend is not False]
    assert len({tuple(t.y) for t in lines}) == len(lines)  # no legend entry's line lies under another's
    assert len({t.line.color for t in lines}) == len(lines)
    assert fig.layout.title.text == "Image vs text renderings of the same scene · n = 48 scenes"
    assert text_width(fig.layout.title.text, 16) <= 0.97 * fig.layout.width
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.y < 0  # under the panels, a row each
    assert figures.isomorphic_curves(sim.drop(columns="n"), n=12).layout.title.text.endswith("n = 12 scenes")
    items = pd.DataFrame({"item": ["a", "b", "c"] * 2, "run": ["image"] * 3 + ["mllm_text"] * 3})
    res = IsomorphicResult(items, pd.DataFrame(), sim.drop(columns="n"))
    assert figures.isomorphic_curves(res).layout.title.text.endswith("n = 3 scenes")


def test_cosine_matrix_title_and_labels_fit_the_figure():
    """The notebook's matrix: long labels slant with margins that hold them, the title is whole."""
    from interp.figures.style import CHAR_WIDTH, TITLE_SIZE, text_width

    labels = ["diffmean/counting", "meanshift/counting", "probe/counting", "sae/counting"]
    table = pd.DataFrame([{"a": a, "layer_a": 1, "b": b, "layer_b": 1, "cosine": 1.0 if a == b else 0.3}
                          for a in labels for b in labels])
    title = "Cosine between the methods' counting vectors at layer 1"
    fig = figures.cosine_matrix(table, title=title)
    lay = fig.layout
    assert lay.title.text == title  # whole, on one line: the figure widened to hold it
    assert text_width(title, TITLE_SIZE) <= 0.97 * lay.width - 12
    col_w = max(text_width(c, 12) for c in fig.data[0].x)
    row_w = max(text_width(r, 12) for r in fig.data[0].y)
    cell = (lay.width - lay.margin.l - lay.margin.r) / len(labels)
    assert col_w > cell and lay.xaxis.tickangle in (-45, -90)  # labels wider than a cell never lie flat
    assert lay.margin.l >= row_w and lay.margin.b >= 0.7 * col_w
    # a title longer than the widest figure wraps, each line within the width, the first line not cut
    long = figures.cosine_matrix(table, title=" ".join([title] * 3))
    lines = long.layout.title.text.split("<br>")
    assert len(lines) > 1 and long.layout.width <= 900
    assert all(len(line) * CHAR_WIDTH * TITLE_SIZE <= 0.97 * long.layout.width - 12 for line in lines)
    assert long.layout.margin.t > lay.margin.t and long.layout.title.y < 0.98


# -- inside: patch-grid maps -----------------------------------------------------------------------
def test_projection_map_equals_the_analysis_patch_grid(organism, items):
    from interp.analysis import patch_grid, projection

    v = torch.randn(organism.d_model, generator=torch.Generator().manual_seed(1))
    table = projection(organism, v, items, layers=[0, 2])
    fig = figures.projection_map(table)
    assert names(fig) == ["L0", "L2"]
    for trace, layer in zip(fig.data, (0, 2)):
        np.testing.assert_allclose(np.array(trace.z, dtype=float), patch_grid(table, layer=layer).to_numpy())
    one = figures.projection_map(table, layers=2, item=items[0].id)
    np.testing.assert_allclose(np.array(one.data[0].z, dtype=float),
                               patch_grid(table, layer=2, item=items[0].id).to_numpy())
    assert fig.layout.yaxis.autorange == "reversed"  # patch row 0 at the top, as in the image
    assert fig.layout.coloraxis.cmid == 0.0
    with pytest.raises(ValueError, match=r"layers \[3\] are not in the table"):
        figures.projection_map(table, layers=[3])


def test_logit_lens_map_writes_the_top_token_on_each_patch(organism, items):
    from interp.analysis import logit_lens, word_ranks

    item = items[:1]
    table = logit_lens(organism, item, layers=[1], kinds=["image"], top_k=2)
    fig = figures.logit_lens_map(table)
    top = table[table["rank"] == 1]
    cell = top[(top.patch_row == 1) & (top.patch_col == 2)].iloc[0]
    assert fig.data[0].text[1][2] == cell.pred_token
    assert fig.data[0].z[1][2] == pytest.approx(cell.prob)
    ranks = word_ranks(organism, item, ["red", "blue"], layers=[1])
    with pytest.raises(ValueError, match=r"several words \['blue', 'red'\]: pick one with word="):
        figures.logit_lens_map(ranks)
    red = ranks[(ranks.word == "red") & (ranks.patch_row == 0) & (ranks.patch_col == 0)].iloc[0]
    assert figures.logit_lens_map(ranks, word="red", value="rank").data[0].z[0][0] == red["rank"]


def test_patch_map_places_tables_without_patch_columns_with_grid():
    # two items, 4 image tokens each (a 2 x 2 grid) after one text token
    rows = []
    for item, offset in (("a", 0.0), ("b", 2.0)):
        rows.append({"item": item, "layer": 0, "position": 0, "kind": "text", "attribution": 99.0})
        for p in range(4):
            rows.append({"item": item, "layer": 0, "position": 1 + p, "kind": "image", "attribution": p + offset})
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter
    fig = figures.patch_map(table, value="attribution", grid=(2, 2), zmid=0.0)
    np.testing.assert_allclose(np.array(fig.data[0].z, dtype=float), [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match=r"pass grid=\(rows, cols\)"):
        figures.patch_map(table, value="attribution")


# -- inside: heatmaps and matrices -----------------------------------------------------------------
def test_patching_heatmap_from_a_patching_result():
    from interp.analysis import PatchingResult

    pairs = pd.DataFrame({"pair": [0, 1], "clean": ["c0", "c1"], "corrupt": ["x0", "x1"],
                          "metric_clean": [2.0, 4.0], "metric_corrupt": [0.0, 0.0]})
    groups = pd.DataFrame([
        {"pair": p, "layer": layer, "group": g, "n_patched": 1, "metric_patched": v, "recovered": v / (2.0 if p == 0 else 4.0)}
        for p in (0, 1) for layer in (0, 1) for g, v in (("image", 1.0 + layer), ("last", 0.0))
    ])
    positions = pd.DataFrame([
        {"pair": p, "layer": 0, "position": pos, "token": tok, "kind": kind, "patch": -1, "patch_row": -1,
         "patch_col": -1, "metric_patched": float(pos), "recovered": float(pos) / 4}
        for p in (0, 1) for pos, tok, kind in ((0, "<image>", "image"), (1, "How", "text"))
    ])
    result = PatchingResult(pairs, groups, positions)
    fig = figures.patching_heatmap(result)
    assert names(fig) == ["recovered"] and list(fig.data[0].x) == ["image", "last"]
    summary = result.summary().set_index(["layer", "group"]).recovered
    assert fig.data[0].z[1][0] == pytest.approx(summary[(1, "image")])  # (mean patched - 0) / mean clean
    assert fig.layout.xaxis.title.text == "group" and fig.layout.yaxis.title.text == "layer"
    pos = figures.patching_heatmap(positions, by="position")
    assert list(pos.layout.xaxis.ticktext) == ["0 <image>", "1 How"]
    assert pos.data[0].z[0][1] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="by must be 'group' or 'position'"):
        figures.patching_heatmap(result, by="kind")


def test_attribution_heatmap_sums_over_a_kind_then_averages_items():
    table = pd.DataFrame({
        "item": ["a"] * 3 + ["b"] * 3, "layer": [0] * 6, "position": [0, 1, 2] * 2,
        "token": ["<image>", "<image>", "How"] * 2, "kind": ["image", "image", "text"] * 2,
        "attribution": [1.0, 2.0, 5.0, 3.0, 4.0, -1.0],
    })
    fig = figures.attribution_heatmap(table)
    assert list(fig.data[0].x) == ["image", "text"]
    assert list(fig.data[0].z[0]) == pytest.approx([5.0, 2.0])  # image: (3 + 7) / 2, text: (5 - 1) / 2
    pos = figures.attribution_heatmap(table, by="position")
    assert list(pos.data[0].z[0]) == pytest.approx([2.0, 3.0, 2.0])
    assert list(pos.layout.xaxis.ticktext) == ["0 <image>", "1 <image>", "2 How"]


def test_cosine_matrix_from_vector_similarity():
    from interp.analysis import vector_similarity
    from interp.vectors import SteeringVector

    g = torch.Generator().manual_seed(0)
    vs = {n: SteeringVector.from_tensors({0: torch.randn(8, generator=g), 1: torch.randn(8, generator=g)}, method=n)
          for n in ("ms", "probe")}
    table = vector_similarity(vs)
    fig = figures.cosine_matrix(table)
    z = np.array(fig.data[0].z, dtype=float)
    assert list(fig.data[0].y) == ["ms L0", "ms L1", "probe L0", "probe L1"] == list(fig.data[0].x)
    np.testing.assert_allclose(z, z.T)
    np.testing.assert_allclose(np.diag(z), 1.0)
    expected = float(torch.nn.functional.cosine_similarity(vs["ms"].at(1), vs["probe"].at(0), dim=0))
    assert z[1, 2] == pytest.approx(expected, abs=1e-6)
    assert fig.data[0].text[1][2] == f"{expected:.2f}"
    wide = figures.cosine_matrix(pd.DataFrame([[1.0, -0.5]], index=["x"], columns=["u", "v"]))
    assert list(wide.data[0].x) == ["u", "v"] and fig.data[0].zmin == -1.0
    with pytest.raises(ValueError, match="pass rows=, columns= and value="):
        figures.cosine_matrix(pd.DataFrame({"p": ["a"], "q": ["b"]}))


def test_lora_cosine_matrix_rows_are_adapter_pairs():
    table = pd.DataFrame({
        "module": ["model.layers.1.self_attn.o_proj"] * 4, "layer": [1] * 4, "kind": ["o_proj"] * 4,
        "side": ["write"] * 4, "rank_index": [0, 1, 0, 1], "vector": ["counting"] * 2 + ["spatial"] * 2,
        "vector_layer": [1] * 4, "cosine": [0.5, -0.1, 0.0, 0.2],
    })
    fig = figures.lora_cosine_matrix(table)
    assert list(fig.data[0].y) == ["write L1 o_proj r0", "write L1 o_proj r1"]
    assert list(fig.data[0].x) == ["counting", "spatial"]
    assert np.array(fig.data[0].z, dtype=float).tolist() == [[0.5, 0.0], [-0.1, 0.2]]
    with pytest.raises(ValueError, match=r"no rows with side='read'"):
        figures.lora_cosine_matrix(table, side="read")


# -- saving ----------------------------------------------------------------------------------------
def test_save_html_and_refuse_unknown_extensions(tmp_path):
    fig = figures.gains_grid(result_table())
    path = figures.save(fig, tmp_path / "sub" / "gains.html")
    assert path.read_text().count("<html>") == 1 and (tmp_path / "sub" / "plotly.min.js").exists()
    with pytest.raises(ValueError, match=r"extension must be one of \['.html', '.png', '.pdf', '.svg'\]"):
        figures.save(fig, tmp_path / "gains.jpg")


def test_failed_static_export_says_to_install_chromium(tmp_path, monkeypatch):
    # kaleido's browser lookup honours BROWSER_PATH: point it at nothing
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chromium"))
    fig = figures.gains_grid(result_table())
    with pytest.raises(RuntimeError, match=r"install Chromium .*pip install plotly kaleido"):
        figures.save(fig, tmp_path / "gains.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        paths = figures.report_figures({"table": result_table()}, tmp_path / "r", formats=("html", "png"))
    assert [p.name for p in paths] == ["gains.html", "method_table.html"]
    assert any("wrote HTML only" in str(w.message) and "Chromium" in str(w.message) for w in caught)


@needs_chromium
def test_static_png_export_at_the_figure_size(tmp_path):
    from PIL import Image

    fig = figures.method_table(result_table())
    path = figures.save(fig, tmp_path / "table.png", scale=1)
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (fig.layout.width, fig.layout.height)


# -- the report ------------------------------------------------------------------------------------
def test_report_figures_writes_the_sweep_set(sweep_result, tmp_path):
    gap = pd.DataFrame({"layer": [0, 1], "cosine": [0.3, 0.6], "cka": [0.9, 0.95], "distance": [12.0, 9.0],
                        "norm_image": [14.0, 15.0], "norm_text": [7.0, 10.0]})
    paths = figures.report_figures(sweep_result, tmp_path, static=False, modality_gap=gap)
    assert [p.name for p in paths] == ["gains.html", "method_table.html", "accuracy_counting_Count.html",
                                       "modality_gap.html"]
    assert all(p.exists() and p.stat().st_size > 1000 for p in paths)
    figs = figures.sweep_figures(sweep_result)
    acc = figs["accuracy_counting_Count"]
    assert [a.text for a in acc.layout.annotations] == ["meanshift · L0", "meanshift · L1", "probe · L0", "probe · L1"]
    assert acc.layout.title.text == "Train accuracy: counting on Count · n = 4 train items per point"
    assert figs["gains"].layout.title.text.startswith("Test gain over unsteered (points), at the cell chosen on train")
    with pytest.raises(ValueError, match="formats must be some of"):
        figures.report_figures(sweep_result, tmp_path, formats=("gif",))
    with pytest.raises(ValueError, match="expected a SweepResult"):
        figures.report_figures(42, tmp_path)


def test_sweep_figures_give_vectors_sharing_a_method_their_own_rows():
    grid = pd.concat([result_grid(), result_grid().assign(vector="meanshift/counting-v2")[lambda g: g.condition == "steered"]])
    figs = figures.sweep_figures({"grid": grid})
    assert sorted(figs) == ["accuracy_counting_Count", "gains"]
    titles = [a.text for a in figs["accuracy_counting_Count"].layout.annotations]
    assert titles == ["meanshift/counting · L0", "meanshift/counting · L1", "meanshift/counting-v2 · L0",
                      "meanshift/counting-v2 · L1"]
    assert figs["gains"].layout.title.text == "Train gain over unsteered (points)"
    assert figs["gains"].layout.title.subtitle.text == ("best method per cell picked on train · n = 10 train items "
                                                        "per cell · colour scale at least ±10 points")
    # image: v2 has the same counts, so the sweep's tie rule keeps the first vector's cell, named
    assert figs["gains"].data[0].text[0][0] == "+20.0<br>L0 @ +1<br>meanshift/counting"


@needs_chromium
def test_report_figures_static_svg(tmp_path):
    paths = figures.report_figures({"table": result_table()}, tmp_path, formats=("svg",))
    assert [p.name for p in paths] == ["gains.svg", "method_table.svg"]
    for p in paths:
        head = p.read_text()[:200]
        assert "<svg" in head
