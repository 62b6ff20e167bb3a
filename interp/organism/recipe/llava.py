"""How the second organism is built: a LLaVA-style MLLM on a frozen, deeper text backbone (a positive control).

Built the way LLaVA-1.5 stage 1 (Liu et al. 2023, arXiv 2310.03744) and BLIP-2 (Li et al. 2023,
arXiv 2301.12597) build theirs: a text-only language model is trained first and then frozen, and
only a vision tower and a projector are trained to feed it. Here:

- the text backbone is the first organism's Gemma 2 backbone grown from 4 to 6 decoder layers
  (two identity-initialised layers inserted in the middle, :func:`grow_backbone`) and trained on
  text a little longer, so that mid-layer edits still have layers above them that read them;
- the MLLM is a real ``LlavaForConditionalGeneration``: a small CLIP vision tower (with its CLS
  token, dropped by LLaVA's ``default`` feature selection, 16 patch tokens) and LLaVA's two-layer
  MLP projector in front of that backbone, which stays frozen (language-model drift 0);
- an auxiliary alignment loss (:func:`alignment_loss`) pulls each patch's projected token toward
  the backbone's own input representation of the words that describe that patch (size, colour and
  shape of its object), so that image tokens live in the backbone's text space, as the
  textual-steering paper (arXiv 2505.14071) presumes of real MLLMs.

The processor's chat template writes ``<image>`` ``\\n`` ``answer en`` + the question + ``\\n``, the
same layout as the text backbone's ``rendering \\n answer en ... \\n``, so ``MLLM.encode`` builds
exactly the sequences the MLLM was trained on.

Example:
    >>> cfg = llava_config(text_config_for(113, n_layers=6))
    >>> cfg.model_type, cfg.text_config.num_hidden_layers
    ('llava', 6)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from interp.answers import letter_ids
from interp.organism.prompting import format_prompt
from interp.organism.recipe.batches import _pad, last_prompt_position, pixel_values
from interp.organism.recipe.model import (
    BOS,
    EOS,
    IMAGE,
    N_IMAGE_TOKENS,
    PAD,
    PATCH,
    TEXT_ARCH,
    VISION_ARCH,
    text_config,
)
from interp.organism.scenes import GRID, IMAGE_SIZE, LETTERS

#: New decoder layers are inserted before these indices of the original backbone (4 -> 6 layers).
INSERT_BEFORE = (2, 3)
#: The chat template: each image placeholder and a newline, PaliGemma-style ``answer en`` + question, newline.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<image>{{ '\\n' }}{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}"
    "{% if not c['text'].startswith('answer en ') %}answer en {% endif %}{{ c['text'] }}"
    "{% endif %}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ '\\n' }}{% endif %}"
)


def text_config_for(vocab_size: int, n_layers: int = 6):
    """The first organism's Gemma 2 config with ``n_layers`` decoder layers.

    Example:
        >>> text_config_for(113).num_hidden_layers
        6
    """
    cfg = text_config(vocab_size)
    cfg.num_hidden_layers = n_layers
    cfg.layer_types = ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(n_layers)]
    return cfg


def grow_backbone(model, insert_before: tuple[int, ...] = INSERT_BEFORE):
    """A deeper copy of a Gemma 2 causal LM: identity layers inserted before ``insert_before``.

    A new layer has zero attention output and zero MLP down-projection, so (with Gemma 2's
    post-norms, whose output is 0 for a 0 input) it passes the residual stream through unchanged:
    the grown model computes exactly what the original did until it is trained further.

    Example:
        >>> from transformers import Gemma2ForCausalLM
        >>> small = Gemma2ForCausalLM(text_config(50)).eval()
        >>> big = grow_backbone(small).eval()
        >>> ids = torch.tensor([[2, 7, 9]])
        >>> torch.allclose(small(ids).logits, big(ids).logits, atol=1e-5)
        True
    """
    from transformers import Gemma2ForCausalLM

    old = model.config.num_hidden_layers
    if any(not 0 <= i <= old for i in insert_before):
        raise ValueError(f"insert_before must hold indices in 0..{old}, got {insert_before}")
    n = old + len(insert_before)
    cfg = text_config_for(model.config.vocab_size, n)
    big = Gemma2ForCausalLM(cfg)
    src = model.state_dict()
    mapping, j = {}, 0
    for i in range(old + 1):
        for _ in range(sum(1 for b in insert_before if b == i)):
            j += 1
        if i < old:
            mapping[i] = j
            j += 1
    state = big.state_dict()
    for k, v in src.items():
        if k.startswith("model.layers."):
            parts = k.split(".")
            parts[2] = str(mapping[int(parts[2])])
            state[".".join(parts)] = v.clone()
        else:
            state[k] = v.clone()
    new = sorted(set(range(n)) - set(mapping.values()))
    for i in new:
        state[f"model.layers.{i}.self_attn.o_proj.weight"].zero_()
        state[f"model.layers.{i}.mlp.down_proj.weight"].zero_()
    big.load_state_dict(state)
    big.tie_weights()
    return big


def llava_config(text_cfg):
    """The ``LlavaConfig``: CLIP tower (64 px, patch 16, CLS dropped: 16 image tokens) + ``text_cfg``.

    Example:
        >>> llava_config(text_config_for(113)).vision_config.patch_size
        16
    """
    from transformers import CLIPVisionConfig, LlavaConfig

    vision = CLIPVisionConfig(
        image_size=IMAGE_SIZE, patch_size=PATCH, num_channels=3, projection_dim=TEXT_ARCH["hidden_size"],
        **VISION_ARCH,
    )
    return LlavaConfig(
        vision_config=vision,
        text_config=text_cfg.to_dict(),
        image_token_index=IMAGE,
        image_seq_length=N_IMAGE_TOKENS,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
    )


def build_llava_processor(tokenizer):
    """A ``LlavaProcessor`` (CLIP image processor at 64 px, mean/std 0.5) with the world's chat template.

    Example:
        >>> from interp.organism.recipe.model import build_tokenizer
        >>> p = build_llava_processor(build_tokenizer())
        >>> p.num_additional_image_tokens, p.patch_size
        (1, 16)
    """
    from transformers import CLIPImageProcessor, LlavaProcessor

    ip = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_convert_rgb=True,
    )
    return LlavaProcessor(
        image_processor=ip,
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )


def llava_prompt(item: dict) -> str:
    """The text after the image tokens: ``\\n`` + ``answer en`` + MC prefix + prompt + ``\\n``.

    Example:
        >>> from interp.organism.scenes import make_item
        >>> llava_prompt(make_item("val", "Count", 0))[:12]
        '\\nanswer en A'
    """
    return "\n" + format_prompt(item) + "\n"


def llava_batch(items: list[dict], tokenizer) -> dict[str, torch.Tensor]:
    """Model inputs as the processor builds them (right-padded), with answer-only labels.

    Sequence: ``<bos>``, 16 x ``<image>``, ``\\n answer en <MC prefix> <prompt> \\n``, then the
    answer letter and ``<eos>``. Labels are -100 except on the answer.

    Example:
        >>> from interp.organism.recipe.model import build_tokenizer
        >>> from interp.organism.scenes import make_item
        >>> b = llava_batch([make_item("train", "Count", 0)], build_tokenizer())
        >>> int((b["labels"] != -100).sum()), int((b["input_ids"] == IMAGE).sum())
        (2, 16)
    """
    enc = tokenizer([llava_prompt(it) for it in items], add_special_tokens=False)["input_ids"]
    ids, labels = [], []
    for it, e in zip(items, enc):
        letter = tokenizer.convert_tokens_to_ids(it["answer"][1])
        prefix = [BOS] + [IMAGE] * N_IMAGE_TOKENS + e
        ids.append([*prefix, letter, EOS])
        labels.append([-100] * len(prefix) + [letter, EOS])
    return {
        "input_ids": _pad(ids, PAD),
        "attention_mask": _pad([[1] * len(s) for s in ids], 0),
        "labels": _pad(labels, -100),
        "pixel_values": pixel_values([it["image"] for it in items]),
    }


def description_ids(items: list[dict], tokenizer) -> torch.Tensor:
    """Per patch, the token ids of the words that describe it: (batch, 16, 3) size, colour, shape.

    Empty patches get ``-1`` (no description).

    Example:
        >>> from interp.organism.recipe.model import build_tokenizer
        >>> from interp.organism.scenes import make_item
        >>> d = description_ids([make_item("train", "Count", 0)], build_tokenizer())
        >>> d.shape, bool((d[0] >= 0).any())
        (torch.Size([1, 16, 3]), True)
    """
    out = torch.full((len(items), N_IMAGE_TOKENS, 3), -1, dtype=torch.long)
    for b, it in enumerate(items):
        for o in it["scene"].objects:
            words = [o.size, o.color, o.shape]
            out[b, o.row * GRID + o.col] = torch.tensor(tokenizer.convert_tokens_to_ids(words))
    return out


def alignment_targets(desc: torch.Tensor, embed: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    """The token each patch is pulled toward: the mean input embedding of its description words
    (``embed`` rows), or ``empty`` for a patch without an object. (batch, 16, d_model).

    Example:
        >>> t = alignment_targets(torch.tensor([[[0, 1, 2], [-1, -1, -1]]]), torch.eye(3), torch.ones(3))
        >>> t[0, 0].tolist(), t[0, 1].tolist()
        ([0.3333333432674408, 0.3333333432674408, 0.3333333432674408], [1.0, 1.0, 1.0])
    """
    has = desc[..., 0] >= 0
    rows = embed[desc.clamp(min=0)].mean(-2)
    return torch.where(has[..., None], rows, empty.expand_as(rows))


def alignment_loss(tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``1 - cos`` plus the relative squared distance between projected image tokens and targets.

    Example:
        >>> x = torch.randn(2, 16, 8)
        >>> float(alignment_loss(x, x)) < 1e-6
        True
    """
    cos = F.cosine_similarity(tokens, targets, dim=-1)
    rel = ((tokens - targets) ** 2).sum(-1) / (targets**2).sum(-1).clamp(min=1e-6)
    return (1 - cos).mean() + rel.mean()


def llava_scorer(model, tokenizer) -> Callable[[list[dict]], torch.Tensor]:
    """Scorer for the LLaVA MLLM: option-letter logits at the last prompt position.

    Example:
        >>> score = llava_scorer(model, tokenizer)   # doctest: +SKIP
    """
    letters = letter_ids(tokenizer, len(LETTERS))

    def score(items: list[dict]) -> torch.Tensor:
        b = llava_batch(items, tokenizer)
        logits = model(
            input_ids=b["input_ids"], attention_mask=b["attention_mask"], pixel_values=b["pixel_values"]
        ).logits
        pos = last_prompt_position(b)
        return logits[torch.arange(len(items)), pos][:, letters]

    return score


__all__ = [
    "CHAT_TEMPLATE",
    "INSERT_BEFORE",
    "alignment_loss",
    "alignment_targets",
    "build_llava_processor",
    "description_ids",
    "grow_backbone",
    "llava_batch",
    "llava_config",
    "llava_prompt",
    "llava_scorer",
    "text_config_for",
]
