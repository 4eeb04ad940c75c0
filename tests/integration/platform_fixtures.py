"""Fixtures of the platform integration tests, self-contained: a private system bus of their own
(dbus-daemon + python-dbusmock systemd-with-units, logind and NetworkManager), and network
namespaces made by the shared `netns` fixture. Every process is started here and stopped here by PID."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TEMPLATES = Path(__file__).resolve().parent.parent / "dbus_templates"
DBUSMOCK_PYTHON = os.environ.get("POLYVISOR_TEST_DBUSMOCK_PYTHON", "/usr/bin/python3")
UNITS = [["ssh.service", "OpenBSD Secure Shell server", "active", "enabled"],
         ["cron.service", "Regular background program processing daemon", "inactive", "enabled"],
         ["bluetooth.service", "Bluetooth service", "inactive", "disabled"],
         ["apphub.service", "AppHub-Edge Service", "failed", "enabled"],
         ["dbus.socket", "D-Bus System Message Bus Socket", "active", "static"]]
# bus name -> (template, main object path)
MOCKS = {"org.freedesktop.systemd1": (str(TEMPLATES / "systemd_units.py"), "/org/freedesktop/systemd1"),
         "org.freedesktop.login1": ("logind", "/org/freedesktop/login1"),
         "org.freedesktop.NetworkManager": ("networkmanager", "/org/freedesktop/NetworkManager")}
CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""


def bus_call(address: str, destination: str, path: str, interface: str, method: str,
             signature: str | None = None, body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """One method call on a fresh connection (jeepney); the reply body."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    conn = open_dbus_connection(bus=address)
    try:
        message = new_method_call(DBusAddress(path, destination, interface), method, signature, body)
        return tuple(unwrap_msg(conn.send_and_get_reply(message, timeout=10)))
    finally:
        conn.close()


def mock_call(address: str, name: str, path: str, method: str, signature: str, *args: Any) -> Any:
    """Call a mock's own interface (AddWiFiDevice, AddAccessPoint, ...)."""
    return bus_call(address, name, path, "org.freedesktop.DBus.Mock", method, signature, args)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.05)


def _answers(address: str, name: str = "org.freedesktop.DBus") -> bool:
    try:
        if name == "org.freedesktop.DBus":
            bus_call(address, name, "/org/freedesktop/DBus", name, "GetId")
            return True
        return bool(bus_call(address, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "NameHasOwner", "s", (name,))[0])
    except (OSError, EOFError):
        return False


@pytest.fixture(scope="module")
def platform_bus() -> Iterator[str]:
    """Address of a private bus with systemd (units listed), logind and NetworkManager mocks."""
    if shutil.which("dbus-daemon") is None or not Path(DBUSMOCK_PYTHON).exists():
        pytest.skip("dbus-daemon and python3-dbusmock are needed")
    folder = Path(tempfile.mkdtemp(prefix="pv5-dbus-"))
    socket = folder / "bus"
    address = f"unix:path={socket}"
    (folder / "system.conf").write_text(CONF.format(socket=socket))
    procs: list[subprocess.Popen[bytes]] = []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["DBUS_SYSTEM_BUS_ADDRESS"] = address
    try:
        with open(folder / "log", "ab") as log:
            procs.append(subprocess.Popen(["dbus-daemon", f"--config-file={folder / 'system.conf'}", "--nofork"],
                                          stdout=log, stderr=log, stdin=subprocess.DEVNULL))
            _wait(lambda: _answers(address), "dbus-daemon")
            for name, (template, _) in MOCKS.items():
                argv = [DBUSMOCK_PYTHON, "-m", "dbusmock", "--template", template]
                if "systemd" in name:
                    argv += ["--parameters", json.dumps({"units": UNITS})]
                procs.append(subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env))
        for name in MOCKS:
            _wait(lambda name=name: _answers(address, name), f"dbusmock {name}")
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def platform_calls(platform_bus: str) -> Callable[..., list[tuple[str, tuple[Any, ...]]]]:
    """calls(bus name[, path]) -> [(method, args)] that mock recorded; all cleared before the test."""
    for name, (_, path) in MOCKS.items():
        bus_call(platform_bus, name, path, "org.freedesktop.DBus.Mock", "ClearCalls")

    def calls(name: str, path: str | None = None) -> list[tuple[str, tuple[Any, ...]]]:
        (found,) = bus_call(platform_bus, name, path or MOCKS[name][1], "org.freedesktop.DBus.Mock", "GetCalls")
        return [(method, tuple(value for _sig, value in args)) for _ts, method, args in found]

    return calls


from integration.processes import ip  # noqa: F401  (re-exported for the platform tests)


def ip_out(*args: str) -> str:
    """`ip ARGS` output."""
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def pv5_netns(netns: Callable[[], str]) -> Callable[[], str]:
    """make() -> a new network namespace with lo up (the shared `netns` fixture); deleted afterwards."""
    return netns


FACTORY_PASSWORD = "p@ssw0rd"  # the platform's admin password until it is changed


def admin_login(client: Any, password: str) -> Any:
    """Put an admin JWT on `client` (an httpx client of a real agent): log in with `password`, or,
    while the factory password is still set, change it to `password` first (the platform refuses
    its routes with 403 until then). The client, for chaining."""
    def token(secret: str) -> Any:
        basic = base64.b64encode(f"admin:{secret}".encode()).decode()
        return client.get("/auth/token?m=2", headers={"Authorization": f"Basic {basic}"})

    answer = token(password)
    if answer.status_code != 200:
        first = token(FACTORY_PASSWORD).json()["token"]
        changed = client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                             json={"old": FACTORY_PASSWORD, "new": password})
        assert changed.status_code == 200, changed.text
        answer = token(password)
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client
