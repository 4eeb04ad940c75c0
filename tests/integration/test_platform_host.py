"""host/info of a real agent process with a real (private) Docker Engine: the docker version line."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any


def test_host_info_reports_the_engine_version(start_agent: Callable[..., Any], docker_client: Any) -> None:
    agent = start_agent(dbus_address=None)  # the private engine of the docker_host fixture
    version = docker_client.version()
    with agent.client() as client:
        basic = base64.b64encode(b"admin:p@ssw0rd").decode()
        first = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                   json={"old": "p@ssw0rd", "new": "Pv5-admin-pw"})
        basic = base64.b64encode(b"admin:Pv5-admin-pw").decode()
        token = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        info = client.get("/platform/api/host/info", headers={"Authorization": f"Bearer {token}"}).json()
    assert info["dockerVersion"] == f"Docker version {version['Version']}, build {version['GitCommit']}"
    assert info["os"] == "linux" and info["hostname"] == "polyvisor-test"
