"""The LLaVA card's headline is the replication record's, and the record's cells are the rule's."""

import json

import pandas as pd
import pytest

from interp.organism.parts import LLAVA_DATA_DIR
from interp.organism.recipe.card import replication_headline

RECORD = LLAVA_DATA_DIR / "replication.json"


def test_card_opens_with_the_replication_records_headline():
    record = json.loads(RECORD.read_text())
    card = (LLAVA_DATA_DIR / "CARD.md").read_text()
    assert "\n".join(replication_headline(record)) in card
    assert card.index("## Headline") < card.index("## Models")


def test_the_replicated_cells_are_every_helping_cell_of_the_sweep_and_only_those():
    table = pd.read_csv(LLAVA_DATA_DIR / "steering_table.csv")
    helping = table[(table["gain_low"] > 0) & (table["p_value"] < 0.05) & table["beats_random"].astype(bool)]
    record = json.loads(RECORD.read_text())
    key = ["vector", "task", "selector", "layer", "strength"]
    got = sorted(tuple(c[k] for k in key) for c in record["cells"])
    assert got == sorted(tuple(r) for r in helping[key].itertuples(index=False))
    for c in record["cells"]:  # the flags follow from the figures (replicate's rule)
        held = c["rep_gain_low"] > 0 and c["rep_p_holm"] < 0.05 and c["rep_above_random_q95"]
        assert c["replicated"] == held
        assert c["n_rep"] == record["n_per_task"]


def test_the_headline_holds_the_complete_controls():
    """Specificity against every concept of the organism corpora (not only the swept ones), the
    answer-prior baseline, the transfer cost on every other task, and a random q95 from 20 or more."""
    from interp.concepts import list_corpora

    record = json.loads(RECORD.read_text())
    concepts = list_corpora("organism")
    assert len(concepts) == 6 and sorted(record["concepts"]) == sorted(concepts)
    assert record["n_random"] >= 20 and record["prior_train_items_per_task"] > 0
    spec = pd.DataFrame(record["specificity"])
    cost = pd.DataFrame(record["transfer"])
    for c in record["cells"]:
        at = (spec["vector"] == c["vector"]) & (spec["task"] == c["task"]) & (spec["selector"] == c["selector"])
        method, concept = c["vector"].split("/")
        assert set(spec.loc[at, "control"]) == {"flipped"} | {f"{method}/{o}" for o in concepts if o != concept}
        assert c["specific"] == bool((spec.loc[at, "gain_over_control_low"] > 0).all())
        assert c["rep_n_random"] >= 20 and c["rep_random_q95_gain"] is not None  # measured, not NaN
        assert c["rep_prior_gain"] is not None and c["rep_beats_prior"] == (c["rep_gain_over_prior_low"] > 0)
        others = set(record["tasks"]) - {c["task"]}
        assert set(c["transfer_tasks"].split()) == others
        mine = cost[(cost["vector"] == c["vector"]) & (cost["task"] == c["task"]) & (cost["selector"] == c["selector"])]
        assert set(mine["other_task"]) == others and (mine["n"] == record["n_per_task"]).all()


def test_the_card_states_specificity_against_all_six_concepts_and_the_prior_and_transfer():
    record = json.loads(RECORD.read_text())
    card = (LLAVA_DATA_DIR / "CARD.md").read_text()
    head = card[card.index("## Headline"):card.index("## Models")]
    assert f"Specific against all {len(record['concepts'])} concepts" in head
    assert all(c in head for c in record["concepts"])
    assert "answer prior" in head and "transfer" in head and f"{record['n_random']} random directions" in head


def test_a_record_without_the_complete_controls_is_refused_by_name():
    record = json.loads(RECORD.read_text())
    del record["concepts"], record["specificity"]
    with pytest.raises(ValueError, match=r"lacks \['concepts', 'specificity'\].*llava_headline.py"):
        replication_headline(record)
