"""OS-account logins (m=0) through the real PAM stack, with a real user made for the test."""

from __future__ import annotations

import base64
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handlers.accounts.os_accounts import PamAccounts

PASSWORD = "Pv5-test-pw!"


@pytest.fixture
def os_user() -> Iterator[tuple[str, str]]:
    """(user, admin group): a real account with PASSWORD, in a fresh group; both removed afterwards."""
    suffix = uuid.uuid4().hex[:6]
    user, group = f"pv5u{suffix}", f"pv5g{suffix}"
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", "-G", group, user], check=True)
    try:
        subprocess.run(["chpasswd"], input=f"{user}:{PASSWORD}\n", text=True, check=True)
        yield user, group
    finally:
        subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", group], check=False)


def test_pam_checks_the_real_password(os_user: tuple[str, str]) -> None:
    user, group = os_user
    pam = PamAccounts("login")
    assert pam.check(user, PASSWORD)
    assert not pam.check(user, PASSWORD + "x")
    assert not pam.check(f"{user}-nobody", PASSWORD)
    assert group in pam.groups(user)


def test_agent_logs_an_os_account_in_and_applies_the_admin_group(
        os_user: tuple[str, str], start_agent: Callable[..., Any], dbus_calls: Any) -> None:
    user, group = os_user
    agent = start_agent(docker_host=None, args=["--admin-group", group])
    basic = {"Authorization": "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()}
    with agent.client() as client:
        response = client.get("/auth/token", headers=basic)
        assert response.status_code == 200, response.text
        token = response.json()["token"]
        refused = client.post("/auth/login", json={"username": user, "password": "wrong"})
        assert refused.status_code == 401
        assert refused.json() == {"Code": 401, "Message": "incorrect Username or Password"}
        # an OS account in the admin group may reboot: answered first, logind called after
        dbus_calls.clear("logind")
        response = client.post("/platform/api/control/reboot", headers={"Authorization": f"Bearer {token}"})
        assert (response.status_code, response.content) == (200, b"")
