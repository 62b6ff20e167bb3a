"""Residual-stream activations of a text backbone, batch by batch, and streaming statistics.

A *residual function* maps an encoded batch and a list of layers to ``{layer: (batch, pos,
d_model)}`` float32 tensors on the CPU, the residual stream after each decoder layer
(the layer convention: HF ``hidden_states[l+1]``). The batch is an encoded text batch
(``input_ids`` and ``attention_mask``) or, for an MLLM, the mapping of inputs its forward takes
(``interp.answers.encode_items``, ``MLLM.encode``: the image's pixel values included). Three
backends give one:

- ``"torch"``: a forward hook on each layer read, removed when the pass ends, on the local
  weights. A read edits nothing, so it needs no trace, and it skips nnsight's fixed cost per
  trace (on the 1.1M organism backbone a tenth of a batch's time).
- ``"nnsight"``: an nnsight trace; the path for remote models (NDIF) and ``remote="local"``.
- ``"transformer_lens"`` (``interp.backends``): a HookedTransformer (TransformerLens 3.x) or
  TransformerBridge (4.x) conversion, for the architectures TransformerLens supports.

``"auto"`` (the default everywhere) is ``"torch"`` for a local model and ``"nnsight"`` for a
remote one; the first two give the same tensors bit for bit. Statistics are accumulated in
float64 sums per batch, so memory stays flat in the corpus size.

Example:
    >>> run = residual_fn(backbone)                                  # doctest: +SKIP
    >>> for batch in encode_texts(backbone.tokenizer, texts):          # doctest: +SKIP
    ...     acts = run(batch, [0, 1])
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import torch
from jaxtyping import Bool, Float
from torch import Tensor

BACKENDS = ("auto", "torch", "nnsight", "transformer_lens")

#: TransformerLens conversions, one per HF module, dropped with the module.
_HOOKED: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class EncodedLike(Protocol):
    input_ids: Tensor
    attention_mask: Tensor


ResidualFn = Callable[[Any, Sequence[int]], dict[int, Tensor]]


def _no_logits(model: Any) -> dict[str, Any]:
    """Forward options that skip work a residual read never uses: the head's logits at all but
    the last position (most of the compute with a 256k vocabulary) and the KV cache, for models
    whose forward takes them (every supported family does)."""
    forward = getattr(getattr(model, "module", None), "forward", None)
    try:
        names = inspect.signature(forward).parameters if forward is not None else {}
    except (TypeError, ValueError):
        names = {}
    return {k: v for k, v in (("logits_to_keep", 1), ("use_cache", False)) if k in names}


def _forward_inputs(model: Any, batch: EncodedLike | Mapping[str, Any]) -> dict[str, Any]:
    """The forward's inputs on the model's input device: a mapping of inputs as it is (tensors
    moved), or an encoded text batch's ``input_ids`` and ``attention_mask``."""
    device = model.input_device
    if isinstance(batch, Mapping):
        return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    return {"input_ids": batch.input_ids.to(device), "attention_mask": batch.attention_mask.to(device)}


def nnsight_residuals(model: Any) -> ResidualFn:
    """Residual function through nnsight traces of an interp model (``TextBackbone`` or ``MLLM``).

    Example:
        >>> acts = nnsight_residuals(backbone)(batch, [3])[3]   # doctest: +SKIP
    """

    def run(batch: EncodedLike | Mapping[str, Any], layers: Sequence[int]) -> dict[int, Tensor]:
        order = sorted({model.check_layer(layer) for layer in layers})
        inputs = _forward_inputs(model, batch)
        saved = []
        # inference_mode rather than no_grad: autograd's per-op bookkeeping (version counters,
        # view tracking) is skipped, about 6% of a read on the 1.1M organism backbone.
        with torch.inference_mode(), model.trace(inputs, **_no_logits(model)):
            for layer in order:
                saved.append(model.layers[layer].output.save())
        return _plain_cpu(dict(zip(order, saved, strict=True)))

    return run


def torch_residuals(model: Any) -> ResidualFn:
    """Residual function through torch forward hooks on a local interp model's decoder layers.

    One hook per layer read keeps that layer's output; the hooks are removed when the pass ends,
    whether it returns or raises. The same tensors as ``nnsight_residuals``, bit for bit, without
    a trace. Remote models have no local weights: use ``nnsight_residuals`` for them.

    Example:
        >>> acts = torch_residuals(backbone)(batch, [3])[3]   # doctest: +SKIP
    """
    if getattr(model, "remote", False):
        raise ValueError(
            f"the torch activation backend runs local weights, but {model.name} is remote "
            f"(remote={model.remote!r}): use backend='nnsight' (or 'auto')"
        )

    def run(batch: EncodedLike | Mapping[str, Any], layers: Sequence[int]) -> dict[int, Tensor]:
        order = sorted({model.check_layer(layer) for layer in layers})
        inputs = _forward_inputs(model, batch)
        modules = model.torch_layers
        saved: dict[int, Tensor] = {}

        def keep(layer: int) -> Callable[..., None]:
            def hook(_module: torch.nn.Module, _args: Any, output: Any) -> None:
                saved[layer] = output[0] if isinstance(output, tuple) else output

            return hook

        handles = []
        try:
            for layer in order:
                handles.append(modules[layer].register_forward_hook(keep(layer)))
            with torch.inference_mode():
                model.module(**inputs, **_no_logits(model))
        finally:
            for handle in handles:
                handle.remove()
        missing = [layer for layer in order if layer not in saved]
        if missing:
            raise RuntimeError(f"the forward of {model.name} never ran decoder layer(s) {missing}")
        return _plain_cpu(saved)

    return run


def _plain_cpu(saved: dict[int, Any]) -> dict[int, Tensor]:
    """Float32 CPU copies of read activations that a caller may edit in place or train on,
    which inference tensors refuse (a copy off the GPU or out of bf16 is already a plain tensor).
    One layer at a time, so at most one layer is held twice."""
    out = {}
    for layer in sorted(saved):
        h = torch.as_tensor(saved.pop(layer)).float().cpu()
        out[layer] = h.clone() if h.is_inference() else h
    return out


def resolve_backend(model: Any, backend: str = "auto") -> str:
    """The backend ``backend`` names for ``model``: ``"auto"`` is ``"torch"`` for a local model,
    ``"nnsight"`` for a remote one; any other name is checked and returned.

    Example:
        >>> resolve_backend(backbone)   # doctest: +SKIP
        'torch'
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"unknown activation backend {backend!r}: expected one of {list(BACKENDS)}")
    if backend == "auto":
        return "nnsight" if getattr(model, "remote", False) else "torch"
    return backend


def residual_fn(model: Any, backend: str = "auto") -> ResidualFn:
    """The residual function of ``model`` for a backend (``"auto"``, ``"torch"``, ``"nnsight"`` or
    ``"transformer_lens"``; see the module docstring)."""
    backend = resolve_backend(model, backend)
    if backend == "torch":
        return torch_residuals(model)
    if backend == "nnsight":
        return nnsight_residuals(model)
    from interp.backends.transformer_lens import hooked_from_hf, tl_residuals

    module = getattr(model, "module", model)
    hooked = _HOOKED.get(module)
    if hooked is None:
        hooked = _HOOKED[module] = hooked_from_hf(model)
    return tl_residuals(hooked)


class MaskedMean:
    """Streaming per-layer mean of activations at masked positions (float64 sums).

    Example:
        >>> m = MaskedMean()
        >>> m.update(0, torch.ones(1, 2, 3), torch.tensor([[True, False]]))
        >>> m.mean(0).tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self) -> None:
        self.sums: dict[int, Tensor] = {}
        self.counts: dict[int, int] = {}

    def update(
        self, layer: int, acts: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> None:
        picked = acts[mask.to(acts.device)].double()
        if layer not in self.sums:
            self.sums[layer] = torch.zeros(acts.shape[-1], dtype=torch.float64)
            self.counts[layer] = 0
        self.sums[layer] += picked.sum(dim=0).cpu()
        self.counts[layer] += picked.shape[0]

    def mean(self, layer: int) -> Float[Tensor, " d_model"]:
        n = self.counts.get(layer, 0)
        if n == 0:
            raise ValueError(f"no token was selected at layer {layer}: cannot take a mean")
        return (self.sums[layer] / n).float()

    def count(self, layer: int) -> int:
        return self.counts.get(layer, 0)


def resolve_layers(model: Any, layers: Iterable[int] | int | str | None) -> list[int]:
    """All layers (None or ``"all"``), one layer, or a list of layers, checked against ``model``.

    Example:
        >>> resolve_layers(backbone, "all")   # doctest: +SKIP
        [0, 1, 2, 3]
    """
    if layers is None or (isinstance(layers, str) and layers == "all"):
        return list(range(model.n_layers))
    if isinstance(layers, (str, bytes)):
        raise ValueError(f"layers must be an int, a list of ints, 'all' or None, got the string {layers!r}")
    if not isinstance(layers, Iterable) or getattr(layers, "ndim", 1) == 0:
        layers = [layers]  # type: ignore[list-item]
    out = sorted({model.check_layer(layer) for layer in layers})
    if not out:
        raise ValueError("no layers given")
    return out


class Reader:
    """How a vector method reads a model's residual stream: which layers, through which backend,
    in batches of what size, with or without progress; resolved when first asked, so a method
    checks its data before its layers.

    ``means`` streams masked means over batches (memory flat in the corpus size); ``rows`` keeps
    the selected rows themselves (for a probe). What a method then computes from them is its
    own arithmetic (``interp.vectors.aggregate``), as steering-vectors keeps recording activations
    apart from its aggregators.

    Example:
        >>> read = Reader(backbone, layers=[1])                                       # doctest: +SKIP
        >>> anchor, other = read.means(batches, 12, "meanshift", [lambda b: b.anchors,
        ...                            lambda b: b.content_mask & ~b.anchors])           # doctest: +SKIP
    """

    def __init__(
        self, model: Any, *, layers: Any = None, backend: str = "auto", batch_size: int = 16, progress: bool = False
    ):
        self.model = model
        self.requested = layers
        self.backend_name = backend
        self.batch_size = batch_size
        self.progress = progress
        self._layers: list[int] | None = None
        self._backend: str | None = None

    @property
    def layers(self) -> list[int]:
        """The requested layers, checked against the model (every layer when none was requested)."""
        if self._layers is None:
            self._layers = resolve_layers(self.model, self.requested)
        return self._layers

    @property
    def backend(self) -> str:
        """The backend the reads go through (``resolve_backend``)."""
        if self._backend is None:
            self._backend = resolve_backend(self.model, self.backend_name)
        return self._backend

    def each(
        self, batches: Iterable[Any], n: int, description: str, layers: Sequence[int] | None = None
    ) -> Iterator[tuple[Any, dict[int, Tensor]]]:
        """``(batch, {layer: (batch, pos, d_model)})`` for each batch of ``n`` texts, with progress.

        Each batch's activations are dropped before the next forward (hold on to what you keep).
        """
        from interp.progress import track

        chosen = list(self.layers if layers is None else layers)
        residuals = residual_fn(self.model, self.backend)
        for batch in track(batches, total=-(-n // self.batch_size), description=description, enabled=self.progress):
            acts = residuals(batch, chosen)
            yield batch, acts
            del acts  # released before the next forward

    def means(
        self, batches: Iterable[Any], n: int, description: str, masks: Sequence[Callable[[Any], Tensor]],
        layers: Sequence[int] | None = None,
    ) -> list[MaskedMean]:
        """One ``MaskedMean`` per mask (``mask(batch)`` -> ``(batch, pos)`` bool), over ``n`` texts' batches.

        At most one batch of activations is alive at a time.
        """
        chosen = list(self.layers if layers is None else layers)
        out = [MaskedMean() for _ in masks]
        for batch, acts in self.each(batches, n, description, chosen):
            for mean, mask in zip(out, masks):
                m = mask(batch)
                for layer in chosen:
                    mean.update(layer, acts[layer], m)
        return out

    def pooled(
        self, batches: Iterable[Any], n: int, description: str, mask: Callable[[Any], Tensor]
    ) -> dict[int, Tensor]:
        """Each text's activations averaged over the positions ``mask`` selects, ``{layer: (n, d_model)}``
        in float64, row ``i`` the text of index ``i`` (a batch's ``indices``). Every row needs a
        selected position: check before reading."""
        pooled = {layer: torch.zeros(n, int(self.model.d_model), dtype=torch.float64) for layer in self.layers}
        for batch, acts in self.each(batches, n, description):
            weights = mask(batch).double().unsqueeze(-1)
            rows = list(batch.indices)
            for layer in self.layers:
                summed = (acts[layer].double() * weights.to(acts[layer].device)).sum(dim=1).cpu()
                pooled[layer][rows] = summed / weights.sum(dim=1)
        return pooled

    def rows(
        self, batches: Iterable[Any], n: int, description: str, mask: Callable[[Any], Tensor],
        labels: Sequence[Callable[[Any], Tensor]] = (),
    ) -> tuple[dict[int, Tensor], list[Tensor]]:
        """The activations at the positions ``mask`` selects, ``{layer: (n_rows, d_model)}``, and
        each label's values at those positions (``label(batch)`` -> ``(batch, pos)``)."""
        feats: dict[int, list[Tensor]] = {layer: [] for layer in self.layers}
        found: list[list[Tensor]] = [[] for _ in labels]
        for batch, acts in self.each(batches, n, description):
            m = mask(batch)
            for layer in self.layers:
                feats[layer].append(acts[layer][m])
            for values, label in zip(found, labels):
                values.append(label(batch)[m])
        return {layer: torch.cat(chunks) for layer, chunks in feats.items()}, [torch.cat(v) for v in found]
