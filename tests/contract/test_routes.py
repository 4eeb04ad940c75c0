"""Each spec/<stem>.yaml is valid OpenAPI 3.1 and describes exactly the routes its compat module serves
(tests.openapi.route_modules: compat/<stem>.py, compat/<stem>/dialect.py, compat/balena/v1.py for balena_v1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from compat.base import Router
from tests.openapi import METHODS, SPEC_DIR, UNMATCHED, load_spec, operations, resolve, route_modules

# balena's routes are in balena_v1 (compat/balena/dialect.py is its app, with no table of its own).
DIALECT_TABLES = ("balena_v1", "hassio", "gosd", "platform")
STEMS = tuple(route_modules())


def served(stem: str) -> set[tuple[str, str]]:
    """ROUTES.paths() with express-style `:name` segments written as OpenAPI `{name}`."""
    routes = import_module(route_modules()[stem]).ROUTES
    return {(method, re.sub(r":(\w+)", r"{\1}", path)) for method, path in routes.paths()}


def schemas(node: Any) -> Iterator[Any]:
    """Every Schema Object under a (resolved) response map, header or media type."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                yield value
            else:
                yield from schemas(value)
    elif isinstance(node, list):
        for item in node:
            yield from schemas(item)


def test_every_route_table_has_a_spec_and_every_spec_a_route_table() -> None:
    assert set(DIALECT_TABLES) <= set(STEMS)
    assert sorted(p.stem for p in SPEC_DIR.glob("*.yaml")) == sorted(STEMS)
    for stem in STEMS:
        assert isinstance(import_module(route_modules()[stem]).ROUTES, Router)


@pytest.mark.parametrize("stem", STEMS)
def test_spec_is_valid_openapi_3_1(stem: str) -> None:
    spec = load_spec(stem)
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("stem", STEMS)
def test_spec_operations_equal_served_routes(stem: str) -> None:
    documented = operations(load_spec(stem))
    routes = served(stem)
    assert routes, f"compat.{stem} serves no route"
    assert documented - routes == set(), f"spec/{stem}.yaml documents routes compat.{stem} does not serve"
    assert routes - documented == set(), f"compat.{stem} serves routes spec/{stem}.yaml does not document"


@pytest.mark.parametrize("stem", STEMS)
def test_every_response_has_a_checkable_body_schema(stem: str) -> None:
    """Each documented response (and the not-found answers) has a valid 2020-12 schema per media type."""
    spec = load_spec(stem)
    targets = [op for item in spec["paths"].values() for m, op in item.items() if m in METHODS]
    targets.append(spec[UNMATCHED])
    for target in targets:
        assert target["responses"], target
        for status, response in resolve(spec, target["responses"]).items():
            for media_type, media in (response.get("content") or {}).items():
                assert "schema" in media, f"{stem} {status} {media_type}: no schema"
        for schema in schemas(resolve(spec, target["responses"])):
            Draft202012Validator.check_schema(schema)
            for pattern in re.findall(r"'pattern': '((?:[^'\\]|\\.)*)'", repr(schema)):
                re.compile(pattern.encode().decode("unicode_escape"))


@pytest.mark.parametrize("stem", STEMS)
def test_security_is_declared_and_open_routes_say_so(stem: str) -> None:
    spec = load_spec(stem)
    declared = set(spec["components"]["securitySchemes"])
    assert spec["security"] and all(set(req) <= declared for req in spec["security"])
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for requirement in op.get("security", []):
                assert set(requirement) <= declared, f"{method} {path}"
