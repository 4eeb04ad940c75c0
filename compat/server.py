"""Serving plumbing every dialect shares: systemd's sd_notify, waiting for the listen addresses
to accept, the watchdog keep-alive, and the reason phrase in Hypercorn's status lines."""

from __future__ import annotations

import asyncio
import contextlib
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


async def trim_after_bursts(interval: float = 10.0) -> None:
    """Give memory back at the first quiet tick after a busy one (handlers/host/allocator.py)."""
    from anyio import to_thread

    from handlers.host import allocator

    trimmer = allocator.Trimmer()
    while True:
        await asyncio.sleep(interval)
        if trimmer.tick():
            # a call through the worker threads first: anyio stops those idle for 10 s when one
            # comes in, so a burst's extra threads are gone before the pages are given back
            await to_thread.run_sync(int)
            await asyncio.sleep(0.5)
            await to_thread.run_sync(allocator.trim)


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
    phrases = {status.value: status.phrase.encode() for status in HTTPStatus}

    async def send(self: Any, event: Any) -> None:
        if isinstance(event, (h11.Response, h11.InformationalResponse)) and not event.reason:
            # the event's own Headers object: h11 takes it as validated (a list would be checked
            # again, header by header, on every answer)
            event = type(event)(status_code=event.status_code, headers=event.headers,
                                reason=phrases.get(event.status_code, b""))
        await original(self, event)

    send.with_reasons = True  # type: ignore[attr-defined]
    H11Protocol._send_h11_event = send  # type: ignore[method-assign]


def may_have_body(scope: Any) -> bool:
    """False when the request's headers say it has no body (h11: no Content-Length, or 0, and no
    Transfer-Encoding); a scope without headers may have one."""
    headers = scope.get("headers")
    if headers is None:
        return True
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


DRAIN_LIMIT = 256 << 10  # what Go's net/http reads of an unread body before it answers
DRAIN_WAIT = 2.0


def drain_unread_body(app: Any, limit: int = DRAIN_LIMIT, wait: float = DRAIN_WAIT) -> Any:
    """Read what is left of a request body before the answer starts, as Go's net/http did.

    A route that refuses a request before reading its body (a bad path parameter, a missing
    token) answers while the body may still be on its way. Hypercorn then closes the
    connection without telling the client, the late body meets a closed socket, and the
    client's next request on that keep-alive connection gets a reset. The legacy Go servers
    read up to 256 KiB of such a body and kept the connection; so do we. What is read is
    handed to the route if it asks for the body later. A longer or slower body gets
    `Connection: close` on the answer, so the client knows not to reuse the connection.
    """

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not may_have_body(scope):  # nothing can be left unread
            await app(scope, receive, send)
            return
        pending: list[Any] = []
        done = asyncio.Event()  # the last body message has reached someone (a route may listen too)

        async def tracked() -> Any:
            message = await receive()
            if message.get("type") != "http.request" or not message.get("more_body", False):
                done.set()
            return message

        async def replay() -> Any:
            if pending:
                return pending.pop(0)
            return await tracked()

        async def drain() -> bool:
            size = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while not done.is_set() and size <= limit:
                getter = asyncio.ensure_future(tracked())
                waiter = asyncio.ensure_future(done.wait())
                finished, _ = await asyncio.wait({getter, waiter}, timeout=max(0.0, deadline - loop.time()),
                                                 return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if getter not in finished:
                    getter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await getter
                if getter.done() and not getter.cancelled():
                    pending.append(getter.result())
                    size += len(getter.result().get("body", b""))
                if not finished:
                    break
            return done.is_set()

        async def discard() -> None:
            while not done.is_set():
                await tracked()

        discarding: list[asyncio.Task[None]] = []

        async def guarded(message: Any) -> None:
            kind = message.get("type")
            if kind == "http.response.start" and not done.is_set() and not await drain():
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            if kind == "http.response.body" and not message.get("more_body", False) and not done.is_set() \
                    and not discarding:
                # Hypercorn hands the route its disconnect through the same bounded queue the
                # body fills: someone must keep taking from it, or the last send never returns.
                discarding.append(asyncio.ensure_future(discard()))
            await send(message)

        try:
            await app(scope, replay, guarded)
            if discarding:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(discarding[0]), wait)
        finally:
            for task in discarding:
                task.cancel()

    return wrapped
