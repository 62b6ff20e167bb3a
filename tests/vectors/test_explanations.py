"""Neuronpedia explanations: export files in their shapes, the client path, judges, and sae()."""

from __future__ import annotations

import gzip
import json
import sys
import types

import pytest

import interp
from interp.vectors import (
    compute,
    explanation_filter,
    fetch_explanations,
    keyword_judge,
    llm_judge,
    load_explanations,
)
from interp.vectors.explanations import parse_yes_no

LAYER = 2
SOURCE = f"{LAYER}-organism-res-64"


@pytest.fixture(scope="module")
def organism_backbone():
    return interp.load_text_backbone(mllm="organism")


@pytest.fixture(scope="module")
def selected(organism_backbone):
    """The features sae() selects on the organism before any filter."""
    v = compute(organism_backbone, "counting", "sae", source="organism", saes="organism", layers=[LAYER])
    return v.meta.extra["features"][str(LAYER)]


def write_export(path, explanations, source=SOURCE):
    """A Neuronpedia bucket export: explanations/batch-0.jsonl.gz, one explanation per line."""
    lines = [
        json.dumps({
            "id": f"clx{f}", "modelId": "organism", "layer": source, "index": str(f),
            "description": text, "explanationModelName": "gpt-4o-mini", "typeName": "oai_token-act-pair",
            "authorId": "x", "umap_x": None,
        })
        for f, text in explanations.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def test_keyword_judge_on_organism_saes_records_kept_and_dropped(organism_backbone, selected, tmp_path):
    assert len(selected) >= 2
    counting = selected[::2]
    texts = {f: (f"counts of objects ({f})" if f in counting else f"colour words ({f})") for f in selected}
    path = write_export(tmp_path / "organism" / SOURCE / "explanations" / "batch-0.jsonl.gz", texts)
    explanations = load_explanations(path)
    assert explanations == {LAYER: texts}
    keep = explanation_filter(keyword_judge(["count"]))
    v = compute(organism_backbone, "counting", "sae", source="organism", saes="organism", layers=[LAYER],
                explanations=explanations, feature_filter=keep)
    extra = v.meta.extra
    assert extra["features"][str(LAYER)] == counting
    assert extra["explanations"][str(LAYER)] == [texts[f] for f in counting]
    dropped = [f for f in selected if f not in counting]
    assert extra["dropped_by_filter"][str(LAYER)] == dropped
    assert extra["dropped_explanations"][str(LAYER)] == [texts[f] for f in dropped]
    notes = extra["filter_notes"][str(LAYER)]
    assert {int(f) for f, n in notes.items() if n["keep"]} == set(counting)
    assert v.meta.params["feature_filter"] == "explanation_filter(keyword_judge)"
    # the metadata survives a save
    v.save(tmp_path / "vec")
    again = interp.vectors.SteeringVector.load(tmp_path / "vec")
    assert again.meta.extra["dropped_explanations"] == extra["dropped_explanations"]


def test_llm_judge_asks_and_records_answers(organism_backbone, selected):
    explanations = {LAYER: {f: f"unit #{f} fires on numbers" for f in selected}}
    yes = set(selected[:2])
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        f = int(prompt.split("unit #")[1].split(" ")[0])
        return "YES - numbers are counts" if f in yes else "No, unrelated."

    judge = llm_judge(ask, definitions={"counting": "how many things there are"})
    keep = explanation_filter(judge)
    v = compute(organism_backbone, "counting", "sae", source="organism", saes="organism", layers=[LAYER],
                explanations=explanations, feature_filter=keep)
    assert set(v.meta.extra["features"][str(LAYER)]) == yes
    assert len(prompts) == len(selected)
    assert "how many things there are" in prompts[0] and "YES or NO" in prompts[0]
    notes = v.meta.extra["filter_notes"][str(LAYER)]
    assert notes[str(selected[0])]["answer"].startswith("YES")
    assert notes[str(selected[-1])] == {"keep": False, "answer": "No, unrelated."}


def test_features_without_explanations_are_dropped_and_noted():
    keep = explanation_filter()  # keyword judge on the concept's words
    assert keep(1, 3, "spatial layout words", "spatial_relationship")
    assert not keep(1, 4, None, "spatial_relationship")
    assert keep.notes[(1, 4)] == {"keep": False, "answer": None, "reason": "no explanation"}


def test_parse_yes_no():
    assert parse_yes_no("Answer: yes") is True
    assert parse_yes_no("  NO — unrelated") is False
    assert parse_yes_no("Yesterday") is None
    assert parse_yes_no("I think yes") is None


def test_api_shapes(tmp_path):
    export = [{"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "7", "description": "dogs"},
              {"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "7", "description": "later"},
              {"modelId": "gemma-2-2b", "layer": "21-gemmascope-res-16k", "index": 9, "description": "cats"}]
    (tmp_path / "export.json").write_text(json.dumps(export))
    assert load_explanations(tmp_path / "export.json") == {20: {7: "dogs"}, 21: {9: "cats"}}
    feature = {"modelId": "gemma-2-2b", "layer": "20-gemmascope-res-16k", "index": "10956",
               "explanations": [{"description": "dinosaurs", "typeName": "oai"}], "activations": []}
    (tmp_path / "feature.json").write_text(json.dumps(feature, indent=2))
    assert load_explanations(tmp_path / "feature.json") == {20: {10956: "dinosaurs"}}
    (tmp_path / "features.json").write_text(json.dumps([feature, {**feature, "index": "3", "explanations": []}]))
    assert load_explanations(tmp_path / "features.json") == {20: {10956: "dinosaurs"}}
    (tmp_path / "plain.jsonl").write_text(json.dumps({"layer": "res", "index": 1, "description": "x"}) + "\n")
    with pytest.raises(ValueError, match="names no layer; pass layer="):
        load_explanations(tmp_path / "plain.jsonl")
    assert load_explanations(tmp_path / "plain.jsonl", layer=4) == {4: {1: "x"}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("[1, 2]", "is a int, not an object"),
        ('{"index": 1}\n{"index": 2}\n', "neither 'index' and 'description'"),
        ('{"a": 1}\nnot json\n', "line 2 is not JSON"),
        ('[{"layer": "1-x", "index": "abc", "description": "d"}]', r"index must be a whole number \(an int, or a string of digits\), got .abc."),
        ('[{"layer": "1-x", "index": "1", "description": ""}]', "holds no explanations"),
    ],
)
def test_other_shapes_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_explanations(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="no explanations file"):
        load_explanations("/nonexistent/explanations.jsonl")


def test_client_path(monkeypatch):
    monkeypatch.setitem(sys.modules, "neuronpedia", None)
    with pytest.raises(ImportError, match=r"pip install 'interp\[neuronpedia\]'"):
        fetch_explanations("gemma-2-2b", "{layer}-gemmascope-res-16k", {20: [1]})

    calls = []

    class SAEFeature:
        def __init__(self, source, index):
            self.source = source
            self.jsonData = json.dumps({"modelId": "gemma-2-2b", "layer": source, "index": index,
                                        "explanations": [{"description": f"text {index}"}]})

    class SAEFeatureRequest:
        def __init__(self, api_key=None):
            calls.append(("key", api_key))

        def get(self, model_id, source, index):
            calls.append((model_id, source, index))
            return SAEFeature(source, index)

    pkg = types.ModuleType("neuronpedia")
    req = types.ModuleType("neuronpedia.requests")
    mod = types.ModuleType("neuronpedia.requests.sae_feature_request")
    mod.SAEFeatureRequest = SAEFeatureRequest
    monkeypatch.setitem(sys.modules, "neuronpedia", pkg)
    monkeypatch.setitem(sys.modules, "neuronpedia.requests", req)
    monkeypatch.setitem(sys.modules, "neuronpedia.requests.sae_feature_request", mod)
    monkeypatch.delenv("NEURONPEDIA_API_KEY", raising=False)
    with pytest.raises(ValueError, match="NEURONPEDIA_API_KEY"):
        fetch_explanations("gemma-2-2b", "{layer}-gemmascope-res-16k", {20: [1]})
    monkeypatch.setenv("NEURONPEDIA_API_KEY", "k")
    got = fetch_explanations("gemma-2-2b", "{layer}-gemmascope-res-16k", {20: [1, 5]})
    assert got == {20: {1: "text 1", 5: "text 5"}}
    assert calls == [("key", "k"), ("gemma-2-2b", "20-gemmascope-res-16k", "1"),
                     ("gemma-2-2b", "20-gemmascope-res-16k", "5")]
