"""The shipped LLaVA organism loads through interp like a hub checkpoint and keeps its card's promises."""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import pytest
import torch

from interp.organism import parts
from interp.organism.recipe import llava
from interp.organism.recipe.model import IMAGE, N_IMAGE_TOKENS
from interp.organism.scenes import make_item

LLAVA = "organism-llava"


@pytest.fixture(scope="module")
def models():
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    mllm = AutoModelForImageTextToText.from_pretrained(parts.path("mllm", LLAVA)).eval()
    text = AutoModelForCausalLM.from_pretrained(parts.path("text", LLAVA)).eval()
    return mllm, text


def test_mllm_is_a_llava_on_the_frozen_six_layer_backbone(models):
    mllm, text = models
    assert type(mllm).__name__ == "LlavaForConditionalGeneration"
    assert mllm.config.text_config.num_hidden_layers == text.config.num_hidden_layers == 6
    lm = dict(mllm.model.language_model.named_parameters())
    for name, w in text.model.named_parameters():
        assert torch.equal(lm[name], w), f"{name} drifted from the text backbone"


def test_loads_through_interp_and_encodes_the_training_sequence():
    import interp
    from interp.items import from_record

    m = interp.load_mllm(str(parts.path("mllm", LLAVA)))
    assert m.family == "llava" and m.n_layers == 6 and m.image_token_id == IMAGE
    raw = make_item("val", "Relation", 2)
    item = from_record(raw)
    enc = m.encode([item.prompt()], [item.image], padding_side="right")
    from interp.organism.recipe.model import build_tokenizer

    ref = llava.llava_batch([raw], build_tokenizer())
    n = enc["input_ids"].shape[1]
    assert torch.equal(enc["input_ids"][0], ref["input_ids"][0, :n])
    assert int((enc["input_ids"] == IMAGE).sum()) == N_IMAGE_TOKENS
    backbone = interp.load_text_backbone(str(parts.path("text", LLAVA)))
    assert backbone.n_layers == 6


def test_saes_cover_every_backbone_layer():
    from sae_lens import SAE

    for layer in range(6):
        sae = SAE.load_from_disk(str(parts.path("sae", LLAVA) / f"layer_{layer}"))
        assert sae.cfg.metadata.hook_name == f"blocks.{layer}.hook_resid_post"
        assert sae.cfg.d_in == 128


def test_card_reports_the_measured_figures():
    metrics = json.loads((parts.LLAVA_DATA_DIR / "metrics.json").read_text())
    card = (parts.LLAVA_DATA_DIR / "CARD.md").read_text()
    for task in ("Count", "Relation", "Depth", "Distance", "Attribute"):
        assert f"| {task} | {metrics['mllm'][task]:.3f} | {metrics['text'][task]:.3f} |" in card
    assert all(v == 0.0 for v in metrics["lm_drift"].values())
    assert "HF_HUB_OFFLINE=1 python scripts/train_organism_llava.py" in card


def test_mllm_scores_held_out_items_above_chance(models):
    from interp.organism.recipe.evaluate import letter_accuracy
    from interp.organism.recipe.model import build_tokenizer

    mllm, _ = models
    items = [make_item("test", t, i) for i in range(40) for t in ("Relation", "Depth")]
    with torch.no_grad():
        acc = letter_accuracy(llava.llava_scorer(mllm, build_tokenizer()), items)
    assert acc["all"] > 0.8  # measured 0.917 on the 600 Relation and Depth test items of the card; chance 0.5


def test_loads_by_name_with_its_backbone_and_saes():
    import interp
    from interp.models.loading import text_backbone_name
    from interp.vectors import load_saes

    m = interp.load_mllm("organism-llava")
    assert (m.name, m.family, m.n_layers) == ("organism-llava", "llava", 6)
    assert text_backbone_name("organism-llava") == "organism-llava"
    assert text_backbone_name(str(parts.path("mllm", LLAVA))) == str(parts.path("text", LLAVA))
    backbone = interp.load_text_backbone(mllm="organism-llava")
    assert backbone.name == "organism-llava-text" and backbone.n_layers == 6
    first = interp.load_text_backbone(mllm="organism")
    assert first.n_layers == 4, "the first organism still pairs with its own backbone"
    saes, _ = load_saes("organism-llava")
    assert sorted(saes) == list(range(6))


def test_shipped_files_match_their_own_manifest():
    from interp import organism

    counts = organism.verify("organism-llava")
    manifest = json.loads((parts.LLAVA_DATA_DIR / organism.MANIFEST_FILE).read_text())["files"]
    assert set(counts) == set(parts.LLAVA_KINDS) and sum(counts.values()) == len(manifest)
    assert all(name.split("/")[0] in parts.LLAVA_KINDS for name in manifest)


def test_a_truncated_file_is_named_with_how_to_restore_it(tmp_path, monkeypatch):
    import shutil

    import interp
    from interp import organism
    from interp.errors import CorruptArtifactError

    data = tmp_path / "data_llava"
    shutil.copytree(parts.LLAVA_DATA_DIR, data)
    monkeypatch.setitem(parts.DATA_DIRS, "organism-llava", data)
    monkeypatch.setattr(organism.manifest, "_CHECKED", {})
    weights = data / "mllm" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CorruptArtifactError, match=r"organism-llava organism file .*model\.safetensors is truncated.*train_organism_llava\.py"):
        interp.load_mllm("organism-llava")
    with pytest.raises(CorruptArtifactError, match="truncated"):
        organism.verify("organism-llava")
    organism.verify("organism")  # the first organism is untouched


def test_an_unknown_organism_is_refused():
    from interp import organism

    with pytest.raises(ValueError, match=r"unknown organism 'organism-blip'.*organism, organism-llava"):
        organism.locate("organism-blip", "mllm")


@pytest.mark.slow
def test_confirm_phase_reruns_a_helping_cell_with_the_same_alpha_on_fresh_items(tmp_path):
    """The confirm phase reproduces the steer phase's cell (its calibrated alpha) on new scenes."""
    import importlib.util
    import shutil
    from pathlib import Path

    import pandas as pd

    script_path = Path(__file__).resolve().parents[2] / "scripts" / "train_organism_llava.py"
    spec = importlib.util.spec_from_file_location("llava_script_confirm", script_path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "run"
    for kind in ("mllm", "text", "sae"):
        shutil.copytree(parts.path(kind, LLAVA), out / kind)
    shipped = pd.read_csv(parts.LLAVA_DATA_DIR / "steering_table.csv")
    # the shipped table's first Distance row, marked as helping so that the phase re-runs it
    row = shipped[(shipped["task"] == "Distance") & (shipped["vector"] == "meanshift/spatial_relationship")].iloc[:1].copy()
    row[["gain_low", "p_value", "beats_random"]] = [0.01, 0.01, True]
    row.to_csv(out / "steering_table.csv", index=False)
    argv = ["--phases", "confirm", "--out", str(out), "--log-dir", str(tmp_path / "log"), "--steer-train", "240",
            "--confirm-items", "12", "--n-random", "2"]
    assert mod.main(argv) == 0  # raises if the re-run cell's alpha differed from the table's
    result = json.loads((out / "confirm.json").read_text())
    (cell,) = result["cells"]
    assert cell["n"] == 12 and cell["vector"] == "meanshift/spatial_relationship" and "confirmed" in cell
    assert "## Do the helping cells hold on fresh items?" in (out / "CARD.md").read_text()


@pytest.mark.slow
def test_the_cards_strongest_confirmed_cell_reproduces_from_the_shipped_files(tmp_path):
    """The positive control: the confirmed cell with the smallest p on the card, rebuilt through the
    public API (vector from text on the text backbone, the sweep on the confirm phase's fresh
    scenes), gives the card's accuracies item for item. If steering, scoring or the vectors break,
    this is where the organism stops showing the effect."""
    import interp
    from interp.evaluation import concept_tasks, sweep
    from interp.items import from_record
    from interp.organism.scenes import make_split

    confirm = json.loads((parts.LLAVA_DATA_DIR / "confirm.json").read_text())
    confirmed = [c for c in confirm["cells"] if c["confirmed"]]
    assert confirmed, "the shipped card confirms no cell: the LLaVA organism is no positive control"
    cell = min(confirmed, key=lambda c: c["p_value"])
    assert cell["gain_low"] > 0 and cell["gain"] > cell["random_q95_gain"]
    method, concept = cell["vector"].split("/")
    args = json.loads((parts.LLAVA_DATA_DIR / "training.json").read_text())["args"]["mllm"]

    mllm = interp.load_mllm("organism-llava")
    backbone = interp.load_text_backbone(mllm="organism-llava")
    vec = interp.compute(backbone, concept, method, source="organism", layers=[cell["layer"]])
    # the steer phase's train list (its first items calibrate the relative strength)
    tasks = sorted({t for c in args["steer_concepts"].split(",") for t in concept_tasks("organism")[c]})
    train = [from_record(d) for d in make_split("val", args["steer_train"], args["seed"], tasks=tasks)]
    fresh = [
        from_record(d)
        for d in make_split("test", confirm["items_per_cell"], args["seed"], tasks=[cell["task"]], start=confirm["start"])
    ]
    res = sweep(
        mllm, {cell["vector"]: vec}, [cell["layer"]], [cell["strength"]], [cell["selector"]], train, fresh,
        store=tmp_path / "s.sqlite", targets={cell["vector"]: [cell["task"]]}, n_random=0, batch_size=32,
        progress=False,
    )
    row = res.table.iloc[0]
    assert int(row["n_test"]) == cell["n"]
    assert float(row["unsteered_accuracy"]) == pytest.approx(cell["unsteered"], abs=1e-12)
    assert float(row["accuracy"]) == pytest.approx(cell["accuracy"], abs=1e-12)
    assert float(row["accuracy"]) > float(row["unsteered_accuracy"])
