"""Each public package's ``__all__`` lists exactly its public names.

The rule, per package (its ``__init__.py``):

* **public names** are the names not starting with ``_`` that the package binds at module
  level outside ``if TYPE_CHECKING:`` -- by ``def``, ``class`` or assignment, or by
  importing them from vigil's own modules (a deliberate re-export). Names imported from
  the standard library or third-party packages (``Any``, ``Path``, ``annotations``) are
  helpers, not exports.
* **lazy names** are served by the package's module-level ``__getattr__`` (to keep
  ``import vigil`` light); they appear in ``__all__`` and must resolve.
* ``__all__`` must equal public names plus lazy names, without duplicates; the only dunder
  it may hold is ``__version__``.

Every package that defines ``__all__`` is checked, and the public API packages of
DESIGN.md must define one. The source is read with :mod:`ast` (not ``dir()``), so
submodules bound as attributes by an earlier import do not count.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import vigil

PUBLIC_API = ("vigil", "vigil.sdk", "vigil.drift", "vigil.profile", "vigil.registry")
ALLOWED_DUNDERS = {"__version__"}


def _packages() -> list[str]:
    names = ["vigil"]
    for info in pkgutil.walk_packages(vigil.__path__, "vigil."):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _own_module(node: ast.ImportFrom) -> bool:
    return node.level > 0 or (node.module or "").split(".")[0] == "vigil"


def _bound_names(source: str) -> tuple[set[str], bool]:
    """Public names the module binds itself or re-exports, and whether ``__all__`` exists."""
    names: set[str] = set()
    has_all = False
    for node in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.ImportFrom) and _own_module(node):
            names.update(a.asname or a.name for a in node.names)
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    has_all |= leaf.id == "__all__"
                    names.add(leaf.id)
    return {n for n in names if not n.startswith("_")}, has_all


@pytest.mark.parametrize("name", _packages())
def test_all_equals_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    public, has_all = _bound_names(Path(module.__file__).read_text(encoding="utf-8"))
    if not has_all:
        assert name not in PUBLIC_API, f"{name} is public API and must define __all__"
        return
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ lists {item!r}, which does not resolve"
    lazy = {n for n in exported if n not in public and not n.startswith("_")}
    if lazy:
        assert hasattr(module, "__getattr__"), f"{name}: {sorted(lazy)} are never bound"
    dunders = {n for n in exported if n.startswith("_")}
    assert dunders <= ALLOWED_DUNDERS, f"{name}.__all__ exports private names {dunders}"
    missing = public - set(exported)
    assert not missing, f"{name} binds public names missing from __all__: {sorted(missing)}"


def test_the_rule_sees_a_missing_and_a_stale_name() -> None:
    """The parser behind the rule: a re-export from vigil and a def count; a third-party
    import and a TYPE_CHECKING import do not."""
    source = (
        "from typing import TYPE_CHECKING, Any\n"
        "from vigil.schema import Task\n"
        "from .drift import detect_drift as detect\n"
        "if TYPE_CHECKING:\n    from vigil.sdk import Monitor\n"
        "LIMIT: int = 3\n"
        "def helper() -> None: ...\n"
        "def _private() -> None: ...\n"
        "__all__ = ['Task']\n"
    )
    public, has_all = _bound_names(source)
    assert has_all
    assert public == {"Task", "detect", "LIMIT", "helper"}
