"""The organism's tokenizer, model configs and processor: word-level vocabulary, Gemma 2, PaliGemma.

Example:
    >>> tok = build_tokenizer()
    >>> tok("the red circle").input_ids[0] == tok.bos_token_id
    True
"""

from __future__ import annotations

import random

from interp.organism.corpus import TAXONOMIES, concept_sentences, contrast_pairs, scene_document
from interp.organism.prompting import format_text_prompt
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

