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
from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict, Union

from jaxtyping import Float
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
    from sae_lens import SAE
    from transformers import PretrainedConfig, PreTrainedTokenizerBase, ProcessorMixin

    from interp.concepts.corpus import ConceptCorpus, ContrastPairs
    from interp.evaluation import SweepResult
    from interp.items import Item
    from interp.organism.scenes import Scene, SceneObject
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

#: Named steering vectors: one ``SteeringVector``, several (each named ``method/concept``), or a
#: mapping of name -> ``SteeringVector``.
SteeringVectors: TypeAlias = Union["SteeringVector", Iterable["SteeringVector"], Mapping[str, "SteeringVector"]]

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


class _OrganismItemFields(TypedDict):
    idx: int
    task: str
    image: PILImage
    question: str
    choices: Sequence[str]
    answer: str


class OrganismItem(_OrganismItemFields, total=False):
    """An organism item dict (``interp.organism.scenes.make_item``).

    Required: ``idx``, ``task``, ``image``, ``question``, ``choices`` (the option texts) and
    ``answer`` (the right option's letter in parentheses, ``"(A)"``). ``make_item`` also sets
    the CV-Bench ``type`` (``"2D"``/``"3D"``), ``prompt`` (the CV-Bench prompt body),
    ``source``, ``answer_text``, ``scene``, ``split`` and ``refs`` (the objects the question
    names).
    """

    type: str
    prompt: str
    source: str
    answer_text: str
    scene: Scene
    split: str
    refs: tuple[SceneObject, ...]


#: A benchmark item: an ``interp.items.Item`` or an organism item dict (an ``OrganismItem``, or
#: any string-keyed mapping: ``as_items`` checks it has an organism item's fields).
ItemLike: TypeAlias = Union["Item", OrganismItem, Mapping[str, object]]

#: The items a scoring, sweep or analysis function takes: one ``ItemLike`` or several.
ItemsLike: TypeAlias = ItemLike | Iterable[ItemLike]

#: A set to pool hidden states over: items (``ItemsLike``) or prompt strings (one or several), not
#: a mix.
ItemsOrPrompts: TypeAlias = ItemsLike | str | Sequence[str]

__all__ = [
    "ConceptLike",
    "DataFrame",
    "DeviceMap",
    "Dtype",
    "Envoy",
    "Figure",
    "ImageLike",
    "Images",
    "ItemLike",
    "ItemsLike",
    "ItemsOrPrompts",
    "JSONDict",
    "LayerSpec",
    "LoraConfig",
    "ModelConfig",
    "ModelId",
    "ModelInputs",
    "NNModel",
    "OrganismItem",
    "PathLike",
    "PeftModel",
    "Processor",
    "SaeSource",
    "SteeringVectors",
    "SweepLike",
    "Tokenizer",
    "Tracer",
    "VectorLike",
]
