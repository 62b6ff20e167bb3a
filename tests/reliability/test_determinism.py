"""Two runs with the same seed give bitwise-identical vectors, steered logits and demo reports, on CPU.

Checked twice: two runs in this process, and a run in a fresh Python process with another hash
seed (so nothing may depend on set or dict order of strings, or on state left by an earlier
call), compared to the bit with this process's run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from interp.steering import add, steered_logits
from interp.vectors import SteeringVector, compute

LAYERS = [0, 2]
METHODS = {
    "meanshift": {},
    "probe": {"n_components": 6},
    "diffmean": {},
    "sae": {"saes": "organism"},
}


def counting(method: str):
    """The first 12 sentences (8 pairs for diffmean) of the organism's counting corpus."""
    from interp.concepts import ContrastPairs, corpus_from_examples, load_corpus, load_pairs

    if method == "diffmean":
        pairs = load_pairs("counting", source="organism")
        return ContrastPairs("counting", pairs.pairs[:8], pairs.source)
    corpus = load_corpus("counting", source="organism")
    return corpus_from_examples("counting", corpus.examples[:12], source=corpus.source)


def run(backbone, mllm, inputs) -> tuple[dict[str, SteeringVector], dict[str, torch.Tensor]]:
    """Every method's vector for 'counting' and the logits each steers the MLLM to."""
    vectors, logits = {}, {}
    for method, params in METHODS.items():
        torch.manual_seed(0)
        vectors[method] = compute(backbone, counting(method), method, layers=LAYERS, batch_size=5, **params)
        steer = add(vectors[method].normalized(), LAYERS[0], 8.0, "image")
        logits[method] = steered_logits(mllm, inputs, steer)
    return vectors, logits


@pytest.fixture(scope="module")
def first(backbone, mllm, inputs):
    return run(backbone, mllm, inputs)


def test_two_runs_in_one_process_are_bitwise_identical(first, backbone, mllm, inputs):
    vectors, logits = first
    again_vectors, again_logits = run(backbone, mllm, inputs)
    for method in METHODS:
        assert vectors[method].equals(again_vectors[method]), method
        assert torch.equal(logits[method], again_logits[method]), method
    # The steers did something, so identical logits are not identical no-ops.
    plain = steered_logits(mllm, inputs)
    assert all(not torch.equal(logits[m], plain) for m in METHODS)


SCRIPT = textwrap.dedent(
    """
    import sys, torch
    torch.set_num_threads(int(sys.argv[2]))
    from safetensors.torch import save_file
    import interp
    from interp import organism
    from interp.organism.scenes import make_item
    sys.path.insert(0, sys.argv[3])
    from test_determinism import run
    mllm = interp.load_mllm("organism")
    backbone = interp.load_text_backbone(mllm="organism")
    scenes = [make_item("test", "Count", 0), make_item("test", "Relation", 1)]
    inputs = mllm.encode([organism.format_prompt(s) for s in scenes], [s["image"] for s in scenes])
    vectors, logits = run(backbone, mllm, inputs)
    for method, v in vectors.items():
        v.save(f"{sys.argv[1]}/{method}")
    save_file({m: t.contiguous() for m, t in logits.items()}, f"{sys.argv[1]}/logits.safetensors")
    """
)


@pytest.mark.slow
def test_a_fresh_process_with_another_hash_seed_gives_the_same_bits(first, tmp_path):
    from safetensors.torch import load_file

    vectors, logits = first
    env = {**os.environ, "PYTHONHASHSEED": "12345", "HF_HUB_OFFLINE": "1"}
    here = os.path.dirname(__file__)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(torch.get_num_threads()), here],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    other = load_file(tmp_path / "logits.safetensors")
    for method in METHODS:
        assert SteeringVector.load(tmp_path / method).equals(vectors[method]), method
        assert torch.equal(other[method], logits[method]), method



@pytest.mark.slow
def test_two_demo_runs_with_the_same_seed_write_identical_report_tables(tmp_path):
    from interp.demo import DemoConfig, run_demo

    def demo(out):
        return run_demo(DemoConfig(
            out=str(out), model="organism", n_replicate=0, methods=("meanshift", "probe"), concepts=["counting"], layers=[0, 2],
            strengths=(-1.0, 1.0), selectors=("image", "text"), n_train=8, n_test=12, n_random=2,
            figures=False, progress=False,
        ))

    a, b = demo(tmp_path / "a"), demo(tmp_path / "b")
    tables = sorted(p.name for p in (a.out / "tables").iterdir())
    assert "table.csv" in tables and "grid.csv" in tables
    assert tables == sorted(p.name for p in (b.out / "tables").iterdir())
    for name in tables:
        assert (a.out / "tables" / name).read_bytes() == (b.out / "tables" / name).read_bytes(), name
    for name in ("meanshift__counting", "probe__counting"):
        va, vb = SteeringVector.load(a.out / "vectors" / name), SteeringVector.load(b.out / "vectors" / name)
        assert va.layers == vb.layers and all(torch.equal(va.at(layer), vb.at(layer)) for layer in va.layers)

    def summary(report):  # the report's wall time is the one line that may differ
        return re.sub(r"Finished in \d+ s", "Finished in T s", report.summary.read_text().replace(str(report.out), "OUT"))

    assert summary(a) == summary(b)
