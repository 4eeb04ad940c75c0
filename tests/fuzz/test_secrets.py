"""Secrets never reach the agent's log: the real API key, passwords and JWTs sent in every place a
dialect reads them (query, headers, cookie, Basic, JSON bodies), on good and bad requests, and the
log grepped for the very values. The session fixture greps again after every fuzz test ran."""

from __future__ import annotations

import base64

import httpx
from conftest import API_KEY

from fuzz.conftest import ADMIN_PASSWORD, USER, USER_PASSWORD, Dialects, basic, platform_token


def test_no_credential_used_appears_in_the_agents_log(dialects: Dialects) -> None:
    fresh = platform_token(dialects.url, USER, USER_PASSWORD, 0)
    machine_id = (dialects.agent.root / "etc/machine-id").read_text().strip()
    used = {API_KEY, ADMIN_PASSWORD, USER_PASSWORD, fresh, dialects.admin_token, machine_id}
    dialects.secrets_used.update(used)
    bearer = {"Authorization": f"Bearer {dialects.admin_token}"}
    with httpx.Client(base_url=dialects.url, timeout=30) as client:
        for path in ("/v1/device", "/v2/version", "/nowhere", "/v1/apps/1"):
            client.get(path, params={"apikey": API_KEY})
            client.get(path, headers={"Authorization": f"ApiKey {API_KEY}"})
        client.get("/supervisor/info", headers={"X-HASSIO-KEY": API_KEY})
        client.get("/supervisor/info", headers={"X-HASSIO-KEY": machine_id})
        client.get("/platform/api/host/info", params={"token": fresh})
        client.get("/platform/api/host/info", cookies={"jwt": fresh})
        client.get("/platform/api/host/info", headers=bearer)
        client.get("/auth/token", params={"m": 2}, headers={"Authorization": basic("admin", ADMIN_PASSWORD)})
        client.get("/auth/token", headers={"Authorization": basic(USER, USER_PASSWORD)})
        client.get("/auth/token", headers={"Authorization": basic(USER, ADMIN_PASSWORD)})  # a wrong pair
        client.post("/auth/login", params={"m": 2}, json={"username": "admin", "password": ADMIN_PASSWORD})
        client.post("/auth/login", data={"username": USER, "password": ADMIN_PASSWORD})
        client.put("/auth/user/admin/password", headers=bearer, json={"old": USER_PASSWORD, "new": USER_PASSWORD})
        client.put("/auth/user/admin/password", headers=bearer, content=f'{{"old":"{ADMIN_PASSWORD}"'.encode())
        client.get("/gosd/api/v2/ok", headers={"Authorization": "Bearer " + base64.b64encode(API_KEY.encode()).decode()})
        client.post("/auth/logout", headers={"Authorization": f"Bearer {fresh}"})
        client.get("/platform/api/host/info", headers={"Authorization": f"Bearer {fresh}"})  # revoked
    assert dialects.ping()
    log = dialects.agent.log.read_text(errors="replace")
    assert "polyvisor.access" in log  # the access log is on: the requests above were written
    leaked = sorted(value[:10] + "..." for value in used if value in log)
    assert not leaked, f"secrets in the agent's log: {leaked}"
