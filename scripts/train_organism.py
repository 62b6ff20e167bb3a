"""Rebuild interp's model organism from seeds: tokenizer, text backbone, SAEs, MLLM, card.

Phases (``--phases``, default all, in this order):
  data  write the concept corpora -> data/concepts/
  text  train the Gemma 2 text backbone -> interp/organism/data/text/
  sae   train one sae-lens SAE per backbone layer -> data/sae/layer_{l}/
  mllm  train the PaliGemma (LM initialised from the backbone) -> data/mllm/, keeping every
        evaluated checkpoint under runs/organism/mllm_checkpoints/ and shipping the one the
        headroom rule picks (``--mllm-select``)
  eval  measure everything on the test split -> data/metrics.json and interp/organism/ORGANISM.md

Example:
    HF_HUB_OFFLINE=1 python scripts/train_organism.py --threads 1   # everything (about an hour)
    HF_HUB_OFFLINE=1 python scripts/train_organism.py --eval-only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import torch.nn.functional as F

from interp.organism import DATA_DIR
from interp.organism.corpus import TAXONOMIES, concept_sentences, contrast_pairs
from interp.organism.recipe import phases
from interp.organism.recipe.batches import (
    AUX_SIZES,
    N_IMAGE_TOKENS,
    last_prompt_position,
    mllm_batch,
    patch_targets,
    reference_heads,
    reference_loss,
    reference_targets,
    text_qa_batch,
)
from interp.organism.recipe.card import Card
from interp.organism.recipe.evaluate import (
    choose_checkpoint,
    letter_accuracy,
    mllm_scorer,
    text_scorer,
)
from interp.organism.recipe.model import build_processor, build_tokenizer, mllm_config
from interp.organism.recipe.phases import text_backbone_dir, train_saes, train_text
from interp.organism.recipe.training import (
    Budget,
    JsonLog,
    cosine_lr,
    save_mllm,
    seed_everything,
    train_item_stream,
)
from interp.organism.scenes import TASKS, make_split
from interp.progress import Progress

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "interp" / "organism" / "ORGANISM.md"
LOG_DIR = ROOT / "runs" / "organism"


def train_mllm(args, log: JsonLog) -> dict:
    """Train the PaliGemma on image + question -> letter, LM initialised from the text backbone."""
    from transformers import AutoModelForCausalLM, PaliGemmaForConditionalGeneration

    seed_everything(args.seed)
    tok = build_tokenizer(args.seed)
    nl = tok.convert_tokens_to_ids("\n")
    model = PaliGemmaForConditionalGeneration(mllm_config(len(tok.get_vocab())))
    text = AutoModelForCausalLM.from_pretrained(text_backbone_dir(args, args.mllm_text))
    model.model.language_model.load_state_dict(text.model.state_dict())
    if args.mllm_resume:
        # continue training an earlier organism MLLM (all of it)
        model = PaliGemmaForConditionalGeneration.from_pretrained(args.mllm_resume)
    if args.mllm_init_vision:
        # warm start of the vision side (tower + projector) from an earlier organism MLLM
        prev = PaliGemmaForConditionalGeneration.from_pretrained(args.mllm_init_vision)
        model.model.vision_tower.load_state_dict(prev.model.vision_tower.state_dict())
        model.model.multi_modal_projector.load_state_dict(
            prev.model.multi_modal_projector.state_dict()
        )
        del prev
    model.lm_head.weight = model.model.language_model.embed_tokens.weight
    del text
    d = model.config.text_config.hidden_size
    aux = torch.nn.Linear(d, sum(AUX_SIZES))
    heads = reference_heads(d)
    captured: dict[str, torch.Tensor] = {}

    def grab(_m, _i, out):
        captured["feats"] = out

    lm_params = list(model.model.language_model.parameters())
    lm_ids = {id(p) for p in lm_params}
    other = (
        [p for p in model.parameters() if id(p) not in lm_ids]
        + list(aux.parameters())
        + list(heads.parameters())
    )
    opt = torch.optim.AdamW(
        [
            {"params": lm_params, "lr": args.mllm_lm_lr, "base": args.mllm_lm_lr},
            {"params": other, "lr": args.mllm_lr, "base": args.mllm_lr},
        ],
        weight_decay=0.01,
    )
    mweights = (
        [float(w) for w in args.mllm_task_weights.split(",")] if args.mllm_task_weights else None
    )
    items = train_item_stream(args.seed + 1, weights=mweights)
    val = make_split("val", args.val_per_task, args.seed)
    out_dir = Path(args.mllm_out) if args.mllm_out else DATA_DIR / "mllm"
    best = -1.0
    t0 = time.time()
    handle = model.model.multi_modal_projector.register_forward_hook(grab)
    bar = Progress()
    last = {}
    history = []
    done = 0
    try:
        model.train()
        budget = Budget(args.mllm_steps, args.mllm_minutes)
        for step in bar.track(range(args.mllm_steps), "mllm"):
            prog = budget.progress(step)
            if prog >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = g["base"] * cosine_lr(step, args.mllm_steps, warmup=200, progress=prog)
            batch_items = [next(items) for _ in range(args.batch)]
            b = mllm_batch(batch_items, tok, nl)
            out = model(**b, output_hidden_states=args.mllm_ref_weight > 0)
            logits = aux(captured["feats"])
            tgt = patch_targets(batch_items)
            l_aux = torch.zeros(())
            off = 0
            for k, n in enumerate(AUX_SIZES):
                l_aux = l_aux + F.cross_entropy(
                    logits[..., off : off + n].reshape(-1, n), tgt[..., k].reshape(-1)
                )
                off += n
            l_aux = l_aux / len(AUX_SIZES)
            loss = out.loss + args.aux_weight * l_aux
            l_ref = torch.zeros(())
            if args.mllm_ref_weight > 0:
                last_pos = last_prompt_position(b)
                m, sl = reference_targets(
                    batch_items, b["input_ids"], tok, last_pos, start=N_IMAGE_TOKENS
                )
                l_ref = reference_loss(
                    out.hidden_states, heads, m, sl, last_pos, args.mention_layer, args.slot_layer
                )
                loss = loss + args.mllm_ref_weight * l_ref
            if args.mllm_text_qa > 0:
                tq = text_qa_batch([next(items) for _ in range(args.mllm_text_qa)], tok, nl)
                tt = (~tq["answer_mask"]).long() * 0 + tq["answer_mask"].long()
                tt = torch.where(tq["attention_mask"].bool(), tt, torch.ones_like(tt))
                lab = torch.where(
                    tq["answer_mask"], tq["input_ids"], torch.full_like(tq["input_ids"], -100)
                )
                out_t = model(
                    input_ids=tq["input_ids"],
                    attention_mask=tq["attention_mask"],
                    token_type_ids=tt,
                    labels=lab,
                )
                loss = loss + out_t.loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            last = {
                "answer_loss": out.loss.item(),
                "aux_loss": float(l_aux.detach()),
                "ref_loss": l_ref.item(),
            }
            bar.status(f"ans {out.loss.item():.3f} aux {float(l_aux.detach()):.3f} ref {l_ref.item():.3f}")
            done = step + 1
            if done % args.eval_every == 0 or budget.progress(done) >= 1.0:
                model.eval()
                handle.remove()
                acc = letter_accuracy(mllm_scorer(model, tok), val)
                handle = model.model.multi_modal_projector.register_forward_hook(grab)
                model.train()
                history.append({"step": step + 1, **last, "val": acc})
                log.write({"phase": "mllm", "step": step + 1, **last, "val": acc})
                bar.note(
                    f"mllm step {step + 1}: ans {out.loss.item():.3f} aux {float(l_aux.detach()):.3f} "
                    f"ref {l_ref.item():.3f} val {acc}"
                )
                if args.mllm_keep_all or args.mllm_select == "headroom":
                    save_mllm(model, _kept_dir(out_dir, step + 1), args.seed, build_processor)
                if acc["all"] >= best:
                    best = acc["all"]
                    save_mllm(model, out_dir, args.seed, build_processor)
                    log.write({"phase": "mllm", "saved_step": step + 1, "val_all": best})
    finally:
        handle.remove()
    best_row = max(history, key=lambda r: r["val"]["all"]) if history else {}
    if args.mllm_select == "headroom":
        best_row = _select_headroom(args, history, out_dir, val, log) or best_row
    return {
        "steps": done,
        "seconds": round(time.time() - t0),
        "saved_step": best_row.get("step"),
        "saved_val": best_row.get("val"),
        **last,
    }


def _kept_dir(out_dir: Path, step: int) -> Path:
    """Where ``--mllm-keep-all`` keeps the checkpoint of ``step`` (never inside the package data)."""
    base = LOG_DIR if out_dir.resolve() == (DATA_DIR / "mllm").resolve() else out_dir.parent
    return base / f"{out_dir.name}_checkpoints" / f"step{step}"


def _select_headroom(
    args, history: list[dict], out_dir: Path, val: list[dict], log: JsonLog
) -> dict | None:
    """Replace ``out_dir`` by the kept checkpoint that :func:`choose_checkpoint` picks, if any."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text_dir = text_backbone_dir(args, args.select_text)
    text = AutoModelForCausalLM.from_pretrained(text_dir).eval()
    with torch.no_grad():
        text_val = letter_accuracy(text_scorer(text, AutoTokenizer.from_pretrained(text_dir)), val)
    row = choose_checkpoint(history, text_val)
    log.write({"phase": "mllm", "select": "headroom", "text_val": text_val, "chosen": row})
    if row is None:
        print(f"no checkpoint meets the headroom rule (text val {text_val}); keeping the best")
        return None
    kept = _kept_dir(out_dir, row["step"])
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(kept, out_dir)
    print(f"headroom rule chose step {row['step']}: val {row['val']} (text val {text_val})")
    return row


def write_concepts(args) -> dict:
    """Write the concept corpora and contrast pairs as JSONL."""
    out = DATA_DIR / "concepts"
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for tx in TAXONOMIES:
        rows = concept_sentences(tx, 60, args.seed)
        pairs = contrast_pairs(tx, 30, args.seed)
        (out / f"{tx}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out / f"{tx}.pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
        counts[tx] = {"sentences": len(rows), "pairs": len(pairs)}
    return counts


def evaluate_all(args) -> dict:
    """Measure MLLM (image) and text backbone (text rendering) per task, and the SAEs."""
    from interp.organism.recipe.evaluate import (
        evaluate_mllm,
        evaluate_saes,
        evaluate_text,
        language_model_drift,
    )

    t0 = time.time()
    res = {
        "scoring": "option-letter logits at the last prompt position",
        "split": "test",
        "n_per_task": args.test_per_task,
        "mllm": evaluate_mllm(args.test_per_task, "test", args.seed),
        "text": evaluate_text(args.test_per_task, "test", args.seed),
        "sae": evaluate_saes(),
        "lm_drift": language_model_drift(),
    }
    res["eval_seconds"] = round(time.time() - t0)
    return res


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def write_card(metrics: dict, train_info: dict, args) -> None:
    """Write ORGANISM.md from the measured figures and training record."""
    from transformers import AutoConfig

    tcfg = AutoConfig.from_pretrained(DATA_DIR / "text")
    mcfg = AutoConfig.from_pretrained(DATA_DIR / "mllm")
    n_params = train_info.get("params", {})
    card = Card(
        "The interp model organism",
        "Written by `scripts/train_organism.py`; the figures below are also in `data/metrics.json`.",
    )
    card.section(
        "World",
        "64 x 64 px scenes on a 4 x 4 grid (one object per cell, never overlapping): 3 shapes (circle,",
        "square, triangle) x 4 colours (red, green, blue, yellow) x 2 sizes, 1-6 objects, no two objects",
        "with the same colour and shape. Depth cue: row 1 (top) is far, row 4 (bottom) is near, and drawn",
        "size grows with the row. Questions in CV-Bench format: Count (all objects: options 1-6; one",
        "shape: options 0-4), Relation (left/right or above/below, 2 options), Depth (closer to the",
        "camera, 2), Distance (which of two is closer to a third, 2), Attribute (colour of a shape, 4;",
        "shape of a colour, 3). Options come in a fixed order (see `interp/organism/scenes.py`).",
        "Splits by a hash of the scene content (80/10/10), so no scene is shared between splits.",
        "Concept corpora (`data/concepts`, in the world's words, with anchor words and contrast pairs) for",
        "6 of the 8 taxonomies: spatial_relationship, counting, attribute, entity, comparison, negation;",
        "action and temporal have no counterpart in still scenes of shapes.",
    )
    card.section(
        "Models",
        f"- Tokenizer: word level, {len(json.loads((DATA_DIR / 'text' / 'tokenizer.json').read_text())['model']['vocab'])} tokens"
        " (`<pad> <eos> <bos> <unk> <image>` + the world's words, punctuation and newline).",
        f"- Text backbone (`data/text`): Gemma2ForCausalLM, {tcfg.num_hidden_layers} layers, d_model {tcfg.hidden_size},"
        f" {tcfg.num_attention_heads} heads, MLP {tcfg.intermediate_size}; {n_params.get('text', '?')} parameters.",
        f"- MLLM (`data/mllm`): PaliGemmaForConditionalGeneration, SigLIP {mcfg.vision_config.hidden_size}-d x"
        f" {mcfg.vision_config.num_hidden_layers} layers, {mcfg.vision_config.image_size} px, patch"
        f" {mcfg.vision_config.patch_size} ({(mcfg.vision_config.image_size // mcfg.vision_config.patch_size) ** 2}"
        f" image tokens), image token id {mcfg.image_token_id}; language model initialised from the text backbone;"
        f" {n_params.get('mllm', '?')} parameters.",
        f"- SAEs (`data/sae/layer_{{l}}`): sae-lens StandardSAE, d_sae {args.sae_width}, hook"
        " `blocks.{l}.hook_resid_post` (= HF `hidden_states[l+1]`), with `sparsity.safetensors`.",
        f"- Shipped size: mllm {_size(DATA_DIR / 'mllm') / 1e6:.1f} MB, text {_size(DATA_DIR / 'text') / 1e6:.1f} MB,"
        f" sae {_size(DATA_DIR / 'sae') / 1e6:.1f} MB, concepts {_size(DATA_DIR / 'concepts') / 1e6:.2f} MB.",
    )
    card.section(
        "Training",
        f"Seed {args.seed}, batch {args.batch}, AdamW, warmup + cosine. Logs: `runs/organism/log.jsonl` (copied to `data/training_log.jsonl`).",
        "",
    )
    for line in train_info.get("history", []):
        card.add(f"- {line}")
    for k, v in train_info.items():
        if k not in ("params", "history", "rebuild", "shortfalls", "args"):
            card.add(f"- {k}: `{json.dumps(v)}`")
    card.add(
        "",
        "Text backbone data: train-split scene renderings followed by true statements (relations, depth,",
        "counts, colours), the concept sentences, and questions answered from the rendering",
        "(`<bos> rendering \\n answer en <MC prefix> <prompt> \\n letter <eos>`; loss on every token + the answer).",
        "MLLM data: train-split image + `answer en <MC prefix> <prompt>` -> letter `<eos>` (answer-only loss)",
        "plus an auxiliary per-patch loss (a linear head, not shipped, predicts colour/shape/size/row/column",
        "of the object in each patch from the projected image token).",
        "",
        "Reference heads (both models, training only, not shipped): at every mention of a named object in",
        "the question and options, a linear head on `hidden_states[2]` predicts the object's row, column,",
        "colour and shape; at the last prompt token a head on `hidden_states[3]` predicts the row and",
        "column of each named object in its role (Relation: subject, reference; Depth: the two options;",
        "Distance: the two options, then the reference; Attribute: the object). Without them neither model",
        "learned to look a named object up: in the earlier staged organism (about 6,000 MLLM steps in all),",
        "validation Relation stayed at 0.58-0.72 and Distance at 0.53-0.62 through its last 2,300-step",
        "stage, with 3x task weights. Resumed from that MLLM with the heads, Relation stayed at 0.63-0.76",
        "for about 1,800 steps, then rose to 0.98 within 400 more. From scratch (the shipped run) the",
        "lookup comes early: the text backbone's Relation is 0.99 at step 600 and the MLLM's 1.0 at step 500.",
        "",
        "Checkpoint rule (`--mllm-select headroom`, `interp.organism.recipe.evaluate.choose_checkpoint`): every",
        "evaluated MLLM checkpoint is kept, and the one shipped is the best on validation among those where",
        "each task is at least 0.15 over chance, Relation >= 0.80, Attribute >= 0.90, no task is above the",
        "text backbone's validation accuracy (textual superiority), and some task is at most 0.90 (room to",
        "steer). Trained on, the MLLM saturates every task and an organism at ceiling cannot show steering",
        "helping.",
    )
    card.section(f"Accuracy (held-out test split, {metrics['n_per_task']} items per task, {metrics['scoring']})")
    chance = {
        "Count": "~0.18",
        "Relation": "0.50",
        "Depth": "0.50",
        "Distance": "0.50",
        "Attribute": "~0.29",
    }
    card.table(
        ["task", "chance", "MLLM on image", "text backbone on text rendering"],
        ([t, chance.get(t, ""), f"{metrics['mllm'][t]:.3f}", f"{metrics['text'][t]:.3f}"] for t in [*TASKS, "all"]),
    )
    if metrics.get("lm_drift"):
        drift = ", ".join(f"{k} {v:.2f}" for k, v in metrics["lm_drift"].items())
        card.add(
            "",
            "How far the MLLM's language model moved from the shipped text backbone (relative Frobenius",
            f"distance of the weights, `evaluate.language_model_drift`): {drift}.",
        )
    if train_info.get("shortfalls"):
        card.section("Limits", *(f"- {x}" for x in train_info["shortfalls"]))
    card.section("SAEs (held-out test-split text, BOS excluded)")
    card.table(
        ["layer", "FVE", "L0", "dead fraction"],
        ([k, f"{v['fve']:.3f}", f"{v['l0']:.1f}", f"{v['dead_fraction']:.3f}"] for k, v in metrics["sae"].items()),
    )
    steering = DATA_DIR / "steering.md"
    if steering.exists():
        # Written from scripts/organism_protocol.py's tables; kept when the card is rewritten.
        card.add("", steering.read_text().rstrip())
    card.rebuild(
        [
            *(train_info["rebuild"] if "rebuild" in train_info else [rebuild_command(args)]),
            "HF_HUB_OFFLINE=1 python scripts/train_organism.py --eval-only   # re-measure the shipped weights",
            "HF_HUB_OFFLINE=1 python -m interp.organism.recipe.evaluate --n-per-task 300   # print the figures only",
        ]
    )
    card.write(CARD)


def rebuild_command(args) -> str:
    """The command line that reruns training with ``args``: only options that differ from the
    defaults, flags without values (``--phases`` and ``--eval-only`` left out).

    Example:
        >>> rebuild_command(build_parser().parse_args(["--threads", "1", "--mllm-keep-all"]))
        'HF_HUB_OFFLINE=1 python scripts/train_organism.py --mllm-keep-all --threads 1'
    """
    defaults = vars(build_parser().parse_args([]))
    parts = []
    for k, v in sorted(vars(args).items()):
        if k in ("phases", "eval_only") or k not in defaults or v == defaults[k]:
            continue
        flag = "--" + k.replace("_", "-")
        parts.append(flag if v is True else f"{flag} {v}")
    return " ".join(["HF_HUB_OFFLINE=1 python scripts/train_organism.py", *parts])


def build_parser() -> argparse.ArgumentParser:
    """The training script's command-line options (defaults = the shipped recipe)."""
    return phases.build_parser(__doc__)


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    phases = (
        ["eval"] if args.eval_only else [p.strip() for p in args.phases.split(",") if p.strip()]
    )
    valid = {"data", "text", "sae", "mllm", "eval"}
    bad = [p for p in phases if p not in valid]
    if bad:
        raise ValueError(f"unknown phases {bad}: valid phases are {sorted(valid)}")
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = JsonLog(LOG_DIR / "log.jsonl")
    # a run that writes its models elsewhere (--text-out / --mllm-out) keeps its record there too,
    # so the shipped organism's training.json is only rewritten by a run that rewrites the organism
    side = args.text_out or args.mllm_out or args.sae_out
    info_path = Path(side).parent / "training.json" if side else DATA_DIR / "training.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    if "data" in phases:
        info["concepts"] = write_concepts(args)
    if "text" in phases:
        info["text"] = train_text(args, log)
    if "sae" in phases:
        info["sae"] = {k: v for k, v in train_saes(args, log).items() if k == "seconds"}
        info["sae"].update(
            {"steps_per_layer": args.sae_steps, "width": args.sae_width, "l1": args.sae_l1}
        )
    if "mllm" in phases:
        info["mllm"] = train_mllm(args, log)
    if {"text", "sae", "mllm"} & set(phases):
        info["args"] = {k: v for k, v in vars(args).items() if k not in ("phases", "eval_only")}
        info.setdefault("train_seconds", {})
        for p in ("text", "sae", "mllm"):
            if p in phases:
                info["train_seconds"][p] = info[p]["seconds"]
    info_path.write_text(json.dumps(info, indent=2))
    if "eval" in phases:
        from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

        info["params"] = {
            "text": sum(
                p.numel()
                for p in AutoModelForCausalLM.from_pretrained(DATA_DIR / "text").parameters()
            ),
            "mllm": sum(
                p.numel()
                for p in AutoModelForImageTextToText.from_pretrained(DATA_DIR / "mllm").parameters()
            ),
        }
        metrics = evaluate_all(args)
        metrics["params"] = info["params"]
        (DATA_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2))
        card_args = argparse.Namespace(**{**vars(args), **info.get("args", {})})
        write_card(metrics, info, card_args)
        print(json.dumps(metrics, indent=2))
    if not side and {"data", "text", "sae", "mllm"} & set(phases):
        # The shipped files changed: record their sizes and hashes, which loading checks.
        from interp.organism import write_manifest

        write_manifest()
    print(f"done in {time.time() - t_all:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
