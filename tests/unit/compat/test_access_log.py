"""The access log's line (legacy morgan format) and what it keeps out of the log."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from compat.access import line, logged_path, record


def scope(raw_path: bytes, query: bytes = b"", method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": raw_path.decode("latin-1"), "raw_path": raw_path,
            "query_string": query}


def test_the_legacy_morgan_line() -> None:
    # supervisor-api.ts: [method, req.path, status, '-', response-time, 'ms'].join(' ')
    assert line(scope(b"/v1/device"), 200, 0.0123456) == "GET /v1/device 200 - 12.346 ms"
    assert line(scope(b"/ping", method="HEAD"), 0, None) == "HEAD /ping - - - ms"


@pytest.mark.parametrize(("query", "logged"), [
    (b"apikey=s3cret", "apikey=***"),
    (b"stream=1&apikey=s3cret&follow=true", "stream=1&apikey=***&follow=true"),
    (b"token=eyJ.a.b", "token=***"),  # the platform's JWT in ?token=
    (b"ACCESS_TOKEN=x&Key=y&api_key=z", "ACCESS_TOKEN=***&Key=***&api_key=***"),
    (b"api%6Bey=s3cret", "api%6Bey=***"),  # the name %-encoded: decoded before it is compared
    (b"apikey", "apikey"),  # no value, nothing to hide
    (b"appId=12", "appId=12"),
])
def test_credential_query_values_are_masked(query: bytes, logged: str) -> None:
    assert logged_path(scope(b"/v2/applications/state", query)) == f"/v2/applications/state?{logged}"


def test_secret_path_segments_and_unprintable_bytes() -> None:
    assert logged_path(scope(b"/v1/tty/abc123")) == "/v1/tty/***"
    assert logged_path(scope(b"/V1/TTY/abc123/ws")) == "/V1/TTY/***/ws"
    # raw, as received: %-escapes stay escapes, so no request can write a line of its own
    assert logged_path(scope(b"/v1/x%0AGET%20/forged")) == "/v1/x%0AGET%20/forged"
    assert logged_path({"method": "GET", "path": "/a b\n\xe9"}) == "/a%20b%0A%C3%A9"


def test_failures_at_info_the_rest_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="polyvisor.access")
    record(scope(b"/ping"), 200, 0.001)
    record(scope(b"/v1/device", b"apikey=wrong"), 401, 0.002)
    record(scope(b"/v1/apps/1"), 0, None)  # no answer was sent (the handler raised)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "GET /v1/device?apikey=*** 401 - 2.000 ms"),
        (logging.INFO, "GET /v1/apps/1 - - - ms"),
    ]
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="polyvisor.access")
    record(scope(b"/ping"), 200, 0.001)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "GET /ping 200 - 1.000 ms")]


def test_nothing_is_formatted_when_the_level_is_off(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    import compat.access

    caplog.set_level(logging.WARNING, logger="polyvisor.access")
    monkeypatch.setattr(compat.access, "line", lambda *args: pytest.fail("formatted a line nobody logs"))
    record(scope(b"/ping"), 200, 0.001)
    record(scope(b"/v1/device"), 401, 0.001)
    assert caplog.records == []
