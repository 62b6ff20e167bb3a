"""Rebuild interp's second organism (LLaVA on a frozen text backbone) from seeds.

Phases (``--phases``, default all, in this order):
  text     grow the first organism's text backbone from 4 to 6 layers and train it on text
           (the first organism's text recipe) -> interp/organism/data_llava/text/
  sae      one sae-lens SAE per backbone layer -> data_llava/sae/layer_{l}/
  mllm     train vision tower + projector of a LlavaForConditionalGeneration in front of the
           frozen backbone (answer loss + alignment of image tokens to their description words)
           -> data_llava/mllm/
  eval     test accuracy, language-model drift, image-token variance share of the textual vectors,
           and the MLLM's own many-minus-few direction's effect on counts -> data_llava/metrics.json
  steer    the paper's sweep (chosen on train = val scenes, reported on test scenes) with the
           random-direction control -> data_llava/steering.json
  confirm  the cells that helped on test, scored again on fresh test scenes -> confirm.json;
           then the card (CARD.md)
  card     (not in the default) only rewrite CARD.md from the records above and training.json

Example:
    HF_HUB_OFFLINE=1 python scripts/train_organism_llava.py --threads 1
    HF_HUB_OFFLINE=1 python scripts/train_organism_llava.py --phases eval,steer
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F

from interp.organism import path as organism_path
from interp.organism.benchmark import CONCEPT_TASKS as ORGANISM_CONCEPT_TASKS
from interp.organism.parts import LLAVA_DATA_DIR as DATA_DIR
from interp.organism.prompting import HINTS as ORGANISM_HINTS
from interp.organism.recipe import phases
from interp.organism.recipe.batches import (
    AUX_SIZES,
    N_IMAGE_TOKENS,
    last_prompt_position,
    patch_targets,
    reference_heads,
    reference_loss,
    reference_targets,
)
from interp.organism.recipe.card import Card, replication_headline
from interp.organism.recipe.evaluate import letter_accuracy, text_scorer
from interp.organism.recipe.llava import (
    alignment_loss,
    alignment_targets,
    build_llava_processor,
    description_ids,
    grow_backbone,
    llava_batch,
    llava_config,
    llava_scorer,
)
from interp.organism.recipe.model import build_tokenizer
from interp.organism.recipe.training import (
    JsonLog,
    cosine_lr,
    save_mllm,
    seed_everything,
    train_item_stream,
)
from interp.organism.scenes import TASKS, make_split
from interp.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "runs" / "organism_llava"


def _first_args(args, **over):
    """The first organism's defaults, with this run's seed, batch, threads and ``over``."""
    ns = phases.build_parser().parse_args([])
    for k in ("seed", "batch", "threads", "eval_every", "val_per_task"):
        setattr(ns, k, getattr(args, k))
    for k, v in over.items():
        setattr(ns, k, v)
    return ns


def train_text(args, log: JsonLog) -> dict:
    """Grow the shipped 4-layer backbone to 6 layers, then train it with the first recipe."""
    from transformers import AutoModelForCausalLM

    seed_everything(args.seed)
    grown_dir = Path(args.log_dir) / "grown_text"
    small = AutoModelForCausalLM.from_pretrained(organism_path("text"))
    big = grow_backbone(small)
    shutil.rmtree(grown_dir, ignore_errors=True)
    big.save_pretrained(grown_dir)
    build_tokenizer(args.seed).save_pretrained(grown_dir)
    ns = _first_args(
        args,
        text_resume=str(grown_dir),
        text_out=str(Path(args.out) / "text"),
        text_steps=args.text_steps,
        text_lr=args.text_lr,
        slot_layer=args.slot_layer,
    )
    res = phases.train_text(ns, log)
    res.update({"grown_from": "interp/organism/data/text", "insert_before": [2, 3], "lr": args.text_lr})
    return res


def train_saes(args, log: JsonLog) -> dict:
    """One SAE per layer of the new backbone, by the first organism's SAE phase."""
    ns = _first_args(
        args,
        text_out=str(Path(args.out) / "text"),
        sae_out=str(Path(args.out) / "sae"),
        sae_steps=args.sae_steps,
        sae_docs=args.sae_docs,
        sae_batch=args.sae_batch,
    )
    res = phases.train_saes(ns, log)
    return {"seconds": res["seconds"], "steps_per_layer": args.sae_steps, "width": ns.sae_width}


def mllm_seed_of(args: dict) -> int:
    """The MLLM phase's seed from a run's arguments (``vars(args)`` or a recorded ``args``):
    ``--mllm-seed``, or ``--seed`` where it is None (records from before the option had a value)."""
    return args["seed"] if args.get("mllm_seed") is None else args["mllm_seed"]


def train_mllm(args, log: JsonLog) -> dict:
    """Vision tower + projector in front of the frozen backbone; the language model never changes."""
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration

    # --mllm-seed changes only this phase's initialisation and training stream: the world's
    # vocabulary, the text backbone and the val/test scenes stay those of --seed
    mllm_seed = mllm_seed_of(vars(args))
    seed_everything(mllm_seed)
    out = Path(args.out)
    tok = build_tokenizer(args.seed)
    text = AutoModelForCausalLM.from_pretrained(out / "text").eval()
    model = LlavaForConditionalGeneration(llava_config(text.config))
    model.model.language_model.load_state_dict(text.model.state_dict())
    model.lm_head.weight = model.model.language_model.embed_tokens.weight
    del text
    for p in model.model.language_model.parameters():
        p.requires_grad_(False)
    embed = model.model.language_model.embed_tokens.weight.detach()
    empty = embed[tok.convert_tokens_to_ids(args.empty_word)]
    d = model.config.text_config.hidden_size
    aux = torch.nn.Linear(d, sum(AUX_SIZES))
    heads = reference_heads(d)
    captured: dict[str, torch.Tensor] = {}
    handle = model.model.multi_modal_projector.register_forward_hook(
        lambda _m, _i, o: captured.__setitem__("tokens", o)
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    trainable += list(aux.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(trainable, lr=args.mllm_lr, weight_decay=0.01)
    weights = [float(w) for w in args.mllm_task_weights.split(",")]
    items = train_item_stream(mllm_seed + 1, weights=weights)
    val = make_split("val", args.val_per_task, args.seed)
    history, last = [], {}
    t0 = time.time()
    model.train()
    model.model.language_model.eval()
    bar = Progress()
    try:
        for step in bar.track(range(args.mllm_steps), "llava"):
            for g in opt.param_groups:
                g["lr"] = args.mllm_lr * cosine_lr(step, args.mllm_steps, warmup=100)
            batch_items = [next(items) for _ in range(args.batch)]
            b = llava_batch(batch_items, tok)
            res = model(**b, output_hidden_states=args.ref_weight > 0)
            tokens = captured["tokens"]
            tgt = alignment_targets(description_ids(batch_items, tok), embed, empty)
            l_align = alignment_loss(tokens, tgt)
            l_aux = tokens.new_zeros(())
            if args.aux_weight > 0:
                logits = aux(tokens)
                pt = patch_targets(batch_items)
                off = 0
                for k, n in enumerate(AUX_SIZES):
                    l_aux = l_aux + F.cross_entropy(logits[..., off : off + n].reshape(-1, n), pt[..., k].reshape(-1))
                    off += n
                l_aux = l_aux / len(AUX_SIZES)
            l_ref = tokens.new_zeros(())
            if args.ref_weight > 0:
                # the frozen backbone's states at named objects must say where they are: only the
                # image tokens (the connector) can make them
                last_pos = last_prompt_position(b)
                m, sl = reference_targets(batch_items, b["input_ids"], tok, last_pos, start=1 + N_IMAGE_TOKENS)
                l_ref = reference_loss(res.hidden_states, heads, m, sl, last_pos, args.mention_layer, args.slot_layer)
            loss = res.loss + args.align_weight * l_align + args.aux_weight * l_aux + args.ref_weight * l_ref
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            last = {
                "answer_loss": res.loss.item(),
                "align_loss": l_align.item(),
                "aux_loss": l_aux.item(),
                "ref_loss": l_ref.item(),
            }
            bar.status(" ".join(f"{k} {v:.3f}" for k, v in last.items()))
            done = step + 1
            if done % args.eval_every == 0 or done == args.mllm_steps:
                model.eval()
                with torch.no_grad():
                    acc = letter_accuracy(llava_scorer(model, tok), val)
                model.train()
                model.model.language_model.eval()
                history.append({"step": done, **last, "val": acc})
                log.write({"phase": "llava", "step": done, **last, "val": acc})
                bar.note(f"llava step {done}: {last} val {acc}")
                save_mllm(model, Path(args.log_dir) / "checkpoints" / f"step{done}", args.seed, build_llava_processor)
    finally:
        handle.remove()
    save_mllm(model, out / "mllm", args.seed, build_llava_processor)
    return {"steps": args.mllm_steps, "seconds": round(time.time() - t0), **last, "history": history}


CONCEPT_TASKS = {c: list(t) for c, t in ORGANISM_CONCEPT_TASKS.items()}


def steer_train_items(args) -> tuple[list[str], list]:
    """The steer phase's tasks and train items (val scenes), in its order.

    The confirm phase re-runs cells on the same list: relative strengths are calibrated on its
    first items, so the same list gives the same alpha.
    """
    from interp.items import from_record

    tasks = sorted({t for c in args.steer_concepts.split(",") for t in CONCEPT_TASKS[c]})
    return tasks, [from_record(d) for d in make_split("val", args.steer_train, args.seed, tasks=tasks)]


def _load_pair(mllm_dir: Path, text_dir: Path):
    import interp

    return interp.load_mllm(str(mllm_dir)), interp.load_text_backbone(str(text_dir))


def textual_vectors(backbone, concepts, methods, layers, sae_dir: Path | None) -> dict:
    """``method/concept`` -> textual vector on the backbone, from the organism corpora."""
    import interp

    out = {}
    for concept in concepts:
        for method in methods:
            params = {"saes": str(sae_dir)} if method == "sae" and sae_dir is not None else {}
            out[f"{method}/{concept}"] = interp.compute(
                backbone, concept, method, source="organism", layers=layers, **params
            )
    return out


def image_variance_share(mllm, vectors: dict, n_items: int, seed: int) -> dict:
    """Per vector and layer: share of image-token variance along it, and a random direction's mean."""
    from interp.analysis.alignment import variance_share
    from interp.items import from_record

    items = [from_record(d) for d in make_split("val", n_items, seed, start=1000)]
    res = {}
    for name, v in vectors.items():
        df = variance_share(mllm, v, items, kinds=("image",), n_random=32, batch_size=16)
        res[name] = {
            int(r.layer): {"share": round(float(r.share), 4), "random": round(float(r.random_mean), 4)}
            for r in df.itertuples()
        }
    return res


@torch.no_grad()
def own_count_direction(model, tok, layers, alphas, n_items: int, seed: int) -> dict:
    """The MLLM's own many-minus-few direction on image tokens, added back at each layer.

    Direction at layer l: mean image-token activation of val scenes with 5-6 objects minus that of
    scenes with 1-2 objects. Added as ``alpha * direction`` on the image tokens of held-out
    "How many objects" items, it should raise the mean predicted count monotonically in alpha.
    """
    from interp.answers import letter_ids
    from interp.organism.recipe.model import IMAGE
    from interp.organism.scenes import LETTERS

    val = [it for it in make_split("val", 4 * n_items, seed, tasks=["Count"]) if "objects" in it["question"]]
    test = [it for it in make_split("test", 4 * n_items, seed, tasks=["Count"]) if "objects" in it["question"]]
    test = test[:n_items]
    letters = letter_ids(tok, len(LETTERS))
    layers_mod = model.model.language_model.layers
    out: dict = {}
    for layer in layers:
        hs = []
        for i in range(0, len(val), 32):
            b = llava_batch(val[i : i + 32], tok)
            h = model(**{k: v for k, v in b.items() if k != "labels"}, output_hidden_states=True).hidden_states
            img = b["input_ids"] == IMAGE
            hs.append((h[layer + 1] * img[..., None]).sum(1) / img.sum(1, keepdim=True))
        means = torch.cat(hs)
        n = torch.tensor([len(it["scene"].objects) for it in val])
        direction = means[n >= 5].mean(0) - means[n <= 2].mean(0)
        row = {}
        for alpha in alphas:
            state: dict[str, torch.Tensor] = {}

            def hook(_m, _i, o, push=alpha * direction, state=state):
                return o + push * state["mask"][..., None]

            handle = layers_mod[layer].register_forward_hook(hook)
            try:
                preds, hits = [], []
                for i in range(0, len(test), 32):
                    chunk = test[i : i + 32]
                    b = llava_batch(chunk, tok)
                    state["mask"] = (b["input_ids"] == IMAGE).float()
                    logits = model(**{k: v for k, v in b.items() if k != "labels"}).logits
                    pos = b["labels"].ne(-100).float().argmax(1) - 1
                    pick = logits[torch.arange(len(chunk)), pos][:, letters[:6]].argmax(1)
                    preds += [int(p) + 1 for p in pick]
                    hits += [int(p) + 1 == len(it["scene"].objects) for p, it in zip(pick, chunk)]
            finally:
                handle.remove()
            row[str(alpha)] = {"mean_count": sum(preds) / len(preds), "accuracy": sum(hits) / len(hits)}
        counts = [row[str(a)]["mean_count"] for a in alphas]
        # rising: never lower for a larger alpha, and higher at the largest than at the smallest
        row["monotone"] = all(b >= a for a, b in itertools.pairwise(counts)) and counts[-1] > counts[0]
        row["direction_norm"] = float(direction.norm())
        out[str(layer)] = row
    return out


def evaluate(args, log: JsonLog) -> dict:
    """Test accuracy, drift, image-token variance share and the own-direction check."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from interp.organism.recipe.evaluate import language_model_drift

    out = Path(args.out)
    tok = build_tokenizer(args.seed)
    model = AutoModelForImageTextToText.from_pretrained(out / "mllm").eval()
    text = AutoModelForCausalLM.from_pretrained(out / "text").eval()
    test = make_split("test", args.test_per_task, args.seed)
    with torch.no_grad():
        res = {
            "n_per_task": args.test_per_task,
            "mllm": letter_accuracy(llava_scorer(model, tok), test),
            "text": letter_accuracy(text_scorer(text, tok), test),
        }
    res["lm_drift"] = language_model_drift(model, text)
    log.write({"phase": "eval", **res})
    print(json.dumps(res), flush=True)
    n = model.config.text_config.num_hidden_layers
    res["own_count_direction"] = own_count_direction(
        model, tok, range(n), [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], args.own_items, args.seed
    )
    print(json.dumps(res["own_count_direction"]), flush=True)
    mllm, backbone = _load_pair(out / "mllm", out / "text")
    vecs = textual_vectors(backbone, list(CONCEPT_TASKS), ["meanshift", "diffmean"], list(range(n)), out / "sae")
    res["variance_share"] = {"llava": image_variance_share(mllm, vecs, args.share_items, args.seed)}
    if args.compare_first:
        import interp

        first = interp.load_mllm("organism")
        fb = interp.load_text_backbone(mllm="organism")
        fv = textual_vectors(fb, list(CONCEPT_TASKS), ["meanshift", "diffmean"], list(range(first.n_layers)), None)
        res["variance_share"]["first"] = image_variance_share(first, fv, args.share_items, args.seed)
    (out / "metrics.json").write_text(json.dumps(res, indent=2))
    return res


def steer(args, log: JsonLog) -> dict:
    """The paper's sweep on the LLaVA organism: chosen on train (val scenes), reported on test."""
    from interp.evaluation import sweep
    from interp.items import from_record
    from interp.prompts import MC_PREFIX

    out = Path(args.out)
    mllm, backbone = _load_pair(out / "mllm", out / "text")
    layers = list(range(mllm.n_layers))
    concepts = args.steer_concepts.split(",")
    methods = args.steer_methods.split(",")
    vecs = textual_vectors(backbone, concepts, methods, layers, out / "sae")
    targets = {name: CONCEPT_TASKS[name.split("/")[1]] for name in vecs}
    tasks, train = steer_train_items(args)
    test = [from_record(d) for d in make_split("test", args.test_per_task, args.seed, tasks=tasks)]
    strengths = [float(x) for x in args.strengths.split(",")]
    res = sweep(
        mllm, vecs, layers, strengths, ["image", "text", "both"], train, test,
        store=Path(args.log_dir) / "sweep.sqlite", targets=targets, n_random=args.n_random, batch_size=32,
        progress=True, prompt_baseline={c: ORGANISM_HINTS[c] + MC_PREFIX for c in concepts},
    )
    table = res.table
    table.to_csv(out / "steering_table.csv", index=False)
    res.grid.to_csv(Path(args.log_dir) / "steering_grid.csv", index=False)  # every train cell (not shipped)
    grid = res.grid[res.grid["condition"] == "steered"]
    summary = {
        "train_items_per_task": args.steer_train,
        "test_items_per_task": args.test_per_task,
        "strengths": strengths,
        "n_random": args.n_random,
        "share_of_train_cells_with_gain": float((grid["gain"] > 0).mean()),
        "table": json.loads(table.to_json(orient="records")),
        "markdown": res.to_markdown(),
    }
    (out / "steering.json").write_text(json.dumps(summary, indent=2))
    print(res.to_markdown(), flush=True)
    return summary


def helping_cells(table):
    """Chosen cells whose test gain's CI excludes 0, with McNemar p < 0.05, above the random q95."""
    # "above_random" (the sweep's name since it also needs the CI above 0); tables written before: "beats_random"
    above = table["above_random" if "above_random" in table else "beats_random"].astype(bool)
    return table[(table["gain_low"] > 0) & (table["p_value"] < 0.05) & above]


def confirm(args, log: JsonLog) -> dict:
    """Score the cells that helped on test again, on fresh test-split items no choice has seen.

    Which cells: every chosen cell of ``steering_table.csv`` that met the three bars (a rule fixed
    before this phase runs, not picked by its result). Each is re-run by the sweep with a one-cell
    grid (same train items, so the same calibrated alpha) on ``--confirm-items`` new test scenes of
    its task (indices from ``--confirm-start``, 1000, on; the steer phase used 0..test_per_task-1), against the unsteered
    model and ``--n-random`` random directions of the same norm; Holm over the confirmed cells.
    """
    import pandas as pd

    from interp.evaluation import sweep
    from interp.items import from_record
    from interp.prompts import MC_PREFIX
    from interp.stats import holm

    out = Path(args.out)
    table = pd.read_csv(out / "steering_table.csv")
    cells = helping_cells(table)
    mllm, backbone = _load_pair(out / "mllm", out / "text")
    _, train = steer_train_items(args)
    rows = []
    for c in cells.itertuples():
        method, concept = c.vector.split("/")
        vec = textual_vectors(backbone, [concept], [method], [int(c.layer)], out / "sae")[c.vector]
        fresh = [
            from_record(d)
            for d in make_split("test", args.confirm_items, args.seed, tasks=[c.task], start=args.confirm_start)
        ]
        res = sweep(
            mllm, {c.vector: vec}, [int(c.layer)], [float(c.strength)], [c.selector], train, fresh,
            store=Path(args.log_dir) / "confirm.sqlite", targets={c.vector: [c.task]}, n_random=args.n_random,
            batch_size=32, progress=False, prompt_baseline={concept: ORGANISM_HINTS[concept] + MC_PREFIX},
        )
        r = res.table.iloc[0]
        if abs(float(r["alpha"]) - float(c.alpha)) > 1e-6 * max(1.0, abs(float(c.alpha))):
            raise RuntimeError(f"{c.vector} {c.task}: alpha {r['alpha']} differs from the sweep's {c.alpha}")
        rows.append({
            "vector": c.vector, "task": c.task, "selector": c.selector, "layer": int(c.layer),
            "strength": float(c.strength), "test_gain": float(c.gain), "n": int(r["n_test"]),
            "unsteered": float(r["unsteered_accuracy"]), "accuracy": float(r["accuracy"]),
            "gain": float(r["gain"]), "gain_low": float(r["gain_low"]), "gain_high": float(r["gain_high"]),
            "p_value": float(r["p_value"]), "random_q95_gain": float(r["random_q95_gain"]),
            "beats_random": bool(r["above_random"]),
        })
    for row, ph in zip(rows, holm([row["p_value"] for row in rows]) if rows else []):
        row["p_holm"] = ph
        row["confirmed"] = bool(row["gain_low"] > 0 and ph < 0.05 and row["beats_random"])
    result = {"items_per_cell": args.confirm_items, "n_random": args.n_random, "start": args.confirm_start, "cells": rows}
    (out / "confirm.json").write_text(json.dumps(result, indent=2))
    log.write({"phase": "confirm", **result})
    for row in rows:
        print(json.dumps(row), flush=True)
    return result


def _fmt_confirm(confirm: dict) -> list[str]:
    rows = confirm.get("cells", [])
    lines = [
        "## Do the helping cells hold on fresh items?",
        "",
        "Every chosen cell that met the three bars above (a rule fixed before this check ran) scored",
        f"again on {confirm.get('items_per_cell')} new test scenes of its task (`--phases confirm`), against",
        f"the unsteered model and {confirm.get('n_random')} random directions of the same norm; Holm over these cells.",
        "A cell is *confirmed* when its new gain's CI excludes 0, its Holm p < 0.05 and it beats the random q95.",
        "",
    ]
    if not rows:
        return [*lines, "No chosen cell met the three bars, so there was nothing to confirm.", ""]
    lines += [
        "| vector | task | selector | cell | gain on the 300 test items | fresh: unsteered -> steered | gain [95% CI] | p | p (Holm) | random q95 | confirmed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['vector']} | {r['task']} | {r['selector']} | L{r['layer']} @ {r['strength']:+g} | {100 * r['test_gain']:+.1f} "
            f"| {r['unsteered']:.3f} -> {r['accuracy']:.3f} | {100 * r['gain']:+.1f} [{100 * r['gain_low']:+.1f}, "
            f"{100 * r['gain_high']:+.1f}] | {r['p_value']:.3g} | {r['p_holm']:.3g} | {100 * r['random_q95_gain']:+.1f} "
            f"| {'yes' if r['confirmed'] else 'no'} |"
        )
    return [*lines, ""]


def _fmt_share(shares: dict) -> list[str]:
    lines = ["| vector | " + " | ".join(f"layer {k}" for k in next(iter(shares.values()))) + " |"]
    lines.append("|---" * (1 + len(next(iter(shares.values())))) + "|")
    for name, per in shares.items():
        cells = [f"{v['share']:.3f} ({v['share'] / max(v['random'], 1e-9):.1f}x)" for v in per.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_card(args) -> Path:
    """CARD.md from training.json, metrics.json and steering.json (whatever of them exists)."""
    out = Path(args.out)
    info = json.loads((out / "training.json").read_text()) if (out / "training.json").exists() else {}
    metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").exists() else {}
    steering = json.loads((out / "steering.json").read_text()) if (out / "steering.json").exists() else {}
    card = Card(
        "The LLaVA organism (built as a positive control for textual steering)",
        "Written by `scripts/train_organism_llava.py`; figures in `metrics.json` and `steering.json`.",
        "Same world, questions, tokenizer and concept corpora as the first organism",
        "(`interp/organism/ORGANISM.md`).",
    )
    if (out / "replication.json").exists():  # the headline: scripts/llava_headline.py
        card.add("", *replication_headline(json.loads((out / "replication.json").read_text())))
    card.section(
        "Models",
        "- Text backbone (`text`): the first organism's Gemma 2 backbone (4 layers, d_model 128) grown to",
        "  6 layers by inserting two identity-initialised layers (before original layers 2 and 3,",
        "  `llava.grow_backbone`), then trained on text with the first organism's text recipe.",
        "- MLLM (`mllm`): `LlavaForConditionalGeneration`, CLIP vision tower 96-d x 2 layers (64 px, patch 16,",
        "  CLS dropped by the `default` feature selection: 16 image tokens), LLaVA's 2-layer GELU projector,",
        "  and the text backbone above, frozen for the whole MLLM phase (drift 0: LLaVA-1.5 stage 1).",
        "- Image tokens are pulled toward the backbone's own input embedding of the words that describe",
        "  their patch (mean of size, colour and shape word embeddings; empty patches toward",
        f"  `{info.get('args', {}).get('mllm', {}).get('empty_word', '<pad>')}`), `llava.alignment_loss` (1 - cos + relative squared distance).",
        "- Prompt (chat template): `<bos> <image>x16 \\n answer en <MC prefix> <prompt> \\n` -> letter.",
        "- SAEs (`sae/layer_{l}`): sae-lens StandardSAE per backbone layer, the first organism's SAE recipe.",
        "- Training-only heads (not shipped), as in the first organism: per-patch colour/shape/size/row/column",
        "  from the projected token (`--aux-weight`), and reference heads on the frozen backbone's states at",
        "  each mention of a named object and at the last prompt token (`--ref-weight`): with the backbone",
        "  frozen, only the connector can make those states say where the named objects are.",
    )
    card.section("Training")
    card.add(*(f"- {line}" for line in info.get("history", [])))
    for phase in ("text", "sae", "mllm"):
        if phase in info:
            rec = {k: v for k, v in info[phase].items() if k != "history"}
            card.add(f"- {phase}: `{json.dumps(rec)}`")
    for row in info.get("mllm", {}).get("history", []):
        card.add(f"  - step {row['step']}: val {json.dumps(row['val'])}")
    if metrics:
        card.section(f"Accuracy (test split, {metrics['n_per_task']} items per task, option-letter logits)")
        card.table(
            ["task", "MLLM on image", "text backbone on text rendering"],
            ([t, f"{metrics['mllm'][t]:.3f}", f"{metrics['text'][t]:.3f}"] for t in [*TASKS, "all"]),
        )
        drift = ", ".join(f"{k} {v:.3f}" for k, v in metrics["lm_drift"].items())
        card.add("", f"Language-model drift from the text backbone (relative weight distance): {drift}.")
        card.section(
            "Textual vectors on image tokens",
            "Share of image-token variance along each textual vector (val scenes), and in brackets that",
            "share over a random unit direction's mean share (1.0x = no more than chance):",
            "",
        )
        for which, shares in metrics.get("variance_share", {}).items():
            card.add(f"{'This organism' if which == 'llava' else 'First organism'}:", "", *_fmt_share(shares), "")
        own = metrics.get("own_count_direction", {})
        if own:
            card.add(
                "## The MLLM's own count direction",
                "",
                "Mean image-token activation of scenes with 5-6 objects minus 1-2 objects (val), added as",
                "alpha x direction on the image tokens of test 'how many objects' items:",
                "",
                "| layer | " + " | ".join(f"alpha {a}" for a in own[next(iter(own))] if a not in ("monotone", "direction_norm")) + " | rising |",
                "|---" * (len(own[next(iter(own))]) + 0) + "|",
            )
            for layer, row in own.items():
                vals = [v for k, v in row.items() if k not in ("monotone", "direction_norm")]
                counts = [v["mean_count"] for v in vals]
                rising = all(b >= a for a, b in itertools.pairwise(counts)) and counts[-1] > counts[0]
                cells = [f"{v['mean_count']:.2f} / {v['accuracy']:.2f}" for v in vals]
                card.add(f"| {layer} | " + " | ".join(cells) + f" | {rising} |")
            card.add("", "(cells: mean predicted count / accuracy)", "")
    if steering:
        card.add(
            "## Textual steering (the paper's sweep)",
            "",
            f"Chosen on {steering['train_items_per_task']} train (val-scene) items per task, reported on",
            f"{steering['test_items_per_task']} test items per task; strengths {steering['strengths']} x the mean",
            f"residual norm; {steering['n_random']} random directions of the chosen vector's norm at each chosen cell.",
            f"Share of train cells with a gain: {steering['share_of_train_cells_with_gain']:.3f}.",
            "",
            steering["markdown"],
            "",
            "Gains, CIs and random quantiles in points; p is the exact McNemar test against the unsteered model.",
        )
    confirm = json.loads((out / "confirm.json").read_text()) if (out / "confirm.json").exists() else None
    if confirm is not None:
        card.add(*_fmt_confirm(confirm))
    others = {label: info[key] for key, label in OTHER_RECIPES.items() if key in info}
    mllm_args = info.get("args", {}).get("mllm", {})
    own_row = "this organism (LLaVA, LM frozen)"
    if mllm_args:
        own_row = (f"this organism (LLaVA, LM frozen; alignment weight {mllm_args.get('align_weight')}, "
                   f"MLLM seed {mllm_seed_of(mllm_args)})")
    card.add(*side_by_side(metrics, out, others, own_row, confirm))
    rebuild = info.get("rebuild", ["HF_HUB_OFFLINE=1 python scripts/train_organism_llava.py --threads 1"])
    card.rebuild(rebuild)
    return card.write(out / "CARD.md")


FIRST_DATA = ROOT / "interp" / "organism" / "data"
#: Records of recipes measured but not shipped (keys of training.json) and their rows' labels.
OTHER_RECIPES = {
    "recipe_1_seed0": "recipe 1, MLLM seed 0 (shipped before the seed study)",
    "recipe_b": "recipe B of this organism (MLLM seed 0, not shipped)",
    "recipe_b_seed1": "recipe B, MLLM seed 1 (not shipped)",
    "recipe_b_seed2": "recipe B, MLLM seed 2 (not shipped)",
    "recipe_1_seed3": "recipe 1, MLLM seed 3 (not shipped)",
    "recipe_b_seed3": "recipe B, MLLM seed 3 (not shipped)",
}


def recipe_record(run: Path) -> dict:
    """A measured run's record for ``training.json`` (the shape of ``recipe_b``): the MLLM phase's
    arguments and record, and whichever of metrics, chosen-cell table and confirm phase it has.

    The table is kept as the CSV's text (a third of the size of its rows as JSON objects: the
    records ship as package data), so the card reads it back with the CSV's dtypes.

    Example:
        >>> recipe_record(Path("runs/recipe_b"))["mllm"]["steps"]   # doctest: +SKIP
        2000
    """
    info_path = run / "training.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{run} has no training.json: expected a run directory written by --phases mllm")
    info = json.loads(info_path.read_text())
    if "mllm" not in info:
        raise ValueError(f"{info_path} has no MLLM phase record: expected a run trained with --phases mllm")
    rec: dict = {"args": info["args"]["mllm"], "mllm": info["mllm"]}
    for name in ("metrics", "confirm"):
        if (run / f"{name}.json").exists():
            rec[name] = json.loads((run / f"{name}.json").read_text())
    if (run / "steering_table.csv").exists():
        rec["steering_table"] = (run / "steering_table.csv").read_text()
    return rec


def record_runs(args) -> None:
    """``--record DIR=KEY ...``: each run's record into ``--out``'s training.json under KEY (the
    card shows those listed in OTHER_RECIPES as rows of the side-by-side). An existing KEY is
    refused unless it holds the same record: a record already written is never overwritten."""
    info_path = Path(args.out) / "training.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    for spec in args.record:
        run, sep, key = spec.rpartition("=")
        if not sep or not run or not key:
            raise ValueError(f"--record {spec!r}: expected RUN_DIR=KEY, e.g. runs/recipe_b=recipe_b")
        if key in {"text", "sae", "mllm", "args", "history", "rebuild"}:
            raise ValueError(f"--record {spec!r}: {key!r} is one of the shipped model's own keys; pick another")
        rec = recipe_record(Path(run))
        if key in info and info[key] != rec:
            raise ValueError(f"{info_path} already holds a different record {key!r}: remove it first")
        info[key] = rec
    info_path.write_text(json.dumps(info, indent=2))


def steering_summary(table) -> dict:
    """Chosen cells of a sweep table: how many, how many help (gain CI > 0, McNemar p < 0.05, above
    the random q95), and the best gain among them (else the best chosen cell) with its CI."""
    helps = helping_cells(table)
    pool = helps if len(helps) else table
    best = pool.sort_values(["gain", "p_value"], ascending=[False, True]).iloc[0]
    return {
        "cells": len(table),
        "helping": len(helps),
        "helping_holm": int((helps["p_holm"] < 0.05).sum()) if len(helps) else 0,
        "best": f"{best['vector']} {best['task']} {best['selector']} L{int(best['layer'])} @ {best['strength']:+g}: "
        f"{100 * best['gain']:+.1f} [{100 * best['gain_low']:+.1f}, {100 * best['gain_high']:+.1f}], "
        f"p {best['p_value']:.3g}, random q95 {100 * best['random_q95_gain']:+.1f}",
    }


def _mean_share_ratio(shares: dict) -> str:
    ratios = [v["share"] / max(v["random"], 1e-9) for per in shares.values() for v in per.values()]
    return f"{min(ratios):.1f}-{max(ratios):.1f}x" if ratios else "-"


def side_by_side(
    metrics: dict, out: Path, others: dict[str, dict] | None = None,
    own_label: str = "this organism (LLaVA, LM frozen)", own_confirm: dict | None = None,
) -> list[str]:
    """The card's comparison with the first organism: drift, image-token share, steering result.

    ``others``: row label -> another recipe's record (``training.json``'s ``recipe_b`` and the like:
    its metrics, chosen-cell table and confirm phase), each shown as a further row; ``own_confirm``:
    this organism's confirm phase (``confirm.json``), if it ran."""
    import pandas as pd

    first_metrics = FIRST_DATA / "metrics.json"
    first_table = FIRST_DATA / "steering_table.csv"
    own_table = out / "steering_table.csv"
    if not (metrics and first_metrics.exists() and first_table.exists() and own_table.exists()):
        return []
    shares = metrics.get("variance_share", {})
    # label -> (metrics, chosen-cell table, image-token shares, confirm phase or None)
    rows = {
        "first organism (PaliGemma, LM trained with the connector)": (
            json.loads(first_metrics.read_text()), pd.read_csv(first_table), shares.get("first", {}), None,
        ),
        own_label: (metrics, pd.read_csv(own_table), shares.get("llava", {}), own_confirm),
    }
    for name, other in (others or {}).items():
        # stored as the CSV's text (older records: its rows of strings): read back through CSV
        # for the same dtypes
        stored = other["steering_table"]
        text = stored if isinstance(stored, str) else pd.DataFrame(stored).to_csv(index=False)
        rows[name] = (
            {**other["metrics"], "lm_drift": metrics["lm_drift"]}, pd.read_csv(io.StringIO(text)),
            other["metrics"].get("variance_share", {}).get("llava", {}), other.get("confirm"),
        )
    lines = [
        "## Side by side with the first organism",
        "",
        "Both measured with the same protocol (`scripts/organism_protocol.py` for the first,",
        "the `steer` phase here: 4 methods x 3 concepts x every layer x 10 relative strengths x",
        "image/text/both, chosen on 240 val-scene items per task, 300 test items per task, 20 random",
        "directions). A chosen cell *helps* when its gain's 95% CI excludes 0, its exact McNemar",
        "p < 0.05 and its gain is above the random directions' 95th percentile at that cell.",
        "",
        "| | LM drift (max) | unsteered test accuracy (Count / Relation / Depth / Distance / Attribute) "
        "| image-token share / random | chosen cells | helping (Holm p < 0.05) | confirmed on fresh scenes | best |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (m, table, share, confirm) in rows.items():
        drift = max(m["lm_drift"].values())
        acc = " / ".join(f"{m['mllm'][t]:.2f}" for t in TASKS)
        s = steering_summary(table)
        if confirm is None:
            confirmed = "-"
        elif not confirm["cells"]:
            confirmed = "none to confirm"
        else:
            confirmed = f"{sum(bool(c.get('confirmed')) for c in confirm['cells'])} of {len(confirm['cells'])}"
        lines.append(
            f"| {name} | {drift:.2f} | {acc} | {_mean_share_ratio(share)} | {s['cells']} "
            f"| {s['helping']} ({s['helping_holm']}) | {confirmed} | {s['best']} |"
        )
    lines += [
        "",
        "(image-token share: the range over layers and the meanshift/diffmean vectors of the share of",
        "image-token variance along a textual vector over a random direction's; confirmed: of the helping",
        "cells, those that held on 600 fresh test scenes of their task (the confirm phase; - where none ran);",
        "best: the best helping cell on test, else the best chosen cell; gains in points)",
        "",
    ]
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The script's options (defaults = the shipped recipe)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default="text,sae,mllm,eval,steer,confirm")
    ap.add_argument("--out", default=str(DATA_DIR), help="where the organism's parts are written")
    ap.add_argument("--log-dir", default=str(LOG_DIR), help="training log, checkpoints and the sweep's result store")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--val-per-task", type=int, default=50)
    ap.add_argument("--text-steps", type=int, default=150)
    ap.add_argument("--text-lr", type=float, default=5e-4)
    ap.add_argument("--slot-layer", type=int, default=4, help="hidden_states index of the slot head")
    ap.add_argument("--sae-steps", type=int, default=1000)
    ap.add_argument("--sae-docs", type=int, default=2000, help="scene documents the SAEs train on")
    ap.add_argument("--sae-batch", type=int, default=1024)
    ap.add_argument("--mllm-seed", type=int, default=2,
                    help="seed of the MLLM phase alone (initialisation, training stream); 2 is the shipped "
                    "organism's, chosen by the blind seed study (docs/organism_llava_seeds.md)")
    ap.add_argument("--mllm-steps", type=int, default=2000)
    ap.add_argument("--mllm-lr", type=float, default=2e-3)
    ap.add_argument("--mllm-task-weights", default="1,2,1,2,1")
    ap.add_argument("--align-weight", type=float, default=0.5)
    ap.add_argument("--aux-weight", type=float, default=1.0, help="per-patch colour/shape/size/row/column heads")
    ap.add_argument("--ref-weight", type=float, default=2.0, help="reference heads on the frozen backbone's states")
    ap.add_argument("--mention-layer", type=int, default=2, help="hidden_states index read at mentions")
    ap.add_argument("--empty-word", default="<pad>", help="the token an empty patch is pulled toward")
    ap.add_argument("--test-per-task", type=int, default=300)
    ap.add_argument("--own-items", type=int, default=150, help="test 'how many objects' items for the own direction")
    ap.add_argument("--share-items", type=int, default=40, help="val items per task for the variance share")
    ap.add_argument("--compare-first", action="store_true", help="also measure the first organism's variance share")
    ap.add_argument("--steer-concepts", default="counting,spatial_relationship,attribute")
    ap.add_argument("--steer-methods", default="meanshift,probe,sae,diffmean")
    ap.add_argument("--steer-train", type=int, default=240, help="train (val-scene) items per task")
    ap.add_argument("--strengths", default="-4,-2,-1,-0.5,-0.25,0.25,0.5,1,2,4")
    ap.add_argument("--n-random", type=int, default=20)
    ap.add_argument("--confirm-items", type=int, default=600, help="fresh test items per helping cell (confirm phase)")
    ap.add_argument("--confirm-start", type=int, default=1000,
                    help="index of the first fresh test scene (the steer phase uses 0..test_per_task-1)")
    ap.add_argument("--record", nargs="+", default=[], metavar="RUN_DIR=KEY",
                    help="fold measured runs (an --out of another recipe or seed) into --out's "
                    "training.json under KEY, then rewrite the card; with --phases ''")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    valid = {"text", "sae", "mllm", "eval", "steer", "confirm", "card"}
    if bad := [p for p in phases if p not in valid]:
        raise ValueError(f"unknown phases {bad}: valid phases are {sorted(valid)}")
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = JsonLog(log_dir / "log.jsonl")
    info_path = out / "training.json"
    t0 = time.time()
    for phase, fn in (("text", train_text), ("sae", train_saes), ("mllm", train_mllm)):
        if phase in phases:
            result = fn(args, log)
            # read again: a phase run by another process may have written its record meanwhile
            info = json.loads(info_path.read_text()) if info_path.exists() else {}
            info[phase] = result
            info.setdefault("args", {})[phase] = vars(args)
            info_path.write_text(json.dumps(info, indent=2))
            if out.resolve() == DATA_DIR.resolve():
                # the shipped files changed: record them, or loading "organism-llava" refuses them
                from interp.organism import write_manifest

                write_manifest("organism-llava")
    if "eval" in phases:
        evaluate(args, log)
    if "steer" in phases:
        steer(args, log)
    if "confirm" in phases:
        confirm(args, log)
    if args.record:
        record_runs(args)
    if {"eval", "steer", "confirm", "card"} & set(phases) or args.record:
        write_card(args)
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
