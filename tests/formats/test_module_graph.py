"""The package's import graph (issue 12), read with `ast` from the source:
- no public format module (one of the registry's built-in formats) imports another one, at
  any level: what two formats share lives in a private kit (formats/_*.py) or a shared helper;
- no cycle between subpackages through imports run at import time (module level and class
  bodies; imports inside functions and under `if TYPE_CHECKING:` are lazy and allowed);
- core/ imports nothing above it at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import visionflow
from visionflow.formats.registry import BUILTIN

PACKAGE = Path(visionflow.__file__).parent
FORMATS = PACKAGE / "formats"
HELPERS = {"__init__", "base", "builder", "common", "registry", "masks", "writing"}  # shared, not formats
ABOVE_CORE = {"api", "formats", "cli", "checks", "transforms", "versioning", "evaluation",
              "bridges", "viz", "visionflow"}  # "visionflow": the package root imports api


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_package(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel / "__init__.py").is_file()


def imports(source: str, name: str, is_package: bool, lazy: bool) -> set[str]:
    """Absolute names of the modules `source` (module `name`) imports; only those run at
    import time unless `lazy`. `from pkg import sub` counts as importing pkg.sub when sub is
    a module of the package."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if not lazy:
                return
            top = False
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not lazy:
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.add(sub if _module_exists(sub) else target)
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    visit(ast.parse(source), True)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_exists(name: str) -> bool:
    if not name.startswith("visionflow."):
        return False
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _own(path: Path, lazy: bool) -> set[str]:
    name = module_name(path)
    found = imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", lazy)
    return {m for m in found if m == "visionflow" or m.startswith("visionflow.")}


def _subpackage(module: str) -> str:
    """core, io, formats, ... for modules inside a subpackage; api, _version, ... for the
    package's own modules; visionflow for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "visionflow"


def public_format_modules() -> set[str]:
    return {m.rpartition(".")[2] for m in BUILTIN.values()}


def test_every_format_module_is_a_format_a_helper_or_a_kit():
    public = public_format_modules()
    for path in FORMATS.glob("*.py"):
        assert path.stem in public or path.stem in HELPERS or path.stem.startswith("_"), \
            f"formats/{path.name} is neither a registered format, a shared helper nor a kit"


def test_no_format_module_imports_another():
    public = public_format_modules()
    offenders = []
    for path in sorted(FORMATS.glob("*.py")):
        if path.stem not in public and not path.stem.startswith("_") or path.stem == "__init__":
            continue  # helpers (base, common, registry, masks) are shared by design
        for target in _own(path, lazy=True):
            parts = target.split(".")
            if parts[:2] == ["visionflow", "formats"] and len(parts) > 2 \
                    and parts[2] in public and parts[2] != path.stem:
                offenders.append(f"formats/{path.name} imports formats/{parts[2]}.py")
    assert not offenders, "move what they share into a kit (formats/_*.py):\n" + \
        "\n".join(offenders)


MAX_FORMAT_LINES = 650  # "about 600": past it, a format module reads as several concerns


def test_format_modules_stay_readable():
    """A public format module reads top to bottom (detect, read, write); codecs, layouts and
    emitters past ~600 lines go into kits (formats/_<format>_*.py)."""
    public = public_format_modules()
    long = {p.name: n for p in FORMATS.glob("*.py") if p.stem in public
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FORMAT_LINES}
    assert not long, f"split into kits: {long}"


def _graph() -> dict[str, dict[str, str]]:
    """subpackage -> {subpackage it imports at import time: the first module that does}."""
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        a = _subpackage(source)
        for target in sorted(_own(path, lazy=False)):
            b = _subpackage(target)
            if a != b:
                graph.setdefault(a, {}).setdefault(b, f"{source} -> {target}")
    return graph


def find_cycle(graph: dict[str, dict[str, str]]) -> list[str] | None:
    """One cycle of `graph` as the edges' witnesses, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, {}):
            if state.get(nxt) == 1:
                ring = stack[stack.index(nxt):] + [nxt]
                return [graph[x][y] for x, y in zip(ring, ring[1:])]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_subpackages():
    cycle = find_cycle(_graph())
    assert cycle is None, "subpackages import each other at module level:\n" + "\n".join(cycle)


def test_core_imports_nothing_above_it():
    offenders = [f"{module_name(p)} imports {t}"
                 for p in sorted((PACKAGE / "core").rglob("*.py"))
                 for t in sorted(_own(p, lazy=False)) if _subpackage(t) in ABOVE_CORE]
    assert not offenders, "\n".join(offenders)


def test_version_lives_in_one_place():
    from visionflow import _version
    assert visionflow.__version__ == _version.__version__
    pyproject = (PACKAGE.parents[1] / "pyproject.toml")
    if not pyproject.is_file():
        pytest.skip("not a source checkout (no pyproject.toml beside src/)")
    import tomllib
    doc = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    assert "version" not in doc["project"] and "version" in doc["project"]["dynamic"]
    assert doc["tool"]["hatch"]["version"]["path"] == "src/visionflow/_version.py"


# --- the checker itself -------------------------------------------------------------------

def test_checker_tells_module_level_from_lazy_imports():
    src = ("from typing import TYPE_CHECKING\nfrom ..api import write\nfrom . import errors\n"
           "if TYPE_CHECKING:\n    from ..checks import run\n"
           "class A:\n    from ..viz import draw\n"
           "def f():\n    from ..formats import coco\n")
    eager = imports(src, "visionflow.core.dataset", False, lazy=False)
    assert eager == {"visionflow.api", "visionflow.core.errors", "visionflow.viz.draw", "typing"}
    lazy = imports(src, "visionflow.core.dataset", False, lazy=True)
    assert {"visionflow.formats.coco", "visionflow.checks.run"} <= lazy


def test_checker_finds_a_cycle():
    assert find_cycle({"a": {"b": "a.x -> b.y"}, "b": {"c": "b.y -> c.z"}, "c": {}}) is None
    assert find_cycle({"a": {"b": "a.x -> b.y"}, "b": {"a": "b.y -> a.x"}}) == \
        ["a.x -> b.y", "b.y -> a.x"]
