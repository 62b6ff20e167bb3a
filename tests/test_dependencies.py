"""Every third-party package interp imports is declared in pyproject, and every core one is used.

Imports are read from the source with ``ast`` (function-local ones and ``importlib.import_module``
/ ``find_spec`` of a literal name included), so a lazy import of an undeclared package, or a core
dependency nothing imports any more, fails here rather than on a user's machine.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
#: Import names whose distribution is named otherwise.
DISTRIBUTION = {
    "PIL": "pillow",
    "sklearn": "scikit-learn",
    "sae_lens": "sae-lens",
    "transformer_lens": "transformer-lens",
    "huggingface_hub": "huggingface-hub",
    "yaml": "pyyaml",
}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec)
    assert match, spec
    return _normalized(match.group(0))


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_requirement_name(s) for s in project["dependencies"]}
    extras = {
        extra: {_requirement_name(s) for s in specs if not s.startswith("interp[")}
        for extra, specs in project["optional-dependencies"].items()
    }
    return core, extras


def _imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("import_module", "find_spec")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return names


def third_party_imports(package: Path, root: Path = ROOT) -> dict[str, set[str]]:
    """``{distribution: {file relative to root, ...}}`` for every third-party import under ``package``."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        for name in _imported_names(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in ("interp", "__future__"):
                continue
            dist = _normalized(DISTRIBUTION.get(top, top))
            found.setdefault(dist, set()).add(path.relative_to(root).as_posix())
    return found


def test_every_third_party_import_in_interp_is_declared():
    core, extras = _declared()
    declared = core.union(*extras.values())
    undeclared = {dist: sorted(files) for dist, files in third_party_imports(ROOT / "interp").items() if dist not in declared}
    assert undeclared == {}, f"imported but declared nowhere in pyproject.toml: {undeclared}"


def test_every_core_dependency_is_imported_by_interp():
    core, _ = _declared()
    unused = core - set(third_party_imports(ROOT / "interp"))
    assert unused == set(), f"core dependencies nothing in interp/ imports: {sorted(unused)}"


def test_the_scan_sees_function_local_and_dynamic_imports(tmp_path):
    (tmp_path / "mod.py").write_text(
        "import os\n"
        "def f():\n"
        "    from sklearn.linear_model import LogisticRegression\n"
        "    import importlib\n"
        "    return importlib.import_module('huggingface_hub.utils.tqdm')\n"
    )
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "inner.py").write_text("from . import mod\nimport PIL.Image\n")
    assert third_party_imports(tmp_path, root=tmp_path) == {
        "scikit-learn": {"mod.py"},
        "huggingface-hub": {"mod.py"},
        "pillow": {"pkg/inner.py"},
    }
