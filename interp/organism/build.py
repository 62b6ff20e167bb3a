"""Building blocks that train the organism: tokenizer, model configs, batches and training loops.

The recipe (measured on 2 CPU cores): a word-level tokenizer over the world's vocabulary; a Gemma 2
text backbone trained as a language model on scene renderings, true statements, concept sentences
and questions answered from the rendering; a PaliGemma whose language model starts from that
backbone, trained on image + question -> letter with an auxiliary per-patch objective (each image
token predicts the colour, shape, size, row and column of the object in its patch), which gives the
vision side dense signal; training-only reference heads on both models (at each mention of a named
object, and at the last prompt token for each named object's role, predict where it is), without
which neither model learns to look a named object up; one sae-lens SAE per backbone layer trained on
residual activations. The MLLM checkpoint is chosen by :func:`choose_checkpoint`.

Example:
    >>> tok = build_tokenizer()
    >>> tok("the red circle").input_ids[0] == tok.bos_token_id
    True
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from interp.organism import format_prompt, format_text_prompt
from interp.organism.corpus import TAXONOMIES, concept_sentences, contrast_pairs, scene_document
from interp.organism.scenes import (
    COLORS,
    GRID,
    IMAGE_SIZE,
    LETTERS,
    MAX_OBJECTS,
    SHAPES,
    SIZES,
    TASKS,
    make_item,
    sample_scene,
    split_of,
)

SPECIAL = ("<pad>", "<eos>", "<bos>", "<unk>", "<image>")
PAD, EOS, BOS, UNK, IMAGE = range(5)
PATCH = IMAGE_SIZE // GRID
N_IMAGE_TOKENS = GRID * GRID

TEXT_ARCH = {
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 32,
}
VISION_ARCH = {
    "hidden_size": 96,
    "intermediate_size": 384,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}


def _words(text: str) -> list[str]:
    """Split text the way the tokenizer's pre-tokenizer does (spaces removed, punctuation apart)."""
    out: list[str] = []
    for chunk in text.replace("\n", " \n ").split(" "):
        if not chunk:
            continue
        cur = ""
        for ch in chunk:
            if not ch.isalnum() and ch != "\n":
                if cur:
                    out.append(cur)
                out.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            out.append(cur)
    return out


def world_vocabulary(seed: int = 0) -> list[str]:
    """Every word the world's texts use, in a fixed order after the special tokens.

    Example:
        >>> voc = world_vocabulary()
        >>> voc[:5]
        ['<pad>', '<eos>', '<bos>', '<unk>', '<image>']
    """
    texts: list[str] = []
    rng = random.Random(seed)
    for i in range(300):
        for t in TASKS:
            it = make_item(("train", "val", "test")[i % 3], t, i, seed)
            texts.append(format_text_prompt(it))
            texts.append(it["answer"])
        texts.append(scene_document(sample_scene(rng, rng.randint(1, MAX_OBJECTS)), rng))
    for tx in TAXONOMIES:
        texts += [r["sentence"] for r in concept_sentences(tx, 60, seed)]
        texts += [p["negative"] for p in contrast_pairs(tx, 30, seed)]
    extra = [*LETTERS, *"0123456789", *COLORS, *SHAPES, *SIZES, "(", ")", ".", ",", "?", ":", "\n"]
    extra += ["objects", "object", "circles", "squares", "triangles", "number", "question"]
    seen: dict[str, None] = {}
    for w in extra:
        seen.setdefault(w, None)
    for t in texts:
        for w in _words(t):
            seen.setdefault(w, None)
    return [*SPECIAL, *sorted(seen)]


def build_tokenizer(seed: int = 0):
    """A word-level fast tokenizer for the world, with ``<bos> <eos> <pad> <unk> <image>``.

    It adds ``<bos>`` in front of every text, splits on spaces, keeps punctuation and newlines as
    their own tokens and maps unknown words to ``<unk>``.

    Example:
        >>> build_tokenizer().tokenize("(A) red?\\n")
        ['(', 'A', ')', 'red', '?', '\\n']
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(world_vocabulary(seed))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(" ", "removed"),
            pre_tokenizers.Split(Regex("\n"), "isolated"),
            pre_tokenizers.Punctuation("isolated"),
        ]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B:1", special_tokens=[("<bos>", BOS)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=512,
        padding_side="right",
    )


def text_config(vocab_size: int):
    """The Gemma 2 config of the text backbone.

    Example:
        >>> text_config(100).num_hidden_layers
        4
    """
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=vocab_size,
        max_position_embeddings=512,
        sliding_window=512,
        query_pre_attn_scalar=TEXT_ARCH["head_dim"],
        attn_logit_softcapping=None,
        final_logit_softcapping=None,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
        tie_word_embeddings=True,
        # a larger init than Gemma's 0.02: with 0.02 a model this small took thousands of steps
        # before attention learned in-context look-up; 0.08 learns it in a few hundred
        initializer_range=0.08,
        **TEXT_ARCH,
    )


def mllm_config(vocab_size: int):
    """The PaliGemma config: a small SigLIP tower (64 x 64 px, patch 16, 16 image tokens) + Gemma 2.

    Example:
        >>> mllm_config(100).vision_config.patch_size
        16
    """
    from transformers import PaliGemmaConfig, SiglipVisionConfig

    vision = SiglipVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH, num_channels=3, **VISION_ARCH
    )
    cfg = PaliGemmaConfig(
        vision_config=vision,
        text_config=text_config(vocab_size).to_dict(),
        image_token_index=IMAGE,
        vocab_size=vocab_size,
        projection_dim=TEXT_ARCH["hidden_size"],
        hidden_size=TEXT_ARCH["hidden_size"],
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )
    return cfg


def build_processor(tokenizer):
    """A ``PaliGemmaProcessor``: SigLIP image processor (64 px, mean/std 0.5) + the tokenizer.

    Example:
        >>> build_processor(build_tokenizer()).image_seq_length
        16
    """
    from transformers import PaliGemmaProcessor, SiglipImageProcessor

    ip = SiglipImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    ip.image_seq_length = N_IMAGE_TOKENS
    return PaliGemmaProcessor(image_processor=ip, tokenizer=tokenizer)


def pixel_values(images: list) -> torch.Tensor:
    """Images -> SigLIP pixel values (rescale to [-1, 1]); equal to the processor's output here.

    Example:
        >>> from PIL import Image
        >>> pixel_values([Image.new("RGB", (64, 64))]).shape
        torch.Size([1, 3, 64, 64])
    """
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) for im in images])
    return torch.from_numpy(arr).permute(0, 3, 1, 2) / 127.5 - 1.0


def patch_targets(items: list[dict]) -> torch.Tensor:
    """Per-patch labels (batch, 16, 5): colour, shape, size (0 = empty), row, column.

    Example:
        >>> patch_targets([make_item("train", "Count", 0)]).shape
        torch.Size([1, 16, 5])
    """
    out = torch.zeros(len(items), N_IMAGE_TOKENS, 5, dtype=torch.long)
    for b, it in enumerate(items):
        for p in range(N_IMAGE_TOKENS):
            out[b, p, 3], out[b, p, 4] = divmod(p, GRID)
        for o in it["scene"].objects:
            p = o.row * GRID + o.col
            out[b, p, 0] = 1 + COLORS.index(o.color)
            out[b, p, 1] = 1 + SHAPES.index(o.shape)
            out[b, p, 2] = 1 + SIZES.index(o.size)
    return out


AUX_SIZES = (len(COLORS) + 1, len(SHAPES) + 1, len(SIZES) + 1, GRID, GRID)


N_REF_SLOTS = 3
MENTION_SIZES = (GRID, GRID, len(COLORS), len(SHAPES))


def _mention_phrases(o) -> list[str]:
    """The ways a question can name object ``o``: ``red circle``, ``the circle``, ``red object``."""
    return [o.name, f"the {o.shape}", f"{o.color} object"]


def reference_targets(
    items: list[dict],
    input_ids: torch.Tensor,
    tokenizer,
    last_pos: torch.Tensor,
    start: int | torch.Tensor = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cells, colours and shapes of the objects a question names, as targets for two training-only heads.

    Returns ``(mentions, slots)``:

    - ``mentions`` (n, 6): ``batch, position, row, column, colour, shape`` (colour and shape as
      indices into ``COLORS`` and ``SHAPES``) for the last token of every mention of
      a named object between ``start`` (per row, or one int) and ``last_pos`` (the question and its
      options; a text rendering before ``start`` is skipped: its positions come after the names);
    - ``slots`` (batch, 3, 2): row and column of the named objects in their role order (``refs``),
      to be read at ``last_pos``; -100 where a task names fewer objects.

    Example:
        >>> tok = build_tokenizer()
        >>> it = make_item("train", "Relation", 0)
        >>> b = mllm_batch([it], tok, tok.convert_tokens_to_ids("\\n"))
        >>> last = torch.tensor([b["input_ids"].shape[1] - 3])  # the newline before the answer
        >>> m, s = reference_targets([it], b["input_ids"], tok, last)
        >>> m.shape, s[0, 2].tolist()
        (torch.Size([4, 6]), [-100, -100])
    """
    slots = torch.full((len(items), N_REF_SLOTS, 2), -100, dtype=torch.long)
    mentions: list[list[int]] = []
    starts = torch.as_tensor(start).expand(len(items))
    for b, it in enumerate(items):
        s0 = int(starts[b])
        row = input_ids[b, s0 : int(last_pos[b]) + 1].tolist()
        for k, o in enumerate(it.get("refs", ())):
            slots[b, k, 0], slots[b, k, 1] = o.row, o.col
            for phrase in _mention_phrases(o):
                pid = tokenizer(phrase, add_special_tokens=False)["input_ids"]
                n = len(pid)
                for i in range(len(row) - n + 1):
                    if row[i : i + n] == pid:
                        cs = [COLORS.index(o.color), SHAPES.index(o.shape)]
                        mentions.append([b, s0 + i + n - 1, o.row, o.col, *cs])
    m = (
        torch.tensor(mentions, dtype=torch.long)
        if mentions
        else torch.zeros(0, 6, dtype=torch.long)
    )
    return m, slots


def reference_loss(
    hidden: tuple[torch.Tensor, ...],
    heads: torch.nn.ModuleDict,
    mentions: torch.Tensor,
    slots: torch.Tensor,
    last_pos: torch.Tensor,
    mention_layer: int,
    slot_layer: int,
) -> torch.Tensor:
    """Cross-entropy of the training-only reference heads (see :func:`reference_targets`).

    ``heads["mention"]`` maps ``hidden[mention_layer]`` at each mention to row, column, colour and
    shape logits (``MENTION_SIZES``); ``heads["slots"]`` maps ``hidden[slot_layer]`` at the last
    prompt position to row and column logits of each role slot (N_REF_SLOTS x 2 x GRID).
    """
    loss = hidden[0].new_zeros(())
    if len(mentions):
        logits = heads["mention"](hidden[mention_layer][mentions[:, 0], mentions[:, 1]])
        for k, part in enumerate(logits.split(MENTION_SIZES, dim=-1)):
            loss = loss + F.cross_entropy(part, mentions[:, 2 + k]) / len(MENTION_SIZES)
    h = hidden[slot_layer][torch.arange(len(last_pos)), last_pos]
    logits = heads["slots"](h).view(-1, N_REF_SLOTS * 2, GRID)
    tgt = slots.view(-1, N_REF_SLOTS * 2)
    if (tgt != -100).any():
        loss = loss + F.cross_entropy(logits.reshape(-1, GRID), tgt.reshape(-1), ignore_index=-100)
    return loss


def reference_heads(d_model: int) -> torch.nn.ModuleDict:
    """The two training-only linear heads of :func:`reference_loss`."""
    return torch.nn.ModuleDict(
        {
            "mention": torch.nn.Linear(d_model, sum(MENTION_SIZES)),
            "slots": torch.nn.Linear(d_model, N_REF_SLOTS * 2 * GRID),
        }
    )


def _pad(seqs: list[list[int]], value: int) -> torch.Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


def letter_ids(tokenizer) -> list[int]:
    """Token ids of the option letters A, B, C, ... in order."""
    return tokenizer.convert_tokens_to_ids(list(LETTERS))


def mllm_batch(items: list[dict], tokenizer, newline_id: int) -> dict[str, torch.Tensor]:
    """Model inputs exactly as the processor builds them, plus answer-only labels.

    Sequence: 16 x ``<image>``, ``<bos>``, prompt, ``\\n`` (token type 0, bidirectional prefix),
    then the answer letter and ``<eos>`` (token type 1). Labels are -100 except on the answer.

    Example:
        >>> tok = build_tokenizer()
        >>> b = mllm_batch([make_item("train", "Count", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int((b["labels"] != -100).sum())
        2
    """
    enc = tokenizer([format_prompt(it) for it in items], add_special_tokens=False)["input_ids"]
    ids, tt, labels = [], [], []
    for it, e in zip(items, enc):
        letter = tokenizer.convert_tokens_to_ids(it["answer"][1])
        prefix = [IMAGE] * N_IMAGE_TOKENS + [BOS, *e, newline_id]
        ids.append([*prefix, letter, EOS])
        tt.append([0] * len(prefix) + [1, 1])
        labels.append([-100] * len(prefix) + [letter, EOS])
    input_ids = _pad(ids, PAD)
    return {
        "input_ids": input_ids,
        "attention_mask": (_pad([[1] * len(s) for s in ids], 0)),
        "token_type_ids": _pad(tt, 1),
        "labels": _pad(labels, -100),
        "pixel_values": pixel_values([it["image"] for it in items]),
    }


def last_prompt_position(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Index of the last prompt token (the ``\\n`` before the answer) in each row of a batch from
    :func:`mllm_batch` (``labels``) or :func:`text_qa_batch` (``answer_mask``).

    Example:
        >>> tok = build_tokenizer()
        >>> b = text_qa_batch([make_item("train", "Depth", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int(last_prompt_position(b)) == b["input_ids"].shape[1] - 3
        True
    """
    answer = batch["answer_mask"] if "answer_mask" in batch else batch["labels"] != -100
    return answer.float().argmax(1) - 1


def text_qa_batch(items: list[dict], tokenizer, newline_id: int) -> dict[str, torch.Tensor]:
    """Text-backbone QA inputs: ``<bos>`` rendering ``\\n`` prompt ``\\n`` letter ``<eos>``.

    ``answer_mask`` marks the answer tokens (letter and eos).

    Example:
        >>> tok = build_tokenizer()
        >>> b = text_qa_batch([make_item("train", "Depth", 0)], tok, tok.convert_tokens_to_ids("\\n"))
        >>> int(b["answer_mask"].sum())
        2
    """
    enc = tokenizer([format_text_prompt(it) for it in items], add_special_tokens=False)["input_ids"]
    ids, am = [], []
    for it, e in zip(items, enc):
        letter = tokenizer.convert_tokens_to_ids(it["answer"][1])
        prefix = [BOS, *e, newline_id]
        ids.append([*prefix, letter, EOS])
        am.append([0] * len(prefix) + [1, 1])
    return {
        "input_ids": _pad(ids, PAD),
        "attention_mask": _pad([[1] * len(s) for s in ids], 0),
        "answer_mask": _pad(am, 0).bool(),
    }


def text_lm_batch(texts: list[str], tokenizer) -> dict[str, torch.Tensor]:
    """Plain LM inputs: ``<bos>`` text ``<eos>``, right-padded.

    Example:
        >>> text_lm_batch(["the red circle ."], build_tokenizer())["input_ids"].shape
        torch.Size([1, 6])
    """
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    ids = [[BOS, *e, EOS] for e in enc]
    return {
        "input_ids": _pad(ids, PAD),
        "attention_mask": _pad([[1] * len(s) for s in ids], 0),
    }


def cosine_lr(step: int, total: int, warmup: int = 100, progress: float | None = None) -> float:
    """Warmup then cosine decay to 5% of the peak, as a multiplier.

    ``progress`` (0..1) overrides ``step / total`` for the decay, e.g. to follow a time budget.

    Example:
        >>> cosine_lr(0, 1000) < cosine_lr(100, 1000)
        True
    """
    if step < warmup:
        return (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup) if progress is None else progress
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))


class Budget:
    """Training progress as the larger of steps done / steps and seconds spent / time budget.

    Example:
        >>> b = Budget(steps=10, minutes=0)
        >>> b.progress(5)
        0.5
    """

    def __init__(self, steps: int, minutes: float):
        self.steps = steps
        self.seconds = minutes * 60
        self.t0 = time.time()

    def progress(self, step: int) -> float:
        """Fraction of the budget used after ``step`` steps."""
        p = step / max(1, self.steps)
        if self.seconds > 0:
            p = max(p, (time.time() - self.t0) / self.seconds)
        return min(1.0, p)


def train_item_stream(seed: int, tasks=TASKS, weights=None) -> Iterator[dict]:
    """Endless random train-split items (tasks drawn with ``weights``).

    Example:
        >>> next(train_item_stream(0))["split"]
        'train'
    """
    rng = random.Random(f"stream/{seed}")
    i = 0
    while True:
        t = rng.choices(list(tasks), weights=weights)[0]
        yield make_item("train", t, 1_000_000 + i, seed)
        i += 1


def _lm_loss(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    lg = logits[:, :-1].reshape(-1, logits.shape[-1])
    tg = ids[:, 1:].reshape(-1)
    m = mask[:, 1:].reshape(-1).float()
    loss = F.cross_entropy(lg, tg, reduction="none")
    return (loss * m).sum() / m.sum().clamp(min=1)


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
    letters = letter_ids(tokenizer)

    def score(items: list[dict]) -> torch.Tensor:
        b = text_qa_batch(items, tokenizer, nl)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        pos = last_prompt_position(b)
        return logits[torch.arange(len(items)), pos][:, letters]

    return score


def mllm_scorer(model, tokenizer) -> Callable[[list[dict]], torch.Tensor]:
    """Scorer for the MLLM: letter logits at the last prompt position (the ``\\n``)."""
    nl = tokenizer.convert_tokens_to_ids("\n")
    letters = letter_ids(tokenizer)

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


def save_pretrained_atomically(out_dir: Path, *parts: Any) -> None:
    """Write ``parts`` (a model, its tokenizer or processor: anything with ``save_pretrained``)
    into ``out_dir`` through a temporary sibling renamed into place, so a crash during the
    write leaves the old directory, not half a checkpoint.

    Example:
        >>> save_pretrained_atomically(Path("runs/x/mllm"), model, processor)   # doctest: +SKIP
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for part in parts:
        part.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


class JsonLog:
    """Append-only JSON-lines training log.

    Example:
        >>> JsonLog(None).write({"step": 0})
    """

    def __init__(self, path: Path | None):
        self.path = path

    def write(self, row: dict) -> None:
        """Write one row (with a wall-clock stamp)."""
        if self.path is None:
            return
        row = {"time": round(time.time(), 1), **row}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def scene_text_stream(seed: int) -> Iterator[str]:
    """Endless train-split scene documents (rendering + true statements).

    Example:
        >>> next(scene_text_stream(0)).startswith("there")
        True
    """
    rng = random.Random(f"docs/{seed}")
    while True:
        s = sample_scene(rng, rng.randint(1, MAX_OBJECTS))
        if split_of(s) == "train":
            yield scene_document(s, rng)
