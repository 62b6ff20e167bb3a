"""Interventions on the residual stream inside nnsight traces: add, ablate, clamp, conditional.

Textual steering (arXiv 2505.14071) adds ``alpha * v`` to the output of one decoder layer on a
set of tokens (image tokens, text tokens or both): ``h_l <- h_l + alpha * v``. Besides adding,
``ablate`` removes the component of ``h`` along a direction (directional ablation, Arditi et
al. 2024), ``clamp`` sets that component to a value, and ``conditional`` adds ``alpha * v``
gated by the hidden state's similarity to a condition vector (CAST, Lee et al. 2025):
``h' = h + f(sim(h, proj_c h)) * alpha * v``. With no threshold the gate is the linear
``c^T h`` (unit ``c``), i.e. the rank-1 update ``(I + alpha v c^T) h`` that relates conditional
steering to LoRA.

Use them in one call (``steered_logits``, ``steered_generate``) or inside your own trace::

    inputs = mllm.encode("How many circles?", images=[img])
    with mllm.trace(inputs):
        apply_steering(mllm, [add(v, layer=2, alpha=4.0, tokens="image")], inputs)
        logits = mllm.nn.output.logits.save()

Everything happens inside nnsight traces, so no hook outlives a call, even one that raises.
Steering is prefill-only by default, as in the paper (generated tokens see the edit through
the KV cache); ``every_step=True`` also edits each generated token the selector covers.

Strengths that cannot be computed are refused, by one rule: every norm layer squares the
residual stream (RMSNorm / LayerNorm in float32 or wider), so an edit whose size
``|alpha * v|`` (``|value|`` for ``clamp``) reaches the square root of the largest number of
that dtype (about 1.8e19 for float32 and bfloat16) turns the next norm's output into zeros or
NaN, and generation into empty strings. ``validate`` refuses such steers before anything runs,
and any edit that does not fit the model's own dtype; a steered run whose logits still come out
NaN or inf (a float16 model overflowing further up) raises a ValueError naming the steers
instead of returning them.

Half precision: a vector keeps its own dtype; ``alpha * v`` is computed in float32 and rounded
once to the activation's dtype and device at the edit. A float16 model also refuses any edit
with an element beyond 65504 (the largest float16 number), and a run that overflows inside the
model is refused with the advice to use a smaller strength or bfloat16 / float32.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from interp.args import as_bool, as_float, as_int
from interp.boundary import as_flag, check_vector
from interp.dtypes import dtype_name, edit_too_large, overflow_advice
from interp.models.traced import MLLM, TracedModel
from interp.tokens import Selector, describe, last_token_index, selects_generated
from interp.types import Images

Op = Literal["add", "ablate", "clamp", "conditional"]


class LayerDirections(Protocol):
    """What steering asks of a vector with one direction per layer (``interp.SteeringVector`` is
    one): its direction at a layer, its layers, width and metadata (which model made it: the
    boundary, ``interp.boundary.check_vector``, reads it)."""

    @property
    def layers(self) -> Sequence[int]: ...

    @property
    def d_model(self) -> int: ...

    @property
    def meta(self) -> Any: ...

    def at(self, layer: int) -> Tensor: ...


#: A steering direction: a vector with one direction per layer (a ``SteeringVector``; its
#: direction at the steered layer is used) or one ``(d_model,)`` tensor.
VectorLike: TypeAlias = LayerDirections | Float[Tensor, " d_model"]


@dataclass(frozen=True, eq=False)
class Steer:
    """One intervention: at ``layer``, on the tokens ``tokens`` selects, edit along ``vector``.

    Build it with ``add``, ``ablate``, ``clamp`` or ``conditional`` rather than directly.

    Attributes:
        vector: ``(d_model,)`` direction (for ``add`` and ``conditional``, the added vector).
        layer: decoder layer whose output is edited (0-based; layer l = HF ``hidden_states[l+1]``, docs/concepts.md).
        alpha: strength (``add``, ``conditional``).
        tokens: a token selector (``"image"``, ``"text"``, ``"both"``, ``"last"``, ``"all"``,
            ``Positions`` or a bool mask).
        op: the kind of edit.
        value: target component for ``clamp``.
        condition: condition vector ``c`` for ``conditional``.
        threshold: ``conditional`` fires where cos(h, proj_c h) is above (``above=True``) or
            below this; ``None`` gives the linear gate ``c^T h / |c|``.
        above: direction of the threshold test.
    """

    vector: Tensor
    layer: int
    alpha: float = 1.0
    tokens: Selector = "image"
    op: Op = "add"
    value: float = 0.0
    condition: Tensor | None = None
    threshold: float | None = None
    above: bool = True
    origin: LayerDirections | None = None
    condition_origin: LayerDirections | None = None

    def is_noop(self) -> bool:
        """True when the edit cannot change anything (adding with strength 0)."""
        return self.op in ("add", "conditional") and self.alpha == 0.0

    def describe(self) -> str:
        """A one-line summary (``"add at layer 2, alpha=4, tokens='image'"``) for messages."""
        what = {"add": f"alpha={self.alpha:g}", "conditional": f"alpha={self.alpha:g}",
                "clamp": f"value={self.value:g}", "ablate": "unit direction"}[self.op]
        return f"{self.op} at layer {self.layer}, {what}, tokens={describe(self.tokens)}"

    def __repr__(self) -> str:
        shape = tuple(self.vector.shape) if isinstance(self.vector, Tensor) else type(self.vector).__name__
        return f"Steer({self.describe()}, vector {shape})"

    def edit(
        self, h: Float[Tensor, "batch pos d_model"], mask: Bool[Tensor, "batch pos"]
    ) -> Float[Tensor, "batch pos d_model"]:
        """The edited hidden states: positions outside ``mask`` are returned untouched."""
        v = self.vector.to(device=h.device, dtype=h.dtype)
        if self.op == "add":
            new = h + _scaled(self.vector, self.alpha, h)
        elif self.op in ("ablate", "clamp"):
            u = v / v.norm()
            coeff = h @ u
            target = 0.0 if self.op == "ablate" else self.value
            new = h + (target - coeff).unsqueeze(-1) * u
        else:
            assert self.condition is not None
            c = self.condition.to(device=h.device, dtype=h.dtype)
            c = c / c.norm()
            proj = h @ c
            if self.threshold is None:
                gate = proj
            else:
                # cos(h, proj_c h) = |c^T h| / |h| for unit c.
                sim = proj.abs() / h.norm(dim=-1).clamp_min(torch.finfo(h.dtype).tiny)
                fired = sim > self.threshold if self.above else sim < self.threshold
                gate = fired.to(h.dtype)
            new = h + (self.alpha * gate).unsqueeze(-1) * v
        return torch.where(mask.to(h.device).unsqueeze(-1), new, h)


def _scaled(vector: Tensor, alpha: float, h: Tensor) -> Tensor:
    """``alpha * vector`` computed in float32 (or the vector's own wider dtype), then rounded once
    to the activation's dtype and device: a bfloat16 or float16 model gets the edit a float32 one
    would, up to that one rounding. The vector itself is never changed."""
    wide = torch.promote_types(vector.dtype, torch.float32)
    return (alpha * vector.to(device=h.device, dtype=wide)).to(h.dtype)


def _as_tensor(vector: Any, layer: int) -> Tensor:
    # A SteeringVector (per-layer tensors) gives the tensor of the steered layer.
    if hasattr(vector, "at") and not isinstance(vector, Tensor):
        return vector.at(layer)
    return vector


def _finite(x: Any, what: str) -> float:
    return as_float(x, what)


def _origin(vector: Any) -> Any:
    return None if isinstance(vector, Tensor) else vector


def add(vector: VectorLike, layer: int, alpha: float = 1.0, tokens: Selector = "image") -> Steer:
    """``h <- h + alpha * v`` at ``layer`` on ``tokens`` (the paper's steering).

    ``vector`` is a ``(d_model,)`` tensor or a ``SteeringVector`` (its direction at ``layer``).

    Example:
        >>> s = add(torch.ones(8), layer=2, alpha=0.5, tokens="image")
        >>> s.op, s.layer, s.alpha
        ('add', 2, 0.5)
    """
    layer = as_int(layer, "layer")
    return Steer(
        _as_tensor(vector, layer), layer, _finite(alpha, "alpha"), tokens, "add", origin=_origin(vector)
    )


def add_layers(
    vector: LayerDirections, alpha: float = 1.0, tokens: Selector = "image", layers: Sequence[int] | None = None
) -> list[Steer]:
    """One ``add`` per layer of a ``SteeringVector`` (all its layers, or ``layers``).

    Example:
        >>> from interp.vectors import SteeringVector
        >>> v = SteeringVector.from_tensors({0: torch.ones(4), 2: torch.ones(4)})
        >>> [s.layer for s in add_layers(v, alpha=2.0)]
        [0, 2]
    """
    chosen = list(vector.layers) if layers is None else list(layers)
    return [add(vector, layer, alpha, tokens) for layer in chosen]


def ablate(direction: VectorLike, layer: int, tokens: Selector = "all") -> Steer:
    """Remove the component of ``h`` along ``direction`` at ``layer`` on ``tokens``.

    Example:
        >>> ablate(torch.ones(8), layer=1).op
        'ablate'
    """
    layer = as_int(layer, "layer")
    return Steer(_as_tensor(direction, layer), layer, 1.0, tokens, "ablate", origin=_origin(direction))


def clamp(direction: VectorLike, layer: int, value: float, tokens: Selector = "all") -> Steer:
    """Set the component of ``h`` along unit ``direction`` to ``value`` at ``layer`` on ``tokens``.

    Example:
        >>> clamp(torch.ones(8), layer=1, value=3.0).value
        3.0
    """
    layer = as_int(layer, "layer")
    return Steer(
        _as_tensor(direction, layer), layer, 1.0, tokens, "clamp", value=_finite(value, "value"),
        origin=_origin(direction),
    )


def conditional(
    vector: VectorLike,
    condition: VectorLike,
    layer: int,
    alpha: float = 1.0,
    *,
    threshold: float | None = None,
    above: bool = True,
    tokens: Selector = "all",
) -> Steer:
    """CAST-style conditional steering: add ``alpha * v`` where ``h`` matches ``condition``.

    With ``threshold=None`` the gate is linear (``c^T h`` for unit ``c``): the rank-1 update
    ``(I + alpha v c^T) h``. With a threshold in [0, 1], the edit fires where
    cos(h, proj_c h) = |c^T h| / |h| is above (or below, ``above=False``) it.

    Example:
        >>> s = conditional(torch.ones(8), torch.ones(8), layer=1, alpha=2.0, threshold=0.3)
        >>> s.op, s.threshold
        ('conditional', 0.3)
    """
    layer = as_int(layer, "layer")
    if threshold is not None:
        threshold = _finite(threshold, "threshold")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"threshold must be in [0, 1], got {threshold:g}: the gate compares "
                "cos(h, proj_c h) = |c^T h| / |h|, which lies in [0, 1], so a threshold outside "
                "that range would fire always or never"
            )
    above = as_bool(above, "above")
    return Steer(
        _as_tensor(vector, layer), layer, _finite(alpha, "alpha"), tokens, "conditional",
        condition=_as_tensor(condition, layer), threshold=threshold, above=above,
        origin=_origin(vector), condition_origin=_origin(condition),
    )


def _as_steer_list(steers: Any) -> list[Steer]:
    if isinstance(steers, Steer):
        return [steers]
    if isinstance(steers, Tensor) or hasattr(steers, "at"):
        what = f"a tensor of shape {tuple(steers.shape)}" if isinstance(steers, Tensor) else repr(steers)
        raise ValueError(
            f"steers must be a Steer or a list of Steers, got {what}: wrap a vector in a steer, "
            "e.g. interp.add(v, layer=2, alpha=4.0, tokens='image')"
        )
    if isinstance(steers, (str, bytes, dict)) or not isinstance(steers, Sequence):
        raise ValueError(
            f"steers must be a Steer or a list of Steers, got {type(steers).__name__}: build them "
            "with interp.add, ablate, clamp or conditional"
        )
    return list(steers)


def _check_edit_size(model: TracedModel, s: Steer, i: int) -> None:
    dtype = model.dtype
    v = s.vector.double()
    if s.op in ("add", "conditional"):
        edit, what = abs(s.alpha) * v, "|alpha * v|"
    elif s.op == "clamp":
        edit, what = torch.tensor([s.value], dtype=torch.float64), "|value|"
    else:
        return
    reason = edit_too_large(dtype, edit, what)
    if reason is not None:
        if "must stay below" in reason:
            reason += " (the square root of the largest number the norm layers square it in)"
        raise ValueError(
            f"steer {i} ({s.describe()}): {reason}; {overflow_advice(dtype)} (the paper's grids "
            "are 0.1-1 x a mean-shift vector, 5-60 x a unit vector)"
        )


def validate(
    model: TracedModel, steers: Steer | Sequence[Steer], *, allow_transfer: bool = False
) -> list[Steer]:
    """Check every steer against ``model`` (layer range, vector shape, finite and computable values).

    A ``SteeringVector`` (the vector, and a conditional steer's condition) must also come from
    ``model`` (or its paired text backbone) unless ``allow_transfer=True``: the boundary's rule
    (``interp.boundary.check_vector``).

    Returns the steers as a list. Raises ValueError naming the first problem.

    Example:
        >>> validate(mllm, [add(v, layer=2, alpha=4.0)])   # doctest: +SKIP
    """
    allow_transfer = as_flag(allow_transfer, "allow_transfer")
    out = _as_steer_list(steers)
    for i, s in enumerate(out):
        if not isinstance(s, Steer):
            raise ValueError(
                f"steer {i} is a {type(s).__name__}: build steers with interp.steering.add, "
                "ablate, clamp or conditional"
            )
        for origin in (s.origin, s.condition_origin):
            if origin is not None:
                check_vector(model, origin, allow_transfer=allow_transfer)
        model.check_layer(s.layer)
        model.check_vector(s.vector, what=f"steering vector of steer {i}")
        _finite(s.alpha, f"alpha of steer {i}")
        if s.op in ("ablate", "clamp") and float(s.vector.norm()) == 0.0:
            raise ValueError(f"steer {i}: cannot {s.op} along a zero vector")
        if s.op == "conditional":
            assert s.condition is not None
            model.check_vector(s.condition, what=f"condition vector of steer {i}")
            if float(s.condition.norm()) == 0.0:
                raise ValueError(f"steer {i}: the condition vector is zero")
        _check_edit_size(model, s, i)
    return out


def prompt_masks(
    model: TracedModel, steers: Sequence[Steer], inputs: dict[str, Tensor]
) -> list[Tensor]:
    """The mask of each steer over the prompt (raises if a selector selects nothing)."""
    masks = []
    for i, s in enumerate(steers):
        try:
            masks.append(model.mask(s.tokens, inputs))  # type: ignore[attr-defined]
        except ValueError as err:
            raise ValueError(f"steer {i} at layer {s.layer}: {err}") from None
    return masks


def _check_masks(masks: Any, steers: Sequence[Steer], inputs: dict[str, Tensor] | None) -> list[Tensor]:
    if isinstance(masks, Tensor):
        masks = [masks]
    masks = list(masks)
    if len(masks) != len(steers):
        raise ValueError(f"got {len(masks)} masks for {len(steers)} steers: give one (batch, pos) bool mask per steer")
    shape = tuple(inputs["input_ids"].shape) if inputs is not None else None
    for i, m in enumerate(masks):
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.dim() != 2:
            what = f"a {m.dtype} tensor of shape {tuple(m.shape)}" if isinstance(m, Tensor) else f"a {type(m).__name__}"
            raise ValueError(f"mask {i} must be a (batch, pos) bool tensor, got {what}")
        shape = shape or tuple(m.shape)
        if tuple(m.shape) != shape:
            raise ValueError(f"mask {i} has shape {tuple(m.shape)} but the batch is {shape}: one (batch, pos) mask per steer")
    return masks


def apply_steering(
    model: TracedModel,
    steers: Steer | Sequence[Steer],
    inputs: dict[str, Tensor] | None = None,
    *,
    masks: Sequence[Tensor] | None = None,
    allow_transfer: bool = False,
) -> None:
    """Apply steers inside an open trace of ``model``, in layer order.

    Give the encoded ``inputs`` the trace runs on (masks are computed from them), or the
    ``masks`` themselves (one ``(batch, pos)`` bool tensor per steer).

    Example:
        >>> with mllm.trace(inputs):                                   # doctest: +SKIP
        ...     apply_steering(mllm, add(v, layer=2, alpha=4.0), inputs)
        ...     logits = mllm.nn.output.logits.save()
    """
    steers = validate(model, steers, allow_transfer=allow_transfer)
    if masks is None:
        if inputs is None:
            raise ValueError("apply_steering needs the trace's inputs or the masks")
        masks = prompt_masks(model, steers, inputs)
    _edit_layers(model, steers, _check_masks(masks, steers, inputs))


def _edit_layers(model: TracedModel, steers: Sequence[Steer], masks: Sequence[Tensor]) -> None:
    active = [(s, m) for s, m in zip(steers, masks) if not s.is_noop()]
    for layer in sorted({s.layer for s, _ in active}):
        envoy = model.layers[layer]
        h = envoy.output
        for s, m in active:
            if s.layer == layer:
                if tuple(m.shape) != tuple(h.shape[:2]):
                    raise ValueError(
                        f"the mask of steer {s.describe()} has shape {tuple(m.shape)} but the "
                        f"trace's hidden states are {tuple(h.shape[:2])} (batch, pos): masks must "
                        "come from the inputs the trace runs on"
                    )
                h = s.edit(h, m)
        envoy.output = h


def _check_finite(logits: Tensor | bool, steers: Sequence[Steer], model: TracedModel) -> None:
    finite = bool(logits) if not isinstance(logits, Tensor) or logits.dim() == 0 else bool(torch.isfinite(logits).all())
    if finite or not any(not s.is_noop() for s in steers):
        return
    raise ValueError(
        f"the steered run gave NaN or inf logits: {'; '.join(s.describe() for s in steers)} pushed "
        f"the hidden states beyond what {dtype_name(model.dtype)} can hold; "
        f"{overflow_advice(model.dtype)}"
    )


def _encode_if_needed(model: TracedModel, inputs: Any, images: Any) -> dict[str, Tensor]:
    if isinstance(inputs, Mapping):
        if images is not None:
            raise ValueError("pass images to model.encode, or prompts here with images=")
        return model.check_inputs(inputs)
    if isinstance(model, MLLM):
        return model.encode(inputs, images)
    if images is not None:
        raise ValueError(f"{model.name} is a text-only model: it takes no images")
    return model.encode(inputs)  # type: ignore[attr-defined]


def steered_logits(
    model: TracedModel,
    inputs: dict[str, Tensor] | str | Sequence[str],
    steers: Steer | Sequence[Steer] = (),
    *,
    images: Images = None,
    last_only: bool = False,
    allow_transfer: bool = False,
) -> Float[Tensor, "batch pos vocab"]:
    """Logits of one forward pass with ``steers`` applied.

    Args:
        model: an ``MLLM`` or ``TextBackbone``.
        inputs: encoded inputs, or prompt(s) to encode (with ``images=`` for an MLLM).
        steers: interventions; an empty list runs the plain model.
        last_only: return only the last position's logits ``(batch, vocab)``.
        allow_transfer: steer with vectors built on another model (see ``validate``).

    Example:
        >>> logits = steered_logits(mllm, "How many circles?", add(v, 2, 4.0), images=[img])  # doctest: +SKIP
    """
    enc = _encode_if_needed(model, inputs, images)
    steers = validate(model, steers, allow_transfer=allow_transfer)
    masks = prompt_masks(model, steers, enc)
    rows = torch.arange(enc["input_ids"].shape[0])
    last = last_token_index(enc.get("attention_mask", torch.ones_like(enc["input_ids"])))
    # With last_only only (batch, vocab) leaves the trace: with a 256k vocabulary the full
    # logits of a batch of image prompts would be tens of GB. (No comments inside traced blocks:
    # they shift nnsight's line mapping on the remote path.)
    with torch.no_grad(), model.trace(enc):
        _edit_layers(model, steers, masks)
        if last_only:
            logits = model.nn.output.logits[rows, last].save()
        else:
            logits = model.nn.output.logits.save()
    logits = torch.as_tensor(logits)
    _check_finite(logits, steers, model)
    return logits


@dataclass(frozen=True)
class Generation:
    """The output of ``steered_generate``: decoded texts and the new token ids."""

    texts: list[str]
    token_ids: Tensor


def steered_generate(
    model: TracedModel,
    inputs: dict[str, Tensor] | str | Sequence[str],
    steers: Steer | Sequence[Steer] = (),
    *,
    images: Images = None,
    max_new_tokens: int = 20,
    every_step: bool = False,
    allow_transfer: bool = False,
    **generate_kwargs: object,
) -> Generation:
    """Greedy generation with ``steers`` applied on the prompt (default) or on every step.

    Args:
        model: an ``MLLM`` or ``TextBackbone``.
        inputs: encoded inputs (left-padded for batches), or prompt(s) with ``images=``.
        steers: interventions.
        max_new_tokens: generation length (the reference evaluation uses 20).
        every_step: also edit generated tokens that the selector covers (``"text"``,
            ``"both"``, ``"last"``, ``"all"``); the default edits the prompt only, as the paper.
        allow_transfer: steer with vectors built on another model (see ``validate``).
        **generate_kwargs: passed to ``generate`` (default ``do_sample=False``).

    Example:
        >>> out = steered_generate(mllm, "How many circles?", add(v, 2, 4.0), images=[img])  # doctest: +SKIP
        >>> out.texts                                                                         # doctest: +SKIP
        ['3']
    """
    max_new_tokens = as_int(max_new_tokens, "max_new_tokens", minimum=1)
    every_step = as_bool(every_step, "every_step")
    enc = _encode_if_needed(model, inputs, images)
    steers = validate(model, steers, allow_transfer=allow_transfer)
    masks = prompt_masks(model, steers, enc)
    check = any(not s.is_noop() for s in steers)
    generate_kwargs.setdefault("do_sample", False)
    tok = model.tokenizer  # type: ignore[attr-defined]
    if tok.pad_token_id is not None:
        generate_kwargs.setdefault("pad_token_id", tok.pad_token_id)
    batch = enc["input_ids"].shape[0]
    with warnings.catch_warnings():
        # An open per-step loop ends when generation stops; nnsight warns about it by design.
        warnings.filterwarnings("ignore", message=".*was never reached.*")
        if every_step and check:
            later = [torch.full((batch, 1), selects_generated(s.tokens), dtype=torch.bool) for s in steers]
            # Statements after an open per-step loop do not run: the result is read in an
            # invoke of its own. (The options are generate's, never ``inputs``, which mypy cannot
            # tell from a dict of options.)
            with torch.no_grad(), model.generate(max_new_tokens=max_new_tokens, **generate_kwargs) as tracer:  # type: ignore[arg-type]
                with tracer.invoke(enc):
                    finite = list().save()  # type: ignore[attr-defined]
                    for step in tracer.iter[:]:
                        _edit_layers(model, steers, masks if step == 0 else later)
                        finite.append(torch.isfinite(model.nn.output.logits).all())
                with tracer.invoke():
                    out = tracer.result.save()
        else:
            # A plain body runs on the prefill only (step 0): the paper's steering. (Without an
            # active steer an open per-step loop would never touch the model, and never end.)
            with torch.no_grad(), model.generate(enc, max_new_tokens=max_new_tokens, **generate_kwargs) as tracer:
                _edit_layers(model, steers, masks)
                if check:
                    finite = torch.isfinite(model.nn.output.logits).all().save()  # type: ignore[attr-defined]
                out = tracer.result.save()
    if check:
        _check_finite(all(bool(f) for f in finite) if every_step else bool(finite), steers, model)
    out = torch.as_tensor(out)
    new = out[:, enc["input_ids"].shape[1] :]
    texts = tok.batch_decode(new, skip_special_tokens=True)
    return Generation(texts=[t.strip() for t in texts], token_ids=new)


__all__ = [
    "Generation",
    "Steer",
    "ablate",
    "add",
    "add_layers",
    "apply_steering",
    "clamp",
    "conditional",
    "describe",
    "prompt_masks",
    "steered_generate",
    "steered_logits",
    "validate",
]
