"""edgehub-agent's local routes on a real agent process: AppHub and EdgeBus as units of dbusmock's
systemd on a private bus, the EdgeBus status from a real mosquitto's $SYS topics, the MAC of the
default-route interface inside a network namespace (veth pairs), PEMs made here.

Addresses are 10.216.x.x and exist only inside the namespaces the tests make.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from integration.components import Mosquitto
from integration.platform_fixtures import admin_login
from integration.sysbus import MOCK_IFACE, bus_call, private_bus

TEMPLATES = Path(__file__).resolve().parent.parent / "dbus_templates"
SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
MANAGER = "org.freedesktop.systemd1.Manager"
PASSWORD = "Eh-admin-pw1"
JOBS = ("StartUnit", "StopUnit", "RestartUnit", "TryRestartUnit", "Reload", "EnableUnitFiles", "DisableUnitFiles")
UNITS = [["apphub.service", "AppHub-Edge Service", "inactive", "enabled"],
         ["mosquitto.service", "Mosquitto MQTT Broker", "active", "enabled"],
         ["ssh.service", "OpenBSD Secure Shell server", "active", "enabled"]]


def unit_path(name: str) -> str:
    """sd_bus_path_encode, as the template names unit objects."""
    return SYSTEMD[1] + "/unit/" + "".join(
        c if c.isascii() and (c.isalpha() or (i and c.isdigit())) else f"_{ord(c):02x}" for i, c in enumerate(name))


class EdgeBus(Mosquitto):
    """The tests' mosquitto publishing $SYS every second (its default is 10 s)."""

    def _spawn(self, timeout: float) -> None:
        config = self.dir / "mosquitto.conf"
        if "sys_interval" not in config.read_text():
            config.write_text(config.read_text() + "sys_interval 1\n")
        super()._spawn(timeout)


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    """A real mosquitto on 127.0.0.1 (anonymous): the EdgeBus whose $SYS topics are read."""
    mosquitto = EdgeBus()
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture(scope="module")
def edge_bus() -> Iterator[str]:
    """A private system bus with dbusmock's systemd (tests/dbus_templates/systemd_units.py)."""
    with private_bus("pv-edgehub-", [(str(TEMPLATES / "systemd_units.py"), {"units": UNITS})]) as address:
        # systemd's Reload and TryRestartUnit (the log configuration), which the template lacks
        mock = (address, *SYSTEMD, MOCK_IFACE)
        bus_call(*mock, "AddMethod", "sssss", (MANAGER, "Reload", "", "", ""))
        bus_call(*mock, "AddMethod", "sssss", (
            MANAGER, "TryRestartUnit", "ss", "o", "ret = self.job(self, args[0], self.units[str(args[0])]['active'])"))
        yield address


def calls(address: str) -> list[tuple[str, tuple[Any, ...]]]:
    (found,) = bus_call(address, *SYSTEMD, MOCK_IFACE, "GetCalls")
    return [(method, tuple(value for _sig, value in args)) for _ts, method, args in found
            if method in JOBS]


def publish(port: int, count: int) -> None:
    """`count` QoS 1 messages to the broker, as some device on the EdgeBus would send them."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgehub-test-device")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for n in range(count):
            client.publish("edgebus/test", f"m{n}", qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def set_unit(address: str, name: str, active: str, file_state: str) -> None:
    bus_call(address, *SYSTEMD, MOCK_IFACE, "AddUnit", "ssss", (name, "", active, file_state))


@contextmanager
def admin_client(agent: Any) -> Iterator[Any]:
    """An httpx client with an admin token (the factory password changed first)."""
    with agent.client() as client:
        yield _admin(client)


def _admin(client: Any) -> Any:
    return admin_login(client, PASSWORD)


@pytest.fixture
def api(start_agent: Callable[..., Any], edge_bus: str, broker: Mosquitto, host_root: Path) -> Iterator[Any]:
    """A client on an agent using the private bus and the broker as its EdgeBus."""
    for unit in UNITS:
        set_unit(edge_bus, unit[0], unit[2], unit[3])
    bus_call(edge_bus, *SYSTEMD, MOCK_IFACE, "ClearCalls")
    agent = start_agent(dbus_address=edge_bus, docker_host=None,
                        args=["--edgehub-edgebus-url", f"mqtt://127.0.0.1:{broker.port}"])
    with admin_client(agent) as client:
        yield client


def test_apphub_status_and_control(api: Any, edge_bus: str) -> None:
    assert api.get("/edgehub/api/apphub/status").json() == {"status": "stopped"}
    response = api.put("/edgehub/api/apphub/service", json={"action": "start"})
    assert (response.status_code, response.content) == (204, b"")
    assert api.get("/edgehub/api/apphub/status").json() == {"status": "running"}
    assert api.get("/edgehub/api/profile").json()["apphub"] == 2
    assert api.put("/edgehub/api/apphub/service", json={"action": "restart"}).status_code == 204
    assert api.put("/edgehub/api/apphub/service", json={"action": "stop"}).status_code == 204
    assert api.get("/edgehub/api/profile").json()["apphub"] == 1
    assert calls(edge_bus) == [("StartUnit", ("apphub.service", "replace")),
                               ("RestartUnit", ("apphub.service", "replace")),
                               ("StopUnit", ("apphub.service", "replace"))]
    set_unit(edge_bus, "apphub.service", "activating", "enabled")
    assert api.get("/edgehub/api/apphub/status").json() == {"status": "unknown status: activating"}
    response = api.put("/edgehub/api/apphub/service", json={"action": "explode"})
    assert response.status_code == 422 and "explode" in response.json()["message"]
    bus_call(edge_bus, *SYSTEMD, MOCK_IFACE, "RemoveUnit", "s", ("apphub.service",))
    response = api.get("/edgehub/api/apphub/status")
    assert (response.status_code, response.content) == (404, b"")
    assert api.get("/edgehub/api/profile").json()["apphub"] == 0
    response = api.put("/edgehub/api/apphub/service", json={"action": "start"})
    assert response.status_code == 422 and response.json() == {"message": "apphub.service is not installed"}


def test_apphub_log_config_is_a_dropin(api: Any, edge_bus: str, host_root: Path) -> None:
    dropin = host_root / "etc/systemd/system/apphub.service.d/50-edgehub-log.conf"
    response = api.put("/edgehub/api/apphub/log/config", json={"logLevel": "error"})
    assert (response.status_code, response.content) == (204, b"")
    text = dropin.read_text()
    assert "Environment=APPHUB_LOG_FILE=false\n" in text and "Environment=APPHUB_LOG_LEVEL=error\n" in text
    assert "LogLevelMax=err\n" in text and text.splitlines()[1] == "[Service]"
    assert api.put("/edgehub/api/apphub/log/config", json={"logFile": True}).status_code == 204
    text = dropin.read_text()  # logLevel kept
    assert "APPHUB_LOG_FILE=true\n" in text and "APPHUB_LOG_LEVEL=error\n" in text
    assert api.put("/edgehub/api/apphub/log/config", json={"logFile": False, "logLevel": "info"}).status_code == 204
    assert "APPHUB_LOG_FILE=false\n" in dropin.read_text() and "LogLevelMax=info\n" in dropin.read_text()
    assert calls(edge_bus) == [("Reload", ()), ("TryRestartUnit", ("apphub.service", "replace"))] * 3
    for body in ({}, {"logLevel": "debug"}):
        response = api.put("/edgehub/api/apphub/log/config", json=body)
        assert response.status_code == 400 and list(response.json()) == ["message"]
    assert "LogLevelMax=info\n" in dropin.read_text()  # nothing written by a refused body


def test_edgebus_status_from_sys_topics(api: Any, edge_bus: str, broker: Mosquitto) -> None:
    bus_call(edge_bus, SYSTEMD[0], unit_path("mosquitto.service"), MOCK_IFACE, "AddProperty", "ssv",
             ("org.freedesktop.systemd1.Service", "MainPID", ("u", broker.proc.pid)))  # type: ignore[union-attr]
    publish(broker.port, 5)
    before = time.time()
    deadline = before + 10
    while True:  # the broker publishes its counters every sys_interval (1 s here)
        status = api.get("/edgehub/api/edgebus/status").json()
        if status.get("mqttBrokerStatus", {}).get("messages_received", 0) >= 5 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert (status["enabled"], status["clientStatus"]) == (True, "connected")
    info = status["mqttBrokerStatus"]
    assert list(info) == ["version", "started", "time", "uptime", "bytes_received", "bytes_sent", "clients_connected",
                          "clients_disconnected", "clients_maximum", "clients_total", "messages_received",
                          "messages_sent", "retained", "inflight", "inflight_dropped", "subscriptions",
                          "packets_received", "packets_sent", "memory_alloc", "threads"]
    assert info["version"][0].isdigit() and "." in info["version"]
    assert abs(info["time"] - before) < 5 and info["started"] == info["time"] - info["uptime"]
    assert info["messages_received"] >= 5 and info["packets_received"] > info["messages_received"]
    assert info["bytes_received"] > 0 and info["memory_alloc"] > 0
    assert info["threads"] >= 1  # /proc/<MainPID>/task of the real broker
    # disable: stop + disable through systemd; the mock's unit is then inactive: no broker status
    response = api.put("/edgehub/api/edgebus/config", json={"enabled": False})
    assert (response.status_code, response.json()) == (200, {"enabled": False})
    assert api.get("/edgehub/api/edgebus/status").json() == {"enabled": False, "clientStatus": "disconnected"}
    response = api.put("/edgehub/api/edgebus/config", json={"enabled": True})
    assert (response.status_code, response.json()) == (200, {"enabled": True})
    assert api.get("/edgehub/api/edgebus/status").json()["enabled"] is True
    assert calls(edge_bus) == [("StopUnit", ("mosquitto.service", "replace")),
                               ("DisableUnitFiles", (["mosquitto.service"], False)),
                               ("EnableUnitFiles", (["mosquitto.service"], False, False)),
                               ("StartUnit", ("mosquitto.service", "replace"))]
    bus_call(edge_bus, *SYSTEMD, MOCK_IFACE, "RemoveUnit", "s", ("mosquitto.service",))
    response = api.get("/edgehub/api/edgebus/status")
    assert (response.status_code, response.content) == (404, b"")
    response = api.put("/edgehub/api/edgebus/config", json={"enabled": True})
    assert response.status_code == 422 and response.json() == {"message": "mosquitto.service is not installed"}


def test_edgebus_broker_gone(start_agent: Callable[..., Any], edge_bus: str) -> None:
    """The unit says active but nothing answers on the broker's address: no status, disconnected."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    for unit in UNITS:
        set_unit(edge_bus, unit[0], unit[2], unit[3])
    agent = start_agent(dbus_address=edge_bus, docker_host=None,
                        args=["--edgehub-edgebus-url", f"mqtt://127.0.0.1:{port}"])
    with admin_client(agent) as client:
        assert client.get("/edgehub/api/edgebus/status").json() == {"enabled": True, "clientStatus": "disconnected"}


def test_edgebus_with_credentials(start_agent: Callable[..., Any], edge_bus: str, tmp_path: Path) -> None:
    """A broker that wants a password: the right one in --edgehub-edgebus-url reads $SYS, a wrong one
    is refused at once (no wait for the probe's timeout); neither appears in the agent's log."""
    secured = Mosquitto(users={"edge": "Edge-Secret-1"})
    secured.start()
    try:
        for unit in UNITS:
            set_unit(edge_bus, unit[0], unit[2], unit[3])
        for password, expected in (("Edge-Secret-1", "connected"), ("Wrong-Secret-2", "disconnected")):
            agent = start_agent(dbus_address=edge_bus, docker_host=None, data_dir=tmp_path / expected,
                                args=["--edgehub-edgebus-url", f"mqtt://edge:{password}@127.0.0.1:{secured.port}"])
            with admin_client(agent) as client:
                started = time.monotonic()
                status = client.get("/edgehub/api/edgebus/status").json()
                assert status["clientStatus"] == expected and ("mqttBrokerStatus" in status) == (expected == "connected")
                assert time.monotonic() - started < 2.5
            agent.stop()
            assert password not in agent.log.read_text(errors="replace")
    finally:
        secured.stop()


def test_macaddr_in_a_namespace(start_agent: Callable[..., Any], netns: Callable[[], str], tmp_path: Path) -> None:
    from integration.processes import ip

    name = netns()
    for link, peer, mac in (("eh0", "eh0p", "02:16:00:00:00:a1"), ("eh1", "eh1p", "02:16:00:00:00:b2")):
        ip("-n", name, "link", "add", link, "address", mac, "type", "veth", "peer", "name", peer)
        ip("-n", name, "link", "set", link, "up")
        ip("-n", name, "link", "set", peer, "up")
    ip("-n", name, "addr", "add", "10.216.0.1/24", "dev", "eh0")
    ip("-n", name, "addr", "add", "10.216.1.1/24", "dev", "eh1")
    agent = start_agent(netns=name, docker_host=None, dbus_address=None, listen=f"unix:{tmp_path / 'a.sock'}")
    with admin_client(agent) as client:
        response = client.get("/edgehub/api/macaddr")  # no default route yet
        assert (response.status_code, response.content) == (404, b"")
        ip("-n", name, "route", "add", "default", "via", "10.216.0.254", "dev", "eh0", "metric", "200")
        ip("-n", name, "route", "add", "default", "via", "10.216.1.254", "dev", "eh1", "metric", "100")
        assert client.get("/edgehub/api/macaddr").json() == "02:16:00:00:00:B2"  # the lower metric
        profile = client.get("/edgehub/api/profile").json()
        assert (profile["system:mac"], profile["system:ip"]) == ("02:16:00:00:00:b2", "10.216.1.1")
        assert profile["networking:interfaces"] == 4 and profile["service:list"] == 0
        ip("-n", name, "route", "del", "default", "via", "10.216.1.254", "dev", "eh1")
        assert client.get("/edgehub/api/macaddr").json() == "02:16:00:00:00:A1"
        # a tunnel without a MAC holding the best default route: the next route's interface
        ip("-n", name, "tuntap", "add", "dev", "ehtun", "mode", "tun")
        ip("-n", name, "addr", "add", "10.216.2.1/24", "dev", "ehtun")
        ip("-n", name, "link", "set", "ehtun", "up")
        ip("-n", name, "route", "add", "default", "dev", "ehtun", "metric", "10")
        assert client.get("/edgehub/api/macaddr").json() == "02:16:00:00:00:A1"
        ip("-n", name, "route", "del", "default", "via", "10.216.0.254", "dev", "eh0")
        response = client.get("/edgehub/api/macaddr")
        assert (response.status_code, response.content) == (404, b"")


def test_pem_upload_real_agent(start_agent: Callable[..., Any]) -> None:
    from tests.api.test_edgehub_local import pems

    agent = start_agent(docker_host=None, dbus_address=None)
    made = pems()
    with admin_client(agent) as client:
        for kind in ("CERTIFICATE", "EC PRIVATE KEY", "PRIVATE KEY"):
            response = client.post("/edgehub/api/pem/temp", files={"file": ("a.pem", made[kind])})
            assert response.json() == {"type": kind, "data": base64.b64encode(made[kind]).decode()}
        for junk in (b"junk", made["ENCRYPTED PRIVATE KEY"], b"\x00" * 5000):
            response = client.post("/edgehub/api/pem/temp", files={"file": ("a.pem", junk)})
            assert response.status_code == 400 and list(response.json()) == ["message"]
        assert client.get("/edgehub/api/ping").text == "pong"  # still up
