"""Resolving and loading checkpoints into traced models.

``load_mllm`` and ``load_text_backbone`` accept a hub id, a local directory in hub layout, or the
name of a model source a plugin registered (``"organism"``, the small trained PaliGemma shipped
with interp; see :mod:`interp.models.sources`). Before anything is loaded the name is resolved
(a source's part is located and checked), the local config, weights and tokenizer
files are checked, and ``dtype`` and ``device_map`` are validated, so a bad argument or a damaged
checkpoint fails with a message that says what to fix. ``text_backbone_name`` pairs an MLLM
with its text backbone using what each family's adapter declares.

Example:
    >>> mllm = load_mllm("organism")                        # doctest: +SKIP
    >>> backbone = load_text_backbone(mllm="organism")      # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from interp.errors import CorruptArtifactError, UnsupportedModelError
from interp.models.base import (
    adapter_for,
    backbone_pairings,
    get_path,
    self_backbone_types,
    supported_model_types,
)
from interp.models.sources import backbone_name, model_source, part_owner
from interp.models.traced import MLLM, TextBackbone
from interp.types import DeviceMap

# Importing the family modules registers their adapters. The order is the order in which
# text_backbone_name tries the families' backbone pairings and lists them in its error.
from interp.models import paligemma, idefics3, gemma3, llava, qwen2_vl  # noqa: F401  # isort: skip

#: Text backbones of known MLLMs (arXiv 2505.14071, Table 1), matched against the hub id: the
#: families' ``backbone_pairings`` as registered at import (the loader asks the registry).
PAIRINGS: tuple[tuple[str, str], ...] = backbone_pairings()

#: Families whose text backbone is the MLLM itself, run on text alone (``self_backbone``).
_SELF_BACKBONE_TYPES = self_backbone_types()

#: Candidate paths of the decoder layer list in a text-only causal LM.
_CAUSAL_LM_LAYER_PATHS = ("model.layers", "model.language_model.layers", "transformer.h")


def _resolve(name_or_path: str | os.PathLike[str], kind: str) -> str:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ValueError(
            f"expected a hub id, a checkpoint directory or a model source's name ('organism'), got "
            f"{type(name_or_path).__name__}"
        )
    if not str(name_or_path):
        raise ValueError("expected a hub id, a checkpoint directory or a model source's name, got ''")
    if (source := model_source(str(name_or_path))) is not None:
        return str(source.path(kind))
    if (owner := part_owner(name_or_path, kind)) is not None:
        owner.path(kind)  # a source's own directory given as a path is checked as by its name
    return str(name_or_path)


_NO_CHECKPOINT = "expected a checkpoint directory in hub layout (config.json, weights, tokenizer and, for an MLLM, processor files)"


def _local_config(path: str) -> dict[str, Any] | None:
    """The raw config.json of a local checkpoint directory (None for a hub id), checked."""
    p = Path(path)
    if not p.exists():
        return None
    if not p.is_dir():
        raise ValueError(f"{path} is a file: {_NO_CHECKPOINT}")
    cfg = p / "config.json"
    if not cfg.is_file():
        raise ValueError(f"{path} has no config.json: {_NO_CHECKPOINT}")
    try:
        raw = json.loads(cfg.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptArtifactError(f"{cfg} is not valid JSON ({err}): the checkpoint is damaged") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("model_type"), str):
        raise ValueError(f"{cfg} names no model_type: {_NO_CHECKPOINT}")
    return raw


def _load_config(path: str) -> Any:
    from transformers import CONFIG_MAPPING, AutoConfig

    raw = _local_config(path)
    if raw is not None and raw["model_type"] not in CONFIG_MAPPING:
        raise UnsupportedModelError(
            f"{path} has model_type {raw['model_type']!r}, which transformers does not know: "
            f"interp loads MLLMs of types {', '.join(supported_model_types())} and their text "
            "backbones"
        )
    if raw is None and (Path(path).is_absolute() or path.startswith((".", "~")) or path.count("/") > 1):
        raise ValueError(f"cannot load a config from {path!r}: the directory does not exist")
    try:
        return AutoConfig.from_pretrained(path)
    except OSError as err:
        raise ValueError(
            f"cannot load a config from {path!r}: not a local directory with config.json and not "
            f"a hub id available here ({err})"
        ) from err
    except (ValueError, TypeError) as err:
        raise CorruptArtifactError(
            f"{path}/config.json does not describe a consistent {raw['model_type'] if raw else ''} model "
            f"({_last_line(err)}): the config was edited; restore it from the checkpoint's source"
        ) from None
    except Exception as err:  # huggingface_hub's strict dataclass validation errors
        if type(err).__module__.startswith("huggingface_hub"):
            raise CorruptArtifactError(
                f"{path}/config.json does not describe a consistent {raw['model_type'] if raw else ''} "
                f"model ({_last_line(err)}): the config was edited; restore it from the checkpoint's source"
            ) from None
        raise


def _last_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _check_weights(path: str) -> None:
    """Refuse a local checkpoint without weights, or with a truncated or corrupt safetensors file.

    Only headers are read, so the check costs milliseconds whatever the size of the weights.
    """
    p = Path(path)
    if not p.is_dir():
        return
    from safetensors import safe_open

    shards = sorted(p.glob("*.safetensors"))
    index = p / "model.safetensors.index.json"
    if index.is_file():
        try:
            listed = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CorruptArtifactError(f"{index} is not a valid shard index ({err})") from None
        missing = sorted(name for name in listed if not (p / name).is_file())
        if missing:
            raise CorruptArtifactError(
                f"{path} is missing weight shards {missing} that {index.name} lists: the download "
                "or copy is incomplete"
            )
    if not shards and not any(p.glob("*.bin")):
        raise ValueError(
            f"{path} holds no weights: expected model.safetensors (or the shards of "
            "model.safetensors.index.json)"
        )
    for shard in shards:
        try:
            with safe_open(str(shard), framework="pt") as f:
                f.keys()
        except Exception as err:  # safetensors raises its own error type
            raise CorruptArtifactError(
                f"{shard} is truncated or corrupt ({err}): download or save the checkpoint again"
            ) from None


def _names(keys: Any, limit: int = 8) -> str:
    keys = sorted(str(k) for k in keys)
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{keys[:limit]}{more}"


@contextlib.contextmanager
def _strict_weights(path: str) -> Iterator[None]:
    """Refuse weights the checkpoint lacks (transformers would initialize them at random) or
    holds beyond the architecture (they would be dropped), naming them.

    transformers reports what it loaded through ``log_state_dict_report`` after tying weights
    and dropping the keys each architecture regenerates (tied heads, buffers); that report is
    read here. A weight of the wrong shape is refused with the shapes.
    """
    import transformers.modeling_utils as modeling_utils

    reports: list[Any] = []
    original = modeling_utils.log_state_dict_report

    def record(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("loading_info") is not None:
            reports.append(kwargs["loading_info"])
        return original(*args, **kwargs)

    modeling_utils.log_state_dict_report = record
    try:
        yield
    except (RuntimeError, ValueError):
        mismatched = sorted(m for info in reports for m in info.mismatched_keys)
        if not mismatched:
            raise
        key, have, want = mismatched[0]
        raise CorruptArtifactError(
            f"{path}: {len(mismatched)} weight(s) do not have the shapes its config.json gives, e.g. {key} "
            f"is {tuple(have)} in the weights file but {tuple(want)} by the config: the config was edited "
            "(e.g. hidden_size) or the weights belong to another model"
        ) from None
    finally:
        modeling_utils.log_state_dict_report = original
    for info in reports:
        missing, unexpected = set(info.missing_keys), set(info.unexpected_keys)
        if missing:
            raise CorruptArtifactError(
                f"{path} lacks {len(missing)} weight(s) its config.json needs: {_names(missing)}; transformers "
                "would fill them with random values: the weights file is incomplete or belongs to another "
                "config; download or save the checkpoint again"
            )
        if unexpected:
            raise CorruptArtifactError(
                f"{path} holds {len(unexpected)} weight(s) its config.json has no place for: "
                f"{_names(unexpected)}; the config was edited (e.g. num_hidden_layers) or the weights belong "
                "to another model"
            )


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt")


def _check_tokenizer_files(path: str) -> None:
    """Refuse a local checkpoint without tokenizer files (transformers 5 would build an empty one)."""
    p = Path(path)
    if p.is_dir() and not any((p / name).is_file() for name in _TOKENIZER_FILES):
        raise ValueError(
            f"{path} has no tokenizer files (none of {list(_TOKENIZER_FILES)}): {_NO_CHECKPOINT}"
        )


_DTYPE_NAMES = ("float32", "bfloat16", "float16", "float64", "auto")

#: The dtypes a model is run in: what the weights are cast to when they load.
_RUN_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def _check_dtype(dtype: Any) -> Any:
    if dtype is None or dtype == "auto":
        return dtype
    value = dtype
    if isinstance(dtype, str):
        value = getattr(torch, dtype.removeprefix("torch."), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ValueError(
            f"dtype {dtype!r} is not a floating-point torch dtype: expected a torch.dtype such as "
            f"torch.bfloat16, or one of {list(_DTYPE_NAMES)}"
        )
    if value not in _RUN_DTYPES:
        raise ValueError(
            f"dtype {dtype!r} cannot run a model: interp loads weights in one of "
            f"{[str(d).removeprefix('torch.') for d in _RUN_DTYPES]} (float8 and other storage "
            "formats need a quantization config, which interp does not support yet)"
        )
    return value


_DEVICE_MAP_NAMES = ("auto", "balanced", "balanced_low_0", "sequential")


def _places(device_map: Any) -> list[Any]:
    return list(device_map.values()) if isinstance(device_map, Mapping) else [device_map]


def _check_device_map(device_map: Any) -> list[torch.device]:
    """Refuse devices that are not here; return the devices the map runs on (GPUs for 'auto')."""
    if device_map is None:
        return []
    devices: list[torch.device] = []
    for place in _places(device_map):
        if isinstance(place, str) and place in _DEVICE_MAP_NAMES:
            if torch.cuda.is_available():
                devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
            continue
        if isinstance(place, str) and place == "disk":
            continue
        try:
            device = torch.device(place)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device_map {device_map!r}: {place!r} is not a device; expected one of "
                f"{list(_DEVICE_MAP_NAMES)}, 'cpu', 'cuda', 'cuda:N', 'mps', 'disk' (with "
                "offload_folder=) or a dict of module name -> device"
            ) from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(
                    f"device_map {device_map!r} asks for a GPU, but this torch ({torch.__version__}) "
                    f"sees no CUDA device, so {str(place)!r} does not exist here: use device_map='cpu', "
                    "'auto' or None"
                )
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ValueError(
                    f"device_map {device_map!r} asks for cuda:{device.index}, but only "
                    f"{torch.cuda.device_count()} CUDA device(s) are visible (cuda:0.."
                    f"cuda:{torch.cuda.device_count() - 1})"
                )
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device_map {device_map!r} asks for Apple's MPS, which is not available here")
        if device.type not in ("cpu", "cuda", "mps", "meta"):
            raise ValueError(
                f"device_map {device_map!r} asks for a {device.type!r} device, which interp has not "
                "been run on: expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'disk'"
            )
        devices.append(device)
    return devices


def _check_dtype_on(dtype: Any, devices: Sequence[torch.device]) -> None:
    """Refuse a dtype a device of the map cannot compute in (bfloat16 on a GPU older than Ampere)."""
    if dtype != torch.bfloat16:
        return
    for device in devices:
        if device.type != "cuda":
            continue
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        if major < 8:
            raise ValueError(
                f"dtype bfloat16 cannot run on cuda:{index} ({torch.cuda.get_device_name(index)}, "
                f"compute capability {major}.{minor}): bfloat16 needs compute capability 8.0 or "
                "newer (Ampere); load with dtype=torch.float16 or torch.float32"
            )


def _check_offload(device_map: Any, kwargs: Mapping[str, Any]) -> None:
    if not any(isinstance(p, str) and p == "disk" for p in _places(device_map)):
        return
    folder = kwargs.get("offload_folder")
    if not folder:
        raise ValueError(
            f"device_map {device_map!r} offloads modules to 'disk' but no offload_folder= is "
            "given: pass offload_folder='path/to/a/folder' (accelerate keeps the weights there)"
        )
    path = Path(str(folder))
    if path.exists() and not path.is_dir():
        raise ValueError(f"offload_folder {str(folder)!r} is a file: expected a folder")


def _check_remote(remote: Any) -> bool | str:
    """``remote`` as the loaders take it: False (here), True (NDIF) or ``"local"`` (nnsight's dry run)."""
    if remote is False or remote is True or remote == "local":
        return remote
    raise ValueError(
        f"remote must be False (run here), True (NDIF) or 'local' (nnsight's local dry run of the remote path), "
        f"got {remote!r}"
    )


def _nn_kwargs(device_map: Any, dtype: Any, remote: bool | str, kwargs: dict[str, Any]) -> dict[str, Any]:
    remote = _check_remote(remote)
    out = dict(kwargs)
    dtype = _check_dtype(dtype)
    devices = _check_device_map(device_map)
    _check_dtype_on(dtype, [] if remote else devices)  # a remote model runs on the server's devices
    _check_offload(device_map, kwargs)
    if dtype is not None:
        out["dtype"] = dtype
    if device_map is not None:
        out["device_map"] = device_map
    # A remote model stays on the meta device here; the server holds the weights.
    out.setdefault("dispatch", not remote)
    return out


def load_mllm(
    name_or_path: str | os.PathLike[str],
    *,
    device_map: DeviceMap = None,
    dtype: torch.dtype | str | None = None,
    remote: bool | str = False,
    progress: bool = False,
    **kwargs: object,
) -> MLLM:
    """Load a supported MLLM through nnsight with its family adapter and processor.

    Args:
        name_or_path: hub id, local directory in hub layout, or a model source's name
            (``"organism"`` or ``"organism-llava"``, the two shipped organisms).
        device_map: passed to transformers (``"auto"``, ``"cuda:0"``, ...); a dict of module
            name -> device may offload modules to ``"cpu"`` or ``"disk"`` (then give
            ``offload_folder=``): accelerate's hooks load their weights at each forward, and
            steering, scoring and the sweep give the single-device results. Devices that are not
            here are refused before anything loads.
        dtype: parameter dtype (``torch.bfloat16``, ``torch.float16``, ``"float32"``, ...);
            bfloat16 on a GPU older than Ampere, and storage-only dtypes (float8), are refused.
            Steering vectors keep their own dtype and are cast at the edit.
        remote: ``True`` runs traces on NDIF (weights are not loaded here); ``"local"`` is
            nnsight's local dry run of the remote path.
        progress: show transformers' per-tensor loading bars (off by default; the setting
            is restored afterwards).
        **kwargs: passed to ``nnsight.TransformersModel``.

    Raises:
        UnsupportedModelError: the config's model_type has no adapter (a text-only model is
            pointed at ``load_text_backbone``).
        CorruptArtifactError: a damaged config or a truncated weights file.

    Example:
        >>> mllm = load_mllm("organism")   # doctest: +SKIP
        >>> mllm.family, mllm.n_layers     # doctest: +SKIP
        ('paligemma', 4)
    """
    from nnsight import TransformersModel

    from interp.models.compat import load_processor, quiet_progress

    path = _resolve(name_or_path, "mllm")
    config = _load_config(path)
    try:
        adapter = adapter_for(config)
    except UnsupportedModelError as err:
        if hasattr(config, "vision_config"):
            raise
        raise UnsupportedModelError(
            f"{err}; {name_or_path} is a text-only model, not an MLLM: load it with "
            f"interp.load_text_backbone({str(name_or_path)!r})"
        ) from None
    nn_kwargs = _nn_kwargs(device_map, dtype, remote, kwargs)
    if not remote:
        _check_weights(path)
    try:
        processor = nn_kwargs.pop("processor", None) or load_processor(path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path!r} has no usable processor: an MLLM checkpoint needs its processor files "
            f"({err})"
        ) from err
    with warnings.catch_warnings(), quiet_progress(progress):
        warnings.simplefilter("ignore")
        with _strict_weights(path) if not remote else contextlib.nullcontext():
            nn = TransformersModel(path, task="image-text-to-text", processor=processor, **nn_kwargs)
    return MLLM(nn, adapter, processor, name=str(name_or_path), remote=remote)


def text_backbone_name(mllm_name_or_path: str | os.PathLike[str]) -> str:
    """The text backbone that pairs with an MLLM (arXiv 2505.14071's pairings).

    Returns ``"<self>"`` for models whose backbone is the MLLM itself run on text (Gemma 3).

    Example:
        >>> text_backbone_name("google/paligemma2-3b-mix-448")
        'google/gemma-2-2b'
    """
    name = str(mllm_name_or_path)
    if model_source(name) is not None:
        return name
    if (owner := part_owner(name, "mllm")) is not None and "text" in owner.kinds:
        try:
            return str(owner.path("text", check=False))
        except FileNotFoundError:
            pass
    pairings = backbone_pairings()
    for pattern, backbone in pairings:
        if re.search(pattern, name, flags=re.IGNORECASE):
            return backbone
    if (Path(name) / "config.json").is_file():
        from transformers import AutoConfig

        model_type = getattr(AutoConfig.from_pretrained(name), "model_type", None)
        if model_type in self_backbone_types():
            return "<self>"
    raise ValueError(
        f"no known text backbone for {name!r}: pass the backbone explicitly, e.g. "
        "load_text_backbone('google/gemma-2-2b'); known pairings: "
        + ", ".join(f"{p} -> {b}" for p, b in pairings)
    )


def load_text_backbone(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    mllm: str | os.PathLike[str] | MLLM | None = None,
    device_map: DeviceMap = None,
    dtype: torch.dtype | str | None = None,
    remote: bool | str = False,
    progress: bool = False,
    **kwargs: object,
) -> TextBackbone:
    """Load a text-only backbone through nnsight.

    Give the backbone itself (``name_or_path``), or the MLLM it pairs with (``mllm=``) and let
    ``text_backbone_name`` pick it. A multimodal checkpoint given as the backbone (Gemma 3) is
    run on text alone. ``progress=True`` shows transformers' loading bars (off by default).

    Example:
        >>> backbone = load_text_backbone(mllm="organism")   # doctest: +SKIP
        >>> backbone = load_text_backbone("google/gemma-2-2b", dtype=torch.bfloat16)  # doctest: +SKIP
    """
    from nnsight import TransformersModel

    if (name_or_path is None) == (mllm is None):
        raise ValueError("give exactly one of name_or_path (the backbone) or mllm= (its MLLM)")
    if mllm is not None:
        mllm_name = mllm.name if isinstance(mllm, MLLM) else str(mllm)
        if isinstance(mllm, MLLM) and getattr(mllm.module.config, "model_type", None) in self_backbone_types():
            return _backbone_from_mllm(mllm)
        try:
            name_or_path = text_backbone_name(mllm_name)
        except ValueError:
            if not isinstance(mllm, MLLM):
                _load_config(mllm_name)  # a name that is no model is reported as such, not as a missing pairing
            raise
        if name_or_path == "<self>":
            if isinstance(mllm, MLLM):
                return _backbone_from_mllm(mllm)
            name_or_path = mllm_name
    assert name_or_path is not None
    path = _resolve(name_or_path, "text")
    config = _load_config(path)
    if hasattr(config, "text_config") and hasattr(config, "vision_config"):
        model_type = getattr(config, "model_type", None)
        if model_type not in self_backbone_types():
            raise ValueError(
                f"{name_or_path} is an MLLM (model_type {model_type!r}), not a text backbone: pass it as "
                f"load_text_backbone(mllm={str(name_or_path)!r}) to load the backbone it pairs with, or give "
                "the backbone's own checkpoint"
            )
        loaded = load_mllm(
            path, device_map=device_map, dtype=dtype, remote=remote, progress=progress, **kwargs
        )
        return _backbone_from_mllm(loaded)
    from transformers import AutoTokenizer

    from interp.models.compat import quiet_progress

    nn_kwargs = _nn_kwargs(device_map, dtype, remote, kwargs)
    if not remote:
        _check_weights(path)
    if "tokenizer" not in nn_kwargs:
        _check_tokenizer_files(path)
    try:
        tokenizer = nn_kwargs.pop("tokenizer", None) or AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path!r} has no usable tokenizer: a backbone checkpoint needs its tokenizer files ({err})") from err
    with warnings.catch_warnings(), quiet_progress(progress):
        warnings.simplefilter("ignore")
        with _strict_weights(path) if not remote else contextlib.nullcontext():
            nn = TransformersModel(path, task="text-generation", tokenizer=tokenizer, **nn_kwargs)
    layers_path = _find_layers(nn._module, path)
    source = model_source(str(name_or_path))
    name = backbone_name(source) if source is not None else str(name_or_path)
    return TextBackbone(nn, nn.tokenizer, name=name, layers_path=layers_path, remote=remote)


def _backbone_from_mllm(mllm: MLLM) -> TextBackbone:
    backbone = TextBackbone(
        mllm.nn, mllm.tokenizer, name=mllm.name, layers_path=mllm.layers_path,
        remote=mllm.remote, adapter=mllm.adapter,
    )
    backbone.special_ids = set(mllm.special_ids)
    return backbone


def _find_layers(module: torch.nn.Module, name: str) -> str:
    for path in _CAUSAL_LM_LAYER_PATHS:
        try:
            layers = get_path(module, path)
        except AttributeError:
            continue
        if isinstance(layers, torch.nn.ModuleList):
            return path
    raise ValueError(
        f"cannot find the decoder layers of {name!r} ({type(module).__name__}): tried "
        f"{list(_CAUSAL_LM_LAYER_PATHS)}"
    )
