"""A third party's model organism plugs in through an entry point, and interp finds all of it.

``tests/toy_organism.py`` is such a plugin (a tiny PaliGemma with its text backbone, a corpus, a
generated benchmark, a visual contrast, a world). Here an entry point of group ``interp.plugins``
points at it, as the ``[project.entry-points."interp.plugins"]`` table of its own package would,
and everything interp does by name (load, vectors, benchmark, hints, contrasts, isomorphic
renderings, the sweep and the command line) works on it. The registries also refuse a name twice,
report a broken plugin by name, and load no plugin on ``import interp``.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import interp
from interp import plugins

TOY = importlib.metadata.EntryPoint(name="toy", value="toy_organism:register", group=plugins.PLUGIN_GROUP)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy plugin, installed as an entry point for this module's tests, then taken out again."""
    import toy_organism

    toy_organism.ROOT = toy_organism.build(tmp_path_factory.mktemp("toy"))
    real = plugins.plugin_entry_points
    mp = pytest.MonkeyPatch()
    mp.setattr(plugins, "plugin_entry_points", lambda: [*real(), TOY])
    yield toy_organism
    mp.undo()
    toy_organism.unregister()
    plugins._loaded.discard("toy")


def test_the_toy_is_unknown_until_its_entry_point_exists():
    from interp.models.sources import model_source

    assert model_source("toy") is None
    with pytest.raises(ValueError, match="unknown benchmark 'toy'"):
        interp.evaluation.load_benchmark("toy")


def test_every_name_the_plugin_registers_is_found_through_interp(toy):
    from interp.analysis import text_rendering
    from interp.evaluation import concept_tasks, load_benchmark
    from interp.evaluation.benchmarks import fresh_items
    from interp.models.sources import prompting_hints
    from interp.vectors import native_vector, visual_contrast

    mllm = interp.load_mllm("toy")
    backbone = interp.load_text_backbone(mllm="toy")
    assert (mllm.name, backbone.name) == ("toy", "toy-text")
    v = interp.compute(backbone, toy.CONCEPT, "meanshift", source="toy", layers=[0])
    assert v.meta.source_model == "toy-text" and v.meta.corpus_size == 4
    v.check_compatible(mllm)  # built on the toy's own text backbone: it may steer the toy

    bench = load_benchmark("toy", split="test", n_per_task=4)
    assert bench.source == "tests/toy_organism.py" and [it.answer for it in bench] == [0, 1, 0, 1]
    assert concept_tasks("toy") == {toy.CONCEPT: [toy.TASK]}
    assert [it.id for it in fresh_items("toy", [toy.TASK], 2)] == ["toy/test/Shade/10000", "toy/test/Shade/10001"]
    assert prompting_hints("toy", [toy.CONCEPT])[toy.CONCEPT].startswith("look at the brightness . Answer")
    assert text_rendering(bench[0]).startswith("a light image. Answer the multiple choice question")
    contrast = visual_contrast("toy", toy.CONCEPT, n=2)
    assert native_vector(mllm, contrast, layers=[0]).meta.method == "native-diffmean"


def test_the_sweep_and_the_command_line_run_on_the_plugin_model(toy, tmp_path):
    from interp.cli import app
    from interp.evaluation import load_benchmark, sweep

    mllm = interp.load_mllm("toy")
    v = interp.compute(interp.load_text_backbone(mllm="toy"), toy.CONCEPT, "meanshift",
                       source="toy", layers=[0, 1])
    train = list(load_benchmark("toy", split="train", n_per_task=4))
    test = list(load_benchmark("toy", split="test", n_per_task=4))
    res = sweep(mllm, {"meanshift/brightness": v}, [0, 1], [-1.0, 1.0], ["image"], train, test,
                targets={"meanshift/brightness": [toy.TASK]}, n_random=1)
    assert list(res.table["task"]) == [toy.TASK] and res.table["n_test"].eq(4).all()

    result = CliRunner().invoke(app, ["evaluate", "--model", "toy", "--n-items", "2", "--out", str(tmp_path / "e.csv")])
    assert result.exit_code == 0, result.output  # --benchmark defaults to the toy's own
    assert (tmp_path / "e.csv").read_text().count("toy/test/Shade/") == 2


def test_a_name_is_registered_once_and_a_broken_plugin_is_named(toy, monkeypatch):
    from interp.models.sources import model_source

    assert model_source("toy") is not None  # the entry point loads here if no earlier test on this worker did
    with pytest.raises(ValueError, match="model source 'toy' is already registered"):
        toy.register()
    broken = importlib.metadata.EntryPoint(name="broken", value="no_such_module_here:register", group=plugins.PLUGIN_GROUP)
    monkeypatch.setattr(plugins, "plugin_entry_points", lambda: [broken])
    with pytest.raises(ImportError, match=r"the interp plugin 'broken' \(no_such_module_here:register\) failed to load"):
        plugins.load_plugins()


def test_import_interp_loads_no_plugin():
    code = ("import sys, interp\n"
            "assert not any(m.startswith('interp.organism') for m in sys.modules), 'a plugin loaded at import'\n"
            "interp.load_text_backbone  # the everyday names are there without one\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
