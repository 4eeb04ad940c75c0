"""Network interfaces as the rest-server reports them, and their IPv4 configuration (pyroute2).

`uuid` is the interface name on Linux (the page's Linux example: "uuid":"enp0s31f6").
Changes go through netlink and /etc/resolv.conf (under --root); a change that fails part way
is rolled back, so the interface is left as it was. DHCP goes through NetworkManager when it
runs (handlers.host.dhcp), else the system's DHCP client.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from handlers.errors import InvalidId, InvalidInput, PolyvisorError
from handlers.host.hostfs import HostFS
from handlers.host.netwatch import TABLES, NetWatch

ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
WIFI_TYPE_ID = 71  # IANA ifType ieee80211, as the page's Linux example shows
INFINITE = 0xFFFFFFFF
log = logging.getLogger("polyvisor.netconfig")
PLAN = "netconfig.interfaces"  # the NetState key of what only netlink decides
COUNTERS = (("bytesSent", "tx_bytes"), ("bytesRecv", "rx_bytes"), ("packetsSent", "tx_packets"),
            ("packetsRecv", "rx_packets"), ("errin", "rx_errors"), ("errout", "tx_errors"),
            ("dropin", "rx_dropped"), ("dropout", "tx_dropped"), ("fifoin", "rx_fifo_errors"),
            ("fifoout", "tx_fifo_errors"))


class NetworkChangeFailed(PolyvisorError):
    """The kernel refused a change; what had been done was undone."""


def _quietly(fn: Any, *args: Any, **kwargs: Any) -> None:
    """A rollback step: done if the kernel takes it, logged and skipped if not."""
    try:
        fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - best effort while undoing
        log.warning("rollback step %s%s failed: %s", getattr(fn, "__name__", fn), args[:1], err)


def speed_text(mbps: int) -> str:
    """1000 -> "1 Gbps", 100 -> "100 Mbps"."""
    return f"{mbps // 1000} Gbps" if mbps >= 1000 and mbps % 1000 == 0 else f"{mbps} Mbps"


def _attr(msg: Any, name: str, default: Any = None) -> Any:
    value = msg.get_attr(name)
    return default if value is None else value


def _defaults(routes: Iterable[Any]) -> list[tuple[int, str, int]]:
    """Default routes of a main-table dump: (oif, gateway, metric)."""
    return [(_attr(route, "RTA_OIF"), _attr(route, "RTA_GATEWAY", ""), _attr(route, "RTA_PRIORITY", 0))
            for route in routes if route["dst_len"] == 0 and _attr(route, "RTA_OIF") is not None]


def _read(path: str) -> str:
    """HostFS.read_text's answer ("" for None) without its path checks: the plan made the path."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


# (ifIndex, its sysfs speed file, the fields before speed, (addresses, gateways), metrics, connected)
Plan = tuple[int, str, dict[str, Any], tuple[tuple[str, ...], tuple[str, ...]], dict[str, int], bool]


class Netconfig:
    """GET networking/interfaces, POST interfaces/route, PUT/DELETE ipv4config/:ifIndex."""

    def __init__(self, hostfs: HostFS, netns: str | None = None, dhcp: Any = None,
                 watch: NetWatch | None = None) -> None:
        self._fs = hostfs
        self.netns = netns
        self._state = (watch or NetWatch()).state(netns)  # reads; writes go through self._ipr()
        self._resolv = str(hostfs.path("/etc/resolv.conf"))
        self.dhcp = dhcp
        self._socket: Any = None
        self._lock = threading.RLock()

    @contextmanager
    def _ipr(self) -> Iterator[Any]:
        """One netlink socket kept open (a namespace's costs a helper process), one user at a time."""
        from pyroute2 import IPRoute, NetNS

        with self._lock:
            if self._socket is None:
                self._socket = NetNS(self.netns) if self.netns else IPRoute()
            try:
                yield self._socket
            except OSError:
                self.close()
                raise
            finally:
                self._state.invalidate()  # a change made here shows in the next read

    def close(self) -> None:
        """Close the netlink socket (reopened on the next use)."""
        if self._socket is not None:
            _quietly(self._socket.close)
            self._socket = None

    def nameservers(self) -> list[str]:
        """nameserver lines of /etc/resolv.conf (under --root)."""
        text = _read(self._resolv)  # HostFS.read_text's answer without its path work on every request
        return [line.split()[1] for line in text.splitlines()
                if line.startswith("nameserver") and len(line.split()) > 1]

    def _defaults(self, ipr: Any, family: int) -> list[tuple[int, str, int]]:
        """Default routes of the main table: (oif, gateway, metric)."""
        return _defaults(ipr.get_routes(family=family, table=254))

    def interfaces(self) -> list[dict[str, Any]]:
        """Every interface but loopback, with addresses, gateways, DNS, metrics and counters."""
        counters = self._state.counters() or {}  # with dump=True never None
        return self._answer(self._state.derived(PLAN, TABLES, self._plan), counters)

    def interfaces_in_memory(self) -> list[dict[str, Any]] | None:
        """interfaces() without a netlink dump (safe on the event loop: one counters read and three
        small files), or None when a dump is needed: then call interfaces() in a thread."""
        plan = self._state.kept(PLAN, TABLES)
        counters = self._state.counters(dump=False) if plan is not None else None
        return None if plan is None or counters is None else self._answer(plan, counters)

    def _answer(self, plan: tuple[Plan, ...], counters: dict[int, dict[str, int]]) -> list[dict[str, Any]]:
        dns = self.nameservers()
        found = []
        for index, speed_file, head, tail, metrics, connected in plan:
            entry = dict(head)
            speed = _read(speed_file).strip()  # no notification when it changes: read each time
            if speed.isdigit() and int(speed) > 0:
                entry.update(speed=speed_text(int(speed)), sendSpeed=int(speed) * 1_000_000,
                             recvSpeed=int(speed) * 1_000_000)
            entry["addresses"], entry["gateway"] = list(tail[0]), list(tail[1])
            entry["dns"] = dns if connected and entry["addresses"] else []
            entry.update(metrics)
            stats = counters.get(index, {})
            entry["iocounters"] = {"ifindex": index, **{k: int(stats.get(s, 0)) for k, s in COUNTERS}}
            found.append(entry)
        return found

    def _plan(self) -> tuple[Plan, ...]:
        """What only netlink's tables decide, per interface: kept until a table changes. The wireless
        check is here too: sysfs lists `wireless` for a device's whole life (a rename is a link event)."""
        links, addrs = self._state.links(), self._state.addresses()
        v4, v6 = _defaults(self._state.routes(socket.AF_INET)), _defaults(self._state.routes(socket.AF_INET6))
        best = min(v4, key=lambda r: r[2]) if v4 else None
        plan = []
        for link in sorted(links, key=lambda m: m["index"]):
            if link["ifi_type"] == ARPHRD_LOOPBACK:
                continue
            index, name = link["index"], _attr(link, "IFLA_IFNAME", "")
            wireless = self._fs.path(f"/sys/class/net/{name}/wireless").exists()
            kind, type_id = ("Wi-Fi", WIFI_TYPE_ID) if wireless else (
                ("Ethernet", 1) if link["ifi_type"] == ARPHRD_ETHER else ("Other", link["ifi_type"]))
            connected = bool(link["flags"] & IFF_UP) and bool(link["flags"] & IFF_LOWER_UP)
            mine = [a for a in addrs if a["index"] == index]
            head: dict[str, Any] = {
                "ifIndex": index, "uuid": name, "name": name, "description": _attr(link, "IFLA_IFALIAS", ""),
                "type": kind, "typeId": type_id, "mtu": _attr(link, "IFLA_MTU", 0), "connected": connected,
                "isDefault": best is not None and best[0] == index,
            }
            dynamic = [a for a in mine if a["family"] == socket.AF_INET
                       and (_attr(a, "IFA_CACHEINFO") or {}).get("ifa_valid", INFINITE) != INFINITE]
            head["dhcpEnabled"] = bool(dynamic)
            head["hardwareAddress"] = _attr(link, "IFLA_ADDRESS", "")
            addresses = tuple(f"{_attr(a, 'IFA_ADDRESS')}/{a['prefixlen']}"
                              for a in sorted(mine, key=lambda a: a["family"]))
            gateways = tuple(gw for oif, gw, _ in v4 + v6 if oif == index and gw)
            metrics = {}
            for key, routes in (("ipv4Metric", v4), ("ipv6Metric", v6)):
                found = [m for oif, _, m in routes if oif == index]
                if found:
                    metrics[key] = min(found)
            speed_file = str(self._fs.path(f"/sys/class/net/{name}/speed"))
            plan.append((index, speed_file, head, (addresses, gateways), metrics, connected))
        return tuple(plan)

    def _index(self, ipr: Any, name: str) -> int:
        found = ipr.link_lookup(ifname=name)
        if not found:
            raise InvalidId(f"interface {name} not found")
        return int(found[0])

    def route_order(self, names: list[str], ipv6: bool = False) -> None:
        """Rewrite default-route metrics so the interfaces are preferred in this order (100, 200...)."""
        if not names:
            raise InvalidInput("empty list")
        family = socket.AF_INET6 if ipv6 else socket.AF_INET
        with self._ipr() as ipr:
            order = [self._index(ipr, name) for name in names]
            done: list[tuple[str, dict[str, Any]]] = []  # (undo op, route) for a rollback
            try:
                for position, index in enumerate(order):
                    for route in ipr.get_routes(family=family, table=254):
                        oif, metric = _attr(route, "RTA_OIF"), _attr(route, "RTA_PRIORITY", 0)
                        gateway, wanted = _attr(route, "RTA_GATEWAY"), 100 * (position + 1)
                        if route["dst_len"] != 0 or oif != index or metric == wanted:
                            continue
                        # the same route with another metric: protocol and scope kept (dhcp stays dhcp)
                        old = {"dst": "::/0" if ipv6 else "0.0.0.0/0", "oif": oif, "family": family,
                               "priority": metric, "proto": route["proto"], "scope": route["scope"],
                               **({"gateway": gateway} if gateway else {})}
                        new = {**old, "priority": wanted}
                        ipr.route("add", **new)
                        done.append(("del", new))
                        ipr.route("del", **old)
                        done.append(("add", old))
            except Exception as err:
                for op, route in reversed(done):
                    _quietly(ipr.route, op, **route)
                raise NetworkChangeFailed(f"route metrics: {err}") from err

    def set_static(self, if_index: int, address: str, mask: str, gateway: str, dns: list[str]) -> None:
        """Replace the interface's IPv4 addresses, default route and the resolver's servers."""
        try:
            net = ipaddress.IPv4Network(f"{address}/{mask}", strict=False)
            ip, gw = ipaddress.IPv4Address(address), ipaddress.IPv4Address(gateway) if gateway else None
            servers = [str(ipaddress.IPv4Address(s)) for s in dns if s]
        except ValueError as err:
            raise InvalidInput(f"invalid IPv4 configuration: {err}") from err
        if gw is not None and gw not in net:
            raise InvalidInput(f"gateway {gw} is not in {net}")
        with self._ipr() as ipr:
            self._link(ipr, if_index)
            before = [(_attr(a, "IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=if_index)
                      if a["family"] == socket.AF_INET]
            routes = [r for r in self._defaults(ipr, socket.AF_INET) if r[0] == if_index]
            resolv = self._fs.read_text("/etc/resolv.conf")
            try:
                # routes first: deleting an address makes the kernel drop routes through it
                for oif, old_gw, metric in routes:
                    ipr.route("del", dst="0.0.0.0/0", oif=oif, priority=metric,
                              **({"gateway": old_gw} if old_gw else {}))
                for old, prefix in before:
                    ipr.addr("del", index=if_index, address=old, prefixlen=prefix)
                ipr.addr("add", index=if_index, address=str(ip), prefixlen=net.prefixlen)
                if gw is not None:
                    ipr.route("add", dst="0.0.0.0/0", gateway=str(gw), oif=if_index,
                              priority=min((m for _, _, m in routes), default=0))
                if servers:
                    self._write_resolv(resolv or "", servers)
            except Exception as err:
                self._restore(ipr, if_index, before, routes)
                if resolv is not None:
                    self._fs.write_atomic("/etc/resolv.conf", resolv)
                raise NetworkChangeFailed(f"interface {if_index}: {err}") from err

    def _restore(self, ipr: Any, if_index: int, addresses: list[tuple[str, int]],
                 routes: list[tuple[int, str, int]]) -> None:
        for addr in ipr.get_addr(index=if_index, family=socket.AF_INET):
            _quietly(ipr.addr, "del", index=if_index, address=_attr(addr, "IFA_ADDRESS"), prefixlen=addr["prefixlen"])
        for address, prefix in addresses:
            _quietly(ipr.addr, "add", index=if_index, address=address, prefixlen=prefix)
        for oif, gateway, metric in routes:
            _quietly(ipr.route, "replace", dst="0.0.0.0/0", oif=oif, priority=metric,
                     **({"gateway": gateway} if gateway else {}))

    def _write_resolv(self, current: str, servers: list[str]) -> None:
        kept = [line for line in current.splitlines() if not line.startswith("nameserver")]
        self._fs.write_atomic("/etc/resolv.conf", "\n".join(kept + [f"nameserver {s}" for s in servers]) + "\n")

    def name_of(self, if_index: int) -> str:
        """The interface name of an index; InvalidId when there is none."""
        with self._ipr() as ipr:
            return str(_attr(self._link(ipr, if_index), "IFLA_IFNAME"))

    @staticmethod
    def _link(ipr: Any, if_index: int) -> Any:
        try:
            links = ipr.get_links(if_index) if 0 < if_index < 2 ** 31 else []
        except Exception:  # noqa: BLE001 - NetlinkError ENODEV
            links = []
        if not links:
            raise InvalidId(f"interface {if_index} not found")
        return links[0]

    def enable_dhcp(self, if_index: int) -> None:
        """Hand the interface to DHCP (NetworkManager, else the system's client)."""
        name = self.name_of(if_index)
        if self.dhcp is None:
            raise PolyvisorError("no DHCP client available")
        self.dhcp.enable(name)
