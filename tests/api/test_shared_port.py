"""Several dialects on one port: each path goes to the dialect owning it, which answers in its
own way (auth, envelope, not-found page); paths nobody owns go to the first dialect listed.

Every response is checked against the spec of the dialect expected to answer.
"""

from __future__ import annotations

import pytest

from tests.api.support import Agent, Agents

# (path, dialect that answers, status, body, content type) with all four dialects, no credentials
ALL_FOUR = [
    ("/gosd/nope", "gosd", 405, b"", None),  # mux's method mismatch (gosd's catch-all OPTIONS route)
    ("/supervisor/nope", "hassio", 401, b"401: Unauthorized", "text/plain; charset=utf-8"),
    ("/v1/nope", "balena_v1", 401, b"Unauthorized", "text/plain; charset=utf-8"),
    ("/v2/nope", "balena_v1", 401, b"Unauthorized", "text/plain; charset=utf-8"),
    ("/platform/api/nope", "platform", 404, b"404 page not found", "text/plain"),
    ("/edgehub/api/nope", "platform", 404, b"404 page not found", "text/plain"),
    ("/auth/nope", "platform", 404, b"404 page not found", "text/plain"),
    ("/auth", "hassio", 401, b"401: Unauthorized", "text/plain; charset=utf-8"),  # hassio's exact /auth
    ("/addons", "hassio", 401, b"401: Unauthorized", "text/plain; charset=utf-8"),
    ("/nobody/owns/this", "balena_v1", 401, b"Unauthorized", "text/plain; charset=utf-8"),  # the first
    ("/", "balena_v1", 401, b"Unauthorized", "text/plain; charset=utf-8"),
    ("/ping", "balena_v1", 200, b"OK", "text/html; charset=utf-8"),
    ("/supervisor/ping", "hassio", 200, b'{"result": "ok", "data": {}}', "application/json; charset=utf-8"),
    ("/auth/ping", "platform", 200, b"pong", "text/plain; charset=utf-8"),
    ("/api/irtm/ping", "platform", 200, b"pong", "text/plain; charset=utf-8"),
]


@pytest.mark.parametrize("path, stem, status, body, content_type", ALL_FOUR)
def test_each_dialect_keeps_its_own_answers(api: Agent, path: str, stem: str, status: int, body: bytes,
                                            content_type: str | None) -> None:
    response = api.request(stem, "GET", path)
    assert (response.status_code, response.content) == (status, body)
    assert response.headers.get("content-type") == content_type


def test_gosd_ok_on_the_shared_port(api: Agent) -> None:
    response = api.request("gosd", "GET", "/gosd/api/v2/ok")
    assert response.status_code == 200 and response.content.startswith(b'{"ok":"')


def test_options_outside_gosd_is_not_a_preflight(api: Agent) -> None:
    assert api.request("gosd", "OPTIONS", "/gosd/x").status_code == 200
    response = api.request("balena_v1", "OPTIONS", "/v1/device")
    assert (response.status_code, response.content) == (401, b"Unauthorized")


@pytest.mark.parametrize("path", ["/v1/device", "/supervisor/ping", "/auth/ping", "/ping"])
def test_gosd_alone_answers_everything_with_its_405(agents: Agents, path: str) -> None:
    gosd = agents.start("--dialects", "gosd")
    response = gosd.request("gosd", "GET", path)
    assert (response.status_code, response.content) == (405, b"")
    assert "content-type" not in response.headers


def test_the_first_listed_dialect_gets_unowned_paths(agents: Agents) -> None:
    pair = agents.start("--dialects", "platform,gosd")
    response = pair.request("platform", "GET", "/v1/device")
    assert (response.status_code, response.content) == (404, b"404 page not found")
    response = pair.request("gosd", "GET", "/gosd/nope")
    assert (response.status_code, response.content) == (405, b"")
    other = agents.start("--dialects", "hassio,balena")
    response = other.request("hassio", "GET", "/nobody")
    assert (response.status_code, response.content) == (401, b"401: Unauthorized")
    response = other.request("balena_v1", "GET", "/v1/nope")
    assert (response.status_code, response.content) == (401, b"Unauthorized")
