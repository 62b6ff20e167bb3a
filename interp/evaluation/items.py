"""Items moved to ``interp.items`` (below both evaluation and analysis); re-exported here."""

from interp.items import (
    LETTERS,
    MC_PREFIX,
    NUMBER_PREFIX,
    Item,
    ItemKind,
    format_choices,
    from_organism,
)

__all__ = ["LETTERS", "MC_PREFIX", "NUMBER_PREFIX", "Item", "ItemKind", "format_choices", "from_organism"]
