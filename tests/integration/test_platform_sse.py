"""Server-Sent Events of a real agent process, read by a real streaming HTTP client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "Pv5-admin-pw"
SSE = "text/event-stream;charset=utf-8"


@pytest.fixture
def agent_token(start_agent: Callable[..., Any], host_root: Path) -> Iterator[tuple[Any, str]]:
    """(agent, admin token) with one hwmon sensor under its root."""
    hwmon = host_root / "sys/class/hwmon/hwmon0"
    hwmon.mkdir(parents=True)
    (hwmon / "name").write_text("coretemp\n")
    (hwmon / "temp1_input").write_text("45000\n")
    (hwmon / "temp1_label").write_text("CPU\n")
    agent = start_agent(docker_host=None, dbus_address=None)
    with agent.client() as client:
        basic = base64.b64encode(b"admin:p@ssw0rd").decode()
        first = client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]
        client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                   json={"old": "p@ssw0rd", "new": PASSWORD})
        basic = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        yield agent, client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"}).json()["token"]


def read_events(agent: Any, path: str, want: int, timeout: float = 20.0) -> tuple[Any, list[tuple[str, Any]]]:
    """(response headers, the first `want` events) of an SSE stream, as an EventSource would parse them."""
    events: list[tuple[str, Any]] = []
    with agent.client(timeout=timeout) as client, client.stream(
            "GET", path, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        event, deadline = "message", time.monotonic() + timeout
        for line in response.iter_lines():
            assert time.monotonic() < deadline
            if line.startswith("event:"):
                event = line[6:]
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
                event = "message"
                if len(events) >= want:
                    return response.headers, events
    return response.headers, events


def test_systemperf_stream_sends_frames_every_interval(agent_token: tuple[Any, str]) -> None:
    agent, token = agent_token
    start = time.monotonic()
    headers, events = read_events(agent, f"/platform/api/systemperf?token={token}", 2)
    assert headers["content-type"] == SSE and headers["cache-control"] == "no-cache"
    assert [e for e, _ in events] == ["message", "message"]
    assert list(events[1][1]) == ["cpu", "memory"]
    assert time.monotonic() - start >= 1.5  # two frames are one interval (2 s) apart


def test_events_stream_multiplexes_named_events(agent_token: tuple[Any, str]) -> None:
    agent, token = agent_token
    _, events = read_events(agent, f"/platform/api/events?token={token}", 5)
    names = [e for e, _ in events]
    # pwrstatus has no Linux source and is left out; diskdrives only when the host has disks
    assert {"hwmon", "netifaces", "processes", "systemperf"} <= set(names) <= {
        "diskdrives", "hwmon", "netifaces", "processes", "systemperf"}
    assert dict(events)["hwmon"] == {"temperature": [{"name": "CPU", "value": 45.0, "unit": "Celsius"}]}


def test_other_streams_and_refusals(agent_token: tuple[Any, str]) -> None:
    agent, token = agent_token
    for path in ("/platform/api/hwmon", "/platform/api/processes", "/platform/api/networking/interfaces"):
        _, events = read_events(agent, f"{path}?token={token}", 1)
        assert events and events[0][0] == "message"
    with agent.client() as client:
        response = client.get(f"/platform/api/perif/redundant_power?token={token}",
                              headers={"Accept": "text/event-stream"})
        assert (response.status_code, response.content) == (404, b"")
        response = client.get("/platform/api/events", headers={"Accept": "text/event-stream"})
        assert response.status_code == 401
