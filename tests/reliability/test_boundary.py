"""Every input that does not belong with its model is refused at the boundary, at every entry point.

The cases found when the features added after the last reliability round were tried as a new user
would (the project's issue 28): a vector, a table, a bank or items made for one model and handed to
another entry point or another model; a flipped vector under its old name; contrasts, explanations
and hints that cannot mean what they say; and errors that named a lock file or an option that
does not exist. Each is refused with a message pinned here.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
import torch

import interp
from interp.evaluation import compare_native, load_benchmark, replicate, specificity, sweep
from interp.evaluation.benchmarks import fresh_items
from interp.items import Item
from interp.vectors import SteeringVector, VisualContrast, native_vector, visual_contrast


@pytest.fixture(scope="module")
def llava():
    return interp.load_mllm("organism-llava")


@pytest.fixture(scope="module")
def vectors(backbone):
    return {
        "meanshift/counting": interp.compute(backbone, "counting", "meanshift", source="organism", layers=[1, 2]),
        "meanshift/attribute": interp.compute(backbone, "attribute", "meanshift", source="organism", layers=[1, 2]),
    }


@pytest.fixture(scope="module")
def result(mllm, vectors):
    train = load_benchmark("organism", split="train", tasks=["Count", "Attribute"], n_per_task=4)
    test = load_benchmark("organism", split="test", tasks=["Count", "Attribute"], n_per_task=4)
    return sweep(mllm, vectors, [1, 2], [-1.0, 1.0], ["image"], train, test,
                 targets={"meanshift/counting": ["Count"], "meanshift/attribute": ["Attribute"]}, n_random=1)


@pytest.fixture(scope="module")
def fresh():
    return fresh_items("organism", ["Count", "Attribute"], 3)


# -- 1, 2: vectors, tables and the models they were made on -------------------------------------------
def test_a_sweep_of_one_organism_is_refused_on_the_other(llava, result, vectors, fresh):
    for control in (replicate, specificity):
        with pytest.raises(ValueError, match=r"vector 'meanshift/counting' was built on organism-text with 4 layers but "
                                             r"organism-llava has 6: the layer indices would not mean the same thing"):
            control(llava, result, vectors, fresh)


def test_a_flipped_vector_under_the_chosen_name_is_not_the_vector_that_made_the_table(mllm, result, vectors, fresh):
    flipped = {**vectors, "meanshift/counting": -vectors["meanshift/counting"]}
    with pytest.raises(ValueError, match=r"vector 'meanshift/counting' is not the vector that made the sweep's table "
                                         r"\(its digest \w+ differs from the table's \w+\)"):
        replicate(mllm, result, flipped, fresh)
    assert set(result.table["vector_digest"]) == {v.digest() for v in vectors.values()}


def test_a_table_from_another_model_is_refused_by_its_fingerprint(mllm, result, vectors, fresh):
    table = result.table.assign(model="organism@0123456789abcdef")
    with pytest.raises(ValueError, match=r"the sweep's table was computed on organism@0123456789abcdef, but this model is organism@"):
        replicate(mllm, table, vectors, fresh)


# -- 3: a specificity control that cannot be formed ---------------------------------------------------
def test_specificity_refuses_another_concept_without_the_chosen_layer(mllm, result, vectors, fresh):
    short = {**vectors, "meanshift/attribute": SteeringVector(
        {0: vectors["meanshift/attribute"].at(1)}, vectors["meanshift/attribute"].meta)}
    counting_rows = result.table[result.table["vector"] == "meanshift/counting"]
    with pytest.raises(ValueError, match=r"vector 'meanshift/attribute' \(concept 'attribute'\) has no direction at layer \d, "
                                         r"where 'meanshift/counting' was chosen"):
        specificity(mllm, counting_rows, short, fresh)


# -- 4: flags are bools --------------------------------------------------------------------------------
def test_allow_transfer_must_be_a_real_bool(mllm, inputs, vectors):
    with pytest.raises(ValueError, match=r"allow_transfer must be True or False, got 'False' \(str\)"):
        interp.steered_logits(mllm, inputs, interp.add(vectors["meanshift/counting"], 1, 1.0), allow_transfer="False")


# -- 5: contrasts --------------------------------------------------------------------------------------
def test_a_contrast_with_the_same_items_on_both_sides_is_refused(mllm):
    c = visual_contrast("organism", "counting", n=2)
    with pytest.raises(ValueError, match=r"the contrast 'counting' has 2 item\(s\) on both sides"):
        native_vector(mllm, VisualContrast("counting", c.positive, c.positive))
    twin = tuple(Item(f"{it.id}/twin", it.images, it.question, it.choices, it.answer, task=it.task) for it in c.positive)
    with pytest.raises(ValueError, match="shows the same images on both sides: a native vector from it is zero"):
        native_vector(mllm, VisualContrast("counting", c.positive, twin))


# -- 6: the native comparator ---------------------------------------------------------------------------
def test_compare_native_checks_its_textual_vectors_cells_and_items(mllm, llava, result, vectors):
    native = {"native/counting": native_vector(mllm, visual_contrast("organism", "counting", n=4), layers=[1, 2])}
    llava_text = interp.load_text_backbone(mllm="organism-llava")
    foreign = {"meanshift/counting": interp.compute(llava_text, "counting", "meanshift", source="organism", layers=[0])}
    test = load_benchmark("organism", split="test", tasks=["Count"], n_per_task=2)
    with pytest.raises(ValueError, match=r"vector 'meanshift/counting' was built on organism-llava-text with 6 layers but "
                                         r"organism has 4"):
        compare_native(mllm, foreign, native, test, layers=[0])
    renamed = {"mine": vectors["meanshift/counting"]}
    with pytest.raises(ValueError, match=r"cells names none of the textual vectors paired with a native one \(\['mine'\]\)"):
        compare_native(mllm, renamed, native, test, cells=result)
    train = load_benchmark("organism", split="train", tasks=["Count"], n_per_task=4)
    with pytest.raises(ValueError, match=r"4 the items to compare on were the sweep's train items"):
        compare_native(mllm, vectors, native, train, cells=result)


# -- 7: explanations parsed strictly ----------------------------------------------------------------------
@pytest.mark.parametrize(("record", "match"), [
    ({"layer": "2-x", "index": 12.7, "description": "d"}, r"index must be a whole number .*got 12\.7"),
    ({"layer": "2-x", "index": True, "description": "d"}, r"index must be a whole number .*got True"),
    ({"layer": "2-x", "index": 3, "description": ["a", "b"]}, r"description must be a non-empty string, got \['a', 'b'\] \(list\)"),
    ({"layer": "2-x", "index": 3, "description": 7}, r"description must be a non-empty string, got 7 \(int\)"),
])
def test_explanations_are_read_strictly(tmp_path, record, match):
    from interp.vectors import load_explanations

    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(ValueError, match=match):
        load_explanations(path)


def test_string_keyed_explanations_from_json_reach_the_vector(backbone, small_corpus):
    v0 = interp.compute(backbone, small_corpus, "sae", saes="organism", layers=[2])
    feature = v0.meta.extra["features"]["2"][0]
    explanations = json.loads(json.dumps({2: {feature: "counting words"}}))  # keys are strings after JSON
    v = interp.compute(backbone, small_corpus, "sae", saes="organism", layers=[2], explanations=explanations)
    assert v.meta.extra["explanations"]["2"][0] == "counting words"
    from interp.vectors import explanation_filter, keyword_judge

    judge = explanation_filter(keyword_judge({"counting": ("zzz-no-such-word",)}))
    with pytest.raises(ValueError, match=r"no explanation given matched a selected feature|no feature left"):
        interp.compute(backbone, small_corpus, "sae", saes="organism", layers=[2], explanations=explanations,
                       feature_filter=judge)


# -- 8: LatentLens banks ----------------------------------------------------------------------------------
def test_a_bank_of_another_model_and_a_bank_of_unknown_tokens_are_refused(mllm, scenes):
    from interp.analysis import context_bank, latent_lens
    from interp.items import as_items

    llava_text = interp.load_text_backbone(mllm="organism-llava")
    bank = context_bank(llava_text, ["a red circle above a blue square"], layers=[1])
    with pytest.raises(ValueError, match=r"the context bank was built on organism-llava-text but organism pairs with organism-text"):
        latent_lens(mllm, as_items(scenes[:1]), bank, layers=[1])
    text = interp.load_text_backbone(mllm="organism")
    with pytest.raises(ValueError, match=r"every token of the texts is organism-text's unknown token"):
        context_bank(text, ["zyzzyva quixotic", "xylophone"], layers=[1])
    own = context_bank(text, ["a red circle above a blue square"], layers=[1])
    with pytest.raises(ValueError, match=r"bank_layers is empty: give some of the bank's layers \[1\]"):
        latent_lens(mllm, as_items(scenes[:1]), own, layers=[1], bank_layers=[])


# -- 9: provenance by name where no fingerprint was recorded, and by the checkpoint where one was ----------
def test_a_vector_declaring_another_source_is_refused(mllm, inputs):
    v = SteeringVector.from_tensors({1: torch.ones(mllm.d_model)}, source_model="someone/other-4layer-128d")
    with pytest.raises(ValueError, match=r"declares it was built on 'someone/other-4layer-128d' \(it records no fingerprint\), "
                                         r"but organism takes vectors of 'organism' or 'organism-text'"):
        interp.steered_logits(mllm, inputs, interp.add(v, 1, 1.0))
    unknown = SteeringVector.from_tensors({1: torch.ones(mllm.d_model)})  # nothing declared: shapes only
    interp.steered_logits(mllm, inputs, interp.add(unknown, 1, 0.1))


def test_a_vector_built_on_a_perturbed_copy_under_the_backbones_name_is_refused(mllm, inputs, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from interp.organism import path

    copy = tmp_path / "text"
    shutil.copytree(path("text"), copy)
    weights = load_file(copy / "model.safetensors")
    key = next(k for k in weights if k.endswith("layers.1.mlp.down_proj.weight"))
    weights[key] = weights[key] + 0.01
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    v = interp.compute(interp.load_text_backbone(str(copy)), "counting", "meanshift", source="organism", layers=[1])
    relabelled = SteeringVector(v.tensors, v.meta.__class__(**{**v.meta.__dict__, "source_model": "organism-text"}))
    with pytest.raises(ValueError, match=r"says it was built on organism-text, but its fingerprint .* is not that of "
                                         r"organism-text's checkpoint"):
        interp.steered_logits(mllm, inputs, interp.add(relabelled, 1, 1.0))


# -- 12 and the unhelpful errors ------------------------------------------------------------------------------
def test_a_hint_longer_than_the_model_reads_is_refused_before_the_sweep(tmp_path):
    from interp.demo import run_demo

    long_hint = " ".join(["the"] * 3000)
    with pytest.raises(ValueError, match=r"the test items' longest prompt with the prefix .* is \d+ tokens but organism has 512 positions"):
        run_demo(model="organism", out=str(tmp_path / "d"), methods=("meanshift",), concepts=["counting"], layers=[1],
                 strengths=(1.0,), selectors=("image",), n_train=2, n_test=2, n_random=0, n_replicate=0, analyses=False,
                 figures=False, progress=False, hint=long_hint)


@pytest.mark.parametrize(("hint", "match"), [
    ("look at the {object}", r"the hint has the field\(s\) \{object\}"),
    ("look at {0}", r"the hint has the field\(s\) \{0\}"),
    ("look at the <image>", r"the hint holds the image placeholder '<image>'"),
])
def test_bad_hints_are_refused_before_any_model_loads(tmp_path, monkeypatch, hint, match):
    from interp.demo import run_demo

    monkeypatch.setattr(interp, "load_mllm", lambda *a, **k: pytest.fail("loaded a model before refusing the hint"))
    with pytest.raises(ValueError, match=match):
        run_demo(model="organism", out=str(tmp_path / "d"), hint=hint, progress=False)


def test_errors_name_what_the_user_gave():
    with pytest.raises(ValueError, match=r"expected a hub id, a checkpoint directory or a model source's name, got ''"):
        interp.load_mllm("")
    with pytest.raises(ValueError, match=r"remote must be False \(run here\), True \(NDIF\) or 'local'.*got 'bogus'"):
        interp.load_mllm("organism", remote="bogus")
    a = SteeringVector.from_tensors({0: torch.ones(4)})
    with pytest.raises(ValueError, match=r"weight 1 of merge must be a finite number, got nan"):
        interp.merge([a, a], weights=[1.0, math.nan])


def test_a_truncated_image_is_named_by_its_item(mllm, tmp_path):
    from PIL import Image

    from interp.evaluation import score

    good = load_benchmark("organism", split="test", tasks=["Count"], n_per_task=1)[0]
    png = tmp_path / "scene.png"
    good.image.save(png)
    png.write_bytes(png.read_bytes()[:200])
    broken = Item("mine/0", (Image.open(png),), good.question, good.choices, good.answer, task="Count")
    with pytest.raises(ValueError, match=r"item 'mine/0': its image 0 cannot be read .*damaged or partly written"):
        score(mllm, [broken])


def test_a_full_disk_is_said_as_such(tmp_path):
    from interp.evaluation import ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    store.conn.execute("PRAGMA max_page_count=8")  # a device that is full once the store has 8 pages
    rows = [{"cell": "c", "item_id": f"i{k}", "task": "t", "split": "test", "answer": 0, "pred": 0,
             "correct": True, "p_correct": 0.5, "probs": "x" * 500} for k in range(200)]
    with pytest.raises(OSError, match=r"no space left on the device of the results store .*results\.sqlite: free some "
                                      r"and run again; the rows written so far are kept"):
        store.add_rows(rows)
    store.close()
    assert sqlite3.connect(tmp_path / "results.sqlite").execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_the_logit_lens_and_patching_run_on_the_text_backbone(backbone):
    from interp.analysis import activation_patching, logit_lens
    from interp.organism import inside

    items = list(load_benchmark("organism", split="test", tasks=["Attribute"], n_per_task=10))
    lens = logit_lens(backbone, items[:2], layers=[1], top_k=2)
    assert set(lens["kind"]) == {"text", "last"} and len(lens)
    clean = [it for it in items if inside.is_color_question(it)][:2]
    patched = activation_patching(backbone, clean, [inside.color_counterfactual(it) for it in clean], layers=[1])
    assert set(patched.groups["group"]) >= {"text", "last"}


def test_the_lock_of_a_claim_is_never_what_an_error_names(tmp_path):
    from interp.io import write_file

    with pytest.raises(PermissionError, match=r"^/proc/x/table\.csv cannot be written: its folder /proc/x") as info:
        write_file(Path("/proc/x/table.csv"), "a")
    assert ".lock" not in str(info.value)


# -- 4, 10, 11: the identity of a sweep's --out, derived from its options ----------------------------------
@pytest.fixture(scope="module")
def saved_vector(tmp_path_factory, backbone):
    root = tmp_path_factory.mktemp("saved")
    return interp.compute(backbone, "counting", "meanshift", source="organism", layers=[1]).save(root / "counting")


def _sweep(out: Path, vector: Path, *extra: str, model: str = "organism"):
    from typer.testing import CliRunner

    from interp.cli import app

    args = ["sweep", "--model", model, "--vector", str(vector), "--tasks", "Count", "--layers", "1", "--strengths", "1",
            "--n-train", "2", "--n-test", "2", "--n-random", "0", "--out", str(out), *extra]
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize(("changed", "named"), [
    (["--dtype", "bfloat16"], r"dtype 'auto', now 'bfloat16'"),
    (["--no-prompt-baseline"], r"prompt_baseline True, now False"),
    (["--batch-size", "4"], r"batch_size 16, now 4"),
])
def test_a_sweep_with_another_option_does_not_replace_the_tables_without_overwrite(tmp_path, saved_vector, changed, named):
    out = tmp_path / "run"
    assert _sweep(out, saved_vector).exit_code == 0
    before = (out / "table.csv").read_bytes()
    result = _sweep(out, saved_vector, *changed)
    assert result.exit_code != 0
    assert "already holds the tables of a sweep with other settings" in result.output.replace("\n", " ")
    import re

    assert re.search(named, result.output.replace("\n", " ")), result.output
    assert (out / "table.csv").read_bytes() == before


def test_an_overwrite_removes_every_artifact_of_the_run_it_replaces(tmp_path, saved_vector):
    out = tmp_path / "run"
    assert _sweep(out, saved_vector, "--replicate", "2", "--specificity", "--parquet").exit_code == 0
    assert {"replication.csv", "table.parquet", "grid.parquet"} <= {p.name for p in out.iterdir()}
    assert _sweep(out, saved_vector, "--overwrite").exit_code == 0
    names = {p.name for p in out.iterdir()}
    assert not names & {"replication.csv", "specificity.csv", "table.parquet", "grid.parquet"}, names
    assert json.loads((out / "config.json").read_text())["n_replicate"] == 0


def test_the_same_sweep_on_an_edited_checkpoint_is_another_run(tmp_path, saved_vector):
    import shutil

    from safetensors.torch import load_file, save_file

    from interp.organism import path

    copy = tmp_path / "mllm"
    shutil.copytree(path("mllm"), copy)
    out = tmp_path / "run"
    refused = _sweep(out, saved_vector, "--benchmark", "organism", model=str(copy))
    assert refused.exit_code != 0 and "--allow-transfer" in refused.output, refused.output  # a copy is another model
    first = _sweep(out, saved_vector, "--benchmark", "organism", "--allow-transfer", model=str(copy))
    assert first.exit_code == 0, first.output
    weights = load_file(copy / "model.safetensors")
    key = next(k for k in weights if k.endswith("layers.2.self_attn.q_proj.weight"))
    weights[key][:8] = 0.0  # one attention head of one layer zeroed in place
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    result = _sweep(out, saved_vector, "--benchmark", "organism", "--allow-transfer", model=str(copy))
    assert result.exit_code != 0 and "model_fingerprint" in result.output, result.output
