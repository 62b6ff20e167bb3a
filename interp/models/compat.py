"""Loading processors on machines without torchvision.

In transformers 5 the processors of Qwen2-VL, Qwen2.5-VL, SmolVLM and LLaVA-OneVision own a
video processor, and video processors need torchvision. Where torchvision is missing (CPU
machines, CI), ``load_processor`` builds the processor without its video processor: images and
text work, videos do not. Where torchvision is installed nothing changes.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def without_video_processor() -> Iterator[None]:
    """Inside this context, and only without torchvision, processors have no video processor.

    Nothing stays patched after the context exits, even if it raises.

    Example:
        >>> with without_video_processor():                      # doctest: +SKIP
        ...     processor = AutoProcessor.from_pretrained(path)
    """
    from unittest import mock

    from transformers.processing_utils import ProcessorMixin
    from transformers.utils import is_torchvision_available

    if is_torchvision_available():
        yield
        return
    original = ProcessorMixin.get_attributes.__func__  # type: ignore[attr-defined]

    def get_attributes(cls: type) -> list[str]:
        return [name for name in original(cls) if name != "video_processor"]

    with mock.patch.object(ProcessorMixin, "get_attributes", classmethod(get_attributes)):
        yield


def load_processor(path: str, **kwargs: Any) -> Any:
    """``AutoProcessor.from_pretrained(path)``, falling back to no video processor without torchvision.

    Example:
        >>> processor = load_processor("google/paligemma2-3b-mix-448")   # doctest: +SKIP
    """
    from transformers import AutoProcessor

    with without_video_processor():
        processor = AutoProcessor.from_pretrained(path, **kwargs)
    params = inspect.signature(type(processor).__init__).parameters
    if "video_processor" in params and not hasattr(processor, "video_processor"):
        processor.video_processor = None
    return processor


@contextlib.contextmanager
def quiet_progress(enabled: bool = False) -> Iterator[None]:
    """Inside this context, transformers shows no per-tensor progress bars (unless ``enabled``).

    transformers 5 prints "Loading weights" and "Writing model shards" bars for every load and
    save; interp turns them off for its own loads and restores the previous setting on exit,
    even if the body raises, so the user's later calls behave as they would have.

    Example:
        >>> with quiet_progress():                              # doctest: +SKIP
        ...     model = AutoModelForCausalLM.from_pretrained(path)
    """
    if enabled:
        yield
        return
    import importlib

    from transformers.utils import logging as hf_logging

    # The module, not the ``tqdm`` class that ``huggingface_hub.utils`` exports under its name.
    hub_tqdm = importlib.import_module("huggingface_hub.utils.tqdm")

    was_enabled = hf_logging.is_progress_bar_enabled()
    hub_states = dict(hub_tqdm.progress_bar_states)
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
        hub_tqdm.progress_bar_states.clear()
        hub_tqdm.progress_bar_states.update(hub_states)
