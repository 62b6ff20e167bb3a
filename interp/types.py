"""Named types for what the public API accepts, instead of ``Any`` on its signatures.

Each alias says in a comment what it accepts. Heavy or circular imports (pandas, plotly, PIL,
transformers, interp's own classes) happen only under ``TYPE_CHECKING``: their names are forward
references here, so ``import interp.types`` costs nothing and every alias stays usable in
annotations (interp's modules use ``from __future__ import annotations``).

Example:
    >>> from interp.types import LayerSpec
    >>> def layers_of(spec: LayerSpec) -> str: ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, Union

from jaxtyping import Float
from torch import Tensor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go
    import torch
    from PIL.Image import Image as PILImage
    from sae_lens import SAE
    from transformers import PreTrainedTokenizerBase, ProcessorMixin

    from interp.concepts.corpus import ConceptCorpus, ContrastPairs
    from interp.evaluation import SweepResult
    from interp.vectors.vector import SteeringVector

#: A file or folder: a ``str`` or an ``os.PathLike`` (``pathlib.Path``).
PathLike: TypeAlias = Union[str, "os.PathLike[str]"]

#: A model to load: a hub id (``"google/gemma-3-4b-it"``), a checkpoint folder, or ``"organism"``.
ModelId: TypeAlias = Union[str, "os.PathLike[str]"]

#: A steering direction: a ``SteeringVector`` (its direction at the steered layer is used) or one
#: ``(d_model,)`` tensor.
VectorLike: TypeAlias = Union["SteeringVector", Float[Tensor, " d_model"]]

#: Decoder layers (0-based): one layer, several (a list, range, ...), ``"all"``, or ``None`` (every
#: layer).
LayerSpec: TypeAlias = int | Iterable[int] | Literal["all"] | None

#: A concept to build a vector from: a taxonomy name (``"counting"``), a path to a JSONL file of
#: examples or pairs, a ``ConceptCorpus`` (anchored sentences) or ``ContrastPairs``.
ConceptLike: TypeAlias = Union[str, "os.PathLike[str]", "ConceptCorpus", "ContrastPairs"]

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

#: Where SAEs come from: ``"organism"`` / ``"organism-llava"``, a folder of ``layer_{l}/`` sae-lens
#: SAE folders, a sae-lens release name, or a mapping ``{layer: SAE or folder}``.
SaeSource: TypeAlias = Union[str, "os.PathLike[str]", Mapping[int, Union["SAE", str, "os.PathLike[str]"]]]

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

#: A sweep's results to draw: a ``SweepResult``, a ``{"grid": ..., "table": ...}`` mapping of its
#: tables, or one of the tables.
SweepLike: TypeAlias = Union["SweepResult", Mapping[str, Union["pd.DataFrame", None]], "pd.DataFrame"]

#: A JSON-like record: string keys, values JSON can hold (or that ``json.dumps`` is told about).
JSONDict: TypeAlias = Mapping[str, object]

__all__ = [
    "ConceptLike",
    "DataFrame",
    "DeviceMap",
    "Dtype",
    "Figure",
    "ImageLike",
    "Images",
    "JSONDict",
    "LayerSpec",
    "ModelId",
    "PathLike",
    "Processor",
    "SaeSource",
    "SweepLike",
    "Tokenizer",
    "VectorLike",
]
