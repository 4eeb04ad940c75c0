"""A private system bus: dbus-daemon (type system, allow-all policy) with python-dbusmock services.

The mocks run under Debian's python3 (its python3-dbusmock, dbus-python and gi), never the venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from integration.processes import TIMINGS, spawn, stop_process, wait_until

# /usr/bin/python3: Debian's python3-dbusmock with its dbus-python and gi (not the venv's python)
DBUSMOCK_PYTHON = os.environ.get("POLYVISOR_TEST_DBUSMOCK_PYTHON", "/usr/bin/python3")

SYSTEM_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# The bus names our mock templates own, and their main objects.
MOCKS = {
    "logind": ("org.freedesktop.login1", "/org/freedesktop/login1"),
    "systemd": ("org.freedesktop.systemd1", "/org/freedesktop/systemd1"),
    "systemd_units": ("org.freedesktop.systemd1", "/org/freedesktop/systemd1"),
    "hostnamed": ("org.freedesktop.hostname1", "/org/freedesktop/hostname1"),
    "rauc": ("de.pengutronix.rauc", "/"),
}
MOCK_IFACE = "org.freedesktop.DBus.Mock"


def bus_call(address: str, destination: str, path: str, interface: str, method: str,
             signature: str | None = None, body: tuple[Any, ...] = (), timeout: float = 10) -> tuple[Any, ...]:
    """One method call on a fresh connection; the reply body (DBusErrorResponse on errors)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    conn = open_dbus_connection(bus=address)
    try:
        message = new_method_call(DBusAddress(path, destination, interface), method, signature, body)
        return tuple(unwrap_msg(conn.send_and_get_reply(message, timeout=timeout)))
    finally:
        conn.close()


class SystemBus:
    """A private dbus-daemon of type system, policy allow-all, with python-dbusmock services."""

    def __init__(self, workdir: Path, socket: Path | None = None) -> None:
        self.dir = workdir
        self.socket = socket or workdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.log = workdir / "dbus-daemon.log"
        self.daemon: subprocess.Popen[bytes] | None = None
        self.mocks: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self.started_at = time.monotonic()

    def start(self, timeout: float = 30.0) -> None:
        """Start dbus-daemon and wait until it accepts connections."""
        if shutil.which("dbus-daemon") is None:
            raise RuntimeError("dbus-daemon is not installed (scripts/test installs it)")
        self.started_at = time.monotonic()
        config = self.dir / "system.conf"
        config.write_text(SYSTEM_CONF.format(socket=self.socket))
        self.daemon = spawn(["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
                            self.log, stdout=self.dir / "address")
        wait_until(self.answers, timeout, "dbus-daemon", self.daemon, self.log)

    def answers(self) -> bool:
        """True when the bus daemon answers GetId."""
        try:
            bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                     "org.freedesktop.DBus", "GetId", timeout=2)
            return True
        except (OSError, EOFError):
            return False

    def add_mock(self, template: str, parameters: dict[str, Any] | None = None) -> None:
        """Start `python3 -m dbusmock --template T` on this bus (call wait_for_mocks after)."""
        if not Path(DBUSMOCK_PYTHON).exists():
            raise RuntimeError(f"{DBUSMOCK_PYTHON} missing: install python3-dbusmock")
        stem = Path(template).stem
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        argv = [DBUSMOCK_PYTHON, "-m", "dbusmock", "--template", template]
        if parameters:
            argv += ["--parameters", json.dumps(parameters)]
        log = self.dir / f"mock-{stem}.log"
        self.mocks.append((MOCKS[stem][0], spawn(argv, log, env), log))

    def wait_for_mocks(self, timeout: float = 30.0) -> None:
        """Wait until every mock owns its bus name."""
        for name, proc, log in self.mocks:
            def owned(name: str = name) -> bool:
                return bool(bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "NameHasOwner", "s", (name,))[0])

            wait_until(owned, timeout, f"dbusmock {name}", proc, log)
        took = time.monotonic() - self.started_at
        TIMINGS[f"dbus-daemon {self.socket} and {len(self.mocks)} dbusmock services"] = f"{took:.2f} s"

    def stop(self, remove: bool = True) -> None:
        """Stop the mocks and the daemon; remove the work folder."""
        for _, proc, _ in reversed(self.mocks):
            stop_process(proc, 5)
        self.mocks.clear()
        if self.daemon is not None:
            stop_process(self.daemon, 5)
            self.daemon = None
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


class MockCalls:
    """calls("logind") -> [(method, args)] that mock recorded; calls.clear("logind") resets it.

    Accepts a template stem (logind, systemd, hostnamed) or a bus name with its object path.
    """

    def __init__(self, address: str) -> None:
        self.address = address

    def _target(self, name: str, path: str | None) -> tuple[str, str]:
        for bus_name, main in MOCKS.values():
            if name == bus_name:
                return bus_name, path or main
        if name in MOCKS:
            return MOCKS[name][0], path or MOCKS[name][1]
        if path is None:
            raise ValueError(f"object path needed for {name}")
        return name, path

    def __call__(self, name: str, path: str | None = None) -> list[tuple[str, tuple[Any, ...]]]:
        destination, path = self._target(name, path)
        (calls,) = bus_call(self.address, destination, path, MOCK_IFACE, "GetCalls")
        # a(tsav): (timestamp, method, [variant (signature, value)])
        return [(method, tuple(value for _sig, value in args)) for _ts, method, args in calls]

    def clear(self, name: str, path: str | None = None) -> None:
        """Forget the calls recorded so far."""
        destination, path = self._target(name, path)
        bus_call(self.address, destination, path, MOCK_IFACE, "ClearCalls")

    def reset(self) -> None:
        """Every mock as at start: no recorded calls, hostnamed's properties as loaded."""
        names = [n for n in MOCKS if self._owned(MOCKS[n][0])]
        if "hostnamed" in names:
            bus_call(self.address, *MOCKS["hostnamed"], MOCK_IFACE, "Reset")
        for name in names:  # after Reset, which is recorded too
            self.clear(name)

    def _owned(self, name: str) -> bool:
        return bool(bus_call(self.address, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "NameHasOwner", "s", (name,))[0])


@contextmanager
def private_bus(prefix: str, mocks: Sequence[tuple[str, dict[str, Any] | None]]) -> Iterator[str]:
    """A SystemBus in a fresh temp folder with these (template, parameters) mocks; its address."""
    bus = SystemBus(Path(tempfile.mkdtemp(prefix=prefix)))
    try:
        bus.start()
        for template, parameters in mocks:
            bus.add_mock(template, parameters)
        bus.wait_for_mocks()
        yield bus.address
    finally:
        bus.stop()
