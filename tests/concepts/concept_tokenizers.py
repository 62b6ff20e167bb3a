"""Small tokenizers of every family, trained on the fly (no hub access), for anchor-location tests.

Each fixture wraps a `tokenizers.Tokenizer` in `transformers.PreTrainedTokenizerFast` with
bos/eos/pad/unk tokens set, mimicking the pre-tokenization, normalization and post-processing of
a real family: GPT-2 and Llama 3 (byte-level BPE), Gemma and Llama 2 (SentencePiece BPE with a
"▁" normalizer), Metaspace Unigram (prepend schemes always/first/never), BERT (WordPiece) and
word-level vocabularies.
"""

from __future__ import annotations

import json
import os
import re
import string

os.environ["HF_HUB_OFFLINE"] = "1"

import transformers
from tokenizers import (
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import PreTrainedTokenizerFast

from interp.concepts import TAXONOMIES, load_corpus

# Words the property tests draw from (also in the training text, so most are single tokens).
_WORD_TEXT = (
    "the a red cube sits on table and two blue spheres near window she placed shoes bed cat "
    "sleeps café über quickly behind small green box seventeen beneathness left of it"
)
WORDS: tuple[str, ...] = tuple(_WORD_TEXT.split())
_ANCHOR_TEXT = (
    "beneath seven under left three red dog kicked tomorrow bigger not never above a I 1999 12"
)
ANCHORS: tuple[str, ...] = tuple(_ANCHOR_TEXT.split())

BOS, EOS, PAD, UNK = "<bos>", "<eos>", "<pad>", "<unk>"
SPECIALS = [BOS, EOS, PAD, UNK]


def _training_text() -> list[str]:
    lines = []
    for name in TAXONOMIES:
        for sentence in load_corpus(name).sentences:
            # Punctuation is kept apart from letters so no learned piece glues the two together.
            lines.append(re.sub(r"([^\w\s])", r" \1 ", sentence))
    lines += [" ".join(WORDS), " ".join(ANCHORS), " ".join(a.capitalize() for a in ANCHORS)]
    lines += [string.ascii_lowercase, " ".join(string.ascii_letters), " , . ! ? ( ) \" ' ; :"]
    return lines * 3


def _wrap(tok: Tokenizer, **special: str) -> PreTrainedTokenizerFast:
    names = {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK}
    names.update(special)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **names)


def _bos_template(tok: Tokenizer, bos: str = BOS) -> processors.TemplateProcessing:
    return processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )


def _byte_level_bpe(
    add_prefix_space: bool, trim_offsets: bool, bos_in_template: bool
) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer)
    post = processors.ByteLevel(trim_offsets=trim_offsets)
    tok.post_processor = (
        processors.Sequence([post, _bos_template(tok)]) if bos_in_template else post
    )
    return _wrap(tok)


LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _llama3() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer)
    tok.post_processor = processors.Sequence(
        [processors.ByteLevel(trim_offsets=False), _bos_template(tok)]
    )
    return _wrap(tok)


def _sentencepiece_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A SentencePiece-like BPE vocabulary: merges learned word by word, plus the 256 byte tokens.

    Real Gemma / Llama 2 vocabularies hold ``<0x00>``..``<0xFF>`` for byte fallback, so no
    character is ever dropped (a dropped character shifts the offsets of every later token).
    """
    if "_sp_vocab" not in _CACHE_VOCAB:
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
        trainer = trainers.BpeTrainer(
            vocab_size=500,
            special_tokens=SPECIALS,
            initial_alphabet=["▁", *string.ascii_letters, *",.!?()\"';:"],
            show_progress=False,
        )
        tok.train_from_iterator(_training_text(), trainer)
        model = json.loads(tok.to_str())["model"]
        vocab = dict(model["vocab"])
        for byte in range(256):
            vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        _CACHE_VOCAB["_sp_vocab"] = (vocab, merges)
    return _CACHE_VOCAB["_sp_vocab"]


_CACHE_VOCAB: dict[str, tuple[dict[str, int], list[tuple[str, str]]]] = {}


def _sentencepiece_bpe(prepend: bool) -> PreTrainedTokenizerFast:
    """Gemma style (prepend=False) or Llama 2 style (prepend=True): "▁" comes from the normalizer,
    and there is no pre-tokenizer."""
    vocab, merges = _sentencepiece_vocab()
    tok = Tokenizer(models.BPE(vocab, merges, unk_token=UNK, byte_fallback=True, fuse_unk=True))
    steps = [normalizers.Replace(" ", "▁")]
    if prepend:
        steps.insert(0, normalizers.Prepend("▁"))
    tok.normalizer = normalizers.Sequence(steps)
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    )
    tok.post_processor = _bos_template(tok)
    return _wrap(tok)


def _transformers_class(name: str) -> PreTrainedTokenizerFast:
    """transformers' own GemmaTokenizer / LlamaTokenizer pipelines, on a SentencePiece-style vocab.

    In transformers 5 these classes set their normalizer / pre-tokenizer in Python: Gemma replaces
    " " with "▁" (no prefix space), Llama uses Metaspace(prepend_scheme="first", split=False).
    """
    vocab, merges = _sentencepiece_vocab()
    cls = getattr(transformers, name)
    return cls(vocab=dict(vocab), merges=list(merges), bos_token=BOS, eos_token=EOS, unk_token=UNK)


def _metaspace_unigram(scheme: str) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme=scheme)
    tok.decoder = decoders.Metaspace(prepend_scheme=scheme)
    trainer = trainers.UnigramTrainer(
        vocab_size=300, special_tokens=SPECIALS, unk_token=UNK, show_progress=False
    )
    tok.train_from_iterator(_training_text(), trainer)
    tok.post_processor = _bos_template(tok)
    return _wrap(tok)


def _wordpiece() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token=UNK))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=400, special_tokens=[*SPECIALS, "[CLS]", "[SEP]"], show_progress=False
    )
    tok.train_from_iterator(_training_text(), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    # BERT has no BOS: cls/sep are its specials.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token=PAD, unk_token=UNK
    )


def _word_level(pre_tokenizer: pre_tokenizers.PreTokenizer) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(
        _training_text(), trainers.WordLevelTrainer(special_tokens=SPECIALS, show_progress=False)
    )
    return _wrap(tok)  # no template: BOS must be added by encode_corpus


BUILDERS = {
    "gpt2": lambda: _byte_level_bpe(False, True, bos_in_template=False),
    "bytelevel_prefix": lambda: _byte_level_bpe(True, False, bos_in_template=True),
    "bytelevel_prefix_trim": lambda: _byte_level_bpe(True, True, bos_in_template=True),
    "llama3": _llama3,
    "gemma": lambda: _sentencepiece_bpe(prepend=False),
    "llama2": lambda: _sentencepiece_bpe(prepend=True),
    "gemma_hf": lambda: _transformers_class("GemmaTokenizer"),
    "llama_hf": lambda: _transformers_class("LlamaTokenizer"),
    "metaspace_always": lambda: _metaspace_unigram("always"),
    "metaspace_first": lambda: _metaspace_unigram("first"),
    "metaspace_never": lambda: _metaspace_unigram("never"),
    "wordpiece": _wordpiece,
    "wordlevel_whitespace": lambda: _word_level(pre_tokenizers.Whitespace()),
    "wordlevel_whitespacesplit": lambda: _word_level(pre_tokenizers.WhitespaceSplit()),
}
KINDS = tuple(BUILDERS)

_CACHE: dict[str, PreTrainedTokenizerFast] = {}


def build_tokenizer(kind: str) -> PreTrainedTokenizerFast:
    """Build (once per session) the tokenizer of one kind."""
    if kind not in _CACHE:
        _CACHE[kind] = BUILDERS[kind]()
    return _CACHE[kind]
