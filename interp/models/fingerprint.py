"""Model fingerprints: what identifies a model's weights, from a hash of every tensor.

One ``Fingerprint`` serves everything that must know which model it has in hand: a results store
keys its rows by it (retrained or edited weights under the same name never reuse stale rows), and a
steering vector records its source model's (a vector built on one model is not silently used on
another). It holds:

- ``config``: a hash of the language model's config, without paths, dtypes and versions;
- ``weights``: a SHA-256 streamed over every weight of the model (name, shape, dtype and bytes, in
  name order, one tensor in memory at a time), so any change to any weight changes it;
- ``decoder``: the same over the language model alone (its names relative to it), which tells an
  MLLM whose language model is a text backbone unchanged (frozen) from one that drifted;
- ``sample``: 16 weights of the first and last decoder layers (6 significant digits), which the
  same weights loaded in another dtype still match within a tolerance;
- ``dtype``: the dtype the weights are in.

A remote model has no weights here: its hashes are None, its config and name identify it. The
fingerprint is cached on the model and recomputed when a weight changes in place (torch counts
every in-place edit of a tensor).

Example:
    >>> fp = mllm.fingerprint()                       # doctest: +SKIP
    >>> fp.store_key("organism")                      # doctest: +SKIP
    'organism@5d0c...'
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: Config keys that differ between two loads of the same model (paths, dtype, versions).
VOLATILE_KEYS = frozenset({
    "_name_or_path", "torch_dtype", "dtype", "transformers_version", "_commit_hash",
    "_attn_implementation", "_attn_implementation_autoset", "_attn_implementation_internal",
    "use_cache", "architectures", "output_hidden_states", "output_attentions", "return_dict",
})

#: Weight values sampled for the cross-dtype comparison, and how close two samples must be (loose
#: enough for the same weights loaded in another dtype, far tighter than two trainings differ).
SAMPLE = 16
SAMPLE_RTOL = 2e-2
SAMPLE_ATOL = 1e-3


@dataclass(frozen=True)
class Fingerprint:
    """The identity of a model's weights (see the module docstring).

    Example:
        >>> a = Fingerprint("c0", "float32", "w0", "d0", (0.5,))
        >>> a.same_weights(a), a.same_weights(Fingerprint("c0", "float32", "w1", "d1", (0.5,)))
        (True, False)
    """

    config: str
    dtype: str
    weights: str | None = None
    decoder: str | None = None
    sample: tuple[float, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The fingerprint as a JSON object (what a vector's ``meta.source_fingerprint`` records)."""
        return {"config": self.config, "dtype": self.dtype, "weights": self.weights, "decoder": self.decoder,
                "sample": list(self.sample) if self.sample is not None else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fingerprint | None:
        """A fingerprint from ``to_json``'s object; None for an empty one.

        Vectors saved before interp hashed every weight recorded ``{"config", "weights": [16
        values]}``: that list is read as the sample, with no hashes.
        """
        if not data:
            return None
        weights, sample = data.get("weights"), data.get("sample")
        if isinstance(weights, list):  # the earlier format: a sample, no hash
            weights, sample = None, weights
        return cls(
            config=str(data.get("config", "")), dtype=str(data.get("dtype") or ""),
            weights=weights if isinstance(weights, str) else None,
            decoder=data.get("decoder") if isinstance(data.get("decoder"), str) else None,
            sample=tuple(float(x) for x in sample) if isinstance(sample, list) else None,
        )

    def store_key(self, name: str) -> str:
        """``name@hash`` of config, dtype and weights: what a results store keys a model's rows by.

        Example:
            >>> Fingerprint("c0", "float32", "w0").store_key("m")
            'm@22889df615efa5b6'
        """
        if self.weights is None:  # a remote model: its name and config identify the checkpoint
            return f"{name}@remote-{_short(self.config + self.dtype)}"
        return f"{name}@{_short(self.config + self.dtype + self.weights)}"

    def same_weights(self, other: Fingerprint, *, decoder_only: bool = False) -> bool:
        """Whether ``other`` has the same weights: equal hashes in the same dtype, close samples
        across dtypes. Without weights on one side (a remote model), the config decides.

        ``decoder_only`` compares the language models alone (an MLLM against its text backbone).
        """
        if self.config != other.config:
            return False
        mine, theirs = (self.decoder, other.decoder) if decoder_only else (self.weights, other.weights)
        if mine is not None and theirs is not None and self.dtype == other.dtype:
            return mine == theirs
        if self.sample is None or other.sample is None:
            return True
        return len(self.sample) == len(other.sample) and all(
            abs(x - y) <= SAMPLE_ATOL + SAMPLE_RTOL * abs(y) for x, y in zip(self.sample, other.sample)
        )


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_hash(config: Any) -> str:
    """A hash of a (text) config's contents without paths, dtypes and versions.

    Example:
        >>> config_hash({"hidden_size": 8, "_name_or_path": "/tmp/x"}) == config_hash({"hidden_size": 8})
        True
    """
    raw = config if isinstance(config, Mapping) else (config.to_dict() if hasattr(config, "to_dict") else dict(vars(config)))
    body = {k: v for k, v in raw.items() if k not in VOLATILE_KEYS and not k.startswith("_")}
    return _short(json.dumps(body, sort_keys=True, default=str))


def tensor_hash(named: Iterable[tuple[str, Tensor]]) -> str | None:
    """SHA-256 (16 hex) of named tensors in name order: each name, shape, dtype and bytes.

    Streams one tensor at a time; None when a tensor has no values here (meta: a remote model).

    Example:
        >>> tensor_hash([("a", torch.ones(2))]) == tensor_hash([("a", torch.ones(2))])
        True
        >>> tensor_hash([("a", torch.ones(2))]) == tensor_hash([("a", torch.zeros(2))])
        False
    """
    h = hashlib.sha256()
    with torch.no_grad():
        for name, t in sorted(named, key=lambda item: item[0]):
            if t.device.type == "meta":
                return None
            flat = t.detach().reshape(-1).contiguous()
            h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
            h.update(flat.cpu().view(torch.uint8).numpy().data)  # the tensor's own buffer, not a copy
    return h.hexdigest()[:16]


def _sample(layers: Any) -> tuple[float, ...] | None:
    out: list[float] = []
    try:
        for layer in (layers[0], layers[len(layers) - 1]):
            param = next(p for p in layer.parameters() if p.numel() >= SAMPLE // 2)
            if param.device.type == "meta":
                return None
            values = param.detach().reshape(-1)[: SAMPLE // 2].to("cpu", torch.float64)
            out.extend(float(f"{x:.6g}") for x in values.tolist())
    except (StopIteration, AttributeError, IndexError, TypeError):
        return None
    return tuple(out) if all(math.isfinite(x) for x in out) else None


def compute(model: Any) -> Fingerprint:
    """The fingerprint of an interp model (``TracedModel``): every weight hashed (see the module).

    Use ``model.fingerprint()``, which caches it until a weight changes. A remote model's weights
    are on the server (even where nnsight's local dry run has dispatched a copy here): its config
    and name identify it.
    """
    if getattr(model, "remote", False):
        return Fingerprint(config=config_hash(model.text_config), dtype=str(model.dtype).removeprefix("torch."))
    decoder_path = model.layers_path.rsplit(".", 1)[0]
    prefix = decoder_path + "."
    everything = list(model.named_weights())
    decoder = [(name[len(prefix):], t) for name, t in everything if name.startswith(prefix)]
    return Fingerprint(
        config=config_hash(model.text_config),
        dtype=str(model.dtype).removeprefix("torch."),
        weights=tensor_hash(everything),
        decoder=tensor_hash(decoder) if decoder else None,
        sample=_sample(model.torch_layers),
    )


#: Layer-list paths of a causal LM's checkpoint, in the order ``interp.models.loading`` tries them.
_DECODER_LAYERS = ("model.layers", "model.language_model.layers", "transformer.h")
_CHECKPOINTS: dict[tuple[str, str | None, tuple[tuple[str, int, int], ...]], Fingerprint | None] = {}


def checkpoint_fingerprint(directory: str | os.PathLike[str], dtype: str | None = None) -> Fingerprint | None:
    """A text model's fingerprint from its checkpoint files, without building the model: its config
    and its decoder's weights hashed as loading it in ``dtype`` would give them (the file's own dtype
    when None). None when the directory holds no safetensors weights.

    What ``TextBackbone.fingerprint`` gives for the same checkpoint loaded in that dtype (``decoder``
    and ``config``); cached while the files are unchanged. A vector's provenance is checked against
    it when it says it was built on the text backbone an MLLM pairs with.

    Example:
        >>> checkpoint_fingerprint(interp.organism.path("text")).decoder   # doctest: +SKIP
        '0b3c...'
    """
    from safetensors import safe_open
    from transformers import AutoConfig

    root = Path(directory)
    files = sorted(root.glob("*.safetensors"))
    if not files:
        return None
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    key = (str(root.resolve()), dtype, stamp)
    if key in _CHECKPOINTS:
        return _CHECKPOINTS[key]
    config = AutoConfig.from_pretrained(root)
    target = getattr(torch, dtype) if dtype else None
    handles = [safe_open(str(f), framework="pt") for f in files]
    names = {name: h for h in handles for name in h.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    layers = next((p for p in _DECODER_LAYERS if any(n.startswith(p + ".0.") for n in names)), None)
    if layers is None:
        _CHECKPOINTS[key] = None
        return None
    prefix = layers.rsplit(".", 1)[0] + "."

    def decoder() -> Iterable[tuple[str, Tensor]]:
        for name in sorted(names):
            if name.startswith(prefix):
                t = names[name].get_tensor(name)
                yield name[len(prefix):], t.to(target) if target is not None else t

    first = next(iter(decoder()))[1]
    found = Fingerprint(
        config=config_hash(config.get_text_config()),
        dtype=str(first.dtype).removeprefix("torch."),
        decoder=tensor_hash(decoder()),
    )
    _CHECKPOINTS[key] = found
    return found


def weights_version(module: torch.nn.Module) -> tuple[tuple[int, int, int], ...]:
    """What changes when any weight is replaced or edited in place: each parameter's identity,
    storage and torch's in-place version counter (free to read, no hashing)."""
    return tuple((id(p), p.data_ptr(), p._version) for p in module.parameters())


__all__ = [
    "SAMPLE",
    "SAMPLE_ATOL",
    "SAMPLE_RTOL",
    "VOLATILE_KEYS",
    "Fingerprint",
    "checkpoint_fingerprint",
    "compute",
    "config_hash",
    "tensor_hash",
    "weights_version",
]
