"""The LLaVA card's headline is the replication record's, and the record's cells are the rule's."""

import json

import pandas as pd

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
        # replicate() names the q95 flag rep_above_random_q95; a record written before: rep_beats_random
        above_q95 = c["rep_above_random_q95"] if "rep_above_random_q95" in c else c["rep_beats_random"]
        held = c["rep_gain_low"] > 0 and c["rep_p_holm"] < 0.05 and above_q95
        assert c["replicated"] == held
        assert c["n_rep"] == record["n_per_task"]
