"""/supervisor and /info of the hassio dialect on a real agent process: its own log ring and
process figures, hostnamed on the private bus, the token provisioned through HASSIO_TOKEN and
printed by `polyvisor hassio-token`, and Home Assistant core's own calls (0.80's hassio handler).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

from handlers.homeassistant.core import default_machine
from tests.api.hassio_support import VersionServer, versions_fixture  # noqa: F401 (fixture)
from tests.conftest import REPO
from tests.integration.processes import wait_until

TOKEN = "c0ffee" * 10 + "abcd"  # a provisioned Home Assistant token (64 hex digits)


def hassio_agent(start_agent: Callable[..., Any], args_extra: Sequence[str] = (), **options: Any) -> Any:
    """An agent serving only hassio, its token provisioned the way an image does it."""
    options.setdefault("docker_host", None)
    options.setdefault("env", {"HASSIO_TOKEN": TOKEN})
    return start_agent(args=["--dialects", "hassio", *args_extra], ready="/supervisor/ping", **options)


def call(agent: Any, method: str, path: str, token: str = TOKEN, **kwargs: Any) -> Any:
    """What Home Assistant's hassio handler sent: X-HASSIO-KEY and a JSON payload."""
    with agent.client() as client:
        return client.request(method, path, headers={"X-HASSIO-KEY": token}, **kwargs)


def test_home_assistant_cores_calls(start_agent: Callable[..., Any]) -> None:
    agent = hassio_agent(start_agent, dbus_address=None)
    assert call(agent, "GET", "/supervisor/ping").content == b'{"result": "ok", "data": {}}'
    response = call(agent, "POST", "/supervisor/options", json={"timezone": "Europe/Amsterdam"})
    assert response.json() == {"result": "ok", "data": {}}
    assert call(agent, "GET", "/supervisor/info").json()["data"]["timezone"] == "Europe/Amsterdam"
    printed = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(agent.data_dir),
                              "hassio-token"], capture_output=True, text=True, timeout=60, check=False)
    assert (printed.returncode, printed.stdout) == (0, f"{TOKEN}\n")


def test_logs_are_the_agents_own(start_agent: Callable[..., Any]) -> None:
    agent = hassio_agent(start_agent, dbus_address=None)
    call(agent, "POST", "/supervisor/reload")  # logs that no version URL is configured
    response = call(agent, "GET", "/supervisor/logs")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/octet-stream")
    text = response.content.decode()
    assert f"INFO polyvisor: serving hassio on {agent.url[len('http://'):]}" in text
    assert "WARNING polyvisor.hassio.updater: no version URL configured" in text
    assert len(text.splitlines()) <= 100


def test_stats_are_the_agent_process(start_agent: Callable[..., Any]) -> None:
    agent = hassio_agent(start_agent, dbus_address=None)
    stats = call(agent, "GET", "/supervisor/stats").json()["data"]
    process = psutil.Process(agent.pid)
    rss = process.memory_info().rss
    assert abs(stats["memory_usage"] - rss) < rss / 4
    assert stats["memory_usage"] < stats["memory_limit"] <= psutil.virtual_memory().total
    assert 0 <= stats["cpu_percent"] < 100 * psutil.cpu_count()
    io = process.io_counters()
    assert stats["blk_read"] <= io.read_bytes and stats["blk_write"] <= io.write_bytes


def test_info_hostname_from_hostnamed(start_agent: Callable[..., Any], host_root: Path, system_bus: str) -> None:
    (host_root / "etc/hostname").write_text("from-the-file\n")
    agent = hassio_agent(start_agent, dbus_address=system_bus)
    info = call(agent, "GET", "/info").json()["data"]
    assert info["hostname"] == "polyvisor-test"  # the hostnamed mock's StaticHostname
    # no Home Assistant image, hostnamed's CPE is no HassOS one
    assert (info["homeassistant"], info["hassos"], info["channel"]) == (None, None, "stable")
    assert info["machine"] == default_machine(None)


def test_info_hostname_from_the_file_without_hostnamed(start_agent: Callable[..., Any], host_root: Path) -> None:
    (host_root / "etc/hostname").write_text("from-the-file\n")
    agent = hassio_agent(start_agent, dbus_address=None)
    assert call(agent, "GET", "/info").json()["data"]["hostname"] == "from-the-file"


def test_versions_are_fetched_at_start(start_agent: Callable[..., Any], versions: VersionServer) -> None:
    """updater.load() at start: last_version is there without a reload; the reload right after
    is throttled (60 s), as the supervisor's was."""
    versions.serve("/stable.json", {"channel": "stable", "supervisor": "9.9.9",
                                    "homeassistant": {default_machine(None): "0.80.3"}})
    agent = hassio_agent(start_agent, dbus_address=None, args_extra=["--hassio-version-url", versions.url])
    wait_until(lambda: call(agent, "GET", "/supervisor/info").json()["data"]["last_version"] == "9.9.9",
               10, "the version JSON fetched at start")
    assert call(agent, "POST", "/supervisor/reload").json() == {"result": "ok", "data": {}}
    assert versions.requests == ["/stable.json"]
