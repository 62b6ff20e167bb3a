"""Cleaning what users pass in before it reaches a processor or tokenizer.

Prompts become a list of strings, images become one list per prompt after checking each is a
PIL image or an array/tensor in a range the processors read correctly, and ``tokenize_texts``
turns texts into padded ids with exactly one BOS per row. Every check raises a ValueError that
says what was expected.

Example:
    >>> enc = tokenize_texts(tok, ["a red circle", "a square"])   # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from interp.types import Tokenizer


def _shape_or_type(x: Any) -> str:
    return f"of shape {tuple(x.shape)}" if isinstance(x, Tensor) else f"a {type(x).__name__}"


def _prompt_list(prompts: Any, what: str) -> list[str]:
    if isinstance(prompts, str):
        return [prompts]
    if not isinstance(prompts, (list, tuple)):
        raise ValueError(f"{what} must be a string or a list of strings, got {type(prompts).__name__}")
    if not prompts:
        raise ValueError(f"no {what} given")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ValueError(f"{what}[{i}] must be a string, got {type(p).__name__}")
    return list(prompts)


def _images_per_prompt(images: Any, n_prompts: int) -> list[list[Any]]:
    if images is None:
        return [[] for _ in range(n_prompts)]
    if not isinstance(images, (list, tuple)):
        images = [images]
    if len(images) != n_prompts:
        raise ValueError(
            f"got {len(images)} image entries for {n_prompts} prompt(s): give one image (or one "
            "list of images) per prompt"
        )
    per_prompt = [list(i) if isinstance(i, (list, tuple)) else [i] for i in images]
    for p, imgs in enumerate(per_prompt):
        for k, img in enumerate(imgs):
            _check_image(img, f"image {k} of prompt {p}")
    return per_prompt


_IMAGE_EXPECTED = (
    "expected a PIL image, an (H, W, C) numpy array or a (C, H, W) torch tensor, uint8 in 0..255 "
    "or float in 0..1"
)


def _check_image(img: Any, where: str) -> None:
    from PIL import Image

    if isinstance(img, Image.Image):
        _check_pil_mode(img, where)
        return
    if isinstance(img, (str, os.PathLike)):
        raise ValueError(f"{where} is a path ({img!r}): open it first with PIL.Image.open(path); {_IMAGE_EXPECTED}")
    if not hasattr(img, "shape") or not hasattr(img, "dtype"):
        raise ValueError(f"{where} is {'None' if img is None else 'a ' + type(img).__name__}: {_IMAGE_EXPECTED}")
    if len(img.shape) == 2 and min(img.shape) > 0:
        raise ValueError(
            f"{where} is a 2-D array of shape {tuple(img.shape)} (one channel, no channel axis): "
            f"{_IMAGE_EXPECTED}; give a grayscale image 3 channels, e.g. np.stack([a] * 3, axis=-1)"
        )
    if len(img.shape) != 3 or min(img.shape) == 0:
        raise ValueError(f"{where} has shape {tuple(img.shape)}: {_IMAGE_EXPECTED}")
    dtype = img.dtype
    if dtype == torch.bool or getattr(dtype, "kind", "") == "b":
        raise ValueError(
            f"{where} is a bool array (a mask): {_IMAGE_EXPECTED}; its True would be read as 1 of 255 "
            "(near black): convert it with (mask * 255).astype(np.uint8)"
        )
    if not _is_float_array(img) and str(dtype).removeprefix("torch.") != "uint8":
        values = torch.as_tensor(img).long() if isinstance(img, Tensor) else torch.as_tensor(img.astype("int64"))
        smallest, largest = int(values.min()), int(values.max())
        if smallest < 0 or largest > 255:
            raise ValueError(
                f"{where} has {str(dtype).removeprefix('torch.')} values in [{smallest}, {largest}]: {_IMAGE_EXPECTED}; "
                "scale it to 0..255 first (16-bit images: divide by 257)"
            )
    if _is_float_array(img):
        values = torch.as_tensor(img).double()
        if not torch.isfinite(values).all():
            raise ValueError(f"{where} holds NaN or inf values: {_IMAGE_EXPECTED}")
        low, high = float(values.min()), float(values.max())
        if low < 0.0 or high > 255.0:
            raise ValueError(
                f"{where} has float values in [{low:.3g}, {high:.3g}]: {_IMAGE_EXPECTED} (or "
                "0..255); pass the raw image, the processor normalizes it itself"
            )


#: PIL modes whose pixels are not 0..255 (16-bit and 32-bit integer or float); the processors
#: would clip them to white.
_WIDE_MODES = ("I", "F")


def _check_pil_mode(img: Any, where: str) -> None:
    mode = img.mode
    if not (mode in _WIDE_MODES or mode.startswith("I;16")):
        return
    low, high = img.getextrema()
    if mode.startswith("I;16") or low < 0 or high > 255:
        raise ValueError(
            f"{where} is a PIL image of mode {mode!r} (16 or 32 bits per pixel) with values in "
            f"[{low:g}, {high:g}]: {_IMAGE_EXPECTED}; the processor would read it as all white: convert it "
            "to 8 bits first, e.g. Image.fromarray((np.asarray(img) / 257).round().astype(np.uint8)).convert('RGB')"
        )


def _is_float_array(img: Any) -> bool:
    dtype = getattr(img, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype.is_floating_point
    return dtype is not None and getattr(dtype, "kind", "") == "f"


def _image_kwargs(per_prompt: list[list[Any]]) -> dict[str, Any]:
    """``do_rescale=False`` when every image is a float array in 0..1 (already rescaled).

    The processors rescale by 1/255 by default, which would turn a 0..1 image nearly black.
    """
    images = [img for imgs in per_prompt for img in imgs]
    unit = [_is_float_array(img) and float(torch.as_tensor(img).max()) <= 1.0 for img in images]
    if not any(unit):
        return {}
    if not all(unit):
        raise ValueError(
            "images mix float images in 0..1 with images in 0..255 (uint8, PIL, or larger "
            "floats): give them all in one range, e.g. uint8 arrays or PIL images"
        )
    return {"do_rescale": False}


def tokenize_texts(
    tokenizer: Tokenizer, texts: Sequence[str], *, padding_side: str = "right"
) -> dict[str, Tensor]:
    """Token ids and attention mask for texts, each starting with BOS if the tokenizer has one.

    Tokenizers differ on whether they add BOS themselves (Gemma does, Llama 3 base does, many
    do not); statistics drop BOS, so every row gets exactly one, and padding is explicit.

    Example:
        >>> enc = tokenize_texts(tok, ["a red circle", "a square"])   # doctest: +SKIP
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    bos = getattr(tokenizer, "bos_token_id", None)
    rows: list[list[int]] = []
    for text in texts:
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        if bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        rows.append(ids)
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), int(pad), dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, ids in enumerate(rows):
        sl = slice(width - len(ids), width) if padding_side == "left" else slice(0, len(ids))
        input_ids[b, sl] = torch.tensor(ids, dtype=torch.long)
        attention_mask[b, sl] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}
