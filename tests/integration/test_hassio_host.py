"""hassio /host and /hassos of a real agent process on a private system bus (dbusmock's systemd,
hostnamed and RAUC) and the private Docker Engine: the D-Bus calls made, the containers stopped
before a reboot, a RAUC bundle downloaded from 127.0.0.1 and installed (hassio.md §3.3-3.4).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.sysbus import MOCK_IFACE, MockCalls, bus_call, private_bus

TEMPLATES = Path(__file__).resolve().parent.parent / "dbus_templates"
KEY = {"X-HASSIO-KEY": "testkey_0123456789"}
OK = {"result": "ok", "data": {}}
UNKNOWN = {"result": "error", "message": "Unknown Error, see logs"}
CPE = "cpe:2.3:o:home_assistant:hassos:1.11:*:production:*:*:*:rpi3:*"
UNITS = [["hassos-config.service", "HassOS Configuration Manager", "inactive", "enabled"],
         ["ssh.service", "OpenBSD Secure Shell server", "active", "enabled"],
         ["dropbear.socket", "dropbear socket", "active", "enabled"]]
# exits on SIGTERM (a bare sleep as PID 1 ignores it and docker stop would wait its timeout)
POLITE = ("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")


@pytest.fixture(scope="module")
def hassos_bus() -> Iterator[str]:
    """A private system bus where the host is HassOS 1.11 on rpi3: systemd, hostnamed, RAUC."""
    hostnamed = {"OperatingSystemCPEName": CPE, "OperatingSystemPrettyName": "HassOS 1.11",
                 "Hostname": "hassio", "StaticHostname": "hassio", "Deployment": "production"}
    with private_bus("pv-hassos-", [(str(TEMPLATES / "systemd_units.py"), {"units": UNITS}),
                                    (str(TEMPLATES / "hostnamed.py"), hostnamed),
                                    (str(TEMPLATES / "rauc.py"), None)]) as address:
        yield address


@pytest.fixture
def hassos(hassos_bus: str) -> MockCalls:
    """The HassOS bus's recorded calls, none yet; RAUC's installs succeed."""
    calls = MockCalls(hassos_bus)
    calls.reset()
    bus_call(hassos_bus, "de.pengutronix.rauc", "/", MOCK_IFACE, "SetResult", "is", (0, ""))
    return calls


def call(agent: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    with agent.client() as client:
        response = client.request(method, path, headers=KEY, **kwargs)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    return response.status_code, response.json() if is_json else response.text


def calls_of(calls: MockCalls, name: str, method: str, timeout: float = 10.0) -> list[tuple[Any, ...]]:
    """The arguments of each recorded call of `method`, once there is one (polled)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [args for m, args in calls(name) if m == method]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_host_info_and_hostname_on_a_plain_host(start_agent: Callable[..., Any], dbus_calls: MockCalls) -> None:
    agent = start_agent(docker_host=None)
    assert call(agent, "GET", "/host/info") == (200, {"result": "ok", "data": {
        "chassis": "embedded", "cpe": None, "features": ["reboot", "shutdown", "services", "hostname"],
        "hostname": "polyvisor-test", "operating_system": "balenaOS 2.38.0+rev1", "deployment": None,
        "kernel": "6.1.0-polyvisor"}})
    assert call(agent, "POST", "/host/options", json={"hostname": "kitchen"}) == (200, OK)
    assert [a for m, a in dbus_calls("hostnamed") if m == "SetStaticHostname"] == [("kitchen", False)]
    assert call(agent, "GET", "/host/info")[1]["data"]["hostname"] == "kitchen"
    # not HassOS (no RAUC, no hassos CPE): the recorded answers
    assert call(agent, "GET", "/hassos/info")[1]["data"]["version"] is None
    assert call(agent, "POST", "/hassos/update", json={"version": "2.0"}) == (400, UNKNOWN)
    assert call(agent, "POST", "/hassos/config/sync") == (400, UNKNOWN)


@pytest.mark.parametrize(("route", "method"), [("/host/reboot", "Reboot"), ("/host/shutdown", "PowerOff")])
def test_power_stops_the_managed_containers_then_calls_systemd(
        start_agent: Callable[..., Any], docker_client: Any, busybox_image: str, dbus_calls: MockCalls,
        route: str, method: str) -> None:
    made = [docker_client.containers.run(busybox_image, list(POLITE), name=name, detach=True, network_mode="none")
            for name in ("homeassistant", "addon_x", "bystander")]
    try:
        agent = start_agent()
        assert call(agent, "POST", route) == (200, OK)
        for container in made:
            container.reload()
        states = {c.name: c.status for c in made}
        assert states == {"homeassistant": "exited", "addon_x": "exited", "bystander": "running"}
        assert [m for m, _ in dbus_calls("systemd") if m in ("Reboot", "PowerOff")] == [method]
        assert not [m for m, _ in dbus_calls("logind")]  # systemd's manager, not logind (138)
        # the add-ons go down before Home Assistant (core.shutdown)
        finished = {c.name: c.attrs["State"]["FinishedAt"] for c in made[:2]}
        assert finished["addon_x"] <= finished["homeassistant"]
    finally:
        for container in made:
            container.remove(force=True)


def test_services_jobs_and_the_cached_list(start_agent: Callable[..., Any], hassos_bus: str,
                                           hassos: MockCalls) -> None:
    agent = start_agent(docker_host=None, dbus_address=hassos_bus)
    assert call(agent, "GET", "/host/services") == (200, {"result": "ok", "data": {"services": [
        {"name": "hassos-config.service", "description": "HassOS Configuration Manager", "state": "inactive"},
        {"name": "ssh.service", "description": "OpenBSD Secure Shell server", "state": "active"}]}})
    for action, method in (("start", "StartUnit"), ("stop", "StopUnit"), ("restart", "RestartUnit"),
                           ("reload", "ReloadOrRestartUnit")):
        assert call(agent, "POST", f"/host/services/ssh.service/{action}") == (200, OK)
        assert calls_of(hassos, "systemd", method) == [("ssh.service", "replace")]
    # a unit systemd has but the agent has not listed yet: 138 checked its cached list
    bus_call(hassos_bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", MOCK_IFACE, "AddUnit",
             "ssss", ("mosquitto.service", "MQTT broker", "inactive", "enabled"))
    try:
        assert call(agent, "POST", "/host/services/mosquitto.service/start") == (400, UNKNOWN)
        assert call(agent, "POST", "/host/services/dropbear.socket/start") == (400, UNKNOWN)
        assert call(agent, "POST", "/host/reload") == (200, OK)
        assert call(agent, "POST", "/host/services/mosquitto.service/start") == (200, OK)
        assert calls_of(hassos, "systemd", "StartUnit")[-1] == ("mosquitto.service", "replace")
    finally:
        bus_call(hassos_bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", MOCK_IFACE,
                 "RemoveUnit", "s", ("mosquitto.service",))


class Bundles(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; remembers the paths asked for."""

    asked: list[str]

    def do_GET(self) -> None:
        self.asked.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def bundle_server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """(URL template for --hassos-ota-url, folder served, paths asked) on 127.0.0.1."""
    folder = tmp_path / "releases"
    folder.mkdir()
    asked: list[str] = []
    handler = type("Handler", (Bundles,), {"asked": asked})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/{{version}}/hassos_{{board}}-{{version}}.raucb", folder, asked
    finally:
        server.shutdown()
        server.server_close()


def rauc_bundles(address: str) -> list[tuple[str, int, str]]:
    (bundles,) = bus_call(address, "de.pengutronix.rauc", "/", MOCK_IFACE, "Bundles")
    return [tuple(b) for b in bundles]


def test_hassos_info_update_and_config_sync(start_agent: Callable[..., Any], hassos_bus: str, hassos: MockCalls,
                                            bundle_server: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, folder, asked = bundle_server
    payload = b"hsqs" + bytes(range(256)) * 4096  # 1 MiB and a bit: more than one read
    (folder / "2.3").mkdir()
    (folder / "2.3" / "hassos_rpi3-2.3.raucb").write_bytes(payload)
    data_dir = tmp_path / "data"
    agent = start_agent(docker_host=None, dbus_address=hassos_bus, data_dir=data_dir,
                        args=["--hassos-ota-url", url])

    status, info = call(agent, "GET", "/host/info")
    assert status == 200 and info["data"]["features"] == ["reboot", "shutdown", "services", "hostname", "hassos"]
    assert info["data"]["cpe"] == CPE and info["data"]["deployment"] == "production"
    assert call(agent, "GET", "/hassos/info") == (200, {"result": "ok", "data": {
        "version": "1.11", "version_cli": None, "version_latest": None, "version_cli_latest": None,
        "board": "rpi3"}})

    # the running version, then one the server has not: nothing reaches RAUC
    assert call(agent, "POST", "/hassos/update", json={"version": "1.11"}) == (400, UNKNOWN)
    assert call(agent, "POST", "/hassos/update", json={"version": "9.9"}) == (400, UNKNOWN)
    assert asked == ["/9.9/hassos_rpi3-9.9.raucb"]
    assert not calls_of(hassos, "rauc", "Install", timeout=0)

    before = len(rauc_bundles(hassos_bus))
    assert call(agent, "POST", "/hassos/update", json={"version": 2.3}) == (200, OK)  # Coerce(str)
    bundle = str((data_dir / "tmp" / "hassos-2.3.raucb").resolve())
    assert calls_of(hassos, "rauc", "Install") == [(bundle,)]
    assert rauc_bundles(hassos_bus)[before:] == [(bundle, len(payload), hashlib.sha256(payload).hexdigest())]
    assert not Path(bundle).exists()  # removed once installed
    assert calls_of(hassos, "systemd", "Reboot") == [()]  # in the background, after the answer

    assert call(agent, "POST", "/hassos/config/sync") == (200, OK)
    assert calls_of(hassos, "systemd", "RestartUnit") == [("hassos-config.service", "replace")]


def test_hassos_failed_install_is_138s_500_and_no_reboot(start_agent: Callable[..., Any], hassos_bus: str,
                                                         hassos: MockCalls,
                                                         bundle_server: tuple[str, Path, list[str]]) -> None:
    url, folder, _ = bundle_server
    (folder / "2.4").mkdir()
    (folder / "2.4" / "hassos_rpi3-2.4.raucb").write_bytes(b"not a bundle")
    bus_call(hassos_bus, "de.pengutronix.rauc", "/", MOCK_IFACE, "SetResult", "is", (1, "signature invalid"))
    agent = start_agent(docker_host=None, dbus_address=hassos_bus, args=["--hassos-ota-url", url])
    status, body = call(agent, "POST", "/hassos/update", json={"version": "2.4"})
    assert status == 500 and "500 Internal Server Error" in body
    assert len(calls_of(hassos, "rauc", "Install")) == 1
    assert not calls_of(hassos, "systemd", "Reboot", timeout=0)  # the reboot starts only on success
