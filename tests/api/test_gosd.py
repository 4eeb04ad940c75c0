"""gosd (sb-im/gosd v2.2.0) API in process (gosd-platform.md A.2-A.4): gorilla/mux and miniflux.

Every response is checked against spec/gosd.yaml by Agent.request.
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest

from tests.api.support import Agent, Agents, header_items

STEM = "gosd"
# Go's time.Now().String(): "2006-01-02 15:04:05.999999999 -0700 MST m=+0.000000001"
GO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(\.\d{0,8}[1-9])? ([+-]\d{4}) ([A-Za-z0-9+-]+) "
                     r"m=\+(\d+\.\d{9})$")
OK_BODY = re.compile(rb'^\{"ok":"([^"]+)"\}$')
MINIFLUX = {
    "x-xss-protection": "1; mode=block",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'self'; img-src *; media-src *; frame-src *",
}
SUBROUTER_CORS = {"access-control-allow-origin": "*", "access-control-expose-headers": "*"}
PREFLIGHT = {
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "Authorization,Content-Type",
    "access-control-allow-methods": "PUT,POST,PATCH,DELETE",
}


def go_time_of(response: httpx.Response) -> re.Match[str]:
    """The parsed time string of a /gosd/api/v2/ok answer."""
    body = OK_BODY.match(response.content)
    assert body, response.content
    stamp = GO_TIME.match(body.group(1).decode())
    assert stamp, body.group(1)
    return stamp


def assert_empty(response: httpx.Response, status: int) -> None:
    """An answer with no body and no content type."""
    assert (response.status_code, response.content) == (status, b"")
    assert "content-type" not in response.headers


def test_ok_body_is_go_time_now_string(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    stamp = go_time_of(response)
    local = datetime.strptime(f"{stamp.group(1)} {stamp.group(3)}", "%Y-%m-%d %H:%M:%S %z")
    assert abs((datetime.now().astimezone() - local).total_seconds()) < 60
    assert stamp.group(3) == datetime.now().astimezone().strftime("%z")


def test_ok_headers(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok")
    headers = dict(header_items(response))
    for name, value in {**MINIFLUX, **SUBROUTER_CORS}.items():
        assert headers[name] == value, name


def test_ok_monotonic_reading_grows(api: Agent) -> None:
    first = float(go_time_of(api.request(STEM, "GET", "/gosd/api/v2/ok")).group(5))
    second = float(go_time_of(api.request(STEM, "GET", "/gosd/api/v2/ok")).group(5))
    assert second >= first


def test_ok_needs_no_token_and_ignores_a_bad_one(api: Agent) -> None:
    response = api.request(STEM, "GET", "/gosd/api/v2/ok", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 200
    go_time_of(response)


@pytest.mark.parametrize("path", ["/gosd/nope", "/gosd/api/v2/ok/", "/gosd/api/v2/OK", "/gosd/api/v2/plans",
                                  "/gosd/api/v1/nodes", "/gosd/api/v2/ok%0A"])
def test_unknown_path_is_the_empty_405_never_401(api: Agent, path: str) -> None:
    """gosd's catch-all `router.Methods(OPTIONS)` route makes every other unmatched request a
    method mismatch for gorilla/mux: 405, empty (never its 404 page)."""
    response = api.request(STEM, "GET", path)
    assert_empty(response, 405)
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("path", "location"), [("/gosd//api/v2/ok", "/gosd/api/v2/ok"),
                                                ("/gosd/api/v2//ok?x=1", "/gosd/api/v2/ok?x=1"),
                                                ("/gosd/api//v2/ok/", "/gosd/api/v2/ok/")])
def test_unclean_paths_are_redirected(api: Agent, path: str, location: str) -> None:
    """mux cleans the path first: 301 to the clean one, query kept, empty body."""
    response = api.request(STEM, "GET", path)
    assert_empty(response, 301)
    assert response.headers["location"] == location


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "HEAD"])
def test_wrong_method_is_an_empty_405(api: Agent, method: str) -> None:
    response = api.request(STEM, method, "/gosd/api/v2/ok")
    assert_empty(response, 405)
    assert "access-control-allow-origin" not in response.headers
    assert "x-frame-options" not in response.headers


def test_options_of_the_token_route_is_its_own(api: Agent) -> None:
    """authHandler answers its preflight itself: two headers, no Allow-Methods."""
    response = api.request(STEM, "OPTIONS", "/gosd/oauth/token")
    assert_empty(response, 200)
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == "content-type,Authorization"
    assert "access-control-allow-methods" not in response.headers


@pytest.mark.parametrize("path", ["/gosd/api/v2/ok", "/gosd/nope"])
def test_options_is_the_preflight_answer(api: Agent, path: str) -> None:
    response = api.request(STEM, "OPTIONS", path)
    assert_empty(response, 200)
    headers = dict(header_items(response))
    for name, value in PREFLIGHT.items():
        assert headers[name] == value, name


def test_alone_gosd_answers_every_path(agents: Agents) -> None:
    gosd = agents.start("--dialects", "gosd")
    for path in ("/anything", "/v1/device", "/"):
        response = gosd.request(STEM, "OPTIONS", path)
        assert_empty(response, 200)
        assert response.headers["access-control-allow-methods"] == "PUT,POST,PATCH,DELETE"
        assert_empty(gosd.request(STEM, "GET", path), 405)
