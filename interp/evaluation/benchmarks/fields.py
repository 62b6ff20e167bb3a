"""Field conversion: a source row's values turned into an item's text, choices, answer and images.

Each helper reads one field and raises ``_BadRow`` (naming the field and what was wrong) when the
value cannot be used, so the row is skipped with that reason rather than failing the load. Lists
stored as text (CSV cells) are parsed; images come as PIL images, ``datasets``' ``{"bytes",
"path"}`` dicts, raw or base64 bytes, or paths relative to the source.

Example:
    >>> _letter({"answer": "(B)"}, n_choices=4)
    1
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from interp.evaluation.benchmarks.core import BenchmarkSpec, _BadRow


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _BadRow(f"missing {name}")
    return str(value)


def _list(row: Mapping[str, Any], name: str) -> list[str]:
    value = row.get(name)
    if isinstance(value, str):  # CSV cells hold lists as text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError) as err:
                raise _BadRow(f"{name} is not a list: {row.get(name)!r}") from err
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise _BadRow(f"{name} is not a list: {value!r}")
    if len(value) < 2:
        raise _BadRow(f"{name} has {len(value)} entries, a question needs at least 2")
    if any(v is None for v in value):
        raise _BadRow(f"{name} has an empty entry: {value!r}")
    return [str(v) for v in value]


def _letter(row: Mapping[str, Any], n_choices: int) -> int:
    value = row.get("answer")
    if value is None:
        raise _BadRow("missing answer")
    m = re.fullmatch(r"\s*\(?\s*([A-Z])\s*\)?\s*", str(value))
    if m is None:
        raise _BadRow(f"answer {value!r} is not a letter such as '(A)'")
    index = ord(m.group(1)) - ord("A")
    if index >= n_choices:
        raise _BadRow(f"answer {value!r} is not among its {n_choices} choices")
    return index


def _whole(value: Any, name: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        return int(value)
    raise _BadRow(f"{name} {value!r} is not a whole number")


def _image(value: Any, name: str, base_dir: Path | None) -> Image.Image:
    """An RGB image from a PIL image, a ``{"bytes", "path"}`` dict (``datasets``' storage),
    raw bytes or a path (relative paths are read from the source's directory)."""
    if value is None or value == "":
        raise _BadRow(f"missing {name}")

    def resolve(p: Any) -> Path:
        p = Path(p)
        return p if p.is_absolute() or base_dir is None else base_dir / p

    source = ""  # the file an image is read from, named when it cannot be read
    try:
        if isinstance(value, Image.Image):
            img = value
        elif isinstance(value, Mapping):
            data, p = value.get("bytes"), value.get("path")
            if data:
                data = base64.b64decode(data) if isinstance(data, str) else bytes(data)
                img = Image.open(io.BytesIO(data))
            elif p:
                source = f" ({resolve(p)})"
                img = Image.open(resolve(p))
            else:
                raise _BadRow(f"{name} has neither bytes nor a path")
        elif isinstance(value, (bytes, bytearray)):
            img = Image.open(io.BytesIO(value))
        elif isinstance(value, (str, os.PathLike)):
            source = f" ({resolve(value)})"
            img = Image.open(resolve(value))
        else:
            raise _BadRow(f"{name} is a {type(value).__name__}, not an image, bytes or a path")
        img.load()
        return img.convert("RGB")
    except _BadRow:
        raise
    except Exception as err:  # PIL's decoders raise OSError, SyntaxError, EOFError, zlib.error...
        raise _BadRow(
            f"unreadable image in {name}{source}: {err or type(err).__name__} "
            "(a damaged or partly written file?)"
        ) from err


_PLAIN = (str, int, float, bool, type(None))


def _extras(row: Mapping[str, Any], spec: BenchmarkSpec, used: Sequence[str]) -> dict[str, Any]:
    """The row's other plain fields (strings, numbers, lists of them) for ``Item.metadata``."""
    skip = set(used) | set(spec.image_fields)
    out = {}
    for k, v in row.items():
        if k in skip:
            continue
        if isinstance(v, _PLAIN) or (isinstance(v, list) and all(isinstance(e, _PLAIN) for e in v)):
            out[k] = v
    return out


def _ref(row: Mapping[str, Any], i: int) -> str:
    idx = row.get("idx")
    return f"row {i}" + (f" (idx {idx})" if idx is not None else "")

