"""POST /v1/reboot and /v1/shutdown of the real agent reach logind (dbusmock's) on a real bus."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

LABELS = {"io.balena.supervised": "true", "io.balena.app-id": "1",
          "io.balena.service-id": "5", "io.balena.service-name": "main"}
# An app that exits on SIGTERM (a bare sleep as PID 1 ignores it: docker stop would wait 10 s).
POLITE = ("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")


def logind_calls(dbus_calls: Any, timeout: float = 10.0) -> list[tuple[str, tuple[Any, ...]]]:
    """logind's recorded calls, once there is one (the agent calls a second after answering)."""
    deadline = time.monotonic() + timeout
    while not (calls := dbus_calls("logind")) and time.monotonic() < deadline:
        time.sleep(0.1)
    return calls


@pytest.mark.parametrize(("route", "method"), [("/v1/reboot", "Reboot"), ("/v1/shutdown", "PowerOff")])
def test_power_calls_logind(agent: Any, containers: Callable[..., Any], dbus_calls: Any,
                            route: str, method: str) -> None:
    dbus_calls.clear("logind")
    app = containers("main_12_34", LABELS, POLITE)
    with agent.client() as client:
        response = client.post(route, headers={"Authorization": f"ApiKey {agent.key}"})
    assert response.status_code == 202, response.text
    assert response.content == b'{"Data":"OK","Error":null}'
    app.reload()
    assert app.status == "exited"  # the apps are stopped before the answer
    assert logind_calls(dbus_calls) == [(method, (False,))]
    dbus_calls.clear("logind")


def test_legacy_profile_pipes_the_go_answer(start_agent: Callable[..., Any], containers: Callable[..., Any],
                                            dbus_calls: Any) -> None:
    """The resin era: node stopped the apps, then piped gosuper's 202 envelope as Go wrote it."""
    dbus_calls.clear("logind")
    # the 2016 /ping needed the key too (Profile.ping_open)
    agent = start_agent(args=["--balena-profile", "legacy"], ready="/ping?apikey=testkey_0123456789")
    app = containers("main_12_34", LABELS, POLITE)
    with agent.client() as client:
        response = client.post("/v1/reboot", headers={"Authorization": f"ApiKey {agent.key}"})
    assert (response.status_code, response.content) == (202, b'{"Data":"OK","Error":""}')
    assert response.headers["content-type"] == "application/json"  # Go's, without a charset
    assert "etag" not in response.headers and response.headers["x-powered-by"] == "Express"
    app.reload()
    assert app.status == "exited"
    assert logind_calls(dbus_calls) == [("Reboot", (False,))]
    dbus_calls.clear("logind")
