"""Who may call the platform API: token carriers, refused tokens, the default-password and admin rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from handlers.accounts.jwt_rs256 import Signer, b64url
from tests.api.platform_support import STEM, Platform, login, start_platform
from tests.api.support import Agents

JSON = "application/json; charset=utf-8"


@pytest.fixture
def plat(agents: Agents, tmp_path: Path) -> Platform:
    return start_platform(agents, tmp_path)


def test_token_from_bearer_query_and_cookie(plat: Platform) -> None:
    token = plat.tokens["alice"]
    assert plat.get("/platform/api/term/ws").status_code == 200
    assert plat.get(f"/platform/api/term/ws?token={token}", who=None).status_code == 200
    plat.agent.client.cookies.set("jwt", token)
    try:
        assert plat.get("/platform/api/term/ws", who=None).status_code == 200
    finally:
        plat.agent.client.cookies.clear()


def test_no_token_is_401_code_message(plat: Platform) -> None:
    response = plat.get("/platform/api/host/info", who=None)
    assert (response.status_code, response.content) == (401, b'{"Code":401,"Message":"auth header is empty"}')
    assert response.headers["content-type"] == JSON


def _forged(header: dict[str, object], claims: dict[str, object], key: bytes | None) -> str:
    head, body = b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest() if key else b""
    return f"{head}.{body}.{b64url(sig)}"


def test_forged_expired_foreign_alg_none_and_hs256_with_the_certificate_are_401(
        plat: Platform, tmp_path: Path) -> None:
    cert = plat.agent.request(STEM, "GET", "/auth/certificate").content
    claims = {"exp": 4_000_000_000, "identity": "admin", "m": 2, "orig_iat": 0, "jti": "f"}
    foreign = Signer.load_or_create(tmp_path / "foreign").sign(claims)
    valid = plat.tokens["admin"]
    head, body, sig = valid.split(".")
    stretched = b64url(json.dumps({**json.loads(base64.urlsafe_b64decode(body + "==")), "exp": 4_000_000_000})
                       .encode())
    for token in [_forged({"alg": "none", "typ": "JWT"}, claims, None),
                  _forged({"alg": "HS256", "typ": "JWT"}, claims, cert),
                  foreign, f"{head}.{stretched}.{sig}", "not-a-token", valid[:-4]]:
        response = plat.get("/platform/api/host/info", headers={"Authorization": f"Bearer {token}"}, who=None)
        assert response.status_code == 401, token
        assert response.content.startswith(b'{"Code":401,"Message":"')


def test_expired_token_is_401(agents: Agents, tmp_path: Path) -> None:
    plat = start_platform(agents, tmp_path, "--jwt-lifetime", "1")
    plat.services.platform.auth._clock = lambda: 4_000_000_000.0
    response = plat.get("/platform/api/host/info")
    assert (response.status_code, response.content) == (401, b'{"Code":401,"Message":"token is expired"}')


def test_default_admin_password_allows_only_the_change_and_logout(agents: Agents, tmp_path: Path) -> None:
    plat = start_platform(agents, tmp_path)
    first = {"Authorization": f"Bearer {plat.tokens['first']}"}
    plat.services.platform.auth.reset_admin_password()
    for path in ("/platform/api/host/info", "/platform/api/term/ws", "/platform/api/perif/gpio/count"):
        response = plat.agent.request(STEM, "GET", path, headers=first)
        assert (response.status_code, response.content) == (
            403, b'{"Code":403,"Message":"admin password must be changed"}')
    # OS accounts are not concerned
    assert plat.get("/platform/api/term/ws", who="alice").status_code == 200
    response = plat.agent.request(STEM, "PUT", "/auth/user/admin/password", headers=first,
                                  json={"old": "p@ssw0rd", "new": "Other-pw-1"})
    assert response.status_code == 200
    assert plat.agent.request(STEM, "GET", "/platform/api/term/ws", headers=first).status_code == 200


def test_os_account_cannot_change_the_admin_password(plat: Platform) -> None:
    response = plat.put("/auth/user/admin/password", {"old": "x", "new": "y"}, who="alice")
    assert response.status_code == 401
    assert response.content.startswith(b'{"code":401,"message":"')


@pytest.mark.parametrize("method, path", [("POST", "/platform/api/control/reboot"),
                                          ("POST", "/platform/api/control/shutdown"),
                                          ("DELETE", "/platform/api/processes/999999")])
def test_admin_only_routes_refuse_plain_os_accounts(plat: Platform, method: str, path: str) -> None:
    response = plat.request(method, path, who="alice")
    assert (response.status_code, response.content) == (
        403, b'{"Code":403,"Message":"the login user has no permission"}')
    # bob (admin group) and the admin account get past the rule: no logind, no such process -> 422
    for who in ("bob", "admin"):
        response = plat.request(method, path, who=who)
        assert response.status_code == 422, (who, response.content)


def test_logged_out_token_is_refused(plat: Platform) -> None:
    token = login(plat.agent, "alice", "alice-pw", 0)
    plat.agent.request(STEM, "POST", "/auth/logout", headers={"Authorization": f"Bearer {token}"})
    response = plat.get("/platform/api/term/ws", headers={"Authorization": f"Bearer {token}"}, who=None)
    assert (response.status_code, response.content) == (401, b'{"Code":401,"Message":"token is revoked"}')


@pytest.mark.parametrize("query", ["?m=1", "?m=x", "?m=0"])
def test_admin_with_other_account_types_is_refused(plat: Platform, query: str) -> None:
    basic = base64.b64encode(b"admin:N3w-admin-pw").decode()
    response = plat.agent.request(STEM, "GET", f"/auth/token{query}", headers={"Authorization": f"Basic {basic}"})
    assert (response.status_code, response.content) == (
        401, b'{"Code":401,"Message":"incorrect Username or Password"}')


def test_os_account_logs_in_with_json(plat: Platform) -> None:
    response = plat.agent.request(STEM, "POST", "/auth/login", json={"username": "bob", "password": "bob-pw"})
    assert response.status_code == 200
    assert plat.services.platform.auth.verify(json.loads(response.content)["token"]).identity == "bob"
