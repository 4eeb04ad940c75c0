"""The device's network as netlink reports it (pyroute2, imported on first use)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

# Interfaces whose addresses are not the device's own: engine bridges, VPN and the
# supervisor's networks (the legacy supervisor's list, from its network module).
INTERNAL_INTERFACES = re.compile(
    r"^(?:lo|docker\d*|rce\d*|tun\d*|resin-vpn|balena\d*|resin-dns|balena-dns|supervisor0|"
    r"balena-redsocks|resin-redsocks|br-[0-9a-f]{12}|veth.*)$"
)
IFF_UP = 0x1
IFF_LOOPBACK = 0x8


@dataclass(frozen=True)
class Address:
    """One address on one interface."""

    interface: str
    family: int
    address: str
    prefixlen: int


class Network:
    """Reads links and addresses through netlink."""

    def __init__(self, netns: str | None = None) -> None:
        self._netns = netns

    def _iproute(self) -> Any:
        from pyroute2 import IPRoute, NetNS  # heavy: imported on first use

        return NetNS(self._netns) if self._netns else IPRoute()

    def addresses(self) -> list[Address]:
        """Every address of every interface that is up, in kernel order."""
        with self._iproute() as ipr:
            up = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                  if link["flags"] & 1}
            found = []
            for msg in ipr.get_addr():
                name = up.get(msg["index"])
                if name is None:
                    continue
                found.append(Address(name, msg["family"], msg.get_attr("IFA_ADDRESS"),
                                     msg["prefixlen"]))
            return found

    def up_ipv4(self, exclude: re.Pattern[str]) -> list[str]:
        """IPv4 addresses of the interfaces that are up (IFF_UP) and not loopback (IFF_LOOPBACK),
        whose name `exclude` does not find anywhere in it; by interface index, then kernel order."""
        with self._iproute() as ipr:
            kept = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                    if link["flags"] & IFF_UP and not link["flags"] & IFF_LOOPBACK}
            kept = {index: name for index, name in kept.items() if not exclude.search(name or "")}
            found = [(msg["index"], msg.get_attr("IFA_ADDRESS")) for msg in ipr.get_addr(family=socket.AF_INET)
                     if msg["index"] in kept]
        return [address for _, address in sorted(found, key=lambda item: item[0])]

    def device_ipv4(self) -> list[str]:
        """The IPv4 addresses a user reaches the device on (no loopback, bridges or VPN)."""
        return [a.address for a in self.addresses()
                if a.family == socket.AF_INET and not INTERNAL_INTERFACES.match(a.interface)]
