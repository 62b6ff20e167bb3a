"""Every public entry point that takes a model and something made for a model refuses a foreign one.

The property over the whole public surface (issue 28): instead of a test per entry point written
when someone remembers, the surface is enumerated and each function of the shape below is fed a
foreign input; a new function of that shape fails ``test_every_entry_point_has_a_call`` until it
has a row in ``CALLS``, so no entry point can be added unchecked.

The rule of the enumeration:

- Public functions: the functions named by the ``__all__`` of ``interp`` and of each of its direct
  modules and subpackages (``interp.<name>``, ``<name>`` not starting with ``_``; a module without
  ``__all__`` counts with the functions it defines), each counted once under its first public name.
  Classes and their methods are not enumerated (``SteeringVector.check_compatible`` is
  ``check_vector`` itself).
- A function takes a model when a parameter is annotated with ``TracedModel``, ``MLLM`` or
  ``TextBackbone`` (a bare ``torch.nn.Module`` is no interp model: it has no name or fingerprint
  to compare with, e.g. ``conditional_adapter``).
- Of such a function, a parameter is
  - a *vector* if annotated with ``SteeringVector(s)``, ``VectorLike``, ``LayerDirections`` or
    ``Steer``, or named ``vector(s)``, ``steers``, ``condition``, ``direction``, ``textual``,
    ``native``;
  - *items* if annotated with ``Item``, ``Items``, ``ItemsLike``, ``ItemsOrPrompts`` or
    ``VisualContrast``, or named ``items``, ``clean``, ``corrupt``, ``positive``, ``negative``,
    ``train``, ``test``, ``sets``, ``contrast``;
  - a *table* if annotated with ``SweepResult`` or ``DataFrame``, or named ``table``, ``cells``,
    ``result``;
  - a *bank* if annotated with ``ContextBank`` or named ``bank``.
- A function with a model and at least one of these is on the surface; each kind it takes is a
  property it must hold:
  - vector: a vector built on a random-initialised model of the organism's very shape (fingerprint
    recorded), and one that records no fingerprint but declares another source, are refused with an
    error naming the vector and the model; where that error says "pass allow_transfer=True", the
    function takes it and the call runs with it;
  - table: a sweep table computed on another model (its ``model`` column) and one edited by hand
    (its rows name the other vector) are refused;
  - bank: a LatentLens context bank built on another model is refused;
  - items: an item whose prompt the model cannot read whole (longer than its positions) is refused
    before it runs, named by its id.

Each row of ``CALLS`` is a minimal valid call on the organism (run as given by
``test_the_minimal_call_runs``); the refusal tests run the same call with one input swapped for a
foreign one. ``EXEMPT`` names a function that matches the rule but never uses what it is given,
with the reason. ``test_the_property_catches_an_unchecked_entry_point`` shows the check failing:
a deliberately unchecked function, injected into a fake public module, is reported both as missing
from the table and, once given a row, as running on foreign input.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
import shutil
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import pytest
import torch

import interp
from interp import analysis, boundary, evaluation, steering
from interp.answers import encode_items, last_logits
from interp.items import Item
from interp.models.traced import MLLM
from interp.vectors import SteeringVector

# -- the enumeration ------------------------------------------------------------------------------
MODEL = re.compile(r"\b(TracedModel|MLLM|TextBackbone)\b")
KINDS: dict[str, tuple[re.Pattern[str], frozenset[str]]] = {
    "vector": (re.compile(r"\b(SteeringVectors?|VectorLike|LayerDirections|Steer)\b"),
               frozenset({"vector", "vectors", "steers", "condition", "direction", "textual", "native"})),
    "items": (re.compile(r"\b(Item|Items|ItemsLike|ItemsOrPrompts|VisualContrast)\b"),
              frozenset({"items", "clean", "corrupt", "positive", "negative", "train", "test", "sets", "contrast"})),
    "table": (re.compile(r"\b(SweepResult|DataFrame)\b"), frozenset({"table", "cells", "result"})),
    "bank": (re.compile(r"\bContextBank\b"), frozenset({"bank"})),
}


def public_modules() -> list[str]:
    """``interp`` and each of its direct modules and subpackages that is not private."""
    return ["interp", *sorted(f"interp.{m.name}" for m in pkgutil.iter_modules(interp.__path__) if not m.name.startswith("_"))]


def _public_functions(module: types.ModuleType) -> list[tuple[str, Callable[..., object]]]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, o in vars(module).items() if not n.startswith("_") and inspect.isfunction(o)
                 and o.__module__ == module.__name__]
    return [(n, obj) for n in names if inspect.isfunction(obj := getattr(module, n))]


def _annotation(param: inspect.Parameter) -> str:
    a = param.annotation
    return "" if a is inspect.Parameter.empty else a if isinstance(a, str) else getattr(a, "__name__", str(a))


def kinds_of(fn: Callable[..., object]) -> frozenset[str]:
    """The kinds of model-made input ``fn`` takes beside a model (empty: not on the surface)."""
    params = list(inspect.signature(fn).parameters.values())
    if not any(MODEL.search(_annotation(p)) for p in params):
        return frozenset()
    return frozenset(kind for kind, (annotated, named) in KINDS.items()
                     for p in params if annotated.search(_annotation(p)) or p.name in named)


def surface() -> dict[str, frozenset[str]]:
    """``{public name: kinds}`` for every public function of the surface's shape."""
    found: dict[str, frozenset[str]] = {}
    seen: set[str] = set()
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name, fn in _public_functions(module):
            key = f"{fn.__module__}.{fn.__qualname__}"
            if key in seen:
                continue
            seen.add(key)
            if kinds := kinds_of(fn):
                found[f"{module_name}.{name}"] = kinds
    return found


# -- what the calls are given ---------------------------------------------------------------------
@dataclass(frozen=True)
class Args:
    """The inputs a call may take: the organism's own, or with one swapped for a foreign one."""

    vectors: dict[str, SteeringVector]
    items: list[Item]
    clean: list[Item]
    corrupt: list[Item]
    table: pd.DataFrame
    bank: Any

    @property
    def vector(self) -> SteeringVector:
        return self.vectors["meanshift/counting"]


@dataclass
class World:
    mllm: MLLM
    backbone: Any
    inputs: dict[str, torch.Tensor]
    train: list[Item]
    test: list[Item]
    natives: dict[str, SteeringVector]
    own: Args
    foreign: dict[tuple[str, str], Args]
    transfer: Args  # the fingerprinted foreign vectors with the table a sweep made of them (allow_transfer)


#: The variants of each kind of foreign input, and what the refusal must say (vector and model named).
VARIANTS: dict[str, dict[str, str]] = {
    "vector": {
        "fingerprinted": r"vector '[^']+'( \(\w+\))? was built on \S*foreign-text but organism pairs with organism-text",
        "declared": r"vector '[^']+'( \(\w+\))? declares it was built on 'someone/other-4layer-128d' \(it records no "
                    r"fingerprint\), but organism takes vectors of 'organism' or 'organism-text'",
    },
    "table": {
        "foreign": r"was computed on \S*foreign-text@\w+, but this model is organism@",
        "edited": r"vector 'meanshift/\w+' is not the vector that made .*\(its digest \w+ differs from the table's \w+\)",
    },
    "bank": {"foreign": r"the context bank was built on \S*foreign-text but organism pairs with organism-text"},
    "items": {"too long": r"'long/0'\)? is \d+ tokens .*but organism(-text)? has 512 positions"},
}


@dataclass(frozen=True)
class Entry:
    """A minimal valid call ``call(world, args, **kw)`` (``kw``: ``allow_transfer=True`` where the
    function takes vectors); ``messages`` overrides what a refusal must say."""

    call: Callable[..., object]
    messages: dict[tuple[str, str], str] | None = None


def _in_trace(w: World, steers: object, **kw: Any) -> object:
    with torch.no_grad(), w.mllm.trace(w.inputs):
        steering.apply_steering(w.mllm, steers, w.inputs, **kw)
        out = w.mllm.nn.output.logits.save()
    return out


TARGETS = {"meanshift/counting": ["Count"], "meanshift/attribute": ["Attribute"]}


@functools.cache
def _ceiling_train() -> list[Item]:
    """Train items enough for a learned vector's validation split (4 per task)."""
    return list(evaluation.load_benchmark("organism", split="train", tasks=["Count", "Attribute"], n_per_task=4))


_ADD = steering.add


def _sweep(w: World, a: Args, **kw: Any) -> object:
    return evaluation.sweep(w.mllm, a.vectors, [1], [1.0], ["image"], w.train, a.items, targets=TARGETS,
                            n_random=0, prompt_baseline=False, progress=False, **kw)


CALLS: dict[str, Entry] = {
    # steering
    "interp.apply_steering": Entry(lambda w, a, **kw: _in_trace(w, _ADD(a.vector, 1, 0.5), **kw)),
    "interp.steered_logits": Entry(lambda w, a, **kw: interp.steered_logits(w.mllm, w.inputs, _ADD(a.vector, 1, 0.5),
                                                                            **kw)),
    "interp.steered_generate": Entry(lambda w, a, **kw: interp.steered_generate(
        w.mllm, w.inputs, _ADD(a.vector, 1, 0.5), max_new_tokens=1, **kw)),
    "interp.steering.validate": Entry(lambda w, a, **kw: steering.validate(w.mllm, [_ADD(a.vector, 1, 0.5)], **kw)),
    "interp.answers.last_logits": Entry(lambda w, a, **kw: last_logits(w.mllm, w.inputs, [_ADD(a.vector, 1, 0.5)],
                                                                       **kw)),
    # vectors made from items
    "interp.learned_vector": Entry(lambda w, a: interp.learned_vector(w.mllm, a.items, layer=1, steps=1,
                                                                      val_fraction=0.5, batch_size=4)),
    "interp.native_vector": Entry(lambda w, a: interp.native_vector(
        w.mllm, interp.vectors.VisualContrast("counting", (a.items[0],), (a.items[1],)), layers=[1])),
    # evaluation
    "interp.evaluation.score": Entry(lambda w, a, **kw: evaluation.score(w.mllm, a.items, _ADD(a.vector, 1, 0.5),
                                                                         **kw)),
    "interp.evaluation.option_probs": Entry(lambda w, a, **kw: evaluation.option_probs(
        w.mllm, [it.prompt() for it in w.test[:1]], [list(it.images) for it in w.test[:1]], [w.test[0].n_choices],
        [_ADD(a.vector, 1, 0.5)], **kw)),
    "interp.evaluation.residual_norms": Entry(lambda w, a: evaluation.residual_norms(w.mllm, a.items, [1], ["image"])),
    "interp.evaluation.sweep": Entry(_sweep),
    "interp.evaluation.replicate": Entry(lambda w, a, **kw: evaluation.replicate(w.mllm, a.table, a.vectors, a.items,
                                                                                 n_random=1, **kw)),
    "interp.evaluation.specificity": Entry(lambda w, a, **kw: evaluation.specificity(w.mllm, a.table, a.vectors,
                                                                                     a.items, **kw)),
    "interp.evaluation.ceiling": Entry(lambda w, a, **kw: evaluation.ceiling(
        w.mllm, a.table, a.vectors, _ceiling_train(), a.items, training=interp.vectors.Training(steps=1, val_fraction=0.5), train_at_top=True,
        **kw)),
    "interp.evaluation.transfer": Entry(lambda w, a, **kw: evaluation.transfer(w.mllm, a.table, a.vectors, a.items,
                                                                               **kw)),
    "interp.vectors.library_vectors": Entry(lambda w, a, **kw: interp.vectors.library_vectors(
        w.backbone, ["meanshift"], source="organism", layers=[1], cached=lambda method, concept: a.vector, **kw),
        messages={("vector", "fingerprinted"): r"vector '[^']+' was built on \S*foreign-text \(fingerprint \w+\) but "
                                               r"organism-text is another model",
                  ("vector", "declared"): r"vector '[^']+' declares it was built on 'someone/other-4layer-128d' \(it "
                                          r"records no fingerprint\), but organism-text"}),
    "interp.compare_native": Entry(lambda w, a, **kw: interp.compare_native(w.mllm, a.vectors, w.natives, a.items,
                                                                             cells=a.table, n_random=1, **kw)),
    "interp.answers.encode_items": Entry(lambda w, a: encode_items(w.mllm, a.items)),
    # analysis
    "interp.analysis.ablation": Entry(lambda w, a, **kw: analysis.ablation(
        w.mllm, a.items, layers=[1], tokens=["image"], modes=["direction"], vector=a.vector, **kw)),
    "interp.analysis.activation_patching": Entry(lambda w, a: analysis.activation_patching(
        w.mllm, a.clean, a.corrupt, layers=[1], groups=["image"])),
    "interp.analysis.attribution_patching": Entry(lambda w, a: analysis.attribution_patching(
        w.mllm, a.clean, a.corrupt, layers=[1])),
    "interp.analysis.gradient_x_activation": Entry(lambda w, a: analysis.gradient_x_activation(w.mllm, a.items,
                                                                                               layers=[1])),
    "interp.analysis.sae_feature_attribution": Entry(lambda w, a: analysis.sae_feature_attribution(
        w.mllm, a.items[:1], layers=[1])),
    "interp.analysis.contrast_condition": Entry(lambda w, a: analysis.contrast_condition(
        w.mllm, a.items[:1], a.items[1:2], layers=[1])),
    "interp.analysis.condition_grid": Entry(lambda w, a, **kw: analysis.condition_grid(
        w.mllm, a.items[:1], a.items[1:2], a.vector, layers=[1], **kw)),
    "interp.analysis.cast_steer": Entry(lambda w, a, **kw: analysis.cast_steer(
        w.mllm, {"set": a.items[:2]}, a.vector, analysis.CastCondition(1, 0.0, "above", 1.0), a.vector, 0.5, **kw)),
    "interp.analysis.isomorphic": Entry(lambda w, a: analysis.isomorphic(w.mllm, a.items[:2], backbone=w.backbone,
                                                                         layers=[1])),
    "interp.analysis.latent_lens": Entry(lambda w, a: analysis.latent_lens(w.mllm, a.items[:1], a.bank, layers=[1])),
    "interp.analysis.logit_lens": Entry(lambda w, a: analysis.logit_lens(w.mllm, a.items[:1], layers=[1])),
    "interp.analysis.word_ranks": Entry(lambda w, a: analysis.word_ranks(w.mllm, a.items[:1], ["red"], layers=[1])),
    "interp.analysis.modality_gap": Entry(lambda w, a: analysis.modality_gap(w.mllm, a.items[:2], layers=[1])),
    "interp.analysis.projection": Entry(lambda w, a, **kw: analysis.projection(w.mllm, a.vector, a.items[:1],
                                                                               layers=[1], **kw)),
    "interp.analysis.variance_share": Entry(lambda w, a, **kw: analysis.variance_share(
        w.mllm, a.vector, a.items[:2], layers=[1], n_random=2, **kw)),
    "interp.analysis.vector_alignment": Entry(lambda w, a, **kw: analysis.vector_alignment(
        w.mllm, a.vector, a.items[:1], layers=[1], **kw)),
    "interp.analysis.steer_toward_text": Entry(lambda w, a, **kw: analysis.steer_toward_text(
        w.mllm, a.items[:1], a.vector, 1, [0.5], reference=w.backbone, **kw)),
    # the boundary itself
    "interp.boundary.check_vector": Entry(lambda w, a, **kw: boundary.check_vector(w.mllm, a.vector, **kw)),
    "interp.boundary.check_vectors": Entry(lambda w, a, **kw: boundary.check_vectors(w.mllm, a.vectors, **kw)),
    "interp.boundary.check_prompts": Entry(lambda w, a: boundary.check_prompts(w.mllm, a.items)),
    # check_cells compares vectors with a table by content digest; provenance is check_vectors' part
    "interp.boundary.check_cells": Entry(
        lambda w, a: boundary.check_cells(w.mllm, a.table, a.vectors),
        messages={(kind, v): r"vector 'meanshift/\w+' is not the vector that made the table" for kind, v in
                  (("vector", "fingerprinted"), ("vector", "declared"))}),
}

#: Functions the rule matches that never use what makes them match, with the reason.
EXEMPT: dict[str, str] = {
    "interp.steering.prompt_masks": "reads only each steer's token selector, never its vector: the steers reach a "
                                    "model through validate, which its callers run first",
}


# -- the checker ----------------------------------------------------------------------------------
def missing_entries(found: dict[str, frozenset[str]] | None = None) -> list[str]:
    """Functions on the surface with neither a call nor an exemption."""
    found = surface() if found is None else found
    return sorted(name for name in found if name not in CALLS and name not in EXEMPT)


def refusal_problem(name: str, kind: str, variant: str, w: World) -> str | None:
    """Why ``name`` fails the property for a foreign ``kind`` (``variant``), or None if it refuses it."""
    entry = CALLS.get(name)
    if entry is None:
        return f"{name} has no row in the call table, so nothing shows it refuses a foreign {kind}"
    expected = (entry.messages or {}).get((kind, variant), VARIANTS[kind][variant])
    try:
        entry.call(w, w.foreign[kind, variant])
    except ValueError as err:
        if re.search(expected, str(err)):
            return None
        return f"{name} refused a {variant} {kind}, but not by naming it: {err}"
    return f"{name} ran with a {variant} {kind}: it does not refuse it"


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def foreign_text(tmp_path_factory, backbone):
    """A random-initialised model of the organism backbone's very config and tokenizer (same width
    and depth): what it makes has the right shapes and the wrong provenance."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from interp.organism import path

    directory = tmp_path_factory.mktemp("surface") / "foreign-text"
    shutil.copytree(path("text"), directory)
    torch.manual_seed(1)
    AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(directory)).save_pretrained(directory)
    return interp.load_text_backbone(str(directory))


def _long(item: Item, id_: str) -> Item:
    """``item`` with a question (and prompt) of about 800 more tokens: more than the organism's 512 positions."""
    words = " ".join(["how many"] * 400) + " "
    return replace(item, id=id_, question=words + item.question,
                   prompt_text=None if item.prompt_text is None else words + item.prompt_text)


@pytest.fixture(scope="module")
def world(mllm, backbone, foreign_text) -> World:
    from interp.analysis import context_bank
    from interp.evaluation import load_benchmark
    from interp.evaluation.benchmarks import fresh_items
    from interp.organism import inside
    from interp.vectors import native_vector, visual_contrast

    def vectors(model: Any) -> dict[str, SteeringVector]:
        return {f"meanshift/{c}": interp.compute(model, c, "meanshift", source="organism", layers=[1, 2])
                for c in ("counting", "attribute")}

    own_vectors = vectors(backbone)
    train = list(load_benchmark("organism", split="train", tasks=["Count", "Attribute"], n_per_task=2))
    test = list(load_benchmark("organism", split="test", tasks=["Count", "Attribute"], n_per_task=2))
    result = evaluation.sweep(mllm, own_vectors, [1], [1.0], ["image"], train, test, targets=TARGETS, n_random=0,
                              prompt_baseline=False, progress=False)
    items = fresh_items("organism", ["Count", "Attribute"], 2)
    colour = [it for it in load_benchmark("organism", split="test", tasks=["Attribute"], n_per_task=10)
              if inside.is_color_question(it)][:1]
    own = Args(vectors=own_vectors, items=items, clean=colour, corrupt=[inside.color_counterfactual(colour[0])],
               table=result.table, bank=context_bank(backbone, ["a red circle above a blue square"], layers=[1]))

    g = torch.Generator().manual_seed(0)
    declared = {name: SteeringVector.from_tensors({layer: torch.randn(mllm.d_model, generator=g) for layer in (1, 2)},
                                                  method="meanshift", concept=v.meta.concept,
                                                  source_model="someone/other-4layer-128d")
                for name, v in own_vectors.items()}
    elsewhere = foreign_text.fingerprint().store_key(foreign_text.name)
    swapped = result.table["vector"].map({"meanshift/counting": "meanshift/attribute",
                                          "meanshift/attribute": "meanshift/counting"})
    long = _long(items[0], "long/0")
    foreign = {
        ("vector", "fingerprinted"): replace(own, vectors=vectors(foreign_text)),
        ("vector", "declared"): replace(own, vectors=declared),
        ("table", "foreign"): replace(own, table=result.table.assign(model=elsewhere)),
        ("table", "edited"): replace(own, table=result.table.assign(vector=swapped)),
        ("bank", "foreign"): replace(own, bank=context_bank(foreign_text, ["a red circle above a blue square"],
                                                            layers=[1])),
        ("items", "too long"): replace(own, items=[long, *items[1:]], clean=[_long(own.clean[0], "long/0")],
                                       corrupt=[_long(own.corrupt[0], "long/1")]),
    }
    natives = {"native/counting": native_vector(mllm, visual_contrast("organism", "counting", n=2), layers=[1, 2])}
    inputs = mllm.encode([it.prompt() for it in test[:2]], [list(it.images) for it in test[:2]])
    moved = foreign["vector", "fingerprinted"].vectors
    transferred = evaluation.sweep(mllm, moved, [1], [1.0], ["image"], train, test, targets=TARGETS, n_random=0,
                                   prompt_baseline=False, progress=False, allow_transfer=True)
    transfer = replace(own, vectors=moved, table=transferred.table)
    return World(mllm, backbone, inputs, train, test, natives, own, foreign, transfer)


# -- the property ---------------------------------------------------------------------------------
SURFACE = surface()
CASES = [(name, kind, variant) for name, kinds in sorted(SURFACE.items()) if name not in EXEMPT
         for kind in sorted(kinds) for variant in VARIANTS[kind]]


def test_every_entry_point_has_a_call():
    found = surface()
    assert len(found) >= 30, sorted(found)  # the enumeration finds the surface, not nothing
    assert missing_entries(found) == [], "public functions that take a model and vectors, items, a table or a " \
                                         "bank need a row in CALLS (a minimal call) so the property covers them"
    stale = sorted((set(CALLS) | set(EXEMPT)) - set(found))
    assert stale == [], "rows for functions no longer on the surface"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_minimal_call_runs(world, name):
    CALLS[name].call(world, world.own)


@pytest.mark.parametrize(("name", "kind", "variant"), CASES, ids=[f"{n}-{k}-{v}" for n, k, v in CASES])
def test_a_foreign_input_is_refused(world, name, kind, variant):
    problem = refusal_problem(name, kind, variant, world)
    assert problem is None, problem


def _function(name: str) -> Callable[..., object]:
    module, attr = name.rsplit(".", 1)
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


TRANSFERS = [name for name, kinds in sorted(SURFACE.items()) if "vector" in kinds and name not in EXEMPT]


@pytest.mark.parametrize("name", TRANSFERS)
def test_a_refusal_that_offers_allow_transfer_can_be_taken_up(world, name):
    """Where refusing a vector of another model says "pass allow_transfer=True", the function takes
    that argument, and the same call with it runs (a deliberate transfer experiment: the table is the
    one a sweep with ``allow_transfer=True`` made of those vectors)."""
    with pytest.raises(ValueError) as refused:
        CALLS[name].call(world, world.foreign["vector", "fingerprinted"])
    if "allow_transfer=True" not in str(refused.value):
        return  # check_cells: a digest mismatch, which no flag waives
    assert "allow_transfer" in inspect.signature(_function(name)).parameters, \
        f"{name} refuses with 'pass allow_transfer=True' but takes no allow_transfer"
    CALLS[name].call(world, world.transfer, allow_transfer=True)


# -- the property can fail ------------------------------------------------------------------------
def unchecked(mllm: MLLM, vector: SteeringVector, items: Sequence[Item]) -> list[float]:
    """An entry point that forgets the boundary: it uses the vector and the items as given."""
    return [float(vector.at(1).norm()) * len(it.question) for it in items]


def checked(mllm: MLLM, vector: SteeringVector, items: Sequence[Item]) -> list[float]:
    """The same entry point asking the boundary first."""
    boundary.check_vector(mllm, vector)
    encode_items(mllm, items)
    return unchecked(mllm, vector, items)


def test_the_property_catches_an_unchecked_entry_point(world, monkeypatch):
    fake = types.ModuleType("interp.fake")
    fake.unchecked, fake.checked, fake.__all__ = unchecked, checked, ["unchecked", "checked"]
    monkeypatch.setitem(sys.modules, "interp.fake", fake)
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "public_modules", lambda real=public_modules: [*real(), "interp.fake"])

    found = surface()
    assert found["interp.fake.unchecked"] == found["interp.fake.checked"] == {"vector", "items"}
    assert missing_entries(found) == ["interp.fake.checked", "interp.fake.unchecked"]
    with pytest.raises(AssertionError, match="need a row in CALLS"):
        test_every_entry_point_has_a_call()

    for name, fn in (("interp.fake.unchecked", unchecked), ("interp.fake.checked", checked)):
        monkeypatch.setitem(CALLS, name, Entry(lambda w, a, fn=fn: fn(w.mllm, a.vector, a.items)))
    assert missing_entries(found) == []
    for kind in ("vector", "items"):
        for variant in VARIANTS[kind]:
            assert refusal_problem("interp.fake.unchecked", kind, variant, world) == (
                f"interp.fake.unchecked ran with a {variant} {kind}: it does not refuse it")
            assert refusal_problem("interp.fake.checked", kind, variant, world) is None


# -- the same rules where the model is the text backbone, and where items are prompt strings --------
def test_the_text_backbone_refuses_foreign_vectors_and_prompts_it_cannot_read(world):
    text = world.backbone
    inputs = text.encode(["a red circle above a blue square"])
    for variant in VARIANTS["vector"]:
        v = world.foreign["vector", variant].vector
        with pytest.raises(ValueError, match=r"vector 'counting' \(meanshift\) (was built on \S*foreign-text .*but "
                                             r"organism-text is another model|declares it was built on 'someone/)"):
            interp.steered_logits(text, inputs, _ADD(v, 1, 0.5, tokens="all"))
    interp.steered_logits(text, inputs, _ADD(world.own.vector, 1, 0.5, tokens="all"))
    with pytest.raises(ValueError, match=r"item 'long/0' is \d+ tokens as encoded .* but organism-text has 512 positions"):
        analysis.logit_lens(text, world.foreign["items", "too long"].items[:1], layers=[1])


def test_prompt_strings_the_model_cannot_read_are_refused_by_name(world):
    long = " ".join(["how many"] * 400) + " circles?"
    with pytest.raises(ValueError, match=r"prompt 'how many how many .*\.\.\.' is \d+ tokens as encoded .* but organism-text "
                                         r"has 512 positions"):
        analysis.contrast_condition(world.backbone, [long], ["two squares"], layers=[1])


# -- the command line offers what the message asks for --------------------------------------------
@pytest.mark.parametrize("command", [
    ["evaluate", "--layer", "1", "--strength", "0.5", "--tasks", "Count", "--n-items", "1", "--no-baseline"],
    ["analyze", "projection", "--tasks", "Count", "--n-items", "1", "--layers", "1"],
])
def test_the_commands_that_read_a_vector_take_allow_transfer(world, tmp_path, command):
    from typer.testing import CliRunner

    from interp.cli import app

    saved = world.foreign["vector", "fingerprinted"].vector.save(tmp_path / "moved")
    args = [*command, "--model", "organism", "--vector", str(saved), "--out", str(tmp_path / "out.csv")]
    refused = CliRunner().invoke(app, args)
    said = " ".join(refused.output.split())
    assert refused.exit_code != 0 and "was built on" in said and "--allow-transfer" in said, refused.output
    taken = CliRunner().invoke(app, [*args, "--allow-transfer"])
    assert taken.exit_code == 0, taken.output
