"""The notebooks run as shipped: 1-4 on the model organism, 5 skipping every cell that needs weights.

Each notebook is executed with nbclient in a fresh kernel (the ``notebooks`` extra), in a
temporary working directory, offline (``HF_HUB_OFFLINE=1`` reaches the kernel through the
environment). A cell that raises fails the test with its traceback; the checks after that read
what the cells printed. Each run is also compared with the notebook's page on the docs site
(``docs/notebook_pages/<name>.md``, rendered by ``scripts/docs_notebooks.py``): a page that no
longer matches a fresh run fails its notebook's test.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import docs_notebooks  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
ORGANISM_NOTEBOOKS = (
    "01_quickstart", "02_paper_on_the_organism", "03_looking_inside", "04_conditional_steering_and_lora",
)
REAL_CHECKPOINT = "05_real_checkpoint"
#: Seconds one cell may take (the longest, notebook 2's sweep, takes well under a minute).
CELL_TIMEOUT = 600


def read(name: str) -> dict:
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())


def code_cells(nb: dict) -> list[str]:
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "code"]


def execute(name: str, workdir: Path, *, before: str = "", after: str = ""):
    """Run a notebook top to bottom in ``workdir`` and check its docs page is fresh; returns the
    executed notebook. ``before``/``after``: code run in cells ahead of and after the notebook's
    own, left out of the returned notebook (``after``'s stdout goes to its ``metadata["after"]``)."""
    pytest.importorskip("nbclient", reason="the notebooks extra runs them: pip install -e '.[notebooks]'")
    pytest.importorskip("ipykernel", reason="the notebooks extra runs them: pip install -e '.[notebooks]'")
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if before:
        nb.cells.insert(0, nbformat.v4.new_code_cell(before))
    if after:
        nb.cells.append(nbformat.v4.new_code_cell(after))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()
    if after:
        nb.metadata["after"] = "".join(o.get("text", "") for o in nb.cells.pop().outputs
                                       if o.get("output_type") == "stream" and o.get("name") == "stdout")
    if before:
        nb.cells.pop(0)
    problems = docs_notebooks.compare(name, nb)
    assert not problems, "the notebook's docs page is stale: " + "; ".join(problems)
    return nb


def printed(nb) -> list[str]:
    """Per code cell: what it printed and the text (or markdown) form of what it displayed."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream" and o.get("name") == "stdout":
                parts.append(o["text"])
            elif o.get("output_type") in ("execute_result", "display_data"):
                data = o.get("data", {})
                parts.append(data.get("text/markdown") or data.get("text/plain", ""))
        out.append("".join(parts))
    return out


@pytest.mark.parametrize("name", [*ORGANISM_NOTEBOOKS, REAL_CHECKPOINT])
def test_notebooks_are_shipped_clean_and_use_the_public_api(name):
    nb = read(name)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "notebooks are committed without outputs"
    for source in code_cells(nb):
        private = re.findall(r"\binterp(?:\.\w+)*\._\w+|from interp[\w.]* import [^\n]*\b_\w+", source)
        assert not private, f"{name} reaches into private names: {private}"
        assert "interp.organism.build" not in source and "interp.testing" not in source


def test_quickstart_steers_and_the_answers_change(tmp_path):
    nb = execute("01_quickstart", tmp_path)
    text = "\n".join(printed(nb))
    changed = re.search(r"accuracy ([\d.]+) -> ([\d.]+); (\d+) of 16 answers changed", text)
    assert changed, text
    assert int(changed.group(3)) > 0
    assert re.search(r"unsteered: '\w'.*\n\s*steered: '\w'", text)


def test_the_paper_on_the_organism_runs_every_method_and_writes_the_figures(tmp_path):
    nb = execute("02_paper_on_the_organism", tmp_path)
    text = "\n".join(printed(nb))
    for method in ("meanshift", "probe", "sae", "diffmean"):
        assert f"| {method}/counting | Count |" in text
    assert "significantly and beat random directions" in text
    assert (tmp_path / "runs" / "notebook_sweep.sqlite").is_file()
    assert (tmp_path / "runs" / "notebook_figures" / "gains.html").is_file()


def test_looking_inside_runs_every_analysis(tmp_path):
    nb = execute("03_looking_inside", tmp_path)
    outputs = printed(nb)
    text = "\n".join(outputs)
    assert "backbone_text" in text and "mllm_text" in text
    assert re.search(r"group\s+all\s+image\s+last\s+text", text), "the patching summary is printed"
    assert re.search(r"kind\s+image\s+last\s+special\s+text", text), "the attribution summary is printed"
    figures = [c for c in nb.cells if c.cell_type == "code" and "figures." in "".join(c.source)]
    assert figures and all(
        any("application/vnd.plotly.v1+json" in o.get("data", {}) or "text/html" in o.get("data", {})
            for o in c.outputs) for c in figures
    ), "every figure cell shows a figure"


def test_conditional_steering_and_lora_match_exactly(tmp_path):
    nb = execute("04_conditional_steering_and_lora", tmp_path)
    text = "\n".join(printed(nb))
    assert re.search(r"best condition: layer \d, fires where similarity is (above|below) [\d.]+", text)
    assert "max |LoRA - steering| < 1e-4: True" in text
    assert "the pairs reproduce the adapter to float32 rounding (error < 1e-5 of its change): True" in text
    assert (tmp_path / "runs" / "counting_writer" / "adapter_config.json").is_file()
    assert re.search(r"write\s+1\s+1\.0", text), "the written counting vector is found with cosine 1"


def test_real_checkpoint_notebook_skips_its_weight_cells_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("CVBENCH_PATH", raising=False)
    nb = execute(REAL_CHECKPOINT, tmp_path)
    sources = code_cells(read(REAL_CHECKPOINT))
    outputs = printed(nb)
    gated = [i for i, s in enumerate(sources) if s.startswith("if READY:")]
    assert len(gated) >= 3
    for i in gated:
        assert outputs[i].strip() == "skipped: needs the weights and CV-Bench (see above)", outputs[i]
    detect = next(i for i, s in enumerate(sources) if "HAVE_WEIGHTS =" in s)
    assert "skip: google/paligemma2-3b-mix-448 is not available here" in outputs[detect]
    assert "skip: CV-Bench is not available here" in outputs[detect]
    assert "weights: False | CV-Bench: False" in outputs[detect]


def test_the_docs_show_every_notebook_as_a_page():
    page = (ROOT / "docs" / "notebooks.md").read_text()
    nav = (ROOT / "mkdocs.yml").read_text()
    assert tuple(docs_notebooks.NAMES) == (*ORGANISM_NOTEBOOKS, REAL_CHECKPOINT)
    for name in (*ORGANISM_NOTEBOOKS, REAL_CHECKPOINT):
        assert f"(notebook_pages/{name}.md)" in page
        assert f"notebook_pages/{name}.md" in nav
        assert (ROOT / "docs" / "notebook_pages" / f"{name}.md").is_file()


#: Run ahead of a notebook by the test below: a global forward hook that moves every nonzero finite
#: float any module outputs one ulp up (``torch.nextafter``), as another CPU's rounding may, and
#: counts the outputs it moved. Exact zeros stay (a ReLU's zero is zero on every machine: moving
#: it would turn an inactive SAE feature active); the move keeps gradients (the attribution cells).
ONE_ULP_UP = """
import torch

_moved = 0


def _one_ulp_up(value):
    global _moved
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        plain = value.detach()
        step = torch.nextafter(plain, torch.full_like(plain, float("inf"))) - plain
        step = torch.where(torch.isfinite(plain) & (plain != 0), step, torch.zeros_like(step))
        _moved += 1
        return value + step
    if type(value) in (tuple, list):
        return type(value)(_one_ulp_up(v) for v in value)
    return value


torch.nn.modules.module.register_module_forward_hook(lambda module, args, output: _one_ulp_up(output))
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ORGANISM_NOTEBOOKS)
def test_pages_stay_fresh_when_every_float_the_model_computes_moves_one_ulp(name, tmp_path):
    """What a page shows does not hang on the last bit of a float: rerun with every module output
    moved one ulp, each notebook still matches its committed page (``execute`` compares)."""
    nb = execute(name, tmp_path, before=ONE_ULP_UP, after="print(_moved)")
    assert int(nb.metadata["after"]) > 100, "the hook moved the model's outputs"
