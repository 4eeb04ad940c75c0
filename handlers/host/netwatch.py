"""The kernel's links, addresses and main-table routes, kept in memory and kept true by netlink.

One `NetState` per network namespace (None: the agent's own), made by `NetWatch`:

    read ──> table clean? ── yes ──> the dump kept from last time
               │ no (first read, or a notification since)
               └──> the watcher thread dumps it now through pyroute2 (kept while it stays live);
                    pyroute2's sync sockets keep an event loop per thread, so only that thread
                    holds one; a read while not live opens and closes its own

    watcher thread: socket bound to RTMGRP_LINK | IPV4/IPV6_IFADDR | IPV4/IPV6_ROUTE
        notification ──> the tables it touches are dirty (dropped; the next read re-dumps)
        ENOBUFS, closed or broken socket ──> not live: every table dropped, every read goes
        straight to the kernel until the thread has reopened its socket

A table is always a whole kernel dump, never patched from notifications, so answers keep the
kernel's order and content exactly. A link event dirties everything and an address event the
routes too: the kernel drops IPv4 routes of a link or address that goes without a notification.
Interface counters change without notifications: `counters()` reads them per call.
pyroute2 is imported on first use.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from handlers.host import rtnl

LINKS, ADDRS, ROUTES4, ROUTES6 = "links", "addrs", "routes4", "routes6"
TABLES = (LINKS, ADDRS, ROUTES4, ROUTES6)
ROUTES: dict[int, str] = {socket.AF_INET: ROUTES4, socket.AF_INET6: ROUTES6}
log = logging.getLogger("polyvisor.netwatch")
T = TypeVar("T")
FILL_WAIT = 2.0  # seconds a read waits for the watcher's dump before it dumps itself


def stale_tables(kind: int, family: int) -> frozenset[str]:
    """The tables one notification (its message type and family) makes stale."""
    if kind in (rtnl.RTM_NEWLINK, rtnl.RTM_DELLINK):
        return frozenset(TABLES)
    if kind in (rtnl.RTM_NEWADDR, rtnl.RTM_DELADDR):
        return frozenset((ADDRS, ROUTES4, ROUTES6))
    if kind in (rtnl.RTM_NEWROUTE, rtnl.RTM_DELROUTE):
        table = ROUTES.get(family)
        return frozenset((table,)) if table else frozenset((ROUTES4, ROUTES6))
    return frozenset()


def stale_in(data: bytes) -> frozenset[str]:
    """The tables a datagram of notifications makes stale."""
    found: set[str] = set()
    for kind, start, end in rtnl.messages(data):
        found |= stale_tables(kind, data[start] if start < end else 0)
    return frozenset(found)



def readable(fds: list[int], timeout: float | None) -> set[int]:
    """The descriptors among `fds` ready to read within `timeout` seconds (None: no limit). poll,
    not select: a busy agent's descriptors pass select's limit of 1024."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    ready = poller.poll(None if timeout is None else int(timeout * 1000))
    return {fd for fd, _ in ready}


class NetState:
    """One namespace's cached dumps; thread-safe; the watcher starts with the first read."""

    def __init__(self, netns: str | None = None, rcvbuf: int = 1 << 20,
                 retry: float = 0.2) -> None:
        self.netns = netns
        self._rcvbuf, self._retry = rcvbuf, retry
        self._lock = threading.RLock()
        self._start_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._tables: dict[str, tuple[Any, ...]] = {}
        self._versions = dict.fromkeys(TABLES, 0)
        self._derived: dict[Hashable, tuple[tuple[int, ...], Any]] = {}
        self.live = False  # the watcher is subscribed: a kept dump can be trusted
        self.dumps = 0  # dumps asked of the kernel (tests and benchmarks read it)
        self._wanted: set[str] = set()  # tables readers wait for the watcher to dump
        self._fill_no = 0  # fills the watcher has begun
        self._used: set[str] = set()  # tables read at least once: refilled when the watcher comes back
        self._last: dict[str, tuple[int, tuple[Any, ...]]] = {}  # each table's latest fill: (number, rows)
        self._filled = threading.Condition(self._lock)
        self._stats_socket: socket.socket | None = None
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = -1, -1
        self._started = threading.Event()
        self._closed = False

    # ---- reads -------------------------------------------------------------------------------

    def links(self) -> tuple[Any, ...]:
        """RTM_GETLINK dump, kernel order (pyroute2 messages: read them, never change them)."""
        return self._table(LINKS)

    def addresses(self) -> tuple[Any, ...]:
        """RTM_GETADDR dump, every family, kernel order."""
        return self._table(ADDRS)

    def routes(self, family: int) -> tuple[Any, ...]:
        """The main table's routes of one family, kernel order."""
        return self._table(ROUTES[family])

    def derived(self, key: Hashable, tables: Iterable[str], build: Callable[[], T]) -> T:
        """build(), kept until one of `tables` changes (its result is shared: never change it)."""
        self._start()
        with self._lock:
            stamp = tuple(self._versions[t] for t in tables)
            kept = self._derived.get(key)
            if self.live and kept is not None and kept[0] == stamp:
                return kept[1]  # type: ignore[no-any-return]
            value = build()
            if self.live and stamp == tuple(self._versions[t] for t in tables):
                self._derived[key] = (stamp, value)
            return value

    def kept(self, key: Hashable, tables: Iterable[str]) -> Any:
        """What derived(key, tables, ...) would answer from memory now; None when it would build, or
        when a dump is under way (never waits for one: the event loop may ask)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            found = self._derived.get(key)
            if self.live and found is not None and found[0] == tuple(self._versions[t] for t in tables):
                return found[1]
            return None
        finally:
            self._lock.release()

    def counters(self, dump: bool = True) -> dict[int, dict[str, int]] | None:
        """Every interface's counters by index, read now (rtnl_link_stats64 field names); without
        RTM_GETSTATS (kernels before 4.7) from a link dump, or None when `dump` is False."""
        with self._stats_lock:  # not self._lock: never waits for a dump
            try:
                if self._stats_socket is None:
                    self._stats_socket = rtnl.open_socket(self.netns)
                self._seq = self._seq % 0x7FFFFFFF + 1
                return rtnl.counters(self._stats_socket, self._seq)
            except OSError as err:
                if self._stats_socket is not None:
                    self._stats_socket.close()
                    self._stats_socket = None
                log.debug("RTM_GETSTATS failed (%s): counters from a link dump", err)
        if not dump:
            return None
        links = self._dump(LINKS)
        return {link["index"]: dict(link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS") or {})
                for link in links}

    def invalidate(self, tables: Iterable[str] = TABLES) -> None:
        """Drop these tables: the next read dumps them (after a change the agent made itself)."""
        with self._lock:
            for table in tables:
                self._tables.pop(table, None)
                self._versions[table] += 1

    # ---- the kernel ------------------------------------------------------------------------------

    def _table(self, table: str) -> tuple[Any, ...]:
        self._start()
        with self._lock:
            self._used.add(table)
            ticket = self._fill_no
            if self.live and table not in self._tables:
                self._wanted.add(table)  # the watcher dumps it: pyroute2 stays on one thread
                self.wake()
                self._filled.wait_for(lambda: table in self._tables or not self.live
                                      or self._last.get(table, (0, ()))[0] > ticket, FILL_WAIT)
            if self.live:
                kept = self._tables.get(table)
                if kept is not None:
                    return kept
                last = self._last.get(table)
                if last is not None and last[0] > ticket:
                    return last[1]  # dumped after the request (a notification since has dropped it)
        return self._dump(table)  # not live: straight to the kernel, as before the cache

    def _open_dumper(self) -> Any:
        from pyroute2 import IPRoute  # heavy: imported on first use

        return IPRoute(groups=0, netns=self.netns) if self.netns else IPRoute(groups=0)

    def _dump(self, table: str, ipr: Any = None) -> tuple[Any, ...]:
        """One table from the kernel, on `ipr` or on a socket opened and closed here (pyroute2's sync
        sockets keep an event loop per thread that uses them: never share one across threads)."""
        if ipr is None:
            with self._open_dumper() as own:
                return self._dump(table, own)
        self.dumps += 1
        if table == LINKS:
            return tuple(ipr.get_links())
        if table == ADDRS:
            return tuple(ipr.get_addr())
        family = socket.AF_INET if table == ROUTES4 else socket.AF_INET6
        return tuple(ipr.get_routes(family=family, table=254))

    def _fill(self, ipr: Any) -> Any:
        """In the watcher: dump the tables readers wait for; the socket (opened here on first use)."""
        with self._lock:
            wanted = [t for t in TABLES if t in self._wanted]
            self._wanted.clear()
            self._fill_no += 1
            number, versions = self._fill_no, {t: self._versions[t] for t in wanted}
        for table in wanted:
            if ipr is None:
                ipr = self._open_dumper()
            rows = self._dump(table, ipr)
            with self._lock:
                self._last[table] = (number, rows)  # for the readers that asked: as fresh as their own dump
                if self.live and self._versions[table] == versions[table]:
                    self._tables[table] = rows  # kept until a notification (maybe queued already) drops it
        with self._lock:
            self._filled.notify_all()
        return ipr

    # ---- the watcher ---------------------------------------------------------------------------

    def _start(self) -> None:
        """Start the watcher on the first read and give it a moment to subscribe (then the read fills)."""
        if self._thread is not None or self._closed:
            return
        with self._start_lock:
            if self._thread is None and not self._closed:
                self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
                self._thread = threading.Thread(target=self._watch, daemon=True,
                                                name=f"polyvisor-netwatch-{self.netns or 'self'}")
                self._thread.start()
        self._started.wait(2.0)  # the watcher takes self._lock to go live: never wait holding it

    def _set_live(self, live: bool) -> None:
        with self._lock:
            self.live = live
            self._tables.clear()
            self._derived.clear()
            for table in TABLES:
                self._versions[table] += 1
            self._last.clear()
            self._filled.notify_all()  # readers waiting for a fill: to the kernel themselves

    def _watch(self) -> None:
        ipr: list[Any] = [None]  # the watcher's own dump socket, opened on first use
        try:
            self._watch_loop(ipr)
        finally:
            if ipr[0] is not None:
                try:
                    ipr[0].close()
                except Exception as err:  # noqa: BLE001 - closing anyway
                    log.debug("closing the netlink dump socket: %s", err)

    def _watch_loop(self, ipr: list[Any]) -> None:
        while not self._closed:
            try:
                sock = rtnl.open_socket(self.netns, rtnl.GROUPS, self._rcvbuf)
            except OSError as err:
                log.warning("netlink notifications for %s unavailable: %s", self.netns or "this namespace", err)
                self._started.set()
                if self._sleep(5.0):
                    return
                continue
            self._sock = sock
            self._set_live(True)  # subscribed first: a change from now on reaches us
            with self._lock:
                self._wanted |= self._used  # after a break: refilled before the next read asks
            self._started.set()
            try:
                self._listen(sock, ipr)
            except OSError as err:  # ENOBUFS: notifications were lost; EBADF: closed under us
                if not self._closed:
                    log.info("netlink notifications lost (%s): cache dropped, socket reopened", err)
            except Exception as err:  # noqa: BLE001 - whatever it was, the cache must not outlive it
                log.warning("netlink watcher failed (%r): cache dropped, socket reopened", err)
            finally:
                self._set_live(False)
                self._sock = None
                sock.close()
            if self._sleep(self._retry):
                return

    def _listen(self, sock: socket.socket, ipr: list[Any]) -> None:
        while not self._closed:
            fd = sock.fileno()
            if fd == -1:
                raise OSError(errno.EBADF, "the notification socket was closed")
            ready = readable([fd, self._wake_r], 0 if self._wanted else None)
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 64)
                except BlockingIOError:
                    pass
            if fd in ready:
                stale = stale_in(sock.recv(1 << 16))
                if stale:
                    self.invalidate(stale)
                continue  # what is queued behind it first, then the fill
            if self._wanted and not self._closed:
                try:
                    ipr[0] = self._fill(ipr[0])
                except Exception:
                    if ipr[0] is not None:
                        ipr[0].close()
                    ipr[0] = None
                    raise

    def _sleep(self, seconds: float) -> bool:
        """Wait, woken by close(); True when closed."""
        readable([self._wake_r], seconds)
        return self._closed

    def wake(self) -> None:
        """Wake the watcher (close(), or a test that closed its socket)."""
        if self._wake_w != -1:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    def close(self) -> None:
        """Stop the watcher and close every socket; the next read starts them again."""
        with self._start_lock:
            self._stop()

    def _stop(self) -> None:
        with self._lock:
            self._closed = True
            self.wake()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)
        with self._lock:
            self._closed = False
            self._started.clear()
            self.live = False
            self._tables.clear()
            self._derived.clear()
            self._last.clear()
            self._wanted.clear()
            with self._stats_lock:
                if self._stats_socket is not None:
                    self._stats_socket.close()
                    self._stats_socket = None
            for fd in (self._wake_r, self._wake_w):
                if fd != -1:
                    os.close(fd)
            self._wake_r = self._wake_w = -1


class NetWatch:
    """The NetState of each namespace, made on first use; closed with the services."""

    def __init__(self) -> None:
        self._states: dict[str | None, NetState] = {}
        self._lock = threading.Lock()

    def state(self, netns: str | None = None) -> NetState:
        """The namespace's cache (None: the agent's own)."""
        with self._lock:
            found = self._states.get(netns)
            if found is None:
                found = self._states[netns] = NetState(netns)
            return found

    def close(self) -> None:
        """Stop every watcher (a later read starts its namespace's again)."""
        with self._lock:
            states = list(self._states.values())
        for state in states:
            state.close()
