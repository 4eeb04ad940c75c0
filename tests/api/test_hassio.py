"""Home Assistant supervisor ("hassio", tag 138) API in process (hassio.md §1-2).

Every response is checked against spec/hassio.yaml by Agent.request.
"""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import API_KEY, MACHINE_ID, Agent, Agents

STEM = "hassio"
KEY = {"X-HASSIO-KEY": API_KEY}
PLAIN = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
OK_BODY = b'{"result": "ok", "data": {}}'


def assert_plain(response: httpx.Response, status: int, body: bytes, head: bool = False) -> None:
    """aiohttp's own error answer: `<status>: <reason>` as text/plain; charset=utf-8."""
    assert response.status_code == status
    assert response.content == (b"" if head else body)
    assert response.headers["content-type"] == PLAIN
    assert response.headers["content-length"] == str(len(body))


def assert_ok(response: httpx.Response) -> None:
    """api_return_ok(): json.dumps defaults, so with spaces, result then data."""
    assert response.status_code == 200
    assert response.content == OK_BODY
    assert response.headers["content-type"] == JSON


@pytest.mark.parametrize("headers", [{}, KEY, {"X-HASSIO-KEY": "wrong"}])
def test_supervisor_ping_is_open(api: Agent, headers: dict[str, str]) -> None:
    assert_ok(api.request(STEM, "GET", "/supervisor/ping", headers=headers))


def test_supervisor_ping_head(api: Agent) -> None:
    response = api.request(STEM, "HEAD", "/supervisor/ping")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-type"] == JSON
    assert response.headers["content-length"] == str(len(OK_BODY))


def test_no_key_is_401(api: Agent) -> None:
    assert_plain(api.request(STEM, "GET", "/supervisor/info"), 401, b"401: Unauthorized")


def test_no_key_on_an_unknown_path_is_401_before_routing(api: Agent) -> None:
    assert_plain(api.request(STEM, "GET", "/supervisor/nope"), 401, b"401: Unauthorized")
    assert_plain(api.request(STEM, "POST", "/addons/x/start"), 401, b"401: Unauthorized")


def test_an_empty_key_is_no_key(api: Agent) -> None:
    assert_plain(api.request(STEM, "GET", "/supervisor/info", headers={"X-HASSIO-KEY": ""}),
                 401, b"401: Unauthorized")


@pytest.mark.parametrize("token", ["wrong", API_KEY + "x", API_KEY.upper(), MACHINE_ID[:-1]])
def test_unknown_token_is_403(api: Agent, token: str) -> None:
    assert_plain(api.request(STEM, "GET", "/supervisor/nope", headers={"X-HASSIO-KEY": token}),
                 403, b"403: Forbidden")


@pytest.mark.parametrize("token", [API_KEY, MACHINE_ID])
def test_good_token_on_an_unknown_path_is_404(api: Agent, token: str) -> None:
    response = api.request(STEM, "GET", "/supervisor/nope", headers={"X-HASSIO-KEY": token})
    assert_plain(response, 404, b"404: Not Found")


def test_the_header_name_is_case_insensitive(api: Agent) -> None:
    response = api.request(STEM, "GET", "/supervisor/nope", headers={"x-hassio-key": MACHINE_ID})
    assert_plain(response, 404, b"404: Not Found")


def test_wrong_method_on_ping_is_405_with_allow(api: Agent) -> None:
    response = api.request(STEM, "POST", "/supervisor/ping")
    assert_plain(response, 405, b"405: Method Not Allowed")
    assert response.headers["allow"] == "GET,HEAD"


@pytest.mark.parametrize("headers", [{}, KEY, {"X-HASSIO-KEY": MACHINE_ID}, {"X-HASSIO-KEY": "wrong"}])
def test_blacklist_is_403_whatever_the_token(api: Agent, headers: dict[str, str]) -> None:
    for method in ("GET", "POST"):
        response = api.request(STEM, method, "/homeassistant/api/hassio/x", headers=headers)
        assert_plain(response, 403, b"403: Forbidden")


def test_paths_are_exact(agents: Agents) -> None:
    """aiohttp does not fold case or trailing slashes: these are other, protected, paths."""
    hassio = agents.start("--dialects", "hassio")
    assert_plain(hassio.request(STEM, "GET", "/supervisor/ping/"), 401, b"401: Unauthorized")
    assert_plain(hassio.request(STEM, "GET", "/Supervisor/ping", headers=KEY), 404, b"404: Not Found")


def test_unknown_path_head_has_no_body(api: Agent) -> None:
    assert_plain(api.request(STEM, "HEAD", "/supervisor/nope"), 401, b"401: Unauthorized", head=True)


def test_a_trailing_newline_is_no_route(api: Agent) -> None:
    """aiohttp matched the whole path; its security regex (`$`) let the newline through first."""
    response = api.request(STEM, "GET", "/supervisor/ping%0A")
    assert (response.status_code, response.content) == (404, b"404: Not Found")
