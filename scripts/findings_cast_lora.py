"""Measure the attribution, CAST and LoRA findings on the organism (docs/findings_cast_lora.md).

Runs part B of ``interp.analysis`` on the shipped organism, seeded, on one thread: attribution
(gradient x activation, attribution patching against real activation patching, text-SAE features
on image tokens) on held-out test items; CAST (condition grid on the val split, evaluated and
steered on the test split); a LoRA trained on train-split Count items, read into pairs, checked,
and compared with the textual counting vector. Prints the tables the findings quote (markdown).

Usage:
    python scripts/findings_cast_lora.py [--part all|attribution|cast|lora] [--out DIR]

``--out`` also writes every table as CSV there (and the trained adapter under ``DIR/adapter``).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from findings_tables import prepare, show

import interp
from interp.analysis.attribution import (
    attribution_patching,
    gradient_x_activation,
    sae_feature_attribution,
)
from interp.analysis.cast import CastCondition, cast_steer, condition_grid, contrast_condition
from interp.analysis.common import as_items
from interp.analysis.lora import LoraPairs, lora_pairs, reconstruction_error
from interp.analysis.lora_directions import compare_directions, span_angles
from interp.analysis.patching import activation_patching
from interp.organism.scenes import TASKS, make_item, make_split

CONCEPTS = ("counting", "spatial_relationship", "attribute", "entity", "comparison", "negation")


def count_pairs(n: int, split: str = "test") -> tuple[list, list]:
    """Count items paired with the next Count item that has the same options and another answer."""
    pool = as_items([make_item(split, "Count", i) for i in range(6 * n)])
    clean, corrupt = [], []
    used: set[str] = set()
    for a in pool:
        if len(clean) == n:
            break
        if a.id in used:
            continue
        b = next((x for x in pool if x.id not in used and x.id != a.id and x.choices == a.choices and x.answer != a.answer), None)
        if b is None:
            continue
        used |= {a.id, b.id}
        clean.append(a)
        corrupt.append(b)
    return clean, corrupt


# -- attribution ------------------------------------------------------------------------------------
def part_attribution(mllm, args, out: Path | None) -> None:
    items = as_items(make_split("test", args.n_items, tasks=["Count"]))
    gxa = gradient_x_activation(mllm, items)
    per_item = gxa.groupby(["item", "layer", "kind"]).attribution.sum().reset_index()
    table = per_item.groupby(["layer", "kind"]).attribution.mean().unstack("kind").reset_index()
    table["metric"] = gxa.groupby("item").metric.first().mean()
    show(f"Gradient x activation, mean over {len(items)} test Count items (sum within kind)", table, out, "gxa")
    image = gxa[gxa.kind == "image"]
    cells = image.groupby(["layer", "patch_row", "patch_col"]).attribution.mean().reset_index()
    show("Gradient x activation on image tokens by grid cell (layers 0-1)", cells[cells.layer <= 1].pivot_table(
        index=["layer", "patch_row"], columns="patch_col", values="attribution").reset_index(), out, "gxa_cells")

    clean, corrupt = count_pairs(args.pairs)
    est = attribution_patching(mllm, clean, corrupt, metric="pair")
    # Real patching with part A's activation_patching, roles swapped: it patches its "clean"
    # (our corrupt) activations into its "corrupt" (our clean) run, with the metric negated.
    real = activation_patching(mllm, corrupt, clean, groups=["all"], positions=True, batch_size=8)
    pos = real.positions.copy()
    pos["item"] = [clean[p].id for p in pos.pair]
    base = est.groupby("item").metric_clean.first()
    pos["actual"] = -pos.metric_patched - pos.item.map(base)
    merged = est.merge(pos[["item", "layer", "position", "actual"]], on=["item", "layer", "position"])
    rows = []
    for layer, g in merged.groupby("layer"):
        big = g.actual.abs() >= g.actual.abs().quantile(0.9)
        movers = g[g.actual.abs() > 1e-3]
        rows.append({
            "layer": layer,
            "pearson": float(np.corrcoef(g.attribution, g.actual)[0, 1]) if g.actual.std() > 0 else float("nan"),
            "sign_agree_top10pct": float((np.sign(g.attribution[big]) == np.sign(g.actual[big])).mean()),
            "positions_moving": len(movers),
            "est_sum": g.attribution.sum() / len(clean),
            "actual_sum": g.actual.sum() / len(clean),
            "last_est": g[g.kind == "last"].attribution.mean(),
            "last_actual": g[g.kind == "last"].actual.mean(),
            "image_est": g[g.kind == "image"].attribution.sum() / len(clean),
            "image_actual": g[g.kind == "image"].actual.sum() / len(clean),
        })
    show(
        f"Attribution patching vs activation patching, {len(clean)} Count pairs (metric: clean minus corrupt answer logit; "
        f"mean clean {base.mean():.2f}, mean corrupt {est.groupby('item').metric_corrupt.first().mean():.2f})",
        pd.DataFrame(rows), out, "attribution_patching",
    )

    mixed = as_items(make_split("test", args.sae_per_task, tasks=list(TASKS)))
    # Layers 0-2 only: the shipped layer-3 SAE was trained on HF's last hidden state, which is
    # after the final norm, not on the output of decoder layer 3 its hook name promises.
    img = sae_feature_attribution(mllm, mixed, "organism", layers=[0, 1, 2], tokens="image")
    txt = sae_feature_attribution(mllm, mixed, "organism", layers=[0, 1, 2], tokens="text")
    layers = img.layers.merge(txt.layers[["layer", "fve", "l0"]], on="layer", suffixes=("_image", "_text"))
    show(f"Text SAEs on the MLLM's image vs text tokens ({len(mixed)} test items, all tasks)", layers[[
        "layer", "fve_image", "l0_image", "fve_text", "l0_text", "total", "features", "bias", "error"]], out, "sae_layers")
    top = img.features.sort_values("abs_attribution", ascending=False).groupby("layer").head(3)
    show("Top text-SAE features on image tokens by |attribution| (per layer)", top[[
        "layer", "feature", "fire_rate", "mean_act_active", "attribution", "abs_attribution"]], out, "sae_features")


# -- CAST -------------------------------------------------------------------------------------------
def part_cast(mllm, counting, args, out: Path | None) -> None:
    others = [t for t in TASKS if t != "Count"]

    def sets(split: str, n: int) -> tuple[list, list]:
        pos = as_items(make_split(split, n, tasks=["Count"]))
        neg = as_items(make_split(split, n // len(others), tasks=others))
        return pos, neg

    train_pos, train_neg = sets("train", args.cast_n)
    val_pos, val_neg = sets("val", args.cast_n)
    test_pos, test_neg = sets("test", args.cast_n)
    conditions = {
        "counting meanshift (text backbone)": counting,
        "contrast of train items (MLLM)": contrast_condition(mllm, train_pos, train_neg),
    }
    rows, found = [], {}
    for name, cond in conditions.items():
        for pool in ("mean", "last"):
            grid = condition_grid(mllm, val_pos, val_neg, cond, pool=pool)
            best = grid.best
            test = condition_grid(mllm, test_pos, test_neg, cond, layers=[best.layer], thresholds=[best.threshold],
                                  comparators=[best.comparator], pool=pool)
            found[(name, pool)] = best
            rows.append({
                "condition": name, "pool": pool, "layer": best.layer, "comparator": best.comparator,
                "threshold": best.threshold, "f1_val": best.f1, "f1_test": float(test.grid.f1.iloc[0]),
                "acc_test": float(test.grid.accuracy.iloc[0]),
            })
    show(f"CAST condition grid (val: {len(val_pos)} Count vs {len(val_neg)} other items; test the same sizes)",
         pd.DataFrame(rows), out, "cast_grid")

    # Behaviour: the counting vector (unit) on image tokens; strength and layer chosen on val by
    # the Count accuracy gain of unconditional steering.
    always = CastCondition(layer=0, threshold=-1.0, comparator="above", f1=float("nan"))
    choice = []
    for layer in (0, 1):
        for alpha in (2.0, 8.0, 32.0):
            run = cast_steer(mllm, {"count": val_pos}, counting, always, counting.normalized(), alpha, layer=layer, tokens="image")
            s = run.summary.iloc[0]
            choice.append((float(s.delta_acc), float(s.delta_metric), -alpha, layer))
    gain, _, neg_alpha, chosen_layer = max(choice)
    print(f"\nbehaviour chosen on val: layer {chosen_layer}, alpha {-neg_alpha} (unit counting vector), "
          f"val Count gain {gain:+.3f}")
    top = max(rows, key=lambda r: r["f1_val"])
    best = found[(top["condition"], top["pool"])]
    cond = conditions[top["condition"]]
    print(f"condition: {top['condition']}, pool {top['pool']} (best F1 on val)")
    tables = []
    for label, layer, alpha in (("chosen on val", chosen_layer, -neg_alpha), ("strong", 0, 32.0)):
        sets_test = {"Count": test_pos, "other": test_neg}
        for steer, gate in (("unconditional", always), ("CAST (input gate)", best)):
            c = counting if gate is always else cond
            run = cast_steer(mllm, sets_test, c, gate, counting.normalized(), alpha, layer=layer, tokens="image")
            tables.append(run.summary.assign(setting=f"{label}: layer {layer}, alpha {alpha:g}", steer=steer))
    table = pd.concat(tables, ignore_index=True)
    show("Steering the test sets with the counting vector on image tokens", table[[
        "setting", "steer", "set", "n", "fire_rate", "acc_base", "acc_steered", "delta_acc", "delta_metric", "changed"]],
        out, "cast_steer")


# -- LoRA -------------------------------------------------------------------------------------------
def train_lora(args, out: Path | None):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from interp import organism
    from interp.organism.recipe.batches import mllm_batch

    torch.manual_seed(args.seed)
    path = organism.path("mllm")
    model = AutoModelForImageTextToText.from_pretrained(path)
    tok = AutoProcessor.from_pretrained(path).tokenizer
    nl = tok.convert_tokens_to_ids("\n")
    config = LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0,
                        target_modules=r".*language_model\.layers\.\d+\.(self_attn\.o_proj|mlp\.down_proj)")
    peft_model = get_peft_model(model, config)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=args.lr)
    train = [make_item("train", "Count", i) for i in range(args.steps * args.batch)]
    rng = random.Random(args.seed)
    peft_model.train()
    losses = []
    for _ in range(args.steps):
        chunk = rng.sample(train, args.batch)
        loss = peft_model(**mllm_batch(chunk, tok, nl)).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    peft_model.eval()
    directory = (out / "adapter") if out is not None else Path(tempfile.mkdtemp()) / "adapter"
    peft_model.save_pretrained(directory)
    return peft_model, directory, losses


def part_lora(mllm, vectors, args, out: Path | None) -> None:
    from interp.organism.recipe.evaluate import mllm_scorer

    test = [make_item("test", "Count", i) for i in range(args.lora_test)]

    def count_acc(model) -> float:
        with torch.no_grad():
            scores = mllm_scorer(model, mllm.tokenizer)(test)
        preds = [int(s[: len(it["choices"])].argmax()) for s, it in zip(scores, test)]
        return float(np.mean([p == ord(it["answer"][1]) - ord("A") for p, it in zip(preds, test)]))

    t0 = time.time()
    peft_model, directory, losses = train_lora(args, out)
    size = sum(p.stat().st_size for p in directory.iterdir())
    with peft_model.disable_adapter():
        before = count_acc(peft_model)
    after = count_acc(peft_model)
    pairs = lora_pairs(directory)
    check = reconstruction_error(peft_model, pairs, n=64, seed=args.seed)
    print(f"\nLoRA: rank {args.rank}, {args.steps} steps x {args.batch} train Count items, lr {args.lr}, "
          f"{time.time() - t0:.0f} s; loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-10:]):.3f}; "
          f"adapter {size / 1e3:.0f} kB; test Count accuracy {before:.3f} -> {after:.3f} ({len(test)} items); "
          f"pair reconstruction: max relative error {check.rel_error.max():.2e} over {len(check)} modules")
    # the adapter's modules live under the PaliGemma wrapper; the vectors index the same layers
    table = compare_directions(pairs, vectors, sides=["write"], n_random=2000, seed=args.seed)
    summary = table.groupby(["vector", "kind"]).agg(
        mean_abs_cos=("abs_cosine", "mean"), max_abs_cos=("abs_cosine", "max"),
        random_abs_mean=("random_abs_mean", "mean"), random_q95=("random_abs_q95", "mean"),
    ).reset_index()
    summary["n_above_q95"] = table.assign(hit=table.abs_cosine > table.random_abs_q95).groupby(["vector", "kind"]).hit.sum().to_numpy()
    summary["n_directions"] = table.groupby(["vector", "kind"]).size().to_numpy()
    show("LoRA write directions vs textual vectors at the layer they write to (|cosine|)", summary, out, "lora_cosines")
    # Gemma 2 normalizes each sublayer's output (post-attention / post-feedforward RMSNorm) before
    # adding it to the stream: to first order a write b lands along b * gain, gain = norm(ones).
    layers = peft_model.base_model.model.model.language_model.layers
    folded_writes = {}
    for module, b in pairs.writes.items():
        layer = layers[int(module.split(".layers.")[1].split(".")[0])]
        norm = layer.post_attention_layernorm if module.endswith("o_proj") else layer.post_feedforward_layernorm
        with torch.no_grad():
            gain = norm(torch.ones(1, b.shape[0])).squeeze(0).float()
        folded_writes[module] = b * gain.unsqueeze(1)
    folded = LoraPairs(pairs.table, folded_writes, pairs.reads, pairs.scales, pairs.adapter)
    ftable = compare_directions(folded, vectors, sides=["write"], n_random=2000, seed=args.seed)
    fsum = ftable.groupby(["vector"]).agg(
        mean_abs_cos=("abs_cosine", "mean"), max_abs_cos=("abs_cosine", "max"), random_q95=("random_abs_q95", "mean"),
    ).reset_index()
    fsum["n_above_q95"] = ftable.assign(hit=ftable.abs_cosine > ftable.random_abs_q95).groupby("vector").hit.sum().to_numpy()
    fsum["n_directions"] = ftable.groupby("vector").size().to_numpy()
    show("The same with each write scaled by its post-norm gain (the direction it takes in the stream)", fsum, out, "lora_cosines_folded")
    counting = table[table.vector == "counting"].sort_values("abs_cosine", ascending=False).head(6)
    show("Largest |cosine| of a write direction with the counting vector", counting[[
        "module", "rank_index", "cosine", "random_abs_q95", "gain"]], out, "lora_counting_top")
    angles = span_angles(pairs, {"counting": vectors["counting"]}, side="write", n_random=200, seed=args.seed)
    show("Angle between the span of each module's writes and the counting vector (degrees)", angles[[
        "module", "rank", "angle", "random_angle"]], out, "lora_angles")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "attribution", "cast", "lora"], default="all")
    parser.add_argument("--n-items", type=int, default=48, help="test Count items for gradient x activation")
    parser.add_argument("--pairs", type=int, default=16, help="Count pairs for attribution vs activation patching")
    parser.add_argument("--sae-per-task", type=int, default=12, help="test items per task for the SAE analysis")
    parser.add_argument("--cast-n", type=int, default=40, help="Count items per split (as many others, all 4 tasks)")
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lora-test", type=int, default=300, help="test Count items for the LoRA's accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="directory for CSV copies of the tables")
    args = parser.parse_args(argv)
    prepare(args.seed, args.out)
    start = time.time()
    mllm = interp.load_mllm("organism")
    backbone = interp.load_text_backbone(mllm="organism")
    vectors = {c: interp.compute(backbone, c, "meanshift", source="organism") for c in CONCEPTS}
    if args.part in ("all", "attribution"):
        part_attribution(mllm, args, args.out)
    if args.part in ("all", "cast"):
        part_cast(mllm, vectors["counting"], args, args.out)
    if args.part in ("all", "lora"):
        part_lora(mllm, vectors, args, args.out)
    print(f"\n{time.time() - start:.0f} s wall, {time.process_time():.0f} s CPU")


if __name__ == "__main__":
    main()
