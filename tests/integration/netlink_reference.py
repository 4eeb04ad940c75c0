"""The network reads as they were before handlers.host.netwatch (commit f276a46): a fresh pyroute2
dump on every call. test_netwatch checks the cached answers against these byte for byte."""

from __future__ import annotations

import re
import socket
from typing import Any

from handlers.host.hostfs import HostFS
from handlers.host.netconfig import (
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    COUNTERS,
    IFF_LOWER_UP,
    IFF_UP,
    INFINITE,
    WIFI_TYPE_ID,
    speed_text,
)
from handlers.host.network import IFF_LOOPBACK, INTERNAL_INTERFACES, Address


def _iproute(netns: str | None) -> Any:
    from pyroute2 import IPRoute, NetNS

    return NetNS(netns) if netns else IPRoute()


def _attr(msg: Any, name: str, default: Any = None) -> Any:
    value = msg.get_attr(name)
    return default if value is None else value


def addresses(netns: str | None) -> list[Address]:
    with _iproute(netns) as ipr:
        up = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links() if link["flags"] & 1}
        found = []
        for msg in ipr.get_addr():
            name = up.get(msg["index"])
            if name is None:
                continue
            found.append(Address(name, msg["family"], msg.get_attr("IFA_ADDRESS"), msg["prefixlen"]))
        return found


def up_ipv4(netns: str | None, exclude: re.Pattern[str]) -> list[str]:
    with _iproute(netns) as ipr:
        kept = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()
                if link["flags"] & IFF_UP and not link["flags"] & IFF_LOOPBACK}
        kept = {index: name for index, name in kept.items() if not exclude.search(name or "")}
        found = [(msg["index"], msg.get_attr("IFA_ADDRESS")) for msg in ipr.get_addr(family=socket.AF_INET)
                 if msg["index"] in kept]
    return [address for _, address in sorted(found, key=lambda item: item[0])]


def device_ipv4(netns: str | None) -> list[str]:
    return [a.address for a in addresses(netns)
            if a.family == socket.AF_INET and not INTERNAL_INTERFACES.match(a.interface)]


def _defaults(ipr: Any, family: int) -> list[tuple[int, str, int]]:
    found = []
    for route in ipr.get_routes(family=family, table=254):
        if route["dst_len"] == 0 and _attr(route, "RTA_OIF") is not None:
            found.append((_attr(route, "RTA_OIF"), _attr(route, "RTA_GATEWAY", ""),
                          _attr(route, "RTA_PRIORITY", 0)))
    return found


def interfaces(netns: str | None, fs: HostFS, dns: list[str]) -> list[dict[str, Any]]:
    with _iproute(netns) as ipr:
        links = ipr.get_links()
        addrs = ipr.get_addr()
        v4, v6 = _defaults(ipr, socket.AF_INET), _defaults(ipr, socket.AF_INET6)
    best = min(v4, key=lambda r: r[2]) if v4 else None
    found = []
    for link in sorted(links, key=lambda m: m["index"]):
        if link["ifi_type"] == ARPHRD_LOOPBACK:
            continue
        index, name = link["index"], _attr(link, "IFLA_IFNAME", "")
        wireless = fs.path(f"/sys/class/net/{name}/wireless").exists()
        kind, type_id = ("Wi-Fi", WIFI_TYPE_ID) if wireless else (
            ("Ethernet", 1) if link["ifi_type"] == ARPHRD_ETHER else ("Other", link["ifi_type"]))
        connected = bool(link["flags"] & IFF_UP) and bool(link["flags"] & IFF_LOWER_UP)
        mine = [a for a in addrs if a["index"] == index]
        entry: dict[str, Any] = {
            "ifIndex": index, "uuid": name, "name": name, "description": _attr(link, "IFLA_IFALIAS", ""),
            "type": kind, "typeId": type_id, "mtu": _attr(link, "IFLA_MTU", 0), "connected": connected,
            "isDefault": best is not None and best[0] == index,
        }
        dynamic = [a for a in mine if a["family"] == socket.AF_INET
                   and (_attr(a, "IFA_CACHEINFO") or {}).get("ifa_valid", INFINITE) != INFINITE]
        entry["dhcpEnabled"] = bool(dynamic)
        entry["hardwareAddress"] = _attr(link, "IFLA_ADDRESS", "")
        speed = (fs.read_text(f"/sys/class/net/{name}/speed") or "").strip()
        if speed.isdigit() and int(speed) > 0:
            entry.update(speed=speed_text(int(speed)), sendSpeed=int(speed) * 1_000_000,
                         recvSpeed=int(speed) * 1_000_000)
        entry["addresses"] = [f"{_attr(a, 'IFA_ADDRESS')}/{a['prefixlen']}"
                              for a in sorted(mine, key=lambda a: a["family"])]
        entry["gateway"] = [gw for oif, gw, _ in v4 + v6 if oif == index and gw]
        entry["dns"] = dns if connected and entry["addresses"] else []
        for key, routes in (("ipv4Metric", v4), ("ipv6Metric", v6)):
            metrics = [m for oif, _, m in routes if oif == index]
            if metrics:
                entry[key] = min(metrics)
        stats = _attr(link, "IFLA_STATS64") or _attr(link, "IFLA_STATS") or {}
        entry["iocounters"] = {"ifindex": index, **{k: int(stats.get(s, 0)) for k, s in COUNTERS}}
        found.append(entry)
    return found
