"""Express conventions: ETags, coercion, body parsing, error pages."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request

from compat.balena import express


def request_with(body: bytes, content_type: str | None) -> Request:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""},
                   receive)


def parse(body: bytes, content_type: str | None = "application/json") -> object:
    return asyncio.run(express.parse_body(request_with(body, content_type)))


def test_etag_matches_express() -> None:
    # values computed by express 4's etag() for these bodies
    assert express.etag(b"OK") == 'W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"'
    assert express.etag(b"") == 'W/"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"'


@pytest.mark.parametrize("value,expected", [("12abc", 12), ("abc", None), (1.7, 1), (0, 0), ("0", 0),
                                            (" 7", 7), ("-3", -3), (None, None), (True, None), ("", None),
                                            (1e21, 1), (float("inf"), None), ("١", None), ("１２", None),
                                            ([[[7]]], 7), ({"a": 1}, None), ("1" * 5000, float("inf"))])
def test_check_int(value: object, expected: int | None) -> None:
    assert express.check_int(value) == expected


@pytest.mark.parametrize("value,expected", [(True, True), (1, True), ("1", True), ("TRUE", True), ("On", True),
                                            (False, False), (0, False), ("0", False), ("off", False),
                                            ("yes", None), (2, None), (None, None)])
def test_check_truthy(value: object, expected: bool | None) -> None:
    assert express.check_truthy(value) == expected


def test_bodies() -> None:
    assert parse(b'{"appId": 2, "force": true}') == {"appId": 2, "force": True}
    assert parse(b"") == {}
    assert parse(b"[1]") == {}
    assert parse(b"appId=2&force=1", "application/x-www-form-urlencoded") == {"appId": "2", "force": "1"}
    assert parse(b"a[b]=1&c[]=x&c[]=y&d=1&d=2", "application/x-www-form-urlencoded") == {
        "a": {"b": "1"}, "c": ["x", "y"], "d": ["1", "2"]}
    assert parse(b'{"appId": 2}', "text/plain") == {}
    assert parse(b'{"appId": 2}', None) == {}


@pytest.mark.parametrize("body,message", [
    (b"{bad", "SyntaxError: Unexpected token b in JSON at position 1"),
    (b'{"a":', "SyntaxError: Unexpected end of JSON input"),
    (b"  nope", "SyntaxError: Unexpected token n in JSON at position 2"),
])
def test_malformed_json_is_bodyparser_400(body: bytes, message: str) -> None:
    with pytest.raises(express.ParseError) as info:
        parse(body)
    assert info.value.status == 400 and info.value.message == message
    page = info.value.response()  # 2019: express's env was "production" (webpack): the status text
    assert page.status_code == 400
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<pre>Bad Request</pre>" in page.body
    era = express.ERA.set("2016")  # node 0.10 in development: the stack's first line, in its words
    try:
        legacy = info.value.response().body
    finally:
        express.ERA.reset(era)
    assert legacy == (message.replace("Unexpected end of JSON input", "Unexpected end of input")
                      .split(" in JSON at")[0] + "\n").encode()


def test_oversized_body_is_413() -> None:
    big = json.dumps({"a": "x" * (express.BODY_LIMIT + 1)}).encode()
    with pytest.raises(express.ParseError) as info:
        parse(big)
    assert info.value.status == 413


def test_error_page_escapes() -> None:
    page = express.cannot("GET", "/<script>'x")
    assert b"<pre>Cannot GET /%3Cscript%3E&#39;x</pre>" in page.body  # encodeurl, then escape-html
    assert page.headers["content-security-policy"] == "default-src 'self'"


@pytest.mark.parametrize(("era", "tag"), [("2019", 'W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"'), ("2016", 'W/"2-4KoCHiHd29bYzs7HHpz1ZA"')])
def test_etag_of_each_era(era: str, tag: str) -> None:
    """etag 1.8 (2017) hashes with SHA-1 (27 base64 characters); 1.7 used MD5 without padding."""
    token = express.ERA.set(era)
    try:
        assert express.etag(b"OK") == tag
    finally:
        express.ERA.reset(token)
