"""GET /v1/device of the real agent over containers made the legacy balena way on a real dockerd."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


# The labels the balena supervisor (v7+) put on the containers it made; io.resin.* before.
BALENA_LABELS = {"io.balena.supervised": "true", "io.balena.app-id": "1",
                 "io.balena.service-id": "5", "io.balena.service-name": "main"}
RESIN_LABELS = {"io.resin.supervised": "true", "io.resin.app-id": "1",
                "io.resin.service-id": "5", "io.resin.service-name": "main"}

# The 2019 supervisor's key order (device-state.coffee); status and progress only with an app.
KEYS = ["api_port", "ip_address", "os_version", "supervisor_version", "update_pending",
        "update_failed", "update_downloaded", "status", "download_progress"]

# <serviceName>_<imageId>_<releaseId>
SERVICE = "main_12_34"


def device(agent: Any) -> dict[str, Any]:
    """GET /v1/device, checked for a 200 JSON answer; the body in its order."""
    response = agent.get("/v1/device")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    return body


def test_running_service_is_idle(agent: Any, containers: Callable[..., Any]) -> None:
    containers(SERVICE, BALENA_LABELS)
    body = device(agent)
    assert list(body) == KEYS
    assert body["status"] == "Idle"  # "Running" reported as "Idle" for old clients
    assert body["download_progress"] is None
    assert body["api_port"] == int(agent.url.rsplit(":", 1)[1])
    assert isinstance(body["ip_address"], str)
    assert body["os_version"] == "balenaOS 2.38.0+rev1"
    assert body["supervisor_version"] == "10.0.0"  # the release the v10 profile imitates
    assert (body["update_pending"], body["update_failed"], body["update_downloaded"]) == (False,) * 3


def test_supervisor_version_carries_tag_extra(start_agent: Callable[..., Any]) -> None:
    """supervisor-version.ts appends `+<SUPERVISOR_TAG_EXTRA>` wherever the version is reported."""
    agent = start_agent(env={"SUPERVISOR_TAG_EXTRA": "fleet.7"})
    assert device(agent)["supervisor_version"] == "10.0.0+fleet.7"
    assert agent.get("/v2/version").json() == {"status": "success", "version": "10.0.0+fleet.7"}


def test_stopped_service_is_exited(agent: Any, containers: Callable[..., Any]) -> None:
    container = containers(SERVICE, BALENA_LABELS)
    container.kill()  # sleep is PID 1 and ignores SIGTERM: no need to wait out a stop timeout
    container.wait(timeout=30)
    body = device(agent)
    assert list(body) == KEYS
    assert body["status"] == "exited"


def test_created_service_is_installed(agent: Any, containers: Callable[..., Any]) -> None:
    containers(SERVICE, BALENA_LABELS, start=False)
    body = device(agent)
    assert list(body) == KEYS
    assert body["status"] == "Installed"


def test_resin_labels_are_recognised(agent: Any, containers: Callable[..., Any]) -> None:
    containers(SERVICE, RESIN_LABELS)
    body = device(agent)
    assert list(body) == KEYS
    assert body["status"] == "Idle"


def test_no_app_no_status(agent: Any, containers: Callable[..., Any]) -> None:
    containers("foreign", {"com.example": "x"})  # not supervised: not an app
    body = device(agent)
    assert list(body) == KEYS[:7]


@pytest.mark.parametrize("how", ["query", "header"])
def test_key_by_query_or_header(agent: Any, docker_host: str, how: str) -> None:
    if how == "query":
        response = agent.get(f"/v1/device?apikey={agent.key}", key=None)
    else:
        response = agent.get("/v1/device", headers={"Authorization": f"ApiKey {agent.key}"}, key=None)
    assert response.status_code == 200
    assert agent.get("/v1/device", key=None).status_code == 401
    assert agent.get("/v1/device", key="wrong_key").status_code == 401
