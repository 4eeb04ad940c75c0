"""The agent outlives its Docker Engine: 500 while the engine is away, 200 once it answers again."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration.components import Dockerd


def assert_engine_error(response: Any) -> None:
    """The supervisor's /v1/device failure: 500 {"Data":"","Error":"<message>"}."""
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.content.startswith(b'{"Data":"","Error":"')
    assert response.json()["Error"]


def test_engine_down_then_up_then_down(start_agent: Callable[..., Any]) -> None:
    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-dockerd-")))
    agent = start_agent(docker_host=daemon.host)  # nothing listens on that socket yet
    try:
        assert_engine_error(agent.get("/v1/device"))
        ping = agent.get("/ping", key=None)
        assert (ping.status_code, ping.text) == (200, "OK")

        daemon.start()  # the same socket, the same agent process
        response = agent.get("/v1/device")
        assert response.status_code == 200, response.text
        assert "status" not in response.json()  # a new engine: no apps

        daemon.stop()  # the engine goes away under a connected client
        assert_engine_error(agent.get("/v1/device"))
        assert agent.get("/ping", key=None).status_code == 200
    finally:
        daemon.stop()
    assert agent.process.poll() is None
