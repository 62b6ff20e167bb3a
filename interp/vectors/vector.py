"""``SteeringVector``: per-layer directions plus the metadata that says where they came from.

A steering vector is immutable: arithmetic (``2 * v``, ``v + w``, ``v - w``), ``normalized()``
and ``to()`` return new vectors. It is saved as two files in a directory, ``vector.safetensors``
(one tensor per layer) and ``vector.json`` (metadata, the SHA-256 of the tensor file, and a
SHA-256 of the config itself), written atomically; loading refuses a tensor file or a config
that was truncated, swapped or edited by hand (an edited ``normalized`` or ``method`` would
otherwise load and mislead). Files of format 1 (interp before the config checksum) are refused
with a message naming ``migrate``, which checks their tensors and adds the checksum.

Example:
    >>> import torch
    >>> v = SteeringVector.from_tensors({2: torch.ones(4)}, method="meanshift", concept="counting")
    >>> (2 * v).at(2).tolist()
    [2.0, 2.0, 2.0, 2.0]
    >>> v.normalized().at(2).norm().item()
    1.0
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import torch
from jaxtyping import Float
from torch import Tensor

from interp._version import __version__
from interp.args import as_float
from interp.errors import CorruptArtifactError
from interp.io import replace_atomically
from interp.types import JSONDict

if TYPE_CHECKING:
    from typing import Unpack

    from interp.models.traced import TracedModel

TENSORS_FILE = "vector.safetensors"
CONFIG_FILE = "vector.json"
#: 2: the config carries ``config_sha256`` over its own contents (1 had only the tensors' hash).
FORMAT_VERSION = 2
LAYER_CONVENTION = "output of decoder layer l = HF hidden_states[l+1] = blocks.{l}.hook_resid_post"


def _version() -> str:
    return __version__


@dataclass(frozen=True)
class VectorMeta:
    """Where a steering vector came from.

    Attributes:
        method: the method's registered name (``"meanshift"``, ``"probe"``, ``"sae"``, ...).
        concept: the concept or taxonomy name.
        source_model: the model the vector was computed on.
        d_model: hidden size.
        n_layers: number of decoder layers of the source model (None if unknown).
        corpus_hash: hash of the corpus it was computed from.
        corpus_size: number of sentences (or pairs).
        params: the method's parameters.
        extra: method results worth keeping (probe accuracy, SAE features and scores, ...).
        normalized: whether every layer's vector has unit norm.
        layer_convention: the layer convention (layer l = output of decoder layer l), spelled out.
        interp_version: the interp version that made it.
        source_fingerprint: identity of the source model (``interp.vectors.checks.fingerprint``:
            a hash of its decoder config and a sample of its weights); empty for vectors made
            from tensors or saved before interp recorded it, which are checked by shape only.
        checks: what the data checks found (``n_duplicates``, ``unknown_token_fraction``, ...)
            and notes on checks that could not be made.
    """

    method: str
    concept: str
    source_model: str = "unknown"
    d_model: int = 0
    n_layers: int | None = None
    corpus_hash: str = ""
    corpus_size: int = 0
    params: JSONDict = field(default_factory=dict)
    extra: JSONDict = field(default_factory=dict)
    normalized: bool = False
    layer_convention: str = LAYER_CONVENTION
    interp_version: str = field(default_factory=_version)
    source_fingerprint: JSONDict = field(default_factory=dict)
    checks: JSONDict = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["params"] = dict(self.params)
        out["extra"] = dict(self.extra)
        out["source_fingerprint"] = dict(self.source_fingerprint)
        out["checks"] = dict(self.checks)
        return out



class VectorMetaFields(TypedDict, total=False):
    """``VectorMeta``'s fields other than ``method`` and ``concept``, as keywords of
    ``SteeringVector.from_tensors``."""

    source_model: str
    d_model: int
    n_layers: int | None
    corpus_hash: str
    corpus_size: int
    params: JSONDict
    extra: JSONDict
    normalized: bool
    layer_convention: str
    interp_version: str
    source_fingerprint: JSONDict
    checks: JSONDict


@dataclass(frozen=True, eq=False)
class SteeringVector:
    """Per-layer steering directions (``layer -> (d_model,)`` tensors) and their metadata.

    Build one with a method (``interp.vectors.compute``), ``from_tensors`` or ``load``.
    """

    tensors: Mapping[int, Tensor]
    meta: VectorMeta

    def __post_init__(self) -> None:
        if not self.tensors:
            raise ValueError("a SteeringVector needs at least one layer")
        items = sorted(self.tensors.items())
        d = None
        for layer, t in items:
            if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
                raise ValueError(f"layer keys must be non-negative ints, got {layer!r}")
            if not isinstance(t, Tensor) or t.dim() != 1:
                raise ValueError(f"layer {layer}: expected a 1-D tensor, got {getattr(t, 'shape', t)!r}")
            if d is None:
                d = t.shape[0]
            elif t.shape[0] != d:
                raise ValueError(f"layer {layer} has size {t.shape[0]}, other layers have {d}")
            if not torch.isfinite(t).all():
                raise ValueError(f"layer {layer} contains NaN or inf values")
        if self.meta.d_model and d != self.meta.d_model:
            raise ValueError(f"tensors have size {d} but the metadata says d_model {self.meta.d_model}")
        frozen = MappingProxyType({k: v.detach() for k, v in items})
        object.__setattr__(self, "tensors", frozen)
        if not self.meta.d_model:
            object.__setattr__(self, "meta", replace(self.meta, d_model=int(d or 0)))

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_tensors(
        cls, tensors: Mapping[int, Tensor], *, method: str = "custom", concept: str = "custom",
        **meta: Unpack[VectorMetaFields],
    ) -> SteeringVector:
        """A vector from ``{layer: tensor}`` with metadata fields given as keywords.

        Example:
            >>> SteeringVector.from_tensors({0: torch.zeros(3)}).layers
            (0,)
        """
        return cls(dict(tensors), VectorMeta(method=method, concept=concept, **meta))

    # -- access --------------------------------------------------------------------------------
    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(self.tensors)

    @property
    def d_model(self) -> int:
        return self.meta.d_model

    def at(self, layer: int) -> Float[Tensor, " d_model"]:
        """The direction at ``layer``.

        Raises:
            ValueError: the vector has no direction at that layer.
        """
        if layer not in self.tensors:
            raise ValueError(
                f"this {self.meta.method} vector for {self.meta.concept!r} has no layer {layer}: "
                f"it has layers {list(self.layers)}"
            )
        return self.tensors[layer]

    def norms(self) -> dict[int, float]:
        return {layer: float(t.norm()) for layer, t in self.tensors.items()}

    def digest(self) -> str:
        """A hash of the directions themselves (layers, dtypes, values): what a sweep's table records
        of each vector, so a table is read back only with the very vectors that made it.

        Example:
            >>> v = SteeringVector.from_tensors({0: torch.ones(3)})
            >>> v.digest() == (1 * v).digest(), v.digest() == (-v).digest()
            (True, False)
        """
        from interp.models.fingerprint import tensor_hash

        digest = tensor_hash((str(layer), t) for layer, t in self.tensors.items())
        assert digest is not None  # a vector's tensors always hold values
        return digest

    def check_compatible(self, model: TracedModel, *, allow_transfer: bool = False) -> None:
        """Raise a ValueError if ``model`` (an interp model) cannot take this vector.

        Shapes must fit (d_model, number of layers). Provenance must too: a vector built on
        another model of the same shape is refused unless ``allow_transfer=True`` (deliberate
        transfer experiments). An MLLM takes the vectors of its paired text backbone. A vector
        without a recorded fingerprint is checked by the source model it declares (one made from
        tensors with no source declared: by shape only). The rules are the boundary's
        (``interp.boundary.check_vector``).
        """
        from interp.boundary import check_vector

        check_vector(model, self, allow_transfer=allow_transfer)

    # -- arithmetic ----------------------------------------------------------------------------
    def _map(self, fn: Any, **meta: Any) -> SteeringVector:
        return SteeringVector({k: fn(v) for k, v in self.tensors.items()}, replace(self.meta, **meta))

    def __mul__(self, scale: float) -> SteeringVector:
        if isinstance(scale, SteeringVector):
            return NotImplemented
        try:
            factor = as_float(scale, "scale")
        except ValueError:
            if isinstance(scale, (int, float)) or _is_number(scale):
                raise ValueError(
                    f"cannot scale a steering vector by {scale!r}: expected a finite number"
                ) from None
            return NotImplemented
        return self._map(lambda t: t * factor, normalized=self.meta.normalized and abs(factor) == 1)

    __rmul__ = __mul__

    def __truediv__(self, scale: float) -> SteeringVector:
        if isinstance(scale, SteeringVector):
            return NotImplemented
        try:
            divisor = as_float(scale, "divisor")
        except ValueError:
            if isinstance(scale, (int, float)) or _is_number(scale):
                raise ValueError(
                    f"cannot divide a steering vector by {scale!r}: expected a finite non-zero number"
                ) from None
            return NotImplemented
        if divisor == 0.0:
            raise ValueError(
                f"cannot divide a steering vector by {scale!r}: expected a finite non-zero number"
            )
        return self * (1.0 / divisor)

    def __neg__(self) -> SteeringVector:
        return self * -1.0

    def __add__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, 1.0)

    def __sub__(self, other: SteeringVector) -> SteeringVector:
        return self._combine(other, -1.0)

    def _combine(self, other: Any, sign: float) -> SteeringVector:
        if not isinstance(other, SteeringVector):
            return NotImplemented
        if other.d_model != self.d_model:
            raise ValueError(f"cannot combine vectors of d_model {self.d_model} and {other.d_model}")
        check_same_source([self, other], "v + w" if sign > 0 else "v - w")
        layers = sorted(set(self.layers) | set(other.layers))
        zero = torch.zeros(self.d_model, dtype=next(iter(self.tensors.values())).dtype)
        tensors = {
            layer: self.tensors.get(layer, zero) + sign * other.tensors.get(layer, zero).to(zero.dtype)
            for layer in layers
        }
        op = "+" if sign > 0 else "-"
        meta = replace(
            self.meta,
            method="combination",
            concept=f"({self.meta.concept} {op} {other.meta.concept})",
            normalized=False,
            params={"terms": [self.meta.to_json(), other.meta.to_json()], "signs": [1.0, sign]},
            extra={},
        )
        return SteeringVector(tensors, meta)

    def normalized(self) -> SteeringVector:
        """Every layer scaled to unit L2 norm (a zero layer is an error)."""
        zero = [layer for layer, t in self.tensors.items() if float(t.norm()) == 0.0]
        if zero:
            raise ValueError(f"cannot normalize: layers {zero} are zero vectors")
        return self._map(lambda t: t / t.norm(), normalized=True)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> SteeringVector:
        """The same vector on another device or dtype."""
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def select_layers(self, layers: Iterable[int]) -> SteeringVector:
        """A vector with only ``layers``."""
        return SteeringVector({layer: self.at(layer) for layer in layers}, self.meta)

    def __repr__(self) -> str:
        return (
            f"SteeringVector(method={self.meta.method!r}, concept={self.meta.concept!r}, "
            f"layers={list(self.layers)}, d_model={self.d_model}, source={self.meta.source_model!r})"
        )

    def equals(self, other: SteeringVector) -> bool:
        """Same layers, bitwise-equal tensors and equal metadata."""
        return (
            self.layers == other.layers
            and all(torch.equal(self.tensors[k], other.tensors[k]) for k in self.layers)
            and json.dumps(self.meta.to_json(), sort_keys=True, default=str)
            == json.dumps(other.meta.to_json(), sort_keys=True, default=str)
        )

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write ``vector.safetensors`` and ``vector.json`` into ``directory`` atomically.

        An existing saved vector there is never replaced unless ``overwrite=True``.

        Example:
            >>> v.save("vectors/counting-meanshift")   # doctest: +SKIP
        """
        from safetensors.torch import save

        from interp.io import claim, write_dir

        out = Path(directory)
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"{out} is a file: a vector is saved into a folder (it holds {CONFIG_FILE} and {TENSORS_FILE})")
        payload = save({str(k): v.contiguous().cpu() for k, v in self.tensors.items()})
        config = {
            "format_version": FORMAT_VERSION,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "layers": list(self.layers),
            "meta": json.loads(json.dumps(self.meta.to_json(), default=_json_default)),
        }
        config["config_sha256"] = _config_sha256(config)
        text = json.dumps(config, indent=2, sort_keys=True)

        def holds_vector(folder: Path) -> bool:
            return (folder / CONFIG_FILE).exists() or (folder / TENSORS_FILE).exists()

        def refuse() -> None:
            raise FileExistsError(f"{out} already holds a saved vector: pass overwrite=True to replace it")

        def fill(folder: Path) -> None:
            # Tensors first, then the config that vouches for them: a crash in between leaves a
            # config that does not match, which load refuses.
            replace_atomically(folder / TENSORS_FILE, payload)
            replace_atomically(folder / CONFIG_FILE, text.encode())

        if holds_vector(out) and not overwrite:
            refuse()
        if not out.exists() or not any(out.iterdir()):
            # A new folder is filled under another name and renamed into place, under a claim:
            # a concurrent saver waits, then finds the vector and is refused; nothing interleaves.
            try:
                write_dir(out, fill, overwrite=overwrite, exists=holds_vector)
            except FileExistsError as err:
                if "being written by another process" in str(err):
                    raise
                refuse()
            return out
        # A folder that holds other files too is written in place (its other files are kept),
        # file by file atomically, under the same claim.
        with claim(out):
            if holds_vector(out) and not overwrite:
                refuse()
            fill(out)
        return out

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike[str],
        *,
        device: str | torch.device = "cpu",
        model: TracedModel | None = None,
        allow_transfer: bool = False,
    ) -> SteeringVector:
        """Load a vector saved by ``save``, checking its checksums, shapes and metadata.

        Args:
            directory: where ``save`` wrote it (or its ``vector.json``).
            device: where the tensors go.
            model: an interp model the vector must fit (d_model, number of layers, provenance),
                checked now rather than when steering.
            allow_transfer: accept a ``model`` other than the one the vector was built on.

        Raises:
            FileNotFoundError: no saved vector there (neither file).
            CorruptArtifactError: one file missing, a checksum mismatch (tensors or config
                edited, truncated or swapped), an unreadable file, inconsistent metadata, or a
                format-1 file (see ``migrate``).
            ValueError: the vector does not fit ``model``.

        Example:
            >>> v = SteeringVector.load("vectors/counting", model=mllm)   # doctest: +SKIP
        """
        path = _vector_dir(directory)
        config, payload = _read_checked(path)
        from safetensors.torch import load

        try:
            raw = load(payload)
        except Exception as err:  # safetensors raises its own error types
            raise CorruptArtifactError(f"{path / TENSORS_FILE} cannot be read: {err}") from err
        layers = [int(x) for x in config["layers"]]
        if sorted(int(k) for k in raw) != sorted(layers):
            raise CorruptArtifactError(f"{path / TENSORS_FILE} holds layers {sorted(raw)} but the config lists {layers}")
        fields = dict(config["meta"])
        if "source_fingerprint" not in fields:
            fields["checks"] = {
                **dict(fields.get("checks") or {}),
                "provenance": "saved by an interp that did not record the source model's "
                "fingerprint: checked against models by shape only",
            }
        try:
            meta = VectorMeta(**fields)
            vector = cls({int(k): v.to(device) for k, v in raw.items()}, meta)
        except (TypeError, ValueError) as err:
            raise CorruptArtifactError(f"{path} has inconsistent contents: {err}") from err
        if model is not None:
            vector.check_compatible(model, allow_transfer=allow_transfer)
        return vector


def _vector_dir(directory: str | os.PathLike[str]) -> Path:
    """The folder of a saved vector, given the folder or one of its two files."""
    path = Path(directory)
    if path.is_file():
        if path.name in (CONFIG_FILE, TENSORS_FILE):
            return path.parent
        raise ValueError(
            f"{path} is a file, not a saved vector: pass the folder that holds {CONFIG_FILE} and "
            f"{TENSORS_FILE}"
        )
    return path


def _is_number(x: Any) -> bool:
    """Whether ``x`` is a number type (numpy, torch scalar), whatever its value."""
    import numbers

    return isinstance(x, numbers.Number) or (isinstance(x, Tensor) and x.numel() == 1)


#: Named steering vectors: one ``SteeringVector``, several (each named ``method/concept``), or a
#: mapping of name -> ``SteeringVector``.
SteeringVectors: TypeAlias = SteeringVector | Iterable[SteeringVector] | Mapping[str, SteeringVector]


def check_same_source(vectors: Iterable[SteeringVector], what: str, *, allow_transfer: bool = False) -> None:
    """Refuse combining vectors built on different models (``allow_transfer=True`` lets them)."""
    vectors = list(vectors)
    if allow_transfer:
        return
    first = vectors[0].meta
    for other in (v.meta for v in vectors[1:]):
        fp_a, fp_b = first.source_fingerprint, other.source_fingerprint
        differ = first.source_model != other.source_model or (
            bool(fp_a) and bool(fp_b) and fp_a.get("config") != fp_b.get("config")
        )
        if differ or "mixed" in (first.source_model, other.source_model):
            raise ValueError(
                f"cannot combine ({what}) vector {first.concept!r} built on {first.source_model} with "
                f"vector {other.concept!r} built on {other.source_model}: directions of different "
                "models do not add up; for a deliberate transfer experiment use "
                "interp.vectors.merge([...], allow_transfer=True)"
            )


def migrate(directory: str | os.PathLike[str]) -> Path:
    """Rewrite a format-1 saved vector (no config checksum) in the current format, in place.

    The tensor file's own checksum is checked first; the metadata cannot be checked (format 1
    did not cover it), so migrate only files you trust.

    Example:
        >>> migrate("vectors/counting-meanshift")   # doctest: +SKIP
    """
    path = _vector_dir(directory)
    config, _ = _read_checked(path, allow_v1=True)
    if config.get("format_version") == FORMAT_VERSION:
        return path
    config["format_version"] = FORMAT_VERSION
    config.pop("config_sha256", None)
    config["config_sha256"] = _config_sha256(config)
    replace_atomically(path / CONFIG_FILE, json.dumps(config, indent=2, sort_keys=True).encode())
    return path


def _config_sha256(config: Mapping[str, Any]) -> str:
    """SHA-256 of a config's canonical JSON, without the ``config_sha256`` field itself."""
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_checked(path: Path, *, allow_v1: bool = False) -> tuple[dict[str, Any], bytes]:
    """The config (checksum-checked) and the tensor bytes (checksum-checked) of a saved vector."""
    cfg_path, ten_path = path / CONFIG_FILE, path / TENSORS_FILE
    present = [p.is_file() for p in (cfg_path, ten_path)]
    if not any(present):
        raise FileNotFoundError(f"no saved steering vector at {path}: {CONFIG_FILE} is missing")
    if not all(present):
        have, lack = (cfg_path, ten_path) if present[0] else (ten_path, cfg_path)
        raise CorruptArtifactError(
            f"{path} holds {have.name} but not {lack.name}: the save was interrupted or a file "
            "was deleted; save the vector again"
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise TypeError(f"expected a JSON object, got {type(config).__name__}")
        dict(config["meta"])
        expected_sha = str(config["sha256"])
        [int(x) for x in config["layers"]]
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptArtifactError(f"{cfg_path} is not a valid vector config: {err}") from err
    version = config.get("format_version")
    if version == 1 and not allow_v1:
        raise CorruptArtifactError(
            f"{cfg_path} has format_version 1 (saved before interp checksummed the metadata), so "
            "an edit to it cannot be detected: if you trust the file, upgrade it once with "
            f"interp.vectors.migrate({str(path)!r}), or save the vector again"
        )
    if version not in (1, FORMAT_VERSION):
        raise CorruptArtifactError(
            f"{cfg_path} has format_version {version!r}; this interp reads {FORMAT_VERSION}"
        )
    if version == FORMAT_VERSION and config.get("config_sha256") != _config_sha256(config):
        raise CorruptArtifactError(
            f"{cfg_path} was edited after it was saved: its config checksum does not match its "
            "contents (metadata such as 'method' or 'normalized' must describe the tensors they "
            "came with); save the vector again from its source instead of editing the file"
        )
    payload = ten_path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected_sha:
        raise CorruptArtifactError(
            f"{ten_path} is corrupt or does not belong to {cfg_path.name}: checksum {actual[:12]}... "
            f"but the config expects {expected_sha[:12]}..."
        )
    return config, payload


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.tolist()
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)

