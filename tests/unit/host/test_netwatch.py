"""handlers.host.netwatch's dirty logic without a kernel: which notification makes which table stale,
and when a kept dump or derived answer is used (the watcher thread and pyroute2 left out)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from handlers.host import rtnl
from handlers.host.netwatch import ADDRS, LINKS, ROUTES4, ROUTES6, TABLES, NetState, stale_in, stale_tables


def notification(kind: int, family: int) -> bytes:
    """One netlink message: header, then a payload whose first byte is the family (as rtnetlink's are)."""
    payload = struct.pack("=B15x", family)
    header = rtnl.HEADER.pack(rtnl.HEADER.size + len(payload), kind, 0, 0, 0)
    return header + payload


def test_each_notification_dirties_its_tables() -> None:
    assert stale_tables(rtnl.RTM_NEWLINK, socket.AF_UNSPEC) == set(TABLES)
    assert stale_tables(rtnl.RTM_DELLINK, socket.AF_UNSPEC) == set(TABLES)
    # the kernel drops IPv4 routes of an address that goes without telling: routes too
    assert stale_tables(rtnl.RTM_NEWADDR, socket.AF_INET) == {ADDRS, ROUTES4, ROUTES6}
    assert stale_tables(rtnl.RTM_DELADDR, socket.AF_INET6) == {ADDRS, ROUTES4, ROUTES6}
    assert stale_tables(rtnl.RTM_NEWROUTE, socket.AF_INET) == {ROUTES4}
    assert stale_tables(rtnl.RTM_DELROUTE, socket.AF_INET6) == {ROUTES6}
    assert stale_tables(rtnl.RTM_NEWROUTE, 28) == {ROUTES4, ROUTES6}  # another family: both, to be safe
    assert stale_tables(rtnl.RTM_NEWSTATS, socket.AF_UNSPEC) == set()


def test_a_datagram_of_several_notifications() -> None:
    data = notification(rtnl.RTM_NEWROUTE, socket.AF_INET6) + notification(rtnl.RTM_NEWROUTE, socket.AF_INET)
    assert stale_in(data) == {ROUTES4, ROUTES6}
    assert stale_in(data[:10]) == set()  # a truncated header is ignored


class Recorded(NetState):
    """A NetState whose dumps are numbered rows and whose watcher fills at once, in the reader's thread."""

    def __init__(self, live: bool = True) -> None:
        super().__init__()
        self.live = live
        self.asked: list[str] = []
        self.fills = 0

    def _start(self) -> None:
        pass

    def wake(self) -> None:
        self.fills += 1
        self._fill("socket")

    def _dump(self, table: str, ipr: Any = None) -> tuple[Any, ...]:
        self.asked.append(table)
        return (f"{table}#{len(self.asked)}",)


def test_kept_until_dirty() -> None:
    state = Recorded()
    first = state.links()
    assert state.links() is first and state.asked == [LINKS]
    state.invalidate([ADDRS])
    assert state.links() is first  # another table's notification
    state.invalidate([LINKS])
    assert state.links() == ("links#2",)
    assert state.routes(socket.AF_INET6) == ("routes6#3",) and state.routes(socket.AF_INET6) == ("routes6#3",)
    assert state.asked == [LINKS, LINKS, ROUTES6]


def test_not_live_reads_go_to_the_kernel() -> None:
    state = Recorded(live=False)
    state.addresses()
    state.addresses()
    assert state.asked == [ADDRS, ADDRS] and state.fills == 0  # the reader's own dumps
    built: list[int] = []
    for _ in range(2):
        state.derived("x", (ADDRS,), lambda: built.append(1))
    assert len(built) == 2


def test_derived_answers_follow_their_tables() -> None:
    state = Recorded()
    made: list[str] = []

    def build() -> str:
        made.append("built")
        return f"{state.links()[0]}+{state.addresses()[0]}"

    assert state.derived("key", (LINKS, ADDRS), build) == "links#1+addrs#2"
    assert state.derived("key", (LINKS, ADDRS), build) == "links#1+addrs#2" and len(made) == 1
    state.invalidate([ROUTES4])
    assert state.derived("key", (LINKS, ADDRS), build) == "links#1+addrs#2" and len(made) == 1
    state.invalidate([ADDRS])
    assert state.derived("key", (LINKS, ADDRS), build) == "links#1+addrs#3" and len(made) == 2


def test_a_change_while_building_is_not_kept() -> None:
    state = Recorded()
    calls: list[int] = []

    def build() -> int:
        calls.append(1)
        if len(calls) == 1:
            state.invalidate([LINKS])  # a notification handled while the answer was being made
        return len(calls)

    assert state.derived("key", (LINKS,), build) == 1
    assert state.derived("key", (LINKS,), build) == 2  # the first answer was not kept
    assert state.derived("key", (LINKS,), build) == 2


def test_going_live_or_not_drops_everything() -> None:
    state = Recorded()
    state.links()
    state.derived("key", (LINKS,), lambda: "kept")
    state._set_live(False)
    assert not state.live
    state._set_live(True)
    state.links()
    assert state.asked == [LINKS, LINKS]
    assert state.derived("key", (LINKS,), lambda: "new") == "new"


def test_kept_says_whether_a_derived_answer_is_in_memory() -> None:
    state = Recorded()
    assert state.kept("key", (LINKS,)) is None
    state.derived("key", (LINKS,), lambda: "x")
    assert state.kept("key", (LINKS,)) == "x"
    state.invalidate([LINKS])
    assert state.kept("key", (LINKS,)) is None
    state.derived("key", (LINKS,), lambda: "x")
    state._set_live(False)
    assert state.kept("key", (LINKS,)) is None


def test_a_fill_is_the_readers_even_when_a_notification_drops_it() -> None:
    state = Recorded()
    asked_during: list[str] = []
    real_dump = state._dump

    def dump_then_notified(table: str, ipr: Any = None) -> tuple[Any, ...]:
        rows = real_dump(table, ipr)
        asked_during.append(table)
        state.invalidate([table])  # a change while the watcher dumped: not kept, but the reader gets it
        return rows

    state._dump = dump_then_notified  # type: ignore[method-assign]
    assert state.links() == ("links#1",)
    assert state._tables == {}
    state._dump = real_dump  # type: ignore[method-assign]
    assert state.links() == ("links#2",)  # dropped: dumped again
    assert state.links() == ("links#2",) and state.fills == 2


def test_waits_on_descriptors_past_selects_limit() -> None:
    """The watcher waits with poll: a busy agent's descriptors pass 1024, where select() raises
    (the fuzz session's agent lost its watcher thread that way)."""
    import os
    import resource

    import pytest

    from handlers.host.netwatch import readable

    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= 1500:
        pytest.skip("RLIMIT_NOFILE too low for a descriptor past 1024")
    read_end, write_end = os.pipe()
    high = os.dup2(read_end, 1500)
    try:
        assert readable([high], 0) == set()
        os.write(write_end, b"x")
        assert readable([high], 1.0) == {high}
    finally:
        for fd in (read_end, write_end, high):
            os.close(fd)
