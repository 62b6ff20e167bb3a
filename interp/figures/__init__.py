"""Paper figures from interp's own result tables (plotly); no model is ever run here.

Every factory takes a table that ``interp.evaluation.sweep`` or ``interp.analysis`` returned,
checks the columns it needs (a ValueError names the missing ones), and returns a
``plotly.graph_objects.Figure`` in one paper style (the ``"interp"`` template: fonts, sizes, and
the same colours for unsteered / prompting / steered / random in every figure). ``save`` writes
HTML, or PNG/PDF/SVG through kaleido (which needs Chromium); ``report_figures`` writes the
standard set for a sweep. plotly is imported when the first figure is built, not by
``import interp.figures``.

Results (arXiv 2505.14071's figures, with the CIs and baselines interp adds):
``gains_grid``, ``method_table``, ``accuracy_curves``, ``ood_bars``; the ceiling of one vector at
each chosen cell (textual vs native vs learned): ``ceiling_bars``.
Looking inside: ``alignment_curves``, ``variance_share_curves``, ``modality_gap_curves``,
``isomorphic_curves``, ``patch_map``, ``projection_map``, ``logit_lens_map``,
``patching_heatmap``, ``attribution_heatmap``, ``cosine_matrix``, ``lora_cosine_matrix``.

Example:
    >>> from interp import figures                                          # doctest: +SKIP
    >>> fig = figures.gains_grid(res.table)                                 # doctest: +SKIP
    >>> figures.save(fig, "gains.pdf")                                      # doctest: +SKIP
    >>> figures.report_figures(res, "outputs/figures")                      # doctest: +SKIP
"""

from interp.figures.accuracy import OOD_COLUMNS, accuracy_curves, ood_bars
from interp.figures.ceiling import ceiling_bars
from interp.figures.heatmaps import (
    attribution_heatmap,
    cosine_matrix,
    lora_cosine_matrix,
    patching_heatmap,
)
from interp.figures.inside import (
    alignment_curves,
    isomorphic_curves,
    logit_lens_map,
    modality_gap_curves,
    patch_map,
    projection_map,
    variance_share_curves,
)
from interp.figures.latent_lens import latent_lens_layers, latent_lens_map
from interp.figures.report import report_figures, sweep_figures
from interp.figures.results import GRID_COLUMNS, TABLE_COLUMNS, best_cells, gains_grid, method_table
from interp.figures.style import (
    CONDITION_COLORS,
    METHOD_COLORS,
    SELECTOR_COLORS,
    TEMPLATE,
    register_template,
    save,
    save_all,
)

__all__ = [
    "CONDITION_COLORS",
    "GRID_COLUMNS",
    "METHOD_COLORS",
    "OOD_COLUMNS",
    "SELECTOR_COLORS",
    "TABLE_COLUMNS",
    "TEMPLATE",
    "accuracy_curves",
    "alignment_curves",
    "attribution_heatmap",
    "best_cells",
    "ceiling_bars",
    "cosine_matrix",
    "gains_grid",
    "isomorphic_curves",
    "latent_lens_layers",
    "latent_lens_map",
    "logit_lens_map",
    "lora_cosine_matrix",
    "method_table",
    "modality_gap_curves",
    "ood_bars",
    "patch_map",
    "patching_heatmap",
    "projection_map",
    "register_template",
    "report_figures",
    "save",
    "save_all",
    "sweep_figures",
    "variance_share_curves",
]
