"""Measure an organism: score option letters, pick the MLLM checkpoint, and measure the shipped models.

Per-task accuracy of the MLLM on images and of the text backbone on the text rendering of the same
scenes, SAE fraction of variance explained / L0 / dead features, and how far the MLLM's language
model drifted from the backbone. Accuracy is scored by the logits of the option letters at the last
prompt position (one forward pass per item, no generation). The training scripts use this module;
``python -m interp.organism.evaluate --n-per-task 200`` prints the shipped organism's figures.

Example:
    >>> from interp.organism.recipe.evaluate import evaluate_mllm  # doctest: +SKIP
    >>> evaluate_mllm(n_per_task=10)["Count"] > 0.25  # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import torch

from interp.analysis.drift import weight_drift
from interp.answers import letter_ids
from interp.organism.corpus import TAXONOMIES, concept_sentences, scene_document
from interp.organism.parts import path
from interp.organism.recipe.batches import (
    last_prompt_position,
    mllm_batch,
    text_qa_batch,
)
from interp.organism.scenes import (  # noqa: F401 (make_item: the examples)
    LETTERS,
    MAX_OBJECTS,
    make_item,
    make_split,
    sample_scene,
    scene_split,
)

METRICS_FILE = "metrics.json"


@torch.no_grad()
def letter_accuracy(
    score_fn: Callable[[list[dict]], torch.Tensor], items: list[dict], batch_size: int = 100
) -> dict[str, float]:
    """Per-task accuracy of a scorer that returns (batch, n_letters) option-letter logits.

    Example:
        >>> acc = letter_accuracy(lambda its: torch.zeros(len(its), 6), [make_item("val", "Count", 0)])
        >>> sorted(acc)
        ['Count', 'all']
    """
    hits: dict[str, list[int]] = {}
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        scores = score_fn(chunk)
        for it, s in zip(chunk, scores):
            k = len(it["choices"])
            pred = int(s[:k].argmax())
            hits.setdefault(it["task"], []).append(int(LETTERS[pred] == it["answer"][1]))
    acc = {t: sum(v) / len(v) for t, v in hits.items()}
    acc["all"] = sum(sum(v) for v in hits.values()) / max(1, sum(len(v) for v in hits.values()))
    return acc


def text_scorer(model, tokenizer) -> Callable[[list[dict]], torch.Tensor]:
    """Scorer for the text backbone: letter logits after ``rendering \\n prompt \\n``."""
    nl = tokenizer.convert_tokens_to_ids("\n")
    letters = letter_ids(tokenizer, len(LETTERS))

    def score(items: list[dict]) -> torch.Tensor:
        b = text_qa_batch(items, tokenizer, nl)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        pos = last_prompt_position(b)
        return logits[torch.arange(len(items)), pos][:, letters]

    return score


def mllm_scorer(model, tokenizer) -> Callable[[list[dict]], torch.Tensor]:
    """Scorer for the MLLM: letter logits at the last prompt position (the ``\\n``)."""
    nl = tokenizer.convert_tokens_to_ids("\n")
    letters = letter_ids(tokenizer, len(LETTERS))

    def score(items: list[dict]) -> torch.Tensor:
        b = mllm_batch(items, tokenizer, nl)
        n = b["input_ids"].shape[1]
        tt = b["token_type_ids"]
        logits = model(
            input_ids=b["input_ids"],
            attention_mask=b["attention_mask"],
            token_type_ids=tt,
            pixel_values=b["pixel_values"],
            logits_to_keep=n,
        ).logits
        pos = last_prompt_position(b)
        return logits[torch.arange(len(items)), pos][:, letters]

    return score


CHANCE = {"Count": 1 / 5, "Relation": 0.5, "Depth": 0.5, "Distance": 0.5, "Attribute": 1 / 3}
"""Accuracy of uniform guessing per task; where a task has two question kinds (Count: 6 or 5
options; Attribute: 4 or 3), the higher of the two, so "over chance" is never flattered."""


def choose_checkpoint(
    history: list[dict],
    text_val: dict[str, float],
    floors: dict[str, float] | None = None,
    above_chance: float = 0.15,
    room: float = 0.9,
) -> dict | None:
    """Pick the MLLM checkpoint that keeps the organism's defining properties, by validation rows.

    A row (``{"step": ..., "val": {task: acc}}``) qualifies when every task is at least
    ``above_chance`` over chance and at least its floor (default Relation 0.80, Attribute 0.90),
    no task beats the text backbone's validation accuracy ``text_val`` (textual superiority), and
    some task is at most ``room`` (so steering can help there). Of those, the one with the highest
    ``val["all"]`` wins (the latest on ties); None when no row qualifies.

    Example:
        >>> rows = [{"step": 1, "val": {"Relation": 0.7, "Attribute": 0.95, "all": 0.8}},
        ...         {"step": 2, "val": {"Relation": 0.85, "Attribute": 0.92, "all": 0.88}},
        ...         {"step": 3, "val": {"Relation": 0.99, "Attribute": 0.99, "all": 0.99}}]
        >>> choose_checkpoint(rows, {"Relation": 0.95, "Attribute": 0.97})["step"]
        2
    """
    floors = {"Relation": 0.80, "Attribute": 0.90} if floors is None else floors
    ok = []
    for row in history:
        val = {t: a for t, a in row["val"].items() if t != "all"}
        if any(a < CHANCE[t] + above_chance or a < floors.get(t, 0.0) for t, a in val.items()):
            continue
        if any(a > text_val[t] for t, a in val.items()):
            continue
        if min(val.values()) > room:
            continue
        ok.append(row)
    if not ok:
        return None
    return max(ok, key=lambda r: (r["val"]["all"], r["step"]))




def load_text(directory: str | Path | None = None):
    """(model, tokenizer) of the text backbone, in eval mode.

    Example:
        >>> model, tok = load_text()  # doctest: +SKIP
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = Path(directory) if directory is not None else path("text")
    return AutoModelForCausalLM.from_pretrained(d).eval(), AutoTokenizer.from_pretrained(d)


def load_mllm_and_processor(directory: str | Path | None = None):
    """The transformers (model, processor) of the organism MLLM, in eval mode.

    Not :func:`interp.load_mllm`, which wraps the model for tracing and steering: this is the
    plain Hugging Face model the training scripts measure.

    Example:
        >>> model, proc = load_mllm_and_processor()  # doctest: +SKIP
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    d = Path(directory) if directory is not None else path("mllm")
    return AutoModelForImageTextToText.from_pretrained(d).eval(), AutoProcessor.from_pretrained(d)


def evaluate_mllm(
    n_per_task: int = 200, split: str = "test", seed: int = 0, model=None, processor=None
) -> dict[str, float]:
    """Per-task accuracy (plus ``all``) of the MLLM on ``split`` images, by option-letter logits.

    Example:
        >>> evaluate_mllm(5)["all"] >= 0.0  # doctest: +SKIP
        True
    """
    if model is None:
        model, processor = load_mllm_and_processor()
    items = make_split(split, n_per_task, seed)
    with torch.no_grad():
        return letter_accuracy(mllm_scorer(model, processor.tokenizer), items)


def evaluate_text(
    n_per_task: int = 200, split: str = "test", seed: int = 0, model=None, tokenizer=None
) -> dict[str, float]:
    """Per-task accuracy of the text backbone answering from the scenes' text renderings.

    Example:
        >>> evaluate_text(5)["all"] >= 0.0  # doctest: +SKIP
        True
    """
    if model is None:
        model, tokenizer = load_text()
    items = make_split(split, n_per_task, seed)
    with torch.no_grad():
        return letter_accuracy(text_scorer(model, tokenizer), items)


def sae_eval_texts(n_docs: int = 120, seed: int = 1) -> list[str]:
    """Held-out texts for SAE metrics: test-split scene documents and concept sentences.

    Example:
        >>> len(sae_eval_texts(4)) > 4
        True
    """
    rng = random.Random(f"sae-eval/{seed}")
    docs: list[str] = []
    while len(docs) < n_docs:
        s = sample_scene(rng, rng.randint(1, MAX_OBJECTS))
        if scene_split(s) == "test":
            docs.append(scene_document(s, rng))
    for tx in TAXONOMIES:
        docs += [r["sentence"] for r in concept_sentences(tx, 10, seed=seed + 100)]
    return docs


@torch.no_grad()
def residual_activations(model, tokenizer, texts: list[str], layer: int) -> torch.Tensor:
    """Residual stream after decoder layer ``layer`` (the layer's own output) at every non-BOS,
    non-pad token, as (tokens, d_model).

    Read from the layer's output, not from HF's ``hidden_states[layer + 1]``: for the last layer
    transformers 5 returns the state after the final norm there, which is not what
    ``blocks.{layer}.hook_resid_post`` (and so an SAE at that hook) reads.

    Example:
        >>> residual_activations(*load_text(), ["the red circle ."], 0).shape[1]  # doctest: +SKIP
        128
    """
    captured: list[torch.Tensor] = []

    def keep(module, args, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    handle = model.model.layers[layer].register_forward_hook(keep)
    out = []
    try:
        for i in range(0, len(texts), 64):
            enc = tokenizer(texts[i : i + 64], return_tensors="pt", padding=True)
            captured.clear()
            model(**enc)
            mask = enc["attention_mask"].bool().clone()
            mask[:, 0] = False  # drop BOS
            out.append(captured[0][mask])
    finally:
        handle.remove()
    return torch.cat(out)


@torch.no_grad()
def sae_metrics(sae, acts: torch.Tensor) -> dict[str, float]:
    """Fraction of variance explained, mean L0 and dead fraction of ``sae`` on ``acts``.

    Example:
        >>> sae_metrics(sae, acts)["fve"] > 0.8  # doctest: +SKIP
        True
    """
    feats = sae.encode(acts)
    recon = sae.decode(feats)
    resid = ((acts - recon) ** 2).sum()
    total = ((acts - acts.mean(0)) ** 2).sum()
    fired = (feats > 0).float()
    return {
        "fve": float(1 - resid / total),
        "l0": float(fired.sum(1).mean()),
        "dead_fraction": float((fired.sum(0) == 0).float().mean()),
    }


def evaluate_saes(model=None, tokenizer=None) -> dict[str, dict[str, float]]:
    """SAE metrics per layer on held-out text (keys ``layer_{l}``).

    Example:
        >>> evaluate_saes()["layer_0"]["fve"] > 0.8  # doctest: +SKIP
        True
    """
    from sae_lens import SAE

    if model is None:
        model, tokenizer = load_text()
    texts = sae_eval_texts()
    out = {}
    for layer in range(model.config.num_hidden_layers):
        sae = SAE.load_from_disk(str(path("sae") / f"layer_{layer}"))
        out[f"layer_{layer}"] = sae_metrics(
            sae, residual_activations(model, tokenizer, texts, layer)
        )
    return out


@torch.no_grad()
def language_model_drift(mllm=None, text=None) -> dict[str, float]:
    """How far the MLLM's language model moved from the text backbone it started from (transformers
    models; ``interp.analysis.language_model_drift`` takes interp's).

    Relative Frobenius distance ``||W_mllm - W_text|| / ||W_text||`` over the weights of each
    decoder layer (``layer_{l}``) and of the token embeddings (``embed``). 0 means the MLLM still
    runs the text backbone's language model; steering vectors built on the backbone transfer best
    when this is small.

    Example:
        >>> language_model_drift()["embed"] < 1.0  # doctest: +SKIP
        True
    """
    if mllm is None:
        mllm, _ = load_mllm_and_processor()
    if text is None:
        text, _ = load_text()
    return weight_drift(mllm.model.language_model, text.model)


def read_metrics() -> dict:
    """The figures the training script measured and wrote to ``data/metrics.json``.

    Example:
        >>> "mllm" in read_metrics()  # doctest: +SKIP
        True
    """
    p = path("mllm").parent / METRICS_FILE
    if not p.exists():
        raise FileNotFoundError(
            f"{p} is missing: run `python scripts/train_organism.py --eval-only`"
        )
    return json.loads(p.read_text())


def main(argv: list[str] | None = None, description: str | None = __doc__) -> None:
    """Command line: print per-task accuracies of the shipped organism.

    Example:
        >>> main(["--n-per-task", "5"])   # doctest: +SKIP
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n-per-task", type=int, default=200)
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    args = ap.parse_args(argv)
    res = {
        "mllm": evaluate_mllm(args.n_per_task, args.split),
        "text": evaluate_text(args.n_per_task, args.split),
        "sae": evaluate_saes(),
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
