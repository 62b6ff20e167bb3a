"""The boundary: every check that relates two inputs, in one place every public entry point calls.

An entry point that takes a model and something made for a model (vectors, a results table, a
LatentLens bank, items, a hint) asks this module whether the two belong together, so a new entry
point inherits every check by calling the one it needs, instead of remembering each rule:

- ``check_vector`` / ``check_vectors``: a vector's width and layers fit the model, and it was built
  on it: by fingerprint where it recorded one (the model itself, the text backbone an MLLM pairs
  with, verified against that backbone's checkpoint where it is here, or an MLLM whose language
  model is that backbone unchanged), by its declared source name otherwise. Anything else is
  refused unless ``allow_transfer=True`` (a real bool: a deliberate transfer experiment).
- ``check_source``: the same rule for any artifact a model made (a LatentLens bank).
- ``check_cells``: a table's chosen cells name the very vectors, by content digest, that made them,
  and were computed on this model.
- ``check_lengths``: texts (corpus sentences, prompts with their hints) fit the model's positions;
  ``check_prompts`` refuses items before any forward pass, ``check_encoded`` each encoded batch.
- ``check_contrast``: a visual contrast has two non-empty, disjoint sides with images.
- ``as_flag``: an option that must be True or False is a bool, not a truthy string.

Every refusal is a ``ValueError`` that names what was wrong and what was expected.

Example:
    >>> check_vector(mllm, vector)                 # doctest: +SKIP
    >>> check_cells(mllm, result.table, vectors)   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from interp.args import as_bool
from interp.models.fingerprint import Fingerprint, checkpoint_fingerprint
from interp.models.traced import MLLM, TracedModel


class Built(Protocol):
    """What an artifact a model made says about its source (a ``VectorMeta``, a bank)."""

    @property
    def source_model(self) -> str: ...

    @property
    def source_fingerprint(self) -> Mapping[str, Any]: ...


def as_flag(value: Any, what: str) -> bool:
    """``value`` as a bool for an option such as ``allow_transfer``: a string like ``"False"`` is
    refused, not read as True.

    Example:
        >>> as_flag(False, "allow_transfer")
        False
    """
    return as_bool(value, what)


# -- provenance ------------------------------------------------------------------------------------
def paired_backbone_name(mllm_name: str) -> str | None:
    """The name ``load_text_backbone(mllm=mllm_name)`` gives its backbone (None if unknown).

    Example:
        >>> paired_backbone_name("organism")
        'organism-text'
    """
    from interp.models.loading import text_backbone_name
    from interp.models.sources import backbone_name, model_source

    try:
        name = text_backbone_name(mllm_name)
    except (ValueError, OSError):
        return None
    if name == "<self>":
        return mllm_name
    source = model_source(name)
    return backbone_name(source) if source is not None else name


def _backbone_checkpoint(mllm: MLLM) -> Path | None:
    """The local directory of the text backbone ``mllm`` pairs with, or None (a hub id not here)."""
    from interp.models.loading import text_backbone_name
    from interp.models.sources import model_source

    try:
        name = text_backbone_name(mllm.name)
    except (ValueError, OSError):
        return None
    if name == "<self>":
        return None
    source = model_source(name)
    if source is not None:
        return source.path("text", check=False)
    return Path(name) if Path(name).is_dir() else None


def _accepted_names(model: TracedModel) -> list[str]:
    names = [model.name]
    if isinstance(model, MLLM) and (paired := paired_backbone_name(model.name)) is not None:
        names.append(paired)
    return names


def source_problem(built: Built, model: TracedModel, label: str) -> str | None:
    """Why ``built`` (made on ``built.source_model``) should not meet ``model``, or None if it may.

    Example:
        >>> source_problem(vector.meta, mllm, "vector 'counting' (meanshift)")   # doctest: +SKIP
    """
    declared = str(built.source_model)
    if declared == "mixed":
        return f"{label} mixes vectors built on different models, so it belongs to none"
    theirs = Fingerprint.from_json(built.source_fingerprint or {})
    if theirs is None:
        if declared == "unknown" or declared in _accepted_names(model):
            return None  # nothing declared to check against, or the declared source fits
        return (
            f"{label} declares it was built on {declared!r} (it records no fingerprint), but {model.name} "
            f"takes vectors of {' or '.join(map(repr, _accepted_names(model)))}"
        )
    mine = model.fingerprint()
    if isinstance(model, MLLM) and declared != model.name:
        if mine.same_weights(theirs, decoder_only=True):
            return None  # its language model is the very backbone the vector was built on (frozen)
        expected = paired_backbone_name(model.name)
        if declared != expected:
            pairing = f"{model.name} pairs with {expected}" if expected else f"{model.name} has no known text backbone"
            return f"{label} was built on {declared} but {pairing}"
        directory = _backbone_checkpoint(model)
        if directory is None or theirs.decoder is None:
            return None  # the pairing is declared and the backbone's checkpoint is not here to check
        reference = checkpoint_fingerprint(directory, theirs.dtype or None)
        if reference is not None and not reference.same_weights(theirs, decoder_only=True):
            return (
                f"{label} says it was built on {declared}, but its fingerprint (weights {theirs.decoder}) is "
                f"not that of {declared}'s checkpoint at {directory} (weights {reference.decoder}): it was "
                "built on another model under that name"
            )
        return None
    if not mine.same_weights(theirs):
        return (
            f"{label} was built on {declared} (fingerprint {theirs.config}) but {model.name} is another model "
            f"(fingerprint {mine.config}" + (", other weights" if theirs.config == mine.config else "") + ")"
        )
    return None


def check_source(built: Built, model: TracedModel, label: str, *, allow_transfer: bool = False) -> None:
    """Refuse ``built`` on ``model`` when it was made on another model (see ``source_problem``).

    Example:
        >>> check_source(bank, mllm, "context bank")   # doctest: +SKIP
    """
    if as_flag(allow_transfer, "allow_transfer"):
        return
    problem = source_problem(built, model, label)
    if problem is not None:
        raise ValueError(f"{problem}: pass allow_transfer=True (--allow-transfer on the command line) to use it anyway "
                         "(a deliberate transfer experiment)")


def check_vector(model: TracedModel, vector: Any, *, allow_transfer: bool = False, name: str | None = None) -> None:
    """Refuse a ``SteeringVector`` that ``model`` cannot take: another width or layer count, a layer
    out of range, or (unless ``allow_transfer``) another source model.

    Example:
        >>> check_vector(mllm, v)   # doctest: +SKIP
    """
    allow_transfer = as_flag(allow_transfer, "allow_transfer")
    meta = vector.meta
    label = f"vector {name!r}" if name else f"vector {meta.concept!r} ({meta.method})"
    n_layers, d_model = int(model.n_layers), int(model.d_model)
    if d_model != vector.d_model:
        raise ValueError(
            f"{label} has d_model {vector.d_model} (built on {meta.source_model}) but {model.name} has d_model {d_model}"
        )
    if meta.n_layers is not None and meta.n_layers != n_layers:
        raise ValueError(
            f"{label} was built on {meta.source_model} with {meta.n_layers} layers but {model.name} has "
            f"{n_layers}: the layer indices would not mean the same thing"
        )
    too_deep = [layer for layer in vector.layers if layer >= n_layers]
    if too_deep:
        raise ValueError(f"{label} has layers {too_deep} out of range: {model.name} has {n_layers} decoder layers")
    check_source(meta, model, label, allow_transfer=allow_transfer)


def check_vectors(
    model: TracedModel, vectors: Mapping[str, Any], *, allow_transfer: bool = False, what: str = "vectors"
) -> None:
    """``check_vector`` on each of a mapping name -> vector (names in messages).

    Example:
        >>> check_vectors(mllm, {"meanshift/counting": v})   # doctest: +SKIP
    """
    if not isinstance(vectors, Mapping):
        raise ValueError(f"{what} must be a mapping name -> SteeringVector, got {type(vectors).__name__}")
    for name, v in vectors.items():
        if not hasattr(v, "meta") or not hasattr(v, "at"):
            raise ValueError(f"{what}[{name!r}] is a {type(v).__name__}, not a SteeringVector")
        check_vector(model, v, allow_transfer=allow_transfer, name=str(name))


# -- tables and the vectors that made them -------------------------------------------------------
#: The column of a sweep's table that holds each vector's content digest (``SteeringVector.digest``).
DIGEST_COLUMN = "vector_digest"
#: The column that holds the model the cells were computed on (its fingerprint's store key).
MODEL_COLUMN = "model"


def check_cells(model: TracedModel, table: Any, vectors: Mapping[str, Any], *, what: str = "the table") -> None:
    """Refuse a table of chosen cells that this model and these vectors did not make.

    Each row's ``vector`` must name a vector given here whose content digest is the row's
    ``vector_digest`` (a recomputed, edited or flipped vector under the same name is another
    vector), and the rows' ``model`` must be this model's fingerprint. A table written before
    interp recorded them is checked by vector names only.

    Example:
        >>> check_cells(mllm, res.table, vectors)   # doctest: +SKIP
    """
    if table is None or not len(table):
        return
    missing = sorted({str(n) for n in table["vector"]} - {str(k) for k in vectors})
    if missing:
        raise ValueError(
            f"{what} names vector(s) {missing}, which are not among the vectors given {sorted(map(str, vectors))}"
        )
    if DIGEST_COLUMN in table.columns:
        for name, digest in table[["vector", DIGEST_COLUMN]].drop_duplicates().itertuples(index=False):
            if isinstance(digest, str) and digest and vectors[str(name)].digest() != digest:
                raise ValueError(
                    f"vector {name!r} is not the vector that made {what} (its digest {vectors[str(name)].digest()} "
                    f"differs from the table's {digest}): pass the very vectors the sweep ran (a recomputed, edited "
                    "or sign-flipped vector is another vector), or run the sweep on these"
                )
    if MODEL_COLUMN in table.columns:
        key = model.fingerprint().store_key(model.name)
        others = sorted({str(m) for m in table[MODEL_COLUMN] if isinstance(m, str) and m and m != key})
        if others:
            raise ValueError(
                f"{what} was computed on {others[0]}, but this model is {key}: replicate and compare a table on the "
                "model it was chosen on"
            )


# -- lengths, contrasts ---------------------------------------------------------------------------
def max_positions(model: Any) -> int | None:
    """The positions ``model`` can take (its config's ``max_position_embeddings``), None if unknown.

    Example:
        >>> max_positions(mllm)   # doctest: +SKIP
        512
    """
    config = getattr(model, "text_config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) and value > 0 else None


def check_lengths(
    model: Any, texts: Sequence[str], lengths: Sequence[int], what: str, labels: Sequence[str] | None = None
) -> None:
    """Refuse a text longer (in tokens) than the model's positions, naming it.

    Example:
        >>> check_lengths(backbone, ["a red circle"], [4], "corpus 'color'")   # doctest: +SKIP
    """
    limit = max_positions(model)
    if limit is None:
        return
    for i, (text, n) in enumerate(zip(texts, lengths, strict=True)):
        if n > limit:
            shown = text if len(text) <= 60 else text[:57] + "..."
            label = labels[i] if labels is not None else f"sentence {i}"
            raise ValueError(
                f"{what} {label} ({shown!r}) is {n} tokens long (with BOS) but {model.name} has "
                f"{limit} positions (max_position_embeddings): shorten or split it"
            )


def check_encoded(model: Any, inputs: Mapping[str, Any], labels: Sequence[str], what: str = "item") -> None:
    """Refuse a batch ``model`` cannot read whole: a row longer, as encoded (an MLLM's image tokens
    included), than the model's positions, named by its label. Exact, because it reads the batch
    that will run; ``encode_items`` calls it on every batch of items an entry point encodes.

    Example:
        >>> check_encoded(mllm, inputs, [it.id for it in batch])   # doctest: +SKIP
    """
    limit = max_positions(model)
    ids = inputs.get("input_ids")
    if limit is None or ids is None or ids.dim() != 2 or not ids.shape[0]:
        return
    if ids.shape[1] <= limit:
        return
    mask = inputs.get("attention_mask")
    lengths = mask.sum(dim=1) if mask is not None else ids.new_full((ids.shape[0],), ids.shape[1])
    row = int(lengths.argmax())
    n = int(lengths[row])
    if n > limit:
        label = str(labels[row])
        shown = label if len(label) <= 60 else label[:57] + "..."
        raise ValueError(
            f"{what} {shown!r} is {n} tokens as encoded (prompt format and any image tokens included) but {model.name} has "
            f"{limit} positions (max_position_embeddings): the model cannot read it whole; shorten its prompt"
        )


def load_images(items: Sequence[Any]) -> None:
    """Decode each item's PIL images now (a no-op for decoded ones), naming the item whose image
    cannot be read (a truncated or damaged file opened lazily), before the batch reaches a processor."""
    for it in items:
        for k, image in enumerate(it.images):
            load = getattr(image, "load", None)
            if load is None:
                continue
            try:
                load()
            except Exception as err:  # PIL's decoders raise OSError, SyntaxError, EOFError, zlib.error...
                raise ValueError(
                    f"item {it.id!r}: its image {k} cannot be read ({err or type(err).__name__}): a damaged or "
                    "partly written file?"
                ) from None


def check_prompts(model: TracedModel, items: Sequence[Any], prefixes: Sequence[str | None] = (None,),
                  *, what: str = "the items") -> None:
    """Refuse, before any forward pass, prompts ``model`` cannot read: an instruction prefix (a
    prompting hint) that tokenizes to an image token, or an item's prompt with its prefix (and its
    image tokens) longer than the model's positions.

    Each prefix is checked on the item with the longest prompt: one encoding per prefix.

    Example:
        >>> check_prompts(mllm, items, [None, "count the objects . "])   # doctest: +SKIP
    """
    if isinstance(model, MLLM):
        load_images(items)
    limit = max_positions(model)
    image_token = getattr(model, "image_token_id", None)
    for prefix in prefixes:
        if prefix is not None and image_token is not None:
            ids = model.tokenizer(prefix, add_special_tokens=False)["input_ids"]  # type: ignore[attr-defined]
            if image_token in ids:
                raise ValueError(
                    f"the prefix {prefix[:60]!r} holds {model.name}'s image token: it would be read as an image slot"
                )
        if limit is None or not items:
            continue
        longest = max(items, key=lambda it: len(it.prompt(prefix)))
        if isinstance(model, MLLM) and longest.images:
            n = int(model.encode(longest.prompt(prefix), [list(longest.images)])["input_ids"].shape[1])
        else:
            n = int(model.encode([longest.prompt(prefix)])["input_ids"].shape[1])  # type: ignore[attr-defined]
        if n > limit:
            where = "the default instruction" if prefix is None else f"the prefix {prefix[:40]!r}..."
            raise ValueError(
                f"{what}' longest prompt with {where} ({longest.id!r}) is {n} tokens but {model.name} has {limit} "
                "positions (max_position_embeddings): the model cannot read it whole; shorten the hint or the prompts"
            )


def check_contrast(contrast: Any) -> None:
    """Refuse a visual contrast that cannot give a direction: a side empty, an item on both sides,
    both sides the same images, or an item without an image.

    Example:
        >>> check_contrast(visual_contrast("organism", "counting", n=4))
    """
    concept = getattr(contrast, "concept", "?")
    sides = {"positive": tuple(getattr(contrast, "positive", ())), "negative": tuple(getattr(contrast, "negative", ()))}
    for side, items in sides.items():
        if not items:
            raise ValueError(f"the contrast {concept!r} has an empty {side} set: both sets need items")
        bare = [it.id for it in items if not it.images]
        if bare:
            raise ValueError(
                f"the contrast {concept!r} has {side} items without an image (e.g. {bare[0]!r}): a native vector "
                "is built on image tokens"
            )
    shared = sorted({it.id for it in sides["positive"]} & {it.id for it in sides["negative"]})
    if shared:
        raise ValueError(
            f"the contrast {concept!r} has {len(shared)} item(s) on both sides (e.g. {shared[0]!r}): the positive "
            "and negative sets must be disjoint, or their difference is partly zero by construction"
        )
    images = {side: sorted(_image_digest(img) for it in items for img in it.images) for side, items in sides.items()}
    if images["positive"] == images["negative"]:
        raise ValueError(
            f"the contrast {concept!r} shows the same images on both sides: a native vector from it is zero"
        )


# -- external data, parsed strictly -------------------------------------------------------------
def whole_number(value: Any, what: str) -> int:
    """``value`` as an int where it is one: an int, or a string of digits (JSON object keys are
    strings); ``12.7``, ``"12.7"``, ``True`` and ``"abc"`` are refused, never rounded or cast.

    Example:
        >>> whole_number("12", "feature index"), whole_number(3, "layer")
        (12, 3)
    """
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number (an int, or a string of digits), got {value!r}")
    return int(value)


def description(value: Any, what: str) -> str:
    """``value`` as a non-empty text; a list, a number or an object is refused, not str()-ed.

    Example:
        >>> description("references to dinosaurs", "feature 3's explanation")
        'references to dinosaurs'
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r} ({type(value).__name__})")
    return value


def parse_explanations(raw: Any, what: str = "explanations") -> dict[int, dict[int, str]]:
    """``{layer: {feature: text}}`` from what a user or ``json.load`` gives: layer and feature keys
    as ints or strings of digits, each text a non-empty string; anything else is refused by name.

    Example:
        >>> parse_explanations({"2": {"17": "counting words"}})
        {2: {17: 'counting words'}}
    """
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} must be {{layer: {{feature: text}}}}, got {type(raw).__name__}")
    out: dict[int, dict[int, str]] = {}
    for layer_key, features in raw.items():
        layer = whole_number(layer_key, f"{what}: layer key")
        if not isinstance(features, Mapping):
            raise ValueError(f"{what}[{layer_key!r}] must be {{feature: text}}, got {type(features).__name__}")
        out[layer] = {
            whole_number(f, f"{what}[{layer_key!r}]: feature index"): description(t, f"{what}[{layer_key!r}][{f!r}]")
            for f, t in features.items()
        }
    return out


def _image_digest(image: Any) -> str:
    import numpy as np

    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image)
    return hashlib.sha256(str(array.shape).encode() + array.tobytes()).hexdigest()


__all__ = [
    "DIGEST_COLUMN",
    "MODEL_COLUMN",
    "as_flag",
    "check_cells",
    "check_contrast",
    "check_encoded",
    "check_lengths",
    "check_prompts",
    "check_source",
    "check_vector",
    "check_vectors",
    "description",
    "load_images",
    "max_positions",
    "paired_backbone_name",
    "parse_explanations",
    "source_problem",
    "whole_number",
]
