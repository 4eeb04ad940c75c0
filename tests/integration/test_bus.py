"""handlers.host.bus.Bus on a real dbus-daemon, with dbusmock's logind and our systemd and hostnamed."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers.errors import BusUnavailable
from handlers.host.bus import HOSTNAMED, LOGIND, SYSTEMD, Bus
from integration.components import SystemBus

DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")


@pytest.fixture
def bus(system_bus: str) -> Iterator[Bus]:
    """A Bus on the private system bus."""
    client = Bus(system_bus, timeout=5)
    yield client
    client.close()


def test_logind(bus: Bus) -> None:
    assert bus.call(LOGIND, "ListSessions") == ([],)
    assert bus.call(LOGIND, "CanReboot") == ("yes",)
    assert bus.get_property(LOGIND, "IdleAction") == "ignore"


def test_systemd(bus: Bus) -> None:
    assert bus.get_property(SYSTEMD, "Version") == "252"


def test_hostnamed_properties(bus: Bus) -> None:
    assert bus.get_property(HOSTNAMED, "Hostname") == "polyvisor-test"
    assert bus.get_property(HOSTNAMED, "StaticHostname") == "polyvisor-test"
    assert bus.get_property(HOSTNAMED, "Chassis") == "embedded"
    assert bus.get_property(HOSTNAMED, "OperatingSystemPrettyName") == "balenaOS 2.38.0+rev1"
    for name in ("PrettyHostname", "KernelRelease", "OperatingSystemCPEName", "Deployment"):
        assert isinstance(bus.get_property(HOSTNAMED, name), str)


def test_hostnamed_setters_are_recorded(bus: Bus, dbus_calls: Any) -> None:
    assert dbus_calls("hostnamed") == []  # each test starts with a clean record
    bus.call(HOSTNAMED, "SetStaticHostname", "sb", ("device-a", False))
    bus.call(HOSTNAMED, "SetPrettyHostname", "sb", ("Device A", False))
    assert bus.get_property(HOSTNAMED, "StaticHostname") == "device-a"
    assert bus.get_property(HOSTNAMED, "Hostname") == "device-a"  # the static name applies
    assert bus.get_property(HOSTNAMED, "PrettyHostname") == "Device A"
    bus.call(HOSTNAMED, "SetHostname", "sb", ("transient", False))
    assert bus.get_property(HOSTNAMED, "Hostname") == "transient"
    assert bus.get_property(HOSTNAMED, "StaticHostname") == "device-a"
    assert dbus_calls("hostnamed") == [("SetStaticHostname", ("device-a", False)),
                                       ("SetPrettyHostname", ("Device A", False)),
                                       ("SetHostname", ("transient", False))]


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_finds_hostnamed_as_loaded(bus: Bus, attempt: int) -> None:
    assert bus.get_property(HOSTNAMED, "Hostname") == "polyvisor-test"
    assert bus.get_property(HOSTNAMED, "PrettyHostname") == ""
    bus.call(HOSTNAMED, "SetStaticHostname", "sb", (f"changed-{attempt}", False))
    bus.call(HOSTNAMED, "SetPrettyHostname", "sb", ("Changed", False))


def test_logind_calls_are_recorded(bus: Bus, dbus_calls: Any) -> None:
    assert dbus_calls("logind") == []
    bus.call(LOGIND, "Reboot", "b", (False,))  # the mock's: it only records the call
    assert dbus_calls("logind") == [("Reboot", (False,))]
    dbus_calls.clear("logind")
    assert dbus_calls("org.freedesktop.login1") == []


def test_unknown_method_is_bus_unavailable(bus: Bus) -> None:
    with pytest.raises(BusUnavailable, match="UnknownMethod"):
        bus.call(LOGIND, "NoSuchMethod")


def test_no_bus_then_bus_then_gone_then_back() -> None:
    folder = Path(tempfile.mkdtemp(prefix="pv-dbus-"))
    socket = folder / "later_bus_socket"
    bus = Bus(f"unix:path={socket}", timeout=5)
    daemons: list[SystemBus] = []
    try:
        with pytest.raises(BusUnavailable):
            bus.call(DBUS, "GetId")

        daemons.append(SystemBus(folder, socket))
        daemons[-1].start()
        assert bus.call(DBUS, "GetId")[0]  # the same Bus object, now connected

        daemons[-1].stop(remove=False)
        with pytest.raises(BusUnavailable):
            bus.call(DBUS, "GetId")

        daemons.append(SystemBus(folder, socket))
        daemons[-1].start()
        assert bus.call(DBUS, "GetId")[0]
    finally:
        bus.close()
        for daemon in daemons:
            daemon.stop(remove=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_probe_names_the_services_the_bus_lacks(bus: Bus) -> None:
    """The start-up report's probe: a throwaway connection, the shared one left alone."""
    assert bus.probe(timeout=1) == []
    folder = Path(tempfile.mkdtemp(prefix="pv-dbus-"))
    bare = SystemBus(folder)  # a bus with none of the services on it
    try:
        with pytest.raises(BusUnavailable, match=f"^D-Bus unavailable at {bare.address}: "):
            Bus(bare.address).probe(timeout=1)
        bare.start()
        assert Bus(bare.address).probe(timeout=1) == ["logind", "hostnamed", "systemd"]
    finally:
        bare.stop()
