"""Bad input through the real server: the agent as a process behind Hypercorn, a real engine to
look app ids up in. Integers past Python's 4300-digit limit and bodies nested past its recursion
limit used to escape the ASGI app (Hypercorn's empty 500) or answer 503 with Python's text; each
now gets its dialect's answer, and the agent's log holds no traceback.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

BIG = "1" * 5000
DEEP = "[" * 5000 + "]" * 5000
NOT_FOUND = ("App not found: an app needs to be installed for this endpoint to work.\n"
             "\tIf you've recently moved this device from another app,\n"
             "\tplease push an app and wait for it to be installed first.")
PAGE_400 = b"<pre>Bad Request</pre>"


def no_traceback(agent: Any) -> None:
    log = agent.log.read_text(errors="replace")
    assert "Traceback" not in log and "Exceeds the limit" not in log, log[-3000:]


@pytest.mark.parametrize("profile", ["v10", "legacy"])
def test_balena_ids_and_bodies(start_agent: Callable[..., Any], profile: str) -> None:
    legacy = profile == "legacy"
    agent = start_agent(args=["--balena-profile", profile], dbus_address=None,
                        ready=f"/ping?apikey={'testkey_0123456789'}")
    key = {"Authorization": f"ApiKey {agent.key}"}
    json_key = {**key, "Content-Type": "application/json"}
    with agent.client() as client:
        # the path's 5000 digits: parseInt gives Infinity (v10) / the raw string (2016): no app
        for method, path in (("GET", f"/v1/apps/{BIG}"), ("POST", f"/v1/apps/{BIG}/stop"),
                             ("POST", f"/v1/apps/{BIG}/start")):
            response = client.request(method, path, headers=key)
            assert (response.status_code, response.text) == (400, "App not found"), path
        # in a body: JSON.parse's Infinity is no app id to checkInt (v10); 2016 looked it up
        response = client.post("/v1/restart", content=f'{{"appId":{BIG}}}', headers=json_key)
        assert (response.status_code, response.text) == (400, "App not found" if legacy else "Missing app id")
        # as a string parseInt reads Infinity, a number: the route runs and finds no app
        response = client.post("/v1/purge", json={"appId": BIG}, headers=key)
        assert (response.status_code, response.text) == ((400, "App not found") if legacy else (503, NOT_FOUND))
        response = client.post("/v1/restart", json={"appId": "١"}, headers=key)
        assert (response.status_code, response.text) == (400, "App not found" if legacy else "Missing app id")
        for path in ("/v1/restart", "/v2/local/target-state"):
            response = client.post(path, content=DEEP, headers=json_key)
            assert response.status_code == 400
            if legacy:
                assert response.content == b"RangeError: Maximum call stack size exceeded\n"
            else:
                assert PAGE_400 in response.content
        response = client.post(f"/v2/applications/{BIG}/restart-service", json={"serviceName": "main"}, headers=key)
        assert (response.status_code, response.text) == (404, NOT_FOUND)
    no_traceback(agent)


def test_platform_pids_and_bodies(start_agent: Callable[..., Any]) -> None:
    agent = start_agent(docker_host=None, dbus_address=None)
    with agent.client() as client:
        basic = base64.b64encode(b"admin:p@ssw0rd").decode()
        first = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        response = client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                              json={"old": "p@ssw0rd", "new": "Pv5-admin-pw"})
        assert response.status_code == 200, response.text
        basic = base64.b64encode(b"admin:Pv5-admin-pw").decode()
        token = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        # strconv.Atoi takes it; no such process: 422. Out of int64 or not ASCII: 400 Invalid PID
        response = client.delete("/platform/api/processes/2147483646")
        assert (response.status_code, response.json()) == (422, {"errors": {"Processes": "process 2147483646 not found"}})
        for pid in ("99999999999999999999", BIG, "%D9%A1"):
            response = client.delete(f"/platform/api/processes/{pid}")
            assert (response.status_code, response.content) == (400, b'{"errors":{"Processes":"Invalid PID"}}')
        deeper = "[" * 10000 + "]" * 10000  # past Go 1.15's 10000 nested values
        response = client.put("/platform/api/control/display", content='{"status":' + deeper + "}")
        assert (response.status_code, response.json()) == (
            422, {"errors": {"validator": "invalid character '[' exceeded max depth"}})
        response = client.put("/platform/api/control/display", content=f'{{"status":"on","x":{BIG}}}')
        assert response.status_code == 422 and list(response.json()["errors"]) == ["Control"]  # no display here
    no_traceback(agent)
