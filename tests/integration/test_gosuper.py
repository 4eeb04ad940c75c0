"""The resin Go helper's API served by the real agent on its unix socket: dbusmock's logind and our
systemd on the private bus (the calls they record are checked), a network namespace for /v1/ipaddr,
curl --unix-socket as the node supervisor's request library spoke to it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from integration.processes import ip
from integration.sysbus import MOCK_IFACE, bus_call

SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1")
OK = b'{"Data":"OK","Error":""}'


def gosuper(start_agent: Callable[..., Any], folder: Path, **options: Any) -> Any:
    """The agent serving only gosuper on <folder>/gosuper.sock, found through GOSUPER_SOCKET."""
    path = folder / "gosuper.sock"
    env = {"GOSUPER_SOCKET": str(path), **options.pop("env", {})}
    options.setdefault("docker_host", None)  # the helper never talks to the engine
    return start_agent(listen=f"unix:{path}", args=["--dialects", "gosuper"], env=env, **options)


def post(agent: Any, path: str, body: bytes = b"") -> tuple[int, bytes]:
    with agent.client() as client:
        response = client.post(path, content=body)
    assert response.headers["content-type"] in ("application/json", "text/plain; charset=utf-8")
    return response.status_code, response.content


def get(agent: Any, path: str) -> tuple[int, bytes]:
    with agent.client() as client:
        response = client.get(path)
    return response.status_code, response.content


def add_unit(bus: str, name: str, active: str, file_state: str = "enabled") -> None:
    bus_call(bus, *SYSTEMD, MOCK_IFACE, "AddUnit", "ssss", (name, name, active, file_state))


def remove_unit(bus: str, name: str) -> None:
    bus_call(bus, *SYSTEMD, MOCK_IFACE, "RemoveUnit", "s", (name,))


def calls(dbus_calls: Any, name: str, expected: int, timeout: float = 10.0) -> list[tuple[str, tuple[Any, ...]]]:
    """The mock's recorded calls, once there are `expected` of them (polled)."""
    deadline = time.monotonic() + timeout
    while len(found := dbus_calls(name)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.fixture
def helper(start_agent: Callable[..., Any], tmp_path: Path) -> Any:
    return gosuper(start_agent, tmp_path)


@pytest.fixture
def units(system_bus: str) -> Any:
    """The units a test adds are gone again afterwards (the bus is shared by the session)."""
    added: list[str] = []

    def add(name: str, active: str, file_state: str = "enabled") -> None:
        add_unit(system_bus, name, active, file_state)
        added.append(name)

    yield add
    for name in added:
        remove_unit(system_bus, name)


def test_socket_mode_stale_socket_and_exit(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "gosuper.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # a socket file nobody answers on, as a killed helper leaves it
    agent = gosuper(start_agent, tmp_path)
    mode = path.lstat().st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o777 & ~current_umask()  # net.Listen("unix"): 0777 &^ umask
    assert get(agent, "/ping") == (200, b"OK\n")
    assert agent.stop() == 0
    assert not path.exists()


def test_refuses_a_file_a_live_socket_and_a_missing_folder(start_agent: Callable[..., Any],
                                                           tmp_path: Path) -> None:
    path = tmp_path / "gosuper.sock"
    path.write_text("not a socket")
    agent = gosuper(start_agent, tmp_path, wait=False)
    assert agent.process.wait(30) == 1
    assert "it exists and is not a socket" in agent.log.read_text()
    assert path.read_text() == "not a socket"
    path.unlink()
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen()
    try:
        agent = gosuper(start_agent, tmp_path, wait=False)
        assert agent.process.wait(30) == 1
        assert "another process answers there" in agent.log.read_text()
    finally:
        live.close()
    path.unlink()
    missing = tmp_path / "no" / "such" / "gosuper.sock"
    agent = start_agent(listen=f"unix:{missing}", args=["--dialects", "gosuper"],
                        env={"GOSUPER_SOCKET": str(missing)}, docker_host=None, wait=False)
    assert agent.process.wait(30) == 1
    assert f"the folder {missing.parent} does not exist" in agent.log.read_text()


@pytest.mark.parametrize(("route", "method"), [("/v1/reboot", "Reboot"), ("/v1/shutdown", "PowerOff")])
def test_power_answers_202_then_calls_logind(helper: Any, dbus_calls: Any, route: str, method: str) -> None:
    started = time.monotonic()
    assert post(helper, route, b"ignored") == (202, OK)
    found = calls(dbus_calls, "logind", 1)
    assert time.monotonic() - started >= 0.9  # a second after the answer
    assert found == [(method, (False,))]


def test_power_without_a_bus_at_start(start_agent: Callable[..., Any], tmp_path: Path) -> None:
    agent = gosuper(start_agent, tmp_path, dbus_address=None)
    assert post(agent, "/v1/reboot") == (500, b'{"Data":"Error","Error":"Logind unavailable, cannot reboot."}')


def test_vpncontrol(helper: Any, dbus_calls: Any, units: Any) -> None:
    units("openvpn-resin.service", "inactive")
    assert get(helper, "/v1/vpncontrol") == (200, b'{"Data":false,"Error":""}')
    assert post(helper, "/v1/vpncontrol", b'{"enable":true}') == (202, OK)
    assert get(helper, "/v1/vpncontrol") == (200, b'{"Data":true,"Error":""}')
    assert post(helper, "/v1/vpncontrol", b"{}") == (202, OK)
    assert get(helper, "/v1/vpncontrol") == (200, b'{"Data":false,"Error":""}')
    jobs = [c for c in dbus_calls("systemd") if c[0] in ("StartUnit", "StopUnit")]
    assert jobs == [("StartUnit", ("openvpn-resin.service", "fail")), ("StopUnit", ("openvpn-resin.service", "fail"))]


def test_vpncontrol_without_the_unit_is_systemds_error(helper: Any) -> None:
    assert post(helper, "/v1/vpncontrol", b'{"Enable":true}') == (
        500, b'{"Data":"Error","Error":"Unit openvpn-resin.service not found."}')


def test_log_to_display_2018(helper: Any, dbus_calls: Any, units: Any) -> None:
    assert get(helper, "/v1/log-to-display") == (404, b'{"Data":"Error","Error":"Not found"}')
    assert post(helper, "/v1/log-to-display", b'{"Enable":true}') == (404, b'{"Data":"Error","Error":"Not found"}')
    units("tty-replacement.service", "inactive", "disabled")  # the older OS's unit is the fallback
    assert get(helper, "/v1/log-to-display") == (200, b'{"Data":false,"Error":""}')
    units("resin-info@tty1.service", "inactive", "disabled")
    dbus_calls.clear("systemd")
    assert post(helper, "/v1/log-to-display", b'{"enable":true}') == (200, b'{"Data":true,"Error":""}')
    changes = [c for c in dbus_calls("systemd") if c[0] != "LoadUnit"]
    assert changes == [("StartUnit", ("resin-info@tty1.service", "fail")),
                       ("EnableUnitFiles", (["resin-info@tty1.service"], False, False))]
    assert post(helper, "/v1/log-to-display", b'{"Enable":true}') == (200, b'{"Data":false,"Error":""}')
    assert get(helper, "/v1/log-to-display") == (200, b'{"Data":true,"Error":""}')
    dbus_calls.clear("systemd")
    assert post(helper, "/v1/log-to-display", b'{"Enable":false}') == (200, b'{"Data":true,"Error":""}')
    changes = [c for c in dbus_calls("systemd") if c[0] != "LoadUnit"]
    assert changes == [("StopUnit", ("resin-info@tty1.service", "fail")),
                       ("DisableUnitFiles", (["resin-info@tty1.service"], False))]


def test_set_log_to_display_2016_falls_back_without_checking(helper: Any, dbus_calls: Any, units: Any) -> None:
    # neither unit: 2016 took tty-replacement blindly, so starting it is systemd's error
    assert post(helper, "/v1/set-log-to-display", b'{"Enable":false}') == (200, b'{"Data":false,"Error":""}')
    assert post(helper, "/v1/set-log-to-display", b'{"Enable":true}') == (
        500, b'{"Data":"Error","Error":"Unable to start service: Unit tty-replacement.service not found."}')
    units("tty-replacement.service", "inactive", "disabled")
    dbus_calls.clear("systemd")
    assert post(helper, "/v1/set-log-to-display", b'{"Enable":true}') == (200, b'{"Data":true,"Error":""}')
    assert [c for c in dbus_calls("systemd") if c[0] != "LoadUnit"] == [
        ("StartUnit", ("tty-replacement.service", "fail")),
        ("EnableUnitFiles", (["tty-replacement.service"], False, False))]


def test_restart_service(helper: Any, dbus_calls: Any, units: Any) -> None:
    units("resin-proxy-config.service", "active")
    dbus_calls.clear("systemd")
    assert post(helper, "/v1/restart-service", b'{"Name":"resin-proxy-config"}') == (200, OK)
    assert dbus_calls("systemd") == [("RestartUnit", ("resin-proxy-config.service", "fail"))]
    assert post(helper, "/v1/restart-service", b'{"name":"../etc/passwd"}') == (
        500, b'{"Data":"Error","Error":"Unit ../etc/passwd.service not found."}')


def test_purge_on_the_socket(helper: Any, host_root: Path, tmp_path: Path) -> None:
    folder = host_root / "resin-data" / "1234"
    (folder / "deep").mkdir(parents=True)
    for name in (".env", "resin-updates.lock", "deep/file"):
        (folder / name).write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    (folder / "escape").symlink_to(outside)
    (host_root / "resin-data" / "99").symlink_to(outside)
    assert post(helper, "/v1/purge", b'{"applicationId":1234}') == (200, OK)
    assert list(folder.iterdir()) == []
    assert post(helper, "/v1/purge", b'{"applicationId":"99"}') == (200, OK)
    assert (outside / "keep").exists() and not (host_root / "resin-data" / "99").is_symlink()
    assert post(helper, "/v1/purge", b'{"applicationId":"../outside"}') == (
        400, b'{"Data":"Error","Error":"Invalid applicationId \'../outside\'"}')


def test_ipaddr_filter_in_a_namespace(netns: Callable[[], str], start_agent: Callable[..., Any],
                                      tmp_path: Path) -> None:
    name = netns()
    # veth pairs (link, address or None, up): the device's own, a down one, the engine's and VPN's
    pairs = [(("eth0", "10.214.1.2", True), ("wlan0", "10.214.2.2", True)),
             (("eth1", "10.214.3.2", False), ("pvpeer", None, True)),
             (("docker0", "10.214.4.1", True), ("tun0", "10.214.5.1", True)),
             (("resin-vpn", "10.214.6.1", True), ("balena0", "10.214.7.1", True)),
             (("resin-dns", "10.214.8.1", True), ("tun10", "10.214.9.1", True))]
    for pair in pairs:
        ip("-n", name, "link", "add", pair[0][0], "type", "veth", "peer", "name", pair[1][0])
        for index, (link, address, up) in enumerate(pair):
            if address:
                ip("-n", name, "addr", "add", f"{address}/24", "dev", link)
                ip("-n", name, "-6", "addr", "add", f"fd00:{address.split('.')[2]}::{index + 2}/64", "dev", link)
            if up:
                ip("-n", name, "link", "set", link, "up")
    agent = gosuper(start_agent, tmp_path, netns=name)
    # Go listed the interfaces by index (a veth's peer is made first)
    shown = json.loads(subprocess.run(["ip", "-n", name, "-j", "link", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    index = {link["ifname"]: link["ifindex"] for link in shown}
    own = sorted([("eth0", "10.214.1.2"), ("wlan0", "10.214.2.2")], key=lambda item: index[item[0]])
    listed = ",".join(f'"{address}"' for _, address in own)
    assert get(agent, "/v1/ipaddr") == (200, b'{"Data":{"IPAddresses":[' + listed.encode() + b']},"Error":""}')
    empty = netns()
    other = tmp_path / "other"
    other.mkdir()
    agent = gosuper(start_agent, other, netns=empty)
    assert get(agent, "/v1/ipaddr") == (200, b'{"Data":{"IPAddresses":null},"Error":""}')


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_over_the_socket(helper: Any) -> None:
    """What curl (and node's request library) sees: status lines, Go's headers, mux's cleaning."""
    def curl(*args: str) -> str:
        out = subprocess.run(["curl", "-sS", "-i", "--path-as-is", "--unix-socket", str(helper.socket), *args],
                             capture_output=True, timeout=30, check=True)
        return out.stdout.decode()  # not text=True: that would turn CRLF into LF

    answer = curl("-X", "POST", "-d", "", "http://localhost/v1/vpncontrol")
    head, _, body = answer.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    assert headers["content-type"] == "application/json" and headers["content-length"] == str(len(body))
    assert "server" not in headers and "date" in headers
    assert body == '{"Data":"Error","Error":"EOF"}'
    answer = curl("http://localhost//v1/../ping?x=1")
    assert answer.startswith("HTTP/1.1 301 Moved Permanently\r\n")
    assert "\r\nlocation: /ping?x=1\r\n" in answer.lower()
    answer = curl("-X", "DELETE", "http://localhost/v1/reboot")
    assert answer.startswith("HTTP/1.1 404 Not Found\r\n") and answer.endswith("\r\n\r\n404 page not found\n")
    assert curl("http://localhost/ping").endswith("\r\n\r\nOK\n")


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
