"""Measure the "looking inside" findings on the organism (docs/findings_inside.md).

Runs every part-A analysis of ``interp.analysis`` on held-out test-split organism items, seeded, on
one thread, and prints the tables the findings quote (markdown). A few minutes on a CPU.

Usage:
    python scripts/findings_inside.py [--n-per-task 12] [--pairs 16] [--out DIR]

``--out`` also writes every table as CSV there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from findings_tables import prepare, show

import interp
from interp.analysis import (
    ablation,
    ablation_summary,
    activation_patching,
    as_items,
    isomorphic,
    logit_lens,
    modality_gap,
    projection,
    steer_toward_text,
    variance_share,
    vector_alignment,
    vector_similarity,
    word_ranks,
)
from interp.items import from_record
from interp.organism.inside import color_counterfactual, patch_object_frame
from interp.organism.scenes import COLORS, SHAPES, make_item, make_split

CONCEPTS = ("counting", "spatial_relationship", "attribute")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-task", type=int, default=12, help="test items per task (5 tasks)")
    parser.add_argument("--pairs", type=int, default=16, help="colour counterfactual pairs for patching")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="directory for CSV copies of the tables")
    args = parser.parse_args(argv)
    prepare(args.seed, args.out)
    start = time.time()

    mllm = interp.load_mllm("organism")
    backbone = interp.load_text_backbone(mllm="organism")
    items = as_items(make_split("test", args.n_per_task, seed=args.seed))
    reference = as_items(make_split("val", args.n_per_task, seed=args.seed))
    vectors = {c: interp.compute(backbone, c, "meanshift", source="organism") for c in CONCEPTS}
    vectors["counting/probe"] = interp.compute(backbone, "counting", "probe", source="organism")
    counting = vectors["counting"]
    print(f"{len(items)} test items, {mllm.n_layers} layers, d_model {mllm.d_model}")

    # 1. alignment
    align = vector_alignment(mllm, counting, items)
    show("Counting vector (meanshift) vs activations: cosine per layer and token kind",
         align[["layer", "kind", "n_tokens", "mean_cos", "std_cos", "cos_of_mean"]], args.out, "alignment")
    sims = vector_similarity({k: v for k, v in vectors.items()})
    same_layer = sims[(sims.layer_a == sims.layer_b) & (sims.a < sims.b)]
    show("Cosines between textual vectors at the same layer",
         same_layer.pivot_table(index=["a", "b"], columns="layer_a", values="cosine").reset_index(),
         args.out, "vector_similarity")
    show("Modality gap: mean image-token vs mean text-token activation",
         modality_gap(mllm, items), args.out, "modality_gap")
    shares = pd.concat(
        [variance_share(mllm, vectors[c], items, kinds=["image", "text"]).assign(concept=c) for c in CONCEPTS]
    )
    show("Share of token variance along each textual vector (random direction: 1/d_model)",
         shares[["concept", "layer", "kind", "share", "random_mean", "uniform", "ratio"]], args.out, "variance_share")

    # 2. isomorphic inputs
    iso = isomorphic(mllm, items, backbone=backbone)
    show("Accuracy: image vs text rendering", iso.accuracy.pivot(index="task", columns="run", values="accuracy").reset_index(),
         args.out, "isomorphic_accuracy")
    show("Answer-position states: image run vs text runs", iso.similarity, args.out, "isomorphic_similarity")
    toward = steer_toward_text(mllm, items, counting, 0, [1.0, 4.0], tokens="image")
    show("Counting vector added to image tokens at layer 0: answer-position state vs the MLLM's text run",
         toward, args.out, "steer_toward_text")

    # 3. logit lens on image patches
    words = list(COLORS) + list(SHAPES)
    ranks = word_ranks(mllm, items, words)
    objects = patch_object_frame(mllm, items)
    lens = ranks.merge(objects[["item", "patch", "object", "color", "shape"]], on=["item", "patch"])
    lens = lens[lens.object.notna()]
    rows = []
    for (layer, _, _), grp in lens.groupby(["layer", "item", "patch"]):
        for role, vocab in (("color", COLORS), ("shape", SHAPES)):
            sub = grp[grp.word.isin(vocab)]
            truth = grp[role].iloc[0]
            best = sub.sort_values("rank").word.iloc[0]
            rows.append({"layer": layer, "role": role, "hit": best == truth,
                         "true_rank": int(sub[sub.word == truth]["rank"].iloc[0]),
                         "other_rank": float(sub[sub.word != truth]["rank"].mean())})
    lens_summary = pd.DataFrame(rows).groupby(["layer", "role"]).agg(
        patches=("hit", "size"), top_among_words=("hit", "mean"),
        true_rank=("true_rank", "mean"), other_rank=("other_rank", "mean"),
    ).reset_index()
    lens_summary["chance"] = lens_summary.role.map({"color": 1 / len(COLORS), "shape": 1 / len(SHAPES)})
    show("Logit lens on object patches: is the object's own colour/shape word the top one among the world's words?",
         lens_summary, args.out, "logit_lens")

    last = logit_lens(mllm, items, kinds=["last"], top_k=1)
    answer = {it.id: it.answer_letter for it in items}
    last["right"] = last.pred_token == last.item.map(answer)
    show("Logit lens at the last prompt position: is the top-1 token the right answer letter?",
         last.groupby("layer").right.mean().reset_index(), args.out, "logit_lens_last")

    # 4. projection on the patch grid
    proj = projection(mllm, counting, items, kinds=["image"])
    proj = proj.merge(objects[["item", "patch", "object"]], on=["item", "patch"])
    proj["on_object"] = proj.object.notna()
    by_patch = proj.groupby(["layer", "on_object"]).projection.mean().unstack().reset_index()
    by_patch.columns = ["layer", "background", "object"]
    n_obj = {it.id: len(it.metadata["scene"].objects) for it in items}
    per_item = proj.groupby(["layer", "item"]).projection.sum().reset_index()
    per_item["n_objects"] = per_item.item.map(n_obj)
    by_patch["corr_sum_vs_count"] = [
        float(np.corrcoef(g.projection, g.n_objects)[0, 1]) for _, g in per_item.groupby("layer")
    ]
    show("Counting vector projection on image tokens: object vs background patches, and the per-image sum vs the object count",
         by_patch, args.out, "projection")

    # 5. patching: where is the colour read?
    clean = []
    i = 0
    while len(clean) < args.pairs:
        it = from_record(make_item("test", "Attribute", i, seed=args.seed))
        if it.question.startswith("What is the color"):
            clean.append(it)
        i += 1
    corrupt = [color_counterfactual(c) for c in clean]
    patch = activation_patching(mllm, clean, corrupt, positions=True)
    show("Patching the clean scene into its recoloured twin: recovered fraction of the logit difference",
         patch.summary().pivot(index="layer", columns="group", values="recovered").reset_index(),
         args.out, "patching")
    pos = patch.positions.merge(patch.pairs, on="pair")
    top = pos.groupby(["layer", "position", "kind"]).agg(
        token=("token", lambda t: "/".join(sorted(set(t)))), recovered=("recovered", "mean"),
    ).reset_index().sort_values(["layer", "recovered"], ascending=[True, False]).groupby("layer").head(3)
    show("The three single positions that recover most, per layer", top, args.out, "patching_positions")
    cell = {p: c.metadata["refs"][0].row * 4 + c.metadata["refs"][0].col for p, c in enumerate(clean)}
    image0 = pos[(pos.layer == 0) & (pos.kind == "image")].copy()
    image0["target"] = image0.patch == image0.pair.map(cell)
    show("Layer 0, single image tokens: the recoloured object's own patch vs every other patch",
         image0.groupby("target").recovered.agg(["mean", "min", "max", "size"]).reset_index(),
         args.out, "patching_target_patch")

    # 6. ablation
    abl = ablation(mllm, items, tokens=["image", "text"], modes=["zero", "mean", "direction"],
                   vector=counting, reference=reference)
    show("Ablation per layer (one at a time): accuracy and change of the answer's logit difference",
         ablation_summary(abl)[["layer", "tokens", "mode", "accuracy", "base_accuracy", "d_logit_diff"]],
         args.out, "ablation")
    print(f"\n{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
