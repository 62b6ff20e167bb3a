"""The paper's whole pipeline in one command, on the model organisms by default.

1. Load the MLLM and its text-only backbone.
2. Build textual steering vectors (arXiv 2505.14071) by every method (meanshift, probe, sae,
   diffmean) for each concept, from sentences alone, on the backbone.
3. Sweep layer x strength x selector on the train split, choose each vector's cell per task with
   the paper's rule, and report it on held-out test items beside the unsteered model, a
   prompting baseline and random directions of the same norm, with bootstrap CIs, exact McNemar
   p-values and Holm's correction.
4. Look inside: how much of the image tokens' variance lies along each textual vector (against
   random directions), the modality gap per layer, and the same scenes given as text
   (isomorphic inputs, on a benchmark whose world renders its scenes as text).
5. Write a report folder: vectors, the results store, tables (CSV), figures (HTML and PNG) and
   ``summary.md``.

A second run with the same arguments reuses the saved vectors and every finished result row.
The package: ``config`` (the options), ``run`` (the orchestration), ``estimate`` (the run-length
estimate), ``verdict`` (the verdict line), ``inside`` (the analyses and the native comparator) and
``report`` (the Markdown summaries).

Run ``interp demo``; ``--help`` for options. With weights and a GPU:
``interp demo --model google/paligemma2-3b-mix-448 --benchmark cvbench``.
"""

from __future__ import annotations

from interp.demo.config import DEFAULT_REPLICATE, METHODS, DemoConfig, DemoReport
from interp.demo.run import run_demo

__all__ = ["DEFAULT_REPLICATE", "METHODS", "DemoConfig", "DemoReport", "run_demo"]
