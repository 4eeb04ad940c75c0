"""Input the balena supervisor's parsers survived, in both profiles: integers past Python's
4300-digit limit, bodies nested deeper than the recursion limit, digits that are not ASCII,
urlencoded keys qs merged oddly. Each gets the answer node gave (JSON.parse, parseInt,
body-parser, the route's own text), and nothing reaches the log as a traceback.

Routes that need the engine to tell an unknown app are in tests/integration/test_bad_input.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from compat.balena.common import APP_NOT_FOUND
from tests.api.support import API_KEY, Agent, Agents, express_etag

KEY = {"Authorization": f"ApiKey {API_KEY}"}
JSON = {**KEY, "Content-Type": "application/json"}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}
BIG = "1" * 5000
DEEP = "[" * 5000 + "]" * 5000
TEXT = "text/html; charset=utf-8"
FOREIGN = ("١", "１", "²")  # Arabic-Indic one, fullwidth one, superscript two: str.isdigit() takes all three


@pytest.fixture(params=["v10", "legacy"])
def agent(request: pytest.FixtureRequest, agents: Agents, caplog: pytest.LogCaptureFixture) -> Iterator[Agent]:
    """An agent of each profile; after the test, its log must hold no traceback."""
    yield agents.start("--balena-profile", request.param)
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text


def legacy(agent: Agent) -> bool:
    return agent.profile == "legacy"


def assert_text(response: httpx.Response, status: int, body: str, agent: Agent) -> None:
    """res.status(n).send(text), with the profile's ETag."""
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["content-type"] == TEXT
    assert response.headers["etag"] == express_etag(body.encode(), md5=legacy(agent))


def assert_parse_error(response: httpx.Response, agent: Agent, first_line: str) -> None:
    """body-parser's 400 through finalhandler: the status text in 2019 (production), the
    error's first line in 2016."""
    assert response.status_code == 400
    if legacy(agent):
        assert response.content == f"{first_line}\n".encode()
    else:
        assert b"<pre>Bad Request</pre>" in response.content


def post(agent: Agent, path: str, stem: str = "balena_v1", **kwargs: Any) -> httpx.Response:
    return agent.request(stem, "POST", path, **kwargs)


def missing(agent: Agent, v10_text: str = "Missing app id") -> tuple[int, str]:
    """What a given appId that is no number answers: 2016 looked it up (400 `App not found`)."""
    return (400, "App not found") if legacy(agent) else (400, v10_text)


def test_a_5000_digit_number_is_infinity_not_an_id(agent: Agent) -> None:
    # JSON.parse gives Infinity; checkInt: parseInt(String(Infinity)) is NaN, so no app id
    response = post(agent, "/v1/restart", content=f'{{"appId":{BIG}}}'.encode(), headers=JSON)
    assert_text(response, *missing(agent), agent)
    response = post(agent, "/v1/purge", content=f'{{"appId":-{BIG},"force":true}}'.encode(), headers=JSON)
    assert_text(response, *missing(agent, "Invalid or missing appId"), agent)
    response = post(agent, "/v1/restart", content=b'{"appId":1e400}', headers=JSON)
    assert_text(response, *missing(agent), agent)


@pytest.mark.parametrize("digit", FOREIGN)
def test_digits_that_are_not_ascii_are_no_app_id(agent: Agent, digit: str) -> None:
    """parseInt reads 0-9 only: {"appId":"١"} is NaN, not app 1."""
    for path in ("/v1/restart", "/v1/purge"):
        response = post(agent, path, json={"appId": digit}, headers=KEY)
        assert_text(response, *missing(agent, "Missing app id" if path == "/v1/restart" else
                                       "Invalid or missing appId"), agent)
        response = post(agent, path, content=f"appId={digit}".encode(), headers=FORM)
        assert response.status_code == 400
    for method, path in (("POST", f"/v1/apps/{digit}/stop"), ("POST", f"/v1/apps/{digit}/start"),
                         ("GET", f"/v1/apps/{digit}")):
        assert_text(agent.request("balena_v1", method, path, headers=KEY), *missing(agent), agent)


def test_a_body_nested_past_the_stack_is_body_parsers_400(agent: Agent) -> None:
    """V8's JSON.parse recursed and threw a RangeError; body-parser answered it with 400."""
    for path in ("/v1/restart", "/v1/update", "/v1/device/host-config"):
        method = "PATCH" if path.endswith("host-config") else "POST"
        response = agent.request("balena_v1", method, path, content=f'{{"appId":{DEEP}}}'.encode(), headers=JSON)
        assert_parse_error(response, agent, "RangeError: Maximum call stack size exceeded")
    response = post(agent, "/v2/local/target-state", "balena_v2", content=DEEP.encode(), headers=JSON)
    assert_parse_error(response, agent, "RangeError: Maximum call stack size exceeded")


def test_nesting_the_stack_holds_is_a_body(agent: Agent) -> None:
    # String([[[...[7]...]]]) is "7": checkInt finds app 7, which 2016 looked up and v10 restarts
    # (no engine here: its 503); never a RecursionError
    body = '{"appId":' + "[" * 300 + "7" + "]" * 300 + "}"
    response = post(agent, "/v1/restart", content=body.encode(), headers=JSON)
    assert response.status_code == 503 and response.text.startswith("Docker engine unavailable")


def test_nan_and_infinity_are_no_json(agent: Agent) -> None:
    response = post(agent, "/v1/restart", content=b'{"appId":NaN}', headers=JSON)
    assert_parse_error(response, agent, "SyntaxError: Unexpected token N")
    response = post(agent, "/v1/restart", content=b'{"appId":-Infinity}', headers=JSON)
    assert_parse_error(response, agent, "SyntaxError: Unexpected token I")


@pytest.mark.parametrize("body", [b"appId=1&appId[x]=2&force=1", b"appId[x]=2&appId=1", b"a[b]=1&a[b][c]=2&appId=x",
                                  b"appId=" + BIG.encode(), b"a" + b"[b]" * 20000 + b"=1&appId=%D9%A1"])
def test_urlencoded_bodies_qs_merged(agent: Agent, body: bytes) -> None:
    """qs turns keys that disagree into arrays or objects; none of them is an app id here, and
    the 5000-digit string is Infinity to parseInt (v10 looks it up: no engine here, 503)."""
    response = post(agent, "/v1/restart", content=body, headers=FORM)
    if body.startswith(b"appId=1"):
        assert response.status_code == 503  # ["1", {"x": "2"}] is "1,[object Object]": app 1
    elif body.startswith(b"appId=" + b"1" * 10) and not legacy(agent):
        assert response.status_code == 503 and response.text.startswith("Docker engine unavailable")
    elif body.startswith(b"appId[x]"):  # {"x": "2", "1": true}: "[object Object]", no number
        assert_text(response, *missing(agent), agent)
    else:
        assert response.status_code in (400, 503) and "Traceback" not in response.text


def test_v2_path_ids_past_the_limit_name_no_app(agent: Agent) -> None:
    """The v2 routes looked the path's string up: 5000 digits or "١" name no app."""
    for app_id in (BIG, "١", "9" * 17):
        response = post(agent, f"/v2/applications/{app_id}/restart-service", "balena_v2", json={"serviceName": "main"},
                        headers=KEY)
        assert (response.status_code, response.text) == (404, APP_NOT_FOUND)
        response = post(agent, f"/v2/applications/{app_id}/restart", "balena_v2", headers=KEY)
        assert (response.status_code, response.text) == (503, "Cannot read property 'services' of undefined")
        response = post(agent, f"/v2/applications/{app_id}/purge", "balena_v2", headers=KEY)
        assert (response.status_code, response.text) == (503, APP_NOT_FOUND)


def test_spawn_tty_looked_any_app_id_up(agents: Agents, caplog: pytest.LogCaptureFixture) -> None:
    """2016's spawn-tty/despawn-tty selected the app row for any given value: not a number -> 503."""
    agent = agents.start("--balena-profile", "legacy")
    for path in ("/v1/spawn-tty", "/v1/despawn-tty"):
        for value in ("١", "x" + BIG, "abc"):
            response = post(agent, path, json={"appId": value}, headers=KEY)
            assert_text(response, 503, "App not found", agent)
        assert_text(post(agent, path, json={}, headers=KEY), 400, "Missing app id", agent)
    assert "Traceback" not in caplog.text


def test_ping_needs_the_key_in_the_legacy_profile(agents: Agents) -> None:
    """2016 checked the key before every route, /ping included; v10.3.7 moved /ping before it."""
    old = agents.start("--balena-profile", "legacy")
    response = old.request("balena_v1", "GET", "/ping")
    assert (response.status_code, response.content) == (401, b"Unauthorized")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-powered-by"] == "Express"
    for given in ({"headers": KEY}, {"params": {"apikey": API_KEY}}):
        response = old.request("balena_v1", "GET", "/ping", **given)
        assert (response.status_code, response.content) == (200, b"OK")
        assert response.headers["etag"] == express_etag(b"OK", md5=True)
    new = agents.start()
    assert new.request("balena_v1", "GET", "/ping").status_code == 200


def test_routes_match_the_path_as_sent_and_decode_their_parameters(agent: Agent) -> None:
    """express matched its routes on the still-encoded path, then decodeURIComponent'ed each
    parameter (decode_param): `..%2F..%2Fetc` is one appId and gets the route's own answer, `%31`
    is app 1, and what is no percent-encoded UTF-8 is decode_param's 400 through finalhandler."""
    response = agent.request("balena_v1", "GET", "/v1/apps/..%2F..%2Fetc", headers=KEY)
    assert (response.status_code, response.text) == missing(agent)
    response = post(agent, "/v2/applications/..%2F..%2Fetc/restart", "balena_v2", headers=KEY)
    assert (response.status_code, response.text) == (503, "Cannot read property 'services' of undefined")
    encoded = post(agent, "/v2/applications/%31%32/purge", "balena_v2", headers=KEY)
    plain = post(agent, "/v2/applications/12/purge", "balena_v2", headers=KEY)
    assert (encoded.status_code, encoded.text) == (plain.status_code, plain.text)  # app 12, not "%31%32"
    assert encoded.text != APP_NOT_FOUND
    for bad in ("%zz", "%E0%A4%A", "%FF", "a%"):
        response = agent.request("balena_v1", "GET", f"/v1/apps/{bad}", headers=KEY)
        assert_parse_error(response, agent, f"URIError: Failed to decode param &#39;{bad}&#39;")
    # the key is checked before the router decodes anything
    assert agent.request("balena_v1", "GET", "/v1/apps/%zz").status_code == 401
