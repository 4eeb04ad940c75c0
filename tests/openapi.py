"""Check an HTTP response against the dialect's OpenAPI document (spec/<stem>.yaml).

check_response(stem, response, method, path) finds the operation the request reached
(`{param}` templates, plus the document's own matching rules), then asserts that

- the status is documented for that operation,
- the Content-Type header equals a documented media type, byte for byte
  (a response documented without `content` must carry no Content-Type and no body),
- the body validates against the media type's schema (JSON Schema Draft 2020-12;
  JSON bodies are parsed, any other body is validated as one string),
- every documented header marked `required` is present, and every documented header
  present validates against its schema.

A request no operation takes (unknown path, or a known path with another method) is
checked against the document's `x-unmatched-route` responses: each dialect answers those
in its own way (express's `Cannot GET` page, aiohttp's `404: Not Found`, gorilla's
`404 page not found`). Extensions the checker honours, at the document's top level:

    x-path-matching: {case-insensitive: bool, trailing-slash: "optional" | "exact"}
    x-head-as-get: bool     # HEAD is answered by the GET operation, without a body
    x-unmatched-route: {responses: {...}}

and, on an operation, `x-profiles: [name, ...]` (served only in those profiles); on a response,
`x-without-content-type: true` (the body of its one media type comes with no Content-Type
header); on a path item, `x-websocket: {...}` for a WebSocket route (not an HTTP operation).

Mismatches raise AssertionError naming the dialect, the request and what differed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator

SPEC_DIR = Path(__file__).resolve().parent.parent / "spec"
COMPAT_DIR = Path(__file__).resolve().parent.parent / "compat"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UNMATCHED = "x-unmatched-route"
WEBSOCKET = "x-websocket"
NO_CONTENT_TYPE = "x-without-content-type"
VERBATIM = "x-verbatim"  # a media type whose body is any bytes (a stored value or file sent as it is)


@functools.cache
def route_modules() -> dict[str, str]:
    """Spec stem -> the compat module that makes that route table (`ROUTES = Router(...)`).

    compat/<stem>.py, compat/<stem>/dialect.py, or compat/<package>/<name>.py for the stem
    <package>_<name> (compat/balena/v1.py: balena_v1). Modules that only fill another module's
    table (compat/platform/auth.py, whose routes compat/platform/dialect.py assembles) are
    described by that module's spec.
    """
    made = re.compile(r"^ROUTES\s*(?::[^=]+)?=\s*Router\(", re.MULTILINE)
    found = {}
    for path in sorted(COMPAT_DIR.rglob("*.py")):
        if made.search(path.read_text(encoding="utf-8")):
            parts = path.relative_to(COMPAT_DIR).with_suffix("").parts
            stem = "_".join(parts[:-1] if parts[-1] == "dialect" else parts)
            found[stem] = ".".join(("compat", *parts))
    return found


@functools.cache
def load_spec(stem: str) -> dict[str, Any]:
    """The parsed document spec/<stem>.yaml (cached; do not mutate)."""
    with open(SPEC_DIR / f"{stem}.yaml", encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def operations(spec: Mapping[str, Any]) -> set[tuple[str, str]]:
    """Every (METHOD, path template) the document describes."""
    found = set()
    for path, item in (spec.get("paths") or {}).items():
        for key in item:
            if key in METHODS:
                found.add((key.upper(), path))
            elif key == WEBSOCKET:  # a WebSocket route: method "WS" in the compat route tables
                found.add(("WS", path))
    return found


def resolve(spec: Mapping[str, Any], node: Any) -> Any:
    """`node` with every local `$ref` replaced by its target (the documents have no cycles)."""
    if isinstance(node, list):
        return [resolve(spec, item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"only local $refs are supported, got {ref!r}")
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        merged = {**resolve(spec, target), **{k: v for k, v in node.items() if k != "$ref"}}
        return resolve(spec, merged)
    return {key: resolve(spec, value) for key, value in node.items()}


def _template_regex(template: str, case_insensitive: bool, optional_slash: bool) -> re.Pattern[str]:
    pattern = "".join(f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") and part.endswith("}")
                      else re.escape(part) for part in re.split(r"(\{[^}/]+\})", template))
    if optional_slash and template != "/":
        pattern += "/?"
    return re.compile(f"^{pattern}$", re.IGNORECASE if case_insensitive else 0)


@dataclass(frozen=True)
class Target:
    """Where a request landed in the document."""

    template: str | None  # None: no operation took the request (x-unmatched-route)
    method: str
    operation: Mapping[str, Any]  # the operation, or the x-unmatched-route object

    @property
    def name(self) -> str:
        """How messages refer to it."""
        if self.template is None:
            return "x-unmatched-route"
        return f"{self.method.upper()} {self.template}"


def _served(operation: Mapping[str, Any], profile: str | None) -> bool:
    """False for an operation of another profile (`x-profiles: [...]`); None serves every operation."""
    profiles = operation.get("x-profiles")
    return profile is None or profiles is None or profile in profiles


def find_operation(spec: Mapping[str, Any], method: str, path: str, profile: str | None = None) -> Target:
    """The operation `METHOD path` reaches (in `profile`), or the document's x-unmatched-route."""
    rules = spec.get("x-path-matching") or {}
    insensitive = bool(rules.get("case-insensitive", False))
    optional_slash = rules.get("trailing-slash", "exact") == "optional"
    wanted = method.lower()
    for template, item in (spec.get("paths") or {}).items():
        if not _template_regex(template, insensitive, optional_slash).match(path):
            continue
        if wanted in item and _served(item[wanted], profile):
            return Target(template, wanted, item[wanted])
        if wanted == "head" and spec.get("x-head-as-get") and "get" in item and _served(item["get"], profile):
            return Target(template, "get", item["get"])
    if UNMATCHED not in spec:
        raise AssertionError(f"{method} {path}: no operation in the document and no {UNMATCHED}")
    return Target(None, wanted, spec[UNMATCHED])


def _documented(responses: Mapping[str, Any], status: int) -> Any:
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return responses[key]
    return None


def _validate(schema: Mapping[str, Any], value: Any, what: str) -> None:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                          for e in errors[:10])
        raise AssertionError(f"{what} does not match its schema:\n{lines}\nvalue: {value!r}")


def _is_json(media_type: str) -> bool:
    essence = media_type.split(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


@dataclass(frozen=True)
class Checked:
    """What the response was checked against."""

    target: Target
    status: int
    media_type: str | None
    body: Any  # parsed JSON, the text, or None when there is no body


def check_response(stem: str, response: Any, method: str | None = None,
                   path: str | None = None, profile: str | None = None) -> Checked:
    """Assert that `response` (httpx / TestClient) is what spec/<stem>.yaml documents.

    `method` and `path` default to the response's request; `profile` leaves out the operations
    whose `x-profiles` do not name it (None: every operation is served).
    """
    spec = load_spec(stem)
    method = (method or response.request.method).upper()
    path = urlsplit(path if path is not None else str(response.request.url)).path or "/"
    target = find_operation(spec, method, path, profile)
    where = f"{stem}: {method} {path} -> {target.name}"
    responses = target.operation.get("responses") or {}
    documented = _documented(responses, response.status_code)
    if documented is None:
        raise AssertionError(f"{where}: status {response.status_code} is not documented "
                             f"(documented: {', '.join(sorted(responses)) or 'none'}); "
                             f"body {response.content[:200]!r}")
    documented = resolve(spec, documented)
    where += f" {response.status_code}"
    _check_headers(documented.get("headers") or {}, response.headers, where)

    content = documented.get("content") or {}
    actual_type = response.headers.get("content-type")
    if documented.get(NO_CONTENT_TYPE) and content:
        # a body sent without a Content-Type header (node's res.write with no type set)
        if actual_type is not None:
            raise AssertionError(f"{where}: documented without a Content-Type, got {actual_type!r}")
        actual_type = next(iter(content))
        if method == "HEAD":
            return Checked(target, response.status_code, None, None)
        text = response.content.decode("utf-8", errors="replace")
        schema = content[actual_type].get("schema")
        if schema is not None:
            _validate(schema, text, f"{where} body (no Content-Type)")
        return Checked(target, response.status_code, None, text)
    if not content:
        if actual_type is not None or response.content:
            raise AssertionError(f"{where}: documented without a body, got Content-Type "
                                 f"{actual_type!r} and body {response.content[:200]!r}")
        return Checked(target, response.status_code, None, None)
    if actual_type not in content:
        raise AssertionError(f"{where}: Content-Type {actual_type!r} is not documented "
                             f"(documented: {', '.join(map(repr, content))})")
    schema = content[actual_type].get("schema")
    if content[actual_type].get(VERBATIM):
        return Checked(target, response.status_code, actual_type, response.content)
    if method == "HEAD":
        if response.content:
            raise AssertionError(f"{where}: a HEAD answer carries a body {response.content[:200]!r}")
        return Checked(target, response.status_code, actual_type, None)
    body: Any
    if _is_json(actual_type):
        try:
            body = json.loads(response.content)
        except ValueError as err:
            raise AssertionError(f"{where}: body is not JSON ({err}): {response.content[:200]!r}") from err
    else:
        try:
            body = response.content.decode("utf-8")
        except UnicodeDecodeError as err:
            raise AssertionError(f"{where}: text body is not UTF-8: {response.content[:200]!r}") from err
    if schema is not None:
        _validate(schema, body, f"{where} {actual_type} body")
    return Checked(target, response.status_code, actual_type, body)


def _check_headers(documented: Mapping[str, Any], actual: Any, where: str) -> None:
    for name, header in documented.items():
        if name.lower() == "content-type":  # OpenAPI ignores it; the media type is checked instead
            continue
        value = actual.get(name)
        if value is None:
            if header.get("required"):
                raise AssertionError(f"{where}: required header {name} is missing")
            continue
        if "schema" in header:
            _validate(header["schema"], value, f"{where} header {name}")
