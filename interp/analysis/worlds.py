"""Generated worlds: what the analyses can do with items whose scenes a plugin knows.

A benchmark a plugin generates from a fully known world (the organisms' scenes of coloured shapes)
supports questions a fixed benchmark cannot answer: the same scene given as text (isomorphic
inputs, ``interp.analysis.isomorphic``) and the same scene with one visual fact changed (a
clean/corrupt pair for ``interp.analysis.activation_patching``). A plugin registers a ``World``
for its benchmark; the analyses and the CLI look it up by the items' ``source``.

Example:
    >>> world_of("organism").counterfactual_task
    'Attribute'
    >>> world_of("cvbench") is None
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from interp.items import Item
from interp.plugins import Registry


def _every_item(item: Item) -> bool:
    return True


@dataclass(frozen=True)
class World:
    """What a generated benchmark's items support in the analyses.

    Attributes:
        render_text: item -> the full text prompt that describes its scene (sent as it is, without
            the family's formatting): the isomorphic input.
        counterfactual: item -> the same item with one visual fact changed (same prompt, another
            answer): the corrupt run of a patching pair.
        counterfactual_task: the task whose items ``counterfactual`` applies to.
        accepts: item -> whether ``counterfactual`` applies to it (within that task).
    """

    render_text: Callable[[Item], str] | None = None
    counterfactual: Callable[[Item], Item] | None = None
    counterfactual_task: str | None = None
    accepts: Callable[[Item], bool] = _every_item


#: Benchmark (an item's ``source``) -> its world.
WORLDS: Registry[World] = Registry("world")


def register_world(benchmark: str, world: World) -> None:
    """Register what the analyses can do with ``benchmark``'s items (a plugin's ``register`` calls this).

    Example:
        >>> register_world("mine", World(render_text=lambda item: item.question))   # doctest: +SKIP
    """
    if not isinstance(world, World):
        raise ValueError(f"expected a World, got {type(world).__name__}")
    WORLDS.register(benchmark, world)


def world_of(benchmark: str) -> World | None:
    """The world registered for ``benchmark`` (or for an item's ``source``), or None.

    Example:
        >>> world_of("organism").render_text is not None
        True
    """
    return WORLDS.find(benchmark)


def text_rendering(item: Item) -> str:
    """``item``'s scene as text, by the world its benchmark (``item.source``) registered.

    Raises:
        ValueError: no world of ``item.source`` renders its scenes as text.

    Example:
        >>> text_rendering(from_record(make_item("test", "Count", 0)))[:5]   # doctest: +SKIP
        'there'
    """
    world = world_of(item.source)
    if world is None or world.render_text is None:
        raise ValueError(
            f"item {item.id!r} comes from {item.source!r}, which has no text rendering of its scenes: pass "
            f"render= (item -> text prompt); benchmarks with one: {[n for n, w in WORLDS.items() if w.render_text]}"
        )
    return world.render_text(item)


__all__ = ["WORLDS", "World", "register_world", "text_rendering", "world_of"]
