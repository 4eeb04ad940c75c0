"""Abuse from the specs: hostile ids (`../`, `%2e%2e`, NUL, non-ASCII digits, a 5,000-digit number)
in every path and body parameter the documents declare, bodies over the size limit and nested past
any recursion limit, thousands of headers, and slow clients holding connections. Every answer is
one the dialect's spec declares (its own envelope), and the agent answers `/ping` throughout."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

from fuzz.conftest import Dialects
from fuzz.test_spec_fuzz import EXCLUDED, STEMS
from tests.openapi import METHODS, check_response, load_spec, resolve

FILLER = "999999999"
# (name, raw path segment, JSON value): encoded and raw forms of the hostile ids
HOSTILE = [
    ("dotdot", "..", ".."), ("dotdot-encoded", "%2e%2e", "%2e%2e"), ("dotdot-slash-json", "..", "../../etc"),
    ("nul", "1%00", "1\x00"), ("arabic-digits", quote("١٢٣"), "١٢٣"), ("fullwidth-digits", quote("１２"), "１２"),
    ("5000-digits", "9" * 5000, "9" * 5000), ("negative", "-1", "-1"), ("space", "1%20", "1 "),
]
BIG_NUMBERS = ("9" * 5000, "-" + "9" * 5000, "1e999999")  # raw JSON numbers past any integer or float
STREAMS = {("GET", "/platform/api/events"), ("GET", "/platform/api/term/ws"), ("GET", "/v2/local/logs")}


def targets(with_params: str) -> Iterator[Any]:
    """(stem, METHOD, template, operation) with path ('path') or JSON body ('body') parameters."""
    for stem in STEMS:
        spec = load_spec(stem)
        for template, item in spec["paths"].items():
            for method, operation in item.items():
                key = (stem, method.upper(), template)
                if method not in METHODS or key in EXCLUDED or (method.upper(), template) in STREAMS:
                    continue
                if "v10" not in operation.get("x-profiles", ["v10"]):
                    continue
                if with_params == "path" and "{" in template:
                    yield pytest.param(stem, method.upper(), template, operation, id=" ".join(key))
                if with_params == "body" and body_properties(spec, operation):
                    yield pytest.param(stem, method.upper(), template, operation, id=" ".join(key))


def body_properties(spec: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    """Names of the JSON body's top-level properties the operation declares."""
    body = resolve(spec, operation.get("requestBody") or {})
    schema = resolve(spec, (body.get("content") or {}).get("application/json", {}).get("schema") or {})
    return sorted(schema.get("properties") or {})


def request(dialects: Dialects, stem: str, method: str, path: str, template: str, routed: str | None = None,
            **kwargs: Any) -> httpx.Response:
    """A request with the dialect's credentials, checked against the spec as the path the dialect
    routes on (`routed`; by default the path as sent)."""
    with httpx.Client(base_url=dialects.base_url(stem), timeout=60) as client:
        headers = {**kwargs.pop("headers", {}), **dialects.credentials(stem)}
        response = client.request(method, path, headers=headers, **kwargs)
    check_response(stem, response, method=method, path=routed or urlsplit(str(response.request.url)).path)
    return response


def leaves_prefix(path: str, template: str) -> bool:
    """True when the client's dot-segment removal takes the path out of the route's first segment
    (`/discovery/..` is sent as `/`): another dialect's path, not this route's input."""
    return httpx.URL("http://agent" + path).path.split("/")[1] != template.split("/")[1]


@pytest.mark.parametrize(("stem", "method", "template", "operation"), targets("path"))
def test_hostile_ids_in_path_parameters(dialects: Dialects, stem: str, method: str, template: str,
                                        operation: Any) -> None:
    names = [part for part in template.split("/") if part.startswith("{")]
    for name in names:
        for _kind, raw, _value in HOSTILE:
            path = "/".join(raw if part == name else FILLER if part.startswith("{") else part
                            for part in template.split("/"))
            if leaves_prefix(path, template):
                continue
            request(dialects, stem, method, path, template)
    assert dialects.ping(), f"{method} {template}: the agent stopped answering"


# express matched routes on the undecoded path (`/v1/apps/..%2Fetc/stop` reached :appId/stop,
# decode_param made it "../etc"); gin and gorilla route on Go's decoded URL.Path.
@pytest.mark.parametrize(("stem", "method", "template", "operation"), targets("path"))
def test_encoded_slashes_in_path_parameters(dialects: Dialects, stem: str, method: str, template: str,
                                            operation: Any) -> None:
    for name in [part for part in template.split("/") if part.startswith("{")]:
        path = "/".join("..%2F..%2Fetc" if part == name else FILLER if part.startswith("{") else part
                        for part in template.split("/"))
        routed = path if stem.startswith("balena") else unquote(path)
        request(dialects, stem, method, path, template, routed=routed)
    assert dialects.ping(), f"{method} {template}: the agent stopped answering"


@pytest.mark.parametrize(("stem", "method", "template", "operation"), targets("body"))
def test_hostile_values_in_body_parameters(dialects: Dialects, stem: str, method: str, template: str,
                                           operation: Any) -> None:
    path = "/".join(FILLER if part.startswith("{") else part for part in template.split("/"))
    for name in body_properties(load_spec(stem), operation):
        bodies = [json.dumps({name: value}, ensure_ascii=False) for _kind, _raw, value in HOSTILE]
        bodies += [f'{{{json.dumps(name)}:{number}}}' for number in BIG_NUMBERS]
        for body in bodies:
            request(dialects, stem, method, path, template, content=body.encode(),
                    headers={"Content-Type": "application/json"})
    assert dialects.ping(), f"{method} {template}: the agent stopped answering"


JSON_ROUTES = [("balena_v1", "PATCH", "/v1/device/host-config"), ("balena_v2", "POST", "/v2/local/target-state"),
               ("platform", "PUT", "/auth/user/admin/password"), ("platform", "PUT", "/platform/api/perif/brightness"),
               ("gosuper", "POST", "/v1/restart-service")]


@pytest.mark.parametrize(("stem", "method", "path"), JSON_ROUTES)
def test_oversized_and_deeply_nested_bodies(dialects: Dialects, stem: str, method: str, path: str) -> None:
    headers = {"Content-Type": "application/json"}
    big = b'{"name":"' + b"a" * (11 * 1024 * 1024) + b'"}'  # past express's 10mb
    deep = b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"  # past Go's 10,000 and any recursion
    for body in (big, deep):
        with httpx.Client(base_url=dialects.base_url(stem), timeout=120) as client:
            response = client.request(method, path, content=body, headers={**headers, **dialects.credentials(stem)})
        check_response(stem, response, method=method, path=path)
        assert response.status_code < 500, (path, response.status_code, response.content[:200])
        assert dialects.ping()
    if stem.startswith("balena"):
        with httpx.Client(base_url=dialects.base_url(stem), timeout=120) as client:
            response = client.request(method, path, content=big, headers={**headers, **dialects.credentials(stem)})
        assert response.status_code == 413, response.content[:200]  # express's PayloadTooLargeError


def raw_exchange(url: str, data: bytes, timeout: float = 30) -> bytes:
    """Send bytes on a fresh TCP connection; whatever comes back until the server closes or stops."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may close before reading it all
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except OSError:
            pass
    return b"".join(chunks)


@pytest.mark.parametrize("count", [1000, 10_000])
def test_thousands_of_headers(dialects: Dialects, count: int) -> None:
    lines = "".join(f"X-Header-{i}: {i}\r\n" for i in range(count))
    raw = f"GET /ping HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer testkey_0123456789\r\n{lines}\r\n"
    answer = raw_exchange(dialects.url, raw.encode())
    status = answer.split(b"\r\n", 1)[0]
    # what the server cannot take it refuses as a client error or by closing; never a 5xx
    assert not status or status.split(b" ")[1].startswith((b"2", b"4")), status
    assert dialects.ping()


def test_slow_clients_do_not_starve_ping(dialects: Dialects) -> None:
    """100 connections trickling a request's headers a byte at a time (slowloris) for 6 s."""
    parts = urlsplit(dialects.url)
    slow = []
    for _ in range(100):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n")
        slow.append(sock)
    worst = 0.0
    deadline = time.monotonic() + 6
    try:
        while time.monotonic() < deadline:
            for sock in slow:
                try:
                    sock.sendall(b"X")
                except OSError:
                    pass  # the server gave up on it: also fine
            started = time.monotonic()
            assert dialects.ping(), "the agent did not answer /ping while slow clients held connections"
            worst = max(worst, time.monotonic() - started)
            time.sleep(0.3)
    finally:
        for sock in slow:
            sock.close()
    assert worst < 2.0, f"/ping took {worst:.2f} s under slowloris"
