"""tests/openapi.py itself: it accepts what the documents say and refuses everything else."""

from __future__ import annotations

import httpx
import pytest

from tests.openapi import check_response, find_operation, load_spec


def answer(method: str, url: str, status: int, body: bytes = b"", content_type: str | None = None,
           **headers: str) -> httpx.Response:
    """A response as httpx would hand it to a test."""
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.Response(status, headers=headers, content=body,
                          request=httpx.Request(method, f"http://testserver{url}"))


ETAG_OK = 'W/"2-nOO9QiTIwXgNtWtBJezz8kv3SLc"'


def test_a_documented_answer_passes() -> None:
    checked = check_response("balena_v1", answer("GET", "/ping", 200, b"OK", "text/html; charset=utf-8",
                                                  ETag=ETAG_OK))
    assert (checked.target.template, checked.body) == ("/ping", "OK")


@pytest.mark.parametrize("response, message", [
    (answer("GET", "/ping", 418, b"OK", "text/html; charset=utf-8", ETag=ETAG_OK), "status 418 is not documented"),
    (answer("GET", "/ping", 200, b"OK", "text/plain; charset=utf-8", ETag=ETAG_OK), "Content-Type"),
    (answer("GET", "/ping", 200, b"OK", "text/html", ETag=ETAG_OK), "Content-Type"),
    (answer("GET", "/ping", 200, b"ok", "text/html; charset=utf-8", ETag=ETAG_OK), "does not match"),
    (answer("GET", "/ping", 200, b"OK", "text/html; charset=utf-8"), "required header ETag"),
    (answer("GET", "/ping", 200, b"OK", "text/html; charset=utf-8", ETag='"strong"'), "header ETag"),
    (answer("GET", "/ping", 304, b"x", ETag=ETAG_OK), "without a body"),
    (answer("HEAD", "/ping", 200, b"OK", "text/html; charset=utf-8", ETag=ETAG_OK), "HEAD answer carries a body"),
    (answer("GET", "/supervisor/ping", 200, b'{"result": "ok", "data": {"x": 1}}',
            "application/json; charset=utf-8"), "does not match"),
    (answer("GET", "/supervisor/ping", 200, b'{"result": "ok"', "application/json; charset=utf-8"), "not JSON"),
    (answer("POST", "/supervisor/ping", 405, b"405: Method Not Allowed", "text/plain; charset=utf-8"),
     "required header Allow"),
    (answer("GET", "/gosd/api/v2/ok", 200, b'{"ok":"yesterday"}', "application/json"), "required header"),
])
def test_mismatches_raise_assertion_errors(response: httpx.Response, message: str) -> None:
    stem = {"/supervisor/ping": "hassio", "/gosd/api/v2/ok": "gosd"}.get(response.request.url.path, "balena_v1")
    with pytest.raises(AssertionError, match=message):
        check_response(stem, response)


def test_path_templates_case_and_slash_rules() -> None:
    balena = load_spec("balena_v1")
    assert find_operation(balena, "POST", "/v1/apps/12/stop").template == "/v1/apps/{appId}/stop"
    assert find_operation(balena, "GET", "/V1/Apps/12/").template == "/v1/apps/{appId}"
    assert find_operation(balena, "HEAD", "/v1/device").method == "get"
    assert find_operation(balena, "POST", "/ping").template is None  # another method: unmatched
    assert find_operation(balena, "POST", "/v1/tcp-ping", "legacy").template == "/v1/tcp-ping"
    assert find_operation(balena, "POST", "/v1/tcp-ping", "v10").template is None
    gosd = load_spec("gosd")
    assert find_operation(gosd, "GET", "/gosd/api/v2/ok/").template is None  # gorilla: exact
    assert find_operation(gosd, "HEAD", "/gosd/api/v2/ok").template is None  # no HEAD for GET


def test_unmatched_requests_use_the_dialects_not_found_answers() -> None:
    check_response("platform", answer("GET", "/platform/api/x", 404, b"404 page not found", "text/plain"))
    with pytest.raises(AssertionError, match="does not match"):
        check_response("platform", answer("GET", "/platform/api/x", 404, b"404 page not found\n", "text/plain"))
    with pytest.raises(AssertionError, match="status 404 is not documented"):  # gosd: mux's empty 405
        check_response("gosd", answer("GET", "/gosd/x", 404, b"404 page not found\n", "text/plain; charset=utf-8"))
    with pytest.raises(AssertionError, match="status 401 is not documented"):
        check_response("platform", answer("GET", "/platform/api/x", 401, b"{}", "application/json; charset=utf-8"))
