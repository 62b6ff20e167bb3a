"""Named types for what the public API accepts, instead of ``Any`` on its signatures.

Each alias says in a comment what it accepts. Only the names of other libraries live here (pandas,
plotly, PIL, transformers, nnsight, peft: imported under ``TYPE_CHECKING`` only, so
``import interp.types`` costs nothing); an alias of interp's own classes lives next to the class
it names (``ItemsLike`` in ``interp.items``, ``VectorLike`` in ``interp.steering``,
``SteeringVectors`` in ``interp.vectors.vector``, ...), so this bottom module imports nothing of
interp.

Example:
    >>> from interp.types import LayerSpec
    >>> def layers_of(spec: LayerSpec) -> str: ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, Union

from torch import Tensor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    import torch
    from nnsight import Envoy as NNEnvoy
    from nnsight import TransformersModel
    from nnsight.intervention.tracer import InterleavingTracer
    from peft import LoraConfig as PeftLoraConfig
    from peft import PeftModel as PeftPeftModel
    from PIL.Image import Image as PILImage
    from transformers import PretrainedConfig, PreTrainedTokenizerBase, ProcessorMixin

#: A file or folder: a ``str`` or an ``os.PathLike`` (``pathlib.Path``).
PathLike: TypeAlias = Union[str, "os.PathLike[str]"]

#: A model to load: a hub id (``"google/gemma-3-4b-it"``), a checkpoint folder, or ``"organism"``.
ModelId: TypeAlias = Union[str, "os.PathLike[str]"]

#: Decoder layers (0-based): one layer, several (a list, range, ...), ``"all"``, or ``None`` (every
#: layer).
LayerSpec: TypeAlias = int | Iterable[int] | Literal["all"] | None

#: One image: a ``PIL.Image``, an ``(H, W, C)`` numpy array or a ``(C, H, W)`` tensor, uint8 in
#: 0..255 or float in 0..1 (or 0..255).
ImageLike: TypeAlias = Union["PILImage", "np.ndarray", Tensor]

#: The images of a batch of prompts: ``None`` (text only), one image per prompt, or a list (or
#: tuple) of images per prompt; one image alone goes with one prompt.
Images: TypeAlias = ImageLike | Sequence[ImageLike | Sequence[ImageLike]] | None

#: Where weights go, as ``transformers`` takes it: ``"auto"``, ``"balanced"``, ``"sequential"``,
#: a device (``"cpu"``, ``"cuda:0"``, an index, a ``torch.device``), a dict of module name ->
#: device (or ``"disk"``), or ``None`` (transformers' default).
DeviceMap: TypeAlias = Union[str, int, "torch.device", Mapping[str, Union[str, int, "torch.device"]], None]

#: A torch dtype or its name (``torch.bfloat16``, ``"bfloat16"``, ``"auto"``).
Dtype: TypeAlias = Union["torch.dtype", str]

#: A Hugging Face tokenizer (fast tokenizers where character offsets are needed).
Tokenizer: TypeAlias = "PreTrainedTokenizerBase"

#: A Hugging Face processor (tokenizer plus image processor) of a multimodal model.
Processor: TypeAlias = "ProcessorMixin"

#: A pandas table (pandas is imported lazily by the functions that build or read one).
DataFrame: TypeAlias = "pd.DataFrame"

#: A plotly figure (``plotly.graph_objects.Figure``), as every ``interp.figures`` function returns.
Figure: TypeAlias = "go.Figure"

#: A JSON-like record: string keys, values JSON can hold (or that ``json.dumps`` is told about).
JSONDict: TypeAlias = Mapping[str, object]

#: A peft LoRA config (``peft.LoraConfig``).
LoraConfig: TypeAlias = "PeftLoraConfig"

#: A transformers model wrapped by peft with its adapters (``peft.PeftModel``).
PeftModel: TypeAlias = "PeftPeftModel"

#: A Hugging Face model config (``PretrainedConfig``; an MLLM's holds its ``text_config``).
ModelConfig: TypeAlias = "PretrainedConfig"

#: The nnsight model a ``TracedModel`` wraps (``nnsight.TransformersModel``).
NNModel: TypeAlias = "TransformersModel"

#: An nnsight envoy (a module as seen inside a trace: ``.output``, ``.input``, indexing).
Envoy: TypeAlias = "NNEnvoy"

#: The ``with`` block ``trace`` and ``generate`` open (nnsight's ``InterleavingTracer``).
Tracer: TypeAlias = "InterleavingTracer"

#: Encoded model inputs, as ``encode`` returns them: ``input_ids``, ``attention_mask``,
#: ``pixel_values``, ... by name.
ModelInputs: TypeAlias = Mapping[str, Tensor]


__all__ = [
    "DataFrame",
    "DeviceMap",
    "Dtype",
    "Envoy",
    "Figure",
    "ImageLike",
    "Images",
    "JSONDict",
    "LayerSpec",
    "LoraConfig",
    "ModelConfig",
    "ModelId",
    "ModelInputs",
    "NNModel",
    "PathLike",
    "PeftModel",
    "Processor",
    "Tokenizer",
    "Tracer",
]
