"""The first organism's training options and its text-backbone and SAE phases.

``scripts/train_organism.py`` runs them (with its own MLLM phase, evaluation and card), and
``scripts/train_organism_llava.py`` reuses both phases on its grown backbone, with these options'
defaults for everything it does not set itself.

Example:
    >>> args = build_parser().parse_args(["--text-steps", "2"])
    >>> train_text(args, JsonLog(None))   # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import random
import shutil
import time
from pathlib import Path

import torch

from interp.organism.corpus import TAXONOMIES, concept_sentences
from interp.organism.parts import DATA_DIR
from interp.organism.prompting import format_text_prompt
from interp.organism.recipe.batches import (
    last_prompt_position,
    reference_heads,
    reference_loss,
    reference_targets,
    text_lm_batch,
    text_qa_batch,
)
from interp.organism.recipe.evaluate import letter_accuracy, text_scorer
from interp.organism.recipe.model import build_tokenizer, text_config
from interp.organism.recipe.training import (
    Budget,
    JsonLog,
    _lm_loss,
    cosine_lr,
    save_pretrained_atomically,
    scene_text_stream,
    seed_everything,
    train_item_stream,
)
from interp.organism.scenes import make_split
from interp.progress import Progress


def train_text(args, log: JsonLog) -> dict:
    """Train the text backbone as an LM on scene text, concept sentences and text QA."""
    from transformers import Gemma2ForCausalLM

    seed_everything(args.seed)
    tok = build_tokenizer(args.seed)
    nl = tok.convert_tokens_to_ids("\n")
    if args.text_resume:
        model = Gemma2ForCausalLM.from_pretrained(args.text_resume)
    else:
        model = Gemma2ForCausalLM(text_config(len(tok.get_vocab())))
    model.train()
    heads = reference_heads(model.config.hidden_size)
    params = list(model.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.text_lr, weight_decay=0.01, betas=(0.9, 0.98))
    weights = (
        [float(w) for w in args.text_task_weights.split(",")] if args.text_task_weights else None
    )
    items = train_item_stream(args.seed, weights=weights)
    docs = scene_text_stream(args.seed)
    concepts = [r["sentence"] for tx in TAXONOMIES for r in concept_sentences(tx, 60, args.seed)]
    rng = random.Random(args.seed)
    val = make_split("val", args.val_per_task, args.seed)
    n_qa = int(args.batch * args.text_qa_frac)
    n_con = max(1, (args.batch - n_qa) // 4)
    n_doc = max(1, args.batch - n_qa - n_con)
    open_items = train_item_stream(args.seed + 2)
    t0 = time.time()
    bar = Progress()
    last = {}
    done = 0
    budget = Budget(args.text_steps, args.text_minutes)
    for step in bar.track(range(args.text_steps), "text backbone"):
        prog = budget.progress(step)
        if prog >= 1.0:
            break
        for g in opt.param_groups:
            g["lr"] = args.text_lr * cosine_lr(step, args.text_steps, progress=prog)
        qa_items = [next(items) for _ in range(n_qa)]
        qa = text_qa_batch(qa_items, tok, nl)
        lm_texts = []
        for _ in range(n_doc):
            r = rng.random()
            if r < 0.5:
                lm_texts.append(next(docs))
            elif r < 1.0 - args.text_drill_frac:
                lm_texts.append(_open_answer(next(open_items)))
            else:
                lm_texts.append(_letter_drill(next(open_items), rng))
        lm = text_lm_batch(lm_texts + rng.sample(concepts, n_con), tok)
        res_qa = model(
            input_ids=qa["input_ids"],
            attention_mask=qa["attention_mask"],
            output_hidden_states=args.text_ref_weight > 0,
        )
        out_qa = res_qa.logits
        out_lm = model(input_ids=lm["input_ids"], attention_mask=lm["attention_mask"]).logits
        l_ans = _lm_loss(out_qa, qa["input_ids"], qa["answer_mask"])
        l_qa = _lm_loss(out_qa, qa["input_ids"], qa["attention_mask"])
        l_lm = _lm_loss(out_lm, lm["input_ids"], lm["attention_mask"])
        loss = l_lm + 0.5 * l_qa + args.text_answer_weight * l_ans
        l_ref = torch.zeros(())
        if args.text_ref_weight > 0:
            last_pos = last_prompt_position(qa)
            # the question starts after the rendering, at the first newline
            first_nl = (qa["input_ids"] == nl).float().argmax(1)
            m, sl = reference_targets(qa_items, qa["input_ids"], tok, last_pos, start=first_nl)
            l_ref = reference_loss(
                res_qa.hidden_states, heads, m, sl, last_pos, args.mention_layer, args.slot_layer
            )
            loss = loss + args.text_ref_weight * l_ref
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        bar.status(f"lm {l_lm.item():.3f} ans {l_ans.item():.3f} ref {l_ref.item():.3f}")
        last = {"lm_loss": l_lm.item(), "answer_loss": l_ans.item(), "ref_loss": l_ref.item()}
        done = step + 1
        if done % args.eval_every == 0 or budget.progress(done) >= 1.0:
            model.eval()
            acc = letter_accuracy(text_scorer(model, tok), val)
            _save_text(model, args.seed, Path(args.text_out) if args.text_out else None)
            model.train()
            log.write({"phase": "text", "step": done, **last, "val": acc})
            bar.note(
                f"text step {done}: lm {l_lm.item():.3f} ans {l_ans.item():.3f} ref {l_ref.item():.3f} val {acc}"
            )
    model.eval()
    _save_text(model, args.seed, Path(args.text_out) if args.text_out else None)
    return {"steps": done, "seconds": round(time.time() - t0), **last}


def _open_answer(item: dict) -> str:
    """An open-answer QA document: rendering, question, the answer in words (teaches retrieval)."""
    from interp.organism.scenes import render_text

    return f"{render_text(item['scene'])}\n{item['question']} {item['answer_text']} ."


def _letter_drill(item: dict, rng: random.Random) -> str:
    """A choice list, then a choice's text and its letter (teaches the letter lookup alone)."""
    from interp.organism.scenes import LETTERS, format_cvbench_prompt

    k = rng.randrange(len(item["choices"]))
    prompt = format_cvbench_prompt(item["question"], item["choices"])
    return f"{prompt}\n{item['choices'][k]}\n{LETTERS[k]}"


def _save_text(model, seed: int, out: Path | None = None) -> None:
    save_pretrained_atomically(out or DATA_DIR / "text", model, build_tokenizer(seed))


def _sae_texts(args, n_docs: int) -> list[str]:
    docs = scene_text_stream(args.seed + 7)
    texts = [next(docs) for _ in range(n_docs)]
    texts += [r["sentence"] for tx in TAXONOMIES for r in concept_sentences(tx, 60, args.seed)]
    items = make_split("train", n_docs // 10, args.seed + 7)
    texts += [format_text_prompt(it) for it in items]
    return texts


def train_saes(args, log: JsonLog) -> dict:
    """Train one StandardSAE per backbone layer on residual activations; save in sae-lens format."""
    from sae_lens import SAE, StandardSAE, StandardSAEConfig
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from interp.organism.recipe.evaluate import residual_activations, sae_eval_texts, sae_metrics

    seed_everything(args.seed)
    text_dir = text_backbone_dir(args, "")
    model = AutoModelForCausalLM.from_pretrained(text_dir).eval()
    tok = AutoTokenizer.from_pretrained(text_dir)
    texts = _sae_texts(args, args.sae_docs)
    heldout = sae_eval_texts()
    result: dict[str, object] = {}
    t0 = time.time()
    for layer in range(model.config.num_hidden_layers):
        acts = residual_activations(model, tok, texts, layer)
        d = acts.shape[1]
        cfg = StandardSAEConfig(d_in=d, d_sae=args.sae_width)
        cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
        cfg.metadata.model_name = "interp-organism-text"
        sae = StandardSAE(cfg)
        with torch.no_grad():
            w = torch.randn(d, args.sae_width)
            w = w / w.norm(dim=0, keepdim=True)
            sae.W_dec.copy_(w.T)
            sae.W_enc.copy_(w)
            sae.b_dec.copy_(acts.mean(0))
            sae.b_enc.zero_()
        opt = torch.optim.Adam(sae.parameters(), lr=args.sae_lr)
        var = ((acts - acts.mean(0)) ** 2).sum(1).mean()
        scale = acts.norm(dim=1).mean()
        g = torch.Generator().manual_seed(args.seed + layer)
        bar = Progress()
        fired_recent = torch.zeros(args.sae_width)
        for step in bar.track(range(args.sae_steps), f"sae layer {layer}"):
            idx = torch.randint(0, acts.shape[0], (args.sae_batch,), generator=g)
            x = acts[idx]
            f = sae.encode(x)
            xh = sae.decode(f)
            mse = ((x - xh) ** 2).sum(1).mean() / var
            l1 = (f * sae.W_dec.norm(dim=1)).sum(1).mean() / scale
            warm = min(1.0, (step + 1) / (args.sae_steps * 0.2))
            loss = mse + args.sae_l1 * warm * l1
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            fired_recent += (f > 0).float().sum(0).detach()
            # resample features that stayed silent over the last window (early on only)
            if (step + 1) % 500 == 0:
                dead = fired_recent == 0
                if dead.any() and step < args.sae_steps * 0.7:
                    with torch.no_grad():
                        err = (x - xh).detach()
                        pick = err[torch.randint(0, err.shape[0], (int(dead.sum()),), generator=g)]
                        pick = pick / pick.norm(dim=1, keepdim=True).clamp(min=1e-6)
                        sae.W_dec[dead] = pick
                        sae.W_enc[:, dead] = pick.T * 0.2
                        sae.b_enc[dead] = 0.0
                fired_recent.zero_()
            if step % 50 == 0:
                bar.status(f"mse {mse.item():.3f} l0 {(f > 0).float().sum(1).mean().item():.1f}")
        out = (Path(args.sae_out) if args.sae_out else DATA_DIR / "sae") / f"layer_{layer}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        sae.eval()
        sae.save_model(str(out))
        with torch.no_grad():
            freq = (sae.encode(acts) > 0).float().mean(0)
        save_file({"sparsity": torch.log10(freq + 1e-10)}, str(out / "sparsity.safetensors"))
        loaded = SAE.load_from_disk(str(out))
        m = sae_metrics(loaded, residual_activations(model, tok, heldout, layer))
        m["train_tokens"] = int(acts.shape[0])
        result[f"layer_{layer}"] = m
        log.write({"phase": "sae", "layer": layer, **m})
        bar.note(f"sae layer {layer}: {m}")
    result["seconds"] = round(time.time() - t0)
    return result


def text_backbone_dir(args, explicit: str) -> Path:
    """The text backbone a phase reads: ``explicit`` if given, else ``--text-out``, else the shipped one.

    Example:
        >>> text_backbone_dir(build_parser().parse_args(["--text-out", "runs/t"]), "").as_posix()
        'runs/t'
    """
    if explicit:
        return Path(explicit)
    return Path(args.text_out) if args.text_out else DATA_DIR / "text"


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    """The first organism's training options (defaults = the shipped recipe); ``description`` is
    the script's help text. The LLaVA organism's script reads its text and SAE defaults here.

    Example:
        >>> build_parser().parse_args([]).text_steps
        2000
    """
    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--phases", default="data,text,sae,mllm,eval")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--text-steps", type=int, default=2000)
    ap.add_argument("--text-minutes", type=float, default=0, help="time budget (0 = steps only)")
    ap.add_argument("--mllm-minutes", type=float, default=0, help="time budget (0 = steps only)")
    ap.add_argument("--text-resume", default="", help="continue from this text checkpoint dir")
    ap.add_argument(
        "--text-out", default="", help="save the text backbone here instead of data/text"
    )
    ap.add_argument(
        "--text-task-weights", default="1,2,1.5,2,1.5", help="QA task weights, e.g. 1,2,2,2,1"
    )
    ap.add_argument("--text-drill-frac", type=float, default=0.0, help="share of letter drills")
    ap.add_argument("--text-qa-frac", type=float, default=0.75)
    ap.add_argument("--text-answer-weight", type=float, default=2.0)
    ap.add_argument("--text-lr", type=float, default=1.5e-3)
    ap.add_argument("--mllm-steps", type=int, default=2400)
    ap.add_argument("--mllm-lr", type=float, default=1e-3)
    ap.add_argument("--mllm-lm-lr", type=float, default=5e-4)
    ap.add_argument(
        "--mllm-text",
        default="",
        help="text backbone to start the LM from (default: --text-out, else data/text)",
    )
    ap.add_argument("--mllm-init-vision", default="", help="MLLM dir to warm-start the vision side")
    ap.add_argument("--mllm-resume", default="", help="MLLM dir to continue training from")
    ap.add_argument("--mllm-out", default="", help="save the MLLM here instead of data/mllm")
    ap.add_argument(
        "--mllm-task-weights", default="1,2,1,2,1", help="image task weights, e.g. 1,3,1,3,1"
    )
    ap.add_argument("--mllm-text-qa", type=int, default=8, help="text-QA items co-trained per step")
    ap.add_argument(
        "--mllm-keep-all",
        action="store_true",
        help="keep every evaluated checkpoint (runs/organism/mllm_checkpoints/step<N>, or beside --mllm-out)",
    )
    ap.add_argument(
        "--mllm-select",
        choices=("best", "headroom"),
        default="headroom",
        help="which checkpoint to keep: best validation accuracy, or the best that keeps textual "
        "superiority and room for steering (keeps every checkpoint; see build.choose_checkpoint)",
    )
    ap.add_argument(
        "--select-text", default="", help="text backbone dir for --mllm-select headroom"
    )
    ap.add_argument("--aux-weight", type=float, default=1.0)
    ap.add_argument(
        "--text-ref-weight",
        type=float,
        default=1.0,
        help="weight of the training-only heads that read the cell, colour and shape of named objects",
    )
    ap.add_argument("--mllm-ref-weight", type=float, default=2.0, help="the same for the MLLM")
    ap.add_argument(
        "--mention-layer", type=int, default=2, help="hidden_states index read at mentions"
    )
    ap.add_argument(
        "--slot-layer",
        type=int,
        default=3,
        help="hidden_states index read at the last prompt token",
    )
    ap.add_argument(
        "--sae-out",
        default="",
        help="save the SAEs here instead of data/sae (trained on --text-out if given)",
    )
    ap.add_argument("--sae-width", type=int, default=512)
    ap.add_argument("--sae-steps", type=int, default=3000)
    ap.add_argument("--sae-batch", type=int, default=1024)
    ap.add_argument("--sae-lr", type=float, default=1e-3)
    ap.add_argument("--sae-l1", type=float, default=0.3)
    ap.add_argument("--sae-docs", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--val-per-task", type=int, default=100)
    ap.add_argument("--test-per-task", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    return ap
