"""Serving plumbing every dialect shares: systemd's sd_notify, waiting for the listen addresses
to accept, the watchdog keep-alive, and the reason phrase in Hypercorn's status lines."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

log = logging.getLogger("polyvisor")


def notify(message: str, environ: Mapping[str, str] = os.environ) -> None:
    """Send an sd_notify message when systemd gave us a socket (Type=notify units)."""
    path = environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:  # never block the event loop on a full notify queue
            sock.sendto(message.encode(), socket.MSG_DONTWAIT, path)
        except BlockingIOError:
            log.warning("sd_notify queue full; %s dropped", message.split("=")[0])
        except OSError as err:
            log.warning("sd_notify failed: %s", err)


async def wait_bound(addresses: Sequence[str], parse_listen: Callable[[str], tuple[str, int]]) -> None:
    """Return once every listen address accepts connections."""
    for address in addresses:
        host, port = parse_listen(address)
        for _ in range(500):
            try:
                if port == 0:
                    _, writer = await asyncio.open_unix_connection(host)
                else:
                    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
                    _, writer = await asyncio.open_connection(target, port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.01)


async def watchdog(interval: float) -> None:
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(interval)


def add_reason_phrases() -> None:
    """Status lines with their reason phrase (`HTTP/1.1 200 OK`), as every legacy server wrote them.

    Hypercorn hands h11 no reason, so h11 writes `HTTP/1.1 200 `; scripts that grep the status
    line of `curl -i` would see the difference.
    """
    from http import HTTPStatus

    import h11
    from hypercorn.protocol.h11 import H11Protocol

    original = H11Protocol._send_h11_event
    if getattr(original, "with_reasons", False):
        return

    async def send(self: Any, event: Any) -> None:
        if isinstance(event, (h11.Response, h11.InformationalResponse)) and not event.reason:
            try:
                phrase = HTTPStatus(event.status_code).phrase.encode()
            except ValueError:
                phrase = b""
            event = type(event)(status_code=event.status_code, headers=list(event.headers), reason=phrase)
        await original(self, event)

    send.with_reasons = True  # type: ignore[attr-defined]
    H11Protocol._send_h11_event = send  # type: ignore[method-assign]
