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
