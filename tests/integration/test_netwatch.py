"""handlers.host.netwatch in network namespaces the tests make: the cached answers against a fresh
dump (netlink_reference: the reads as they were), changes made behind the agent's back, and a
notification socket that breaks. Addresses are 10.213.6x.x, only inside those namespaces."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest

from handlers.host.hostfs import HostFS
from handlers.host.netconfig import Netconfig
from handlers.host.netwatch import ADDRS, LINKS, NetState, NetWatch
from handlers.host.network import Network
from integration import netlink_reference as reference
from integration.processes import ip

T = TypeVar("T")
DNS = ["10.213.60.53"]


def quiet_namespace(netns: Callable[[], str]) -> str:
    """pv6a (default route metric 50), pv6b (metric 60), docker0 (internal), pv6c (down); IPv6 on,
    but without DAD or router solicitations, so the counters settle at once."""
    name = netns()
    for key, value in (("dad_transmits", "0"), ("router_solicitations", "0")):
        subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", f"net.ipv6.conf.default.{key}={value}"],
                       check=True)
    for link, peer in (("pv6a", "pv6ap"), ("pv6b", "pv6bp"), ("docker0", "pv6dp"), ("pv6c", "pv6cp")):
        ip("-n", name, "link", "add", link, "type", "veth", "peer", "name", peer)
    for link, address in (("pv6a", "10.213.60.1"), ("pv6b", "10.213.61.1"), ("docker0", "10.213.62.1"),
                          ("pv6c", "10.213.63.1")):
        ip("-n", name, "addr", "add", f"{address}/24", "dev", link)
    ip("-n", name, "addr", "add", "fd00:213:60::1/64", "dev", "pv6a")
    for link in ("pv6a", "pv6ap", "pv6b", "pv6bp", "docker0", "pv6dp", "pv6cp"):
        ip("-n", name, "link", "set", link, "up")
    ip("-n", name, "route", "add", "default", "via", "10.213.60.254", "dev", "pv6a", "metric", "50")
    ip("-n", name, "route", "add", "default", "via", "10.213.61.254", "dev", "pv6b", "metric", "60")
    ip("-n", name, "-6", "route", "add", "default", "via", "fd00:213:60::fe", "dev", "pv6a", "metric", "70")
    return name


@pytest.fixture
def ns(netns: Callable[[], str]) -> Iterator[tuple[str, NetWatch]]:
    """(namespace, a NetWatch closed afterwards)."""
    watch = NetWatch()
    yield quiet_namespace(netns), watch
    watch.close()


def poll(read: Callable[[], T], done: Callable[[T], bool], seconds: float = 1.0) -> T:
    """read() until done(answer); the last answer (the caller asserts on it)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = read()
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.01)


def from_memory(state: NetState, network: Network) -> bool:
    """A read asks the kernel nothing (polled: the kernel's own late IPv6 address events are real changes)."""
    def read() -> bool:
        dumps = state.dumps
        network.device_ipv4()
        return state.dumps == dumps

    return poll(read, bool, seconds=2.0)


def interfaces_match(name: str, netconfig: Netconfig) -> tuple[bytes, bytes]:
    """(cached, fresh) interfaces, as the platform serialises them; polled while counters move."""
    def both() -> tuple[bytes, bytes]:
        return (orjson.dumps(netconfig.interfaces()),
                orjson.dumps(reference.interfaces(name, HostFS("/"), netconfig.nameservers())))

    return poll(both, lambda pair: pair[0] == pair[1], seconds=5.0)


def test_answers_match_a_fresh_dump(ns: tuple[str, NetWatch], tmp_path: Any) -> None:
    name, watch = ns
    network = Network(name, watch)
    state = watch.state(name)
    exclude = re.compile(r"docker")
    for _ in range(2):  # the first read fills the cache, the second answers from it
        assert network.addresses() == reference.addresses(name)
        assert network.device_ipv4() == reference.device_ipv4(name) == ["10.213.60.1", "10.213.61.1"]
        assert network.up_ipv4(exclude) == reference.up_ipv4(name, exclude)
    assert state.live and from_memory(state, network)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").write_text("nameserver 10.213.60.53\n")
    netconfig = Netconfig(HostFS(tmp_path), name, watch=watch)
    cached, fresh = interfaces_match(name, netconfig)
    assert cached == fresh
    same = poll(lambda: (orjson.dumps(netconfig.interfaces_in_memory()), orjson.dumps(netconfig.interfaces())),
                lambda pair: pair[0] == pair[1])
    assert same[0] == same[1]  # what the route answers on the event loop
    found = {i["name"]: i for i in orjson.loads(cached)}
    assert (found["pv6a"]["isDefault"], found["pv6a"]["ipv6Metric"], found["pv6a"]["dns"]) == (True, 70, DNS)
    assert found["pv6c"]["connected"] is False


def test_changes_behind_its_back_show_within_a_second(ns: tuple[str, NetWatch]) -> None:
    name, watch = ns
    network = Network(name, watch)
    netconfig = Netconfig(HostFS("/"), name, watch=watch)
    assert network.device_ipv4() == ["10.213.60.1", "10.213.61.1"]
    assert netconfig.interfaces_in_memory() is None
    # the route answers on the event loop now (polled: the kernel's late IPv6 events are real changes)
    assert poll(lambda: bool(netconfig.interfaces()) and netconfig.interfaces_in_memory() is not None, bool)

    ip("-n", name, "addr", "add", "10.213.64.1/24", "dev", "pv6b")
    assert poll(netconfig.interfaces_in_memory, lambda kept: kept is None) is None
    assert poll(network.device_ipv4, lambda a: "10.213.64.1" in a) == ["10.213.60.1", "10.213.61.1",
                                                                      "10.213.64.1"]
    ip("-n", name, "link", "set", "pv6b", "down")
    assert poll(network.device_ipv4, lambda a: a == ["10.213.60.1"]) == ["10.213.60.1"]
    by_name = lambda: {i["name"]: i for i in netconfig.interfaces()}
    assert poll(by_name, lambda f: not f["pv6b"]["connected"])["pv6b"]["gateway"] == []  # its route went too

    ip("-n", name, "route", "add", "default", "via", "10.213.60.253", "dev", "pv6a", "metric", "10")
    found = poll(by_name, lambda f: "10.213.60.253" in f["pv6a"]["gateway"])
    assert (found["pv6a"]["gateway"], found["pv6a"]["ipv4Metric"]) == (
        ["10.213.60.253", "10.213.60.254", "fd00:213:60::fe"], 10)  # the kernel's order: by metric
    cached, fresh = interfaces_match(name, netconfig)
    assert cached == fresh


def test_own_writes_show_in_the_next_read(ns: tuple[str, NetWatch], tmp_path: Any) -> None:
    name, watch = ns
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/resolv.conf").write_text("nameserver 10.213.60.53\n")
    netconfig = Netconfig(HostFS(tmp_path), name, watch=watch)
    index = {i["name"]: i for i in netconfig.interfaces()}["pv6b"]["ifIndex"]
    netconfig.set_static(index, "10.213.65.5", "255.255.255.0", "10.213.65.1", [])
    found = {i["name"]: i for i in netconfig.interfaces()}  # no poll: the write dropped the tables
    assert (found["pv6b"]["addresses"][0], found["pv6b"]["gateway"]) == ("10.213.65.5/24", ["10.213.65.1"])
    netconfig.route_order(["pv6b", "pv6a"])
    found = {i["name"]: i for i in netconfig.interfaces()}
    assert (found["pv6b"]["ipv4Metric"], found["pv6a"]["ipv4Metric"], found["pv6b"]["isDefault"]) == (100, 200, True)
    netconfig.close()


def refilled(state: NetState) -> bool:
    """The watcher came back and dumped again what had been read, before any read asked."""
    # _last: what the watcher dumped since it came back (kept even if an IPv6 event dropped it since)
    return poll(lambda: state.live and set(state._last) >= {LINKS, ADDRS}, bool, seconds=5.0)


def rebuilt(state: NetState, network: Network, address: str) -> None:
    """The watcher came back (live again) and the answers are the kernel's, `address` among them."""
    assert poll(lambda: state.live, bool, seconds=5.0)
    expected = reference.device_ipv4(state.netns)
    assert address in expected
    assert poll(network.device_ipv4, lambda a: a == expected) == expected
    assert from_memory(state, network)


def test_socket_closed_under_it_is_rebuilt(ns: tuple[str, NetWatch]) -> None:
    name, watch = ns
    network, state = Network(name, watch), watch.state(name)
    network.device_ipv4()
    sock = state._sock
    assert sock is not None and state.live
    sock.close()
    state.wake()
    assert poll(lambda: state._sock is not sock and state.live, bool, seconds=5.0)
    assert refilled(state)
    ip("-n", name, "addr", "add", "10.213.66.1/24", "dev", "pv6a")  # seen by the new socket
    rebuilt(state, network, "10.213.66.1")


def test_overflow_drops_the_cache_and_rebuilds(ns: tuple[str, NetWatch]) -> None:
    name, _ = ns
    state = NetState(name, rcvbuf=4096)  # the kernel's smallest: a burst overflows it
    network = Network(name)
    network._state = state
    try:
        network.device_ipv4()
        sock = state._sock
        burst = "".join(f"addr add 10.213.67.{i}/32 dev pv6a\n" for i in range(1, 201))
        with state._lock:  # the watcher waits here with its first datagram while the queue overflows
            subprocess.run(["ip", "-n", name, "-batch", "-"], input=burst, text=True, check=True)
        assert poll(lambda: state._sock is not sock, bool, seconds=5.0)  # ENOBUFS: dropped, reopened
        assert refilled(state)
        rebuilt(state, network, "10.213.67.200")
    finally:
        state.close()
