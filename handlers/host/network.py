"""The device's network as netlink reports it (handlers.host.netwatch's cache; pyroute2 on first use)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from handlers.host.netwatch import ADDRS, LINKS, NetWatch

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
    """Links and addresses as netlink reports them, answered from the namespace's NetState."""

    def __init__(self, netns: str | None = None, watch: NetWatch | None = None) -> None:
        self._netns = netns
        self._state = (watch or NetWatch()).state(netns)

    def addresses(self) -> list[Address]:
        """Every address of every interface that is up, in kernel order."""
        return list(self._state.derived("addresses", (LINKS, ADDRS), self._addresses))

    def _addresses(self) -> tuple[Address, ...]:
        up = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self._state.links() if link["flags"] & 1}
        found = []
        for msg in self._state.addresses():
            name = up.get(msg["index"])
            if name is None:
                continue
            found.append(Address(name, msg["family"], msg.get_attr("IFA_ADDRESS"), msg["prefixlen"]))
        return tuple(found)

    def up_ipv4(self, exclude: re.Pattern[str]) -> list[str]:
        """IPv4 addresses of the interfaces that are up (IFF_UP) and not loopback (IFF_LOOPBACK),
        whose name `exclude` does not find anywhere in it; by interface index, then kernel order."""
        return list(self._state.derived(("up_ipv4", exclude.pattern, exclude.flags), (LINKS, ADDRS),
                                        lambda: self._up_ipv4(exclude)))

    def _up_ipv4(self, exclude: re.Pattern[str]) -> tuple[str, ...]:
        kept = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self._state.links()
                if link["flags"] & IFF_UP and not link["flags"] & IFF_LOOPBACK}
        kept = {index: name for index, name in kept.items() if not exclude.search(name or "")}
        # an AF_UNSPEC dump lists the AF_INET block first, in the order an AF_INET dump gives it
        found = [(msg["index"], msg.get_attr("IFA_ADDRESS")) for msg in self._state.addresses()
                 if msg["family"] == socket.AF_INET and msg["index"] in kept]
        return tuple(address for _, address in sorted(found, key=lambda item: item[0]))

    def device_ipv4(self) -> list[str]:
        """The IPv4 addresses a user reaches the device on (no loopback, bridges or VPN)."""
        return list(self._state.derived("device_ipv4", (LINKS, ADDRS), lambda: tuple(
            a.address for a in self._addresses()
            if a.family == socket.AF_INET and not INTERNAL_INTERFACES.match(a.interface))))
