"""Layers point one way: the library (``planner.*`` but the CLI, the API, the maps and the
top-level ``planner`` namespace that composes them for notebooks) never
imports the maps or the API, and the maps never import the API — checked on the source of every
module, imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Source folders and the package each one is installed as.
PACKAGES = {"planner": "planner", "api": "planner.api", "maps": "planner.maps"}
OUTER = ("planner.cli", "planner.api", "planner.maps")
#: ``import planner as pl`` is the notebooks' front door: like the CLI it composes the layers
#: (``pl.gap_map`` is the maps layer's), so the package's own ``__init__`` is not library code.
FACADE = "planner"


def modules() -> dict[str, Path]:
    """Every module of the distribution by its import name."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node of a module but those under ``if TYPE_CHECKING:`` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(name: str, path: Path) -> set[str]:
    """The modules a module imports when it runs (``from a import b`` counts as a and a.b;
    relative imports resolved; ``importlib.import_module("…")`` with a literal name counted
    too; imports for type checkers only are not)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(
                node.func, "id", None)) == "import_module" and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            out.add(node.args[0].value)
    return out


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_every_package_is_found():
    found = modules()
    assert {"planner.scenario", "planner.outputs", "planner.api.app", "planner.maps.gapmap",
            "planner.maps.result", "planner.cli.run_cmd"} <= set(found)


@pytest.mark.parametrize(("layer", "forbidden"), [
    ("library", ("planner.maps", "planner.api")),
    ("planner.maps", ("planner.api",)),
])
def test_layers_point_one_way(layer, forbidden):
    bad = []
    for name, path in modules().items():
        is_library = (_within(name, "planner") and name != FACADE
                      and not any(_within(name, o) for o in OUTER))
        if (is_library if layer == "library" else _within(name, layer)):
            bad += [f"{name} imports {m}" for m in sorted(imported(name, path))
                    if any(_within(m, f) for f in forbidden)]
    assert not bad, "; ".join(bad)


def test_the_check_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from planner.maps import gap_map\n    from . import api\n"
                   "if TYPE_CHECKING:\n    import planner.api.app\nelse:\n    import json\n")
    found = imported("planner.x.mod", src)
    assert {"planner.maps", "planner.maps.gap_map", "planner.x.api", "json"} <= found
    assert "planner.api.app" not in found  # for type checkers only, never run
