"""The layer contract (``lint-imports``, run by ``make lint``) names every part of ``interp``.

import-linter's ``layers`` contract only constrains the modules it names: a top-level module left
out of it may import anything, from any layer, and no check fails. ``interp.args`` was such a
module until this test was written. So every top-level module and subpackage must stand in
exactly one layer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]


def _layers() -> list[list[str]]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [[name.strip() for name in re.split(r"[|:]", layer)] for layer in layers]


def _top_level(package: Path) -> set[str]:
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return {f"interp.{name}" for name in names}


def test_every_top_level_module_of_interp_stands_in_one_layer():
    named = [name for layer in _layers() for name in layer]
    assert len(named) == len(set(named)), f"named in two layers: {sorted({n for n in named if named.count(n) > 1})}"
    assert _top_level(ROOT / "interp") - set(named) == set(), "modules the layer contract does not constrain"
    assert set(named) - _top_level(ROOT / "interp") == set(), "the layer contract names modules that do not exist"


def test_the_check_sees_a_module_left_out(tmp_path):
    package = tmp_path / "interp"
    (package / "sub").mkdir(parents=True)
    for path in ("__init__.py", "sub/__init__.py", "loose.py"):
        (package / path).write_text("")
    (package / "data").mkdir()  # a folder without __init__.py is not a package
    assert _top_level(package) == {"interp.sub", "interp.loose"}
