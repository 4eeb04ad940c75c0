"""The edge platform agents' API in process (gosd-platform.md B.2-B.3): gin conventions.

Every response is checked against spec/platform.yaml by Agent.request.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from handlers import VERSION
from tests.api.support import Agent

STEM = "platform"
PINGS = ("/auth/ping", "/platform/api/ping", "/api/ping", "/api/irtm/ping", "/edgehub/api/ping")
AGENTINFOS = ("/auth/agentinfo", "/platform/api/agentinfo", "/api/agentinfo", "/edgehub/api/agentinfo")


def assert_gin_404(response: httpx.Response, head: bool = False) -> None:
    """gin's default 404: `404 page not found`, text/plain without a charset, no newline."""
    assert response.status_code == 404
    assert response.content == (b"" if head else b"404 page not found")
    assert response.headers["content-type"] == "text/plain"


@pytest.mark.parametrize("path", PINGS)
def test_ping_is_pong(api: Agent, path: str) -> None:
    response = api.request(STEM, "GET", path)
    assert (response.status_code, response.content) == (200, b"pong")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("path", AGENTINFOS)
def test_agentinfo_is_our_version_with_a_v(api: Agent, path: str) -> None:
    response = api.request(STEM, "GET", path)
    assert response.status_code == 200
    assert response.content == b'{"version":"v' + VERSION.encode() + b'"}'
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_auth_version_is_a_json_number(api: Agent) -> None:
    response = api.request(STEM, "GET", "/auth/version")
    assert (response.status_code, response.content) == (200, b'{"version":1.2}')
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("path", ["/platform/api/nope", "/auth/nope", "/api/nope", "/edgehub/api/nope",
                                  "/api/irtm/nope", "/auth/PING", "/platform/api/ping/x"])
def test_unknown_path_is_gin_404(api: Agent, path: str) -> None:
    assert_gin_404(api.request(STEM, "GET", path))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_404_not_405(api: Agent, method: str) -> None:
    assert_gin_404(api.request(STEM, method, "/auth/ping"))


def test_head_is_404_without_a_body(api: Agent) -> None:
    assert_gin_404(api.request(STEM, "HEAD", "/auth/ping"), head=True)


@pytest.mark.parametrize("path", ["/auth/ping", "/platform/api/agentinfo", "/api/irtm/ping", "/auth/version"])
def test_trailing_slash_redirects_with_301(api: Agent, path: str) -> None:
    response = api.request(STEM, "GET", path + "/")
    assert response.status_code == 301
    assert response.headers["location"] == path
    assert response.content == f'<a href="{path}">Moved Permanently</a>.\n\n'.encode()
    assert response.headers["content-type"] == "text/html; charset=utf-8"


# gin's redirectTrailingSlash keeps the query (http.Redirect to req.URL.String()) (gosd-platform.md B.2)
def test_trailing_slash_redirect_keeps_the_query(api: Agent) -> None:
    response = api.request(STEM, "GET", "/auth/ping/?a=1")
    assert response.status_code == 301
    assert response.headers["location"] == "/auth/ping?a=1"
    assert response.content == b'<a href="/auth/ping?a=1">Moved Permanently</a>.\n\n'


# ---- auth-server: logins (gin-jwt), the certificate, the admin password ----

ADMIN_BASIC = {"Authorization": "Basic " + base64.b64encode(b"admin:p@ssw0rd").decode()}
JSON = "application/json; charset=utf-8"


def login(api: Agent) -> str:
    """An admin token (m=2, factory password)."""
    response = api.request(STEM, "GET", "/auth/token?m=2", headers=ADMIN_BASIC)
    assert response.status_code == 200, response.content
    token: str = json.loads(response.content)["token"]
    return token


@pytest.mark.parametrize("method, path, kwargs", [
    ("GET", "/auth/token?m=2", {"headers": ADMIN_BASIC}),
    ("POST", "/auth/login?m=2", {"json": {"username": "admin", "password": "p@ssw0rd"}}),
])
def test_admin_login(api: Agent, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = api.request(STEM, method, path, **kwargs)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert response.content.startswith(b'{"code":200,"expire":"')
    body = json.loads(response.content)
    assert list(body) == ["code", "expire", "token"]
    assert response.headers["set-cookie"] == f"jwt={body['token']}; Path=/; Max-Age=3600; HttpOnly; Secure"


@pytest.mark.parametrize("path, kwargs, body", [
    ("/auth/token", {}, b'{"Code":401,"Message":"missing Username or Password"}'),
    ("/auth/token?m=2", {"headers": {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}},
     b'{"Code":401,"Message":"incorrect Username or Password"}'),
])
def test_refused_logins_are_code_message_401(api: Agent, path: str, kwargs: dict[str, Any], body: bytes) -> None:
    response = api.request(STEM, "GET", path, **kwargs)
    assert (response.status_code, response.content, response.headers["content-type"]) == (401, body, JSON)


@pytest.mark.parametrize("m", ["%C2%B2", "%D9%A2", "99999999999999999999", "x"])
def test_login_with_an_account_type_atoi_refuses(api: Agent, caplog: pytest.LogCaptureFixture, m: str) -> None:
    """?m= is read with strconv.Atoi: "²", "٢", 20 digits are no account type."""
    response = api.request(STEM, "GET", f"/auth/token?m={m}", headers=ADMIN_BASIC)
    assert (response.status_code, response.content) == (401, b'{"Code":401,"Message":"incorrect Username or Password"}')
    assert "Traceback" not in caplog.text


def test_login_with_a_body_that_is_not_json(api: Agent) -> None:
    response = api.request(STEM, "POST", "/auth/login?m=2", content=b"{")
    assert (response.status_code, response.content) == (401, b'{"Code":401,"Message":"missing Username or Password"}')


def test_certificate_is_a_pem_download(api: Agent) -> None:
    response = api.request(STEM, "GET", "/auth/certificate")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == "attachment; filename=cert.pem.crt"
    assert response.content.startswith(b"-----BEGIN CERTIFICATE-----\n")


def test_admin_password_needs_a_token_gin_jwt_style(api: Agent) -> None:
    response = api.request(STEM, "PUT", "/auth/user/admin/password", json={"old": "a", "new": "b"})
    assert (response.status_code, response.content) == (401, b'{"code":401,"message":"auth header is empty"}')


def test_admin_password_change_and_reset(api: Agent) -> None:
    bearer = {"Authorization": f"Bearer {login(api)}"}
    response = api.request(STEM, "PUT", "/auth/user/admin/password", headers=bearer, content=b"{}")
    assert response.status_code == 422
    assert response.content.startswith(b'{"errors":{"validator":"')
    response = api.request(STEM, "PUT", "/auth/user/admin/password", headers=bearer,
                           json={"old": "wrong", "new": "N3w-passw0rd!"})
    assert response.status_code == 400 and response.content.startswith(b'{"code":400,"message":"')
    response = api.request(STEM, "PUT", "/auth/user/admin/password", headers=bearer,
                           json={"old": "p@ssw0rd", "new": "N3w-passw0rd!"})
    assert (response.status_code, response.content) == (200, b"")
    assert "content-type" not in response.headers
    response = api.request(STEM, "DELETE", "/auth/user/admin/password", headers=bearer)
    assert (response.status_code, response.content) == (200, b"")


def test_logout_expires_the_cookie_and_the_token(api: Agent) -> None:
    bearer = {"Authorization": f"Bearer {login(api)}"}
    response = api.request(STEM, "POST", "/auth/logout", headers=bearer)
    assert (response.status_code, response.content) == (200, b'{"code":200}')
    assert response.headers["set-cookie"] == "jwt=; Path=/; Max-Age=0; HttpOnly; Secure"
    response = api.request(STEM, "DELETE", "/auth/user/admin/password", headers=bearer)
    assert response.status_code == 401 and response.content.startswith(b'{"code":401,"message":"')


# gin redirects to req.URL.String(): the path escaped again, not the decoded one
@pytest.mark.parametrize(("path", "location"), [
    ("/platform/api/service/a%20b/", "/platform/api/service/a%20b"),
    ("/platform/api/service/%C3%A9/?q=%3Cx%3E", "/platform/api/service/%C3%A9?q=%3Cx%3E"),
])
def test_trailing_slash_redirect_escapes_the_path(api: Agent, path: str, location: str) -> None:
    response = api.request(STEM, "GET", path)
    assert (response.status_code, response.headers["location"]) == (301, location)
    assert response.content == f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()


def test_a_trailing_newline_is_no_route(api: Agent) -> None:
    """Go's mux compares the whole path: `/auth/ping%0A` is not `/auth/ping`."""
    assert_gin_404(api.request(STEM, "GET", "/auth/ping%0A"))
