"""Plain rtnetlink sockets for the two things pyroute2 makes costly: change notifications and counters.

A notification only says which table changed (its type and family are all we read), and a
counters dump (RTM_GETSTATS, IFLA_STATS_LINK_64) is fixed-size structs: parsing either with
pyroute2's message classes would cost more than the work it saves. The numbers are the
kernel's `rtnl_link_stats64`, the same struct a link dump carries as IFLA_STATS64.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct
import threading
from collections.abc import Iterator

NETLINK_ROUTE = 0
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x100, 0x400
GROUPS = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR, RTM_NEWROUTE, RTM_DELROUTE = 16, 17, 20, 21, 24, 25
RTM_NEWSTATS, RTM_GETSTATS = 92, 94
IFLA_STATS_LINK_64 = 1
CLONE_NEWNET = 0x40000000
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
# struct rtnl_link_stats64, the fields every kernel since 2.6.35 has (newer ones follow them)
STATS64 = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped",
           "tx_dropped", "multicast", "collisions", "rx_length_errors", "rx_over_errors", "rx_crc_errors",
           "rx_frame_errors", "rx_fifo_errors", "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors",
           "tx_fifo_errors", "tx_heartbeat_errors", "tx_window_errors", "rx_compressed", "tx_compressed")
_STATS = struct.Struct(f"={len(STATS64)}Q")


def open_socket(netns: str | None = None, groups: int = 0, rcvbuf: int = 1 << 20) -> socket.socket:
    """A NETLINK_ROUTE socket in the agent's namespace (None) or the named one, bound to `groups`."""
    if netns is None:
        return _bound(groups, rcvbuf)
    box: list[socket.socket | BaseException] = []

    def enter() -> None:  # setns moves only this short-lived thread; the socket stays in the namespace
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}", "rb") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns {netns}: {errno.errorcode.get(code, code)}")
            box.append(_bound(groups, rcvbuf))
        except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
            box.append(err)

    worker = threading.Thread(target=enter, name="polyvisor-setns")
    worker.start()
    worker.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _bound(groups: int, rcvbuf: int) -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((0, groups))
    except OSError:
        sock.close()
        raise
    return sock


def messages(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, offset of the payload, end) of each netlink message in one datagram."""
    offset, size = 0, len(data)
    while offset + HEADER.size <= size:
        length, kind = HEADER.unpack_from(data, offset)[:2]
        if length < HEADER.size:
            return
        yield kind, offset + HEADER.size, offset + length
        offset += (length + 3) & ~3


def counters(sock: socket.socket, seq: int) -> dict[int, dict[str, int]]:
    """Every interface's 64-bit counters by index, from one RTM_GETSTATS dump."""
    request = HEADER.pack(HEADER.size + 12, RTM_GETSTATS, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    sock.send(request + struct.pack("=BxHII", 0, 0, 0, 1 << (IFLA_STATS_LINK_64 - 1)))
    found: dict[int, dict[str, int]] = {}
    while True:
        data = sock.recv(1 << 16)
        for kind, start, end in messages(data):
            if HEADER.unpack_from(data, start - HEADER.size)[3] != seq:
                continue  # an answer to an earlier request given up on
            if kind == NLMSG_DONE:
                return found
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, start)[0]
                raise OSError(code, f"RTM_GETSTATS: {errno.errorcode.get(code, code)}")
            if kind != RTM_NEWSTATS:
                continue
            index = struct.unpack_from("=I", data, start + 4)[0]
            at = start + 12  # struct if_stats_msg, then its attributes
            while at + 4 <= end:
                length, attr = struct.unpack_from("=HH", data, at)
                if length < 4:
                    break
                if attr == IFLA_STATS_LINK_64 and length - 4 >= _STATS.size:
                    found[index] = dict(zip(STATS64, _STATS.unpack_from(data, at + 4), strict=True))
                at += (length + 3) & ~3
