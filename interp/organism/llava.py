"""The second organism: a LLaVA-style MLLM on a frozen, deeper text backbone (a positive control).

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

Where its parts are (``DATA_DIR``, ``KINDS``, :func:`path`) is runtime, read by
``interp.organism.locate("organism-llava", ...)``; the builders above live in
:mod:`interp.organism.recipe.llava` and are re-exported here under their old import path.

Example:
    >>> cfg = llava_config(text_config_for(113, n_layers=6))
    >>> cfg.model_type, cfg.text_config.num_hidden_layers
    ('llava', 6)
"""

from __future__ import annotations

from interp.organism.parts import LLAVA_DATA_DIR as DATA_DIR
from interp.organism.parts import LLAVA_KINDS as KINDS
from interp.organism.parts import llava_path as path
from interp.organism.recipe.llava import (
    CHAT_TEMPLATE,
    INSERT_BEFORE,
    VISION_ARCH,
    alignment_loss,
    alignment_targets,
    build_llava_processor,
    description_ids,
    grow_backbone,
    llava_batch,
    llava_config,
    llava_prompt,
    llava_scorer,
    text_config_for,
)

__all__ = [
    "CHAT_TEMPLATE",
    "DATA_DIR",
    "INSERT_BEFORE",
    "KINDS",
    "VISION_ARCH",
    "alignment_loss",
    "alignment_targets",
    "build_llava_processor",
    "description_ids",
    "grow_backbone",
    "llava_batch",
    "llava_config",
    "llava_prompt",
    "llava_scorer",
    "path",
    "text_config_for",
]
