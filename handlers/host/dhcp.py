"""Turn DHCP on for an interface: NetworkManager over D-Bus when it runs, else a DHCP client."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from handlers.errors import BusUnavailable, PolyvisorError
from handlers.host.bus import Bus

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
CLIENTS = (("dhclient", ["-4", "-nw"]), ("dhcpcd", ["-4", "-b"]), ("udhcpc", ["-b", "-i"]))


def nm_running(bus: Bus) -> bool:
    """True when NetworkManager owns its name on the system bus."""
    try:
        (owned,) = bus.call(("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus"),
                            "NameHasOwner", "s", (NM,))
    except BusUnavailable:
        return False
    return bool(owned)


class Dhcp:
    """enable(name): ipv4.method=auto on the device's connection and activate it (NM), or run a client."""

    def __init__(self, bus: Bus, netns: str | None = None) -> None:
        self._bus = bus
        self._netns = netns

    def enable(self, name: str) -> None:
        """DHCP on `name`; PolyvisorError when neither NM nor a DHCP client is there."""
        if nm_running(self._bus):
            self._with_nm(name)
        else:
            self._with_client(name)

    def _with_nm(self, name: str) -> None:
        (device,) = self._bus.call((NM, NM_PATH, NM), "GetDeviceByIpIface", "s", (name,))
        props = (NM, device, "org.freedesktop.NetworkManager.Device")
        connections = list(self._bus.get_property(props, "AvailableConnections"))
        if not connections:
            raise PolyvisorError(f"NetworkManager has no connection for {name}")
        path = connections[0]
        target = (NM, path, "org.freedesktop.NetworkManager.Settings.Connection")
        (settings,) = self._bus.call(target, "GetSettings")
        settings = {group: dict(values) for group, values in settings.items()}
        settings["ipv4"] = {"method": ("s", "auto")}
        self._bus.call(target, "Update", "a{sa{sv}}", (settings,))
        self._bus.call((NM, NM_PATH, NM), "ActivateConnection", "ooo", (path, device, "/"))

    def _with_client(self, name: str) -> None:
        for client, args in CLIENTS:
            if shutil.which(client):
                argv = [client, *args, name]
                if self._netns:
                    argv = ["ip", "netns", "exec", self._netns, *argv]
                done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
                if done.returncode:
                    raise PolyvisorError(f"{client}: {done.stderr.strip() or done.returncode}")
                return
        raise PolyvisorError("no DHCP client (NetworkManager, dhclient, dhcpcd, udhcpc) is available")

    def describe(self) -> dict[str, Any]:
        """Which way DHCP would be enabled now."""
        return {"networkmanager": nm_running(self._bus)}
