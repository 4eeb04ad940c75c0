"""The shape of handlers/ and compat/: no import circles, each package imports only what its
__init__.py docstring allows, and handlers/ knows nothing of HTTP or the dialects.

Every import counts, also those inside functions and under TYPE_CHECKING: a lazy import that
closes a circle is still a circle, only one that shows later.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# handlers' own top-level modules that every package may use
SHARED = {"handlers", "handlers.errors", "handlers.store", "handlers.jsvalues", "handlers.redact",
          "handlers.docker"}
# package -> the other units it may import (its own modules always)
ALLOWED = {
    "handlers.engine": SHARED | {"handlers.host"},
    "handlers.host": SHARED,
    "handlers.hardware": SHARED | {"handlers.host"},
    "handlers.accounts": SHARED,
    "handlers.homeassistant": SHARED | {"handlers.host", "handlers.hardware", "handlers.accounts"},
    "handlers.gosd": SHARED,
    "handlers.edgehub": SHARED | {"handlers.host", "handlers.platform"},
    "handlers.migrate": SHARED | {"handlers.engine", "handlers.host"},
    **{module: SHARED - {module} for module in SHARED},
}
COMPAT_SHARED = {"compat", "compat.base", "compat.responses", "compat.access", "compat.gohttp", "compat.gojson"}


@cache
def modules() -> dict[str, Path]:
    """Dotted name -> file of every module under handlers/ and compat/."""
    found = {}
    for package in ("handlers", "compat"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def imported(name: str) -> frozenset[str]:
    """Every module `name` imports anywhere in its body (ours as module names, others as given)."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:  # `from compat.balena import v1` imports the module v1
                names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base)
    return frozenset({_ours(n) or n for n in names} - {name})


def _ours(name: str) -> str | None:
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@cache
def graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports."""
    return {name: {n for n in imported(name) if n in modules()} for name in modules()}


def unit(name: str) -> str:
    """The package a module belongs to (handlers.engine, compat.balena), else the module itself."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (ROOT / Path(*parts)).is_dir() else name


def test_no_module_imports_one_that_imports_it_back() -> None:
    edges = graph()
    circles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(edges[name]):
            if state.get(other) == 1:
                circles.append(" -> ".join([*path[path.index(other):], other]))
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert not circles, "import circles:\n" + "\n".join(circles)


@pytest.mark.parametrize("name", [n for n in sorted(modules()) if n.startswith("handlers")])
def test_handlers_know_nothing_of_http_or_the_dialects(name: str) -> None:
    roots = {n.split(".")[0] for n in imported(name)}
    assert not roots & {"compat", "starlette", "hypercorn"}


def test_each_handlers_package_imports_only_what_its_docstring_allows() -> None:
    wrong = [f"{name} -> {other}" for name in sorted(modules()) if unit(name) in ALLOWED
             for other in sorted(graph()[name])
             if unit(other) != unit(name) and unit(other) not in ALLOWED[unit(name)]]
    assert not wrong, "\n".join(wrong)


def test_dialects_never_import_each_other_and_shared_compat_modules_no_dialect() -> None:
    wrong = [f"{name} -> {other}" for name in sorted(modules()) if name.startswith("compat")
             for other in sorted(graph()[name]) if other.startswith("compat")
             and unit(other) != unit(name) and unit(other) not in COMPAT_SHARED]
    assert not wrong, "\n".join(wrong)


def test_every_package_says_what_it_owns_and_may_import() -> None:
    for name, path in modules().items():
        if path.name == "__init__.py":
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert doc, f"{path} has no docstring"
            if name.count(".") == 1:
                assert "import" in doc, f"{path}: say what the package may import"
