"""Test helpers: tiny random-initialised models of every supported family, saved like hub checkpoints."""

from interp.testing.tiny import (
    TINY_FAMILIES,
    TINY_TEXT_FAMILIES,
    build_tiny_mllm,
    build_tiny_text,
    load_tiny_processor,
    tiny_image,
    tiny_mllm_dir,
    tiny_prompt,
    tiny_text_dir,
    without_video_processor,
)

__all__ = [
    "TINY_FAMILIES",
    "TINY_TEXT_FAMILIES",
    "build_tiny_mllm",
    "build_tiny_text",
    "load_tiny_processor",
    "tiny_image",
    "tiny_mllm_dir",
    "tiny_prompt",
    "tiny_text_dir",
    "without_video_processor",
]
