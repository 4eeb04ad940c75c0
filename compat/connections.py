"""What each listen address does with its connections: a cap on how many are open, a short 503
past it, and no connection kept after its client has gone.

Hypercorn has no cap of its own (its `backlog` only bounds connections not yet accepted), so
every listen address gets a ServerConfig counting its open connections, and Hypercorn's
per-connection server is replaced by Connection, which refuses past the cap. The legacy Go and
node servers had no cap either; a device's memory does. A refused client gets a real HTTP
answer (503 with `Retry-After`, then the connection closed) rather than a reset: HTTP clients
report a status they know, retry it when told to, and a health check sees why. Closing at
accept would show as "connection reset" or "empty reply", indistinguishable from a crash, and
leaving the connection in the kernel's queue (Go's netutil.LimitListener) would let a flood of
idle connections stall every client, health checks included, with no sign of why.

Connection also ends a kept-alive connection as soon as its client closes it: Hypercorn 0.18
otherwise waits for its keep-alive timer (75 s here) with the socket in CLOSE-WAIT, holding the
connection's objects, so a burst of clients that come and go held their memory for 75 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hypercorn.asyncio import run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config

log = logging.getLogger("polyvisor")

DEFAULT_CAP = 512
REFUSAL_BODY = b"503 Service Unavailable: too many open connections\n"
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" % len(REFUSAL_BODY)) + REFUSAL_BODY
HEAD_WAIT = 1.0  # seconds a refused client has to send its request head
HEAD_LIMIT = 16 << 10  # what is read of it (Hypercorn's h11_max_incomplete_size)
WARN_EVERY = 60.0  # seconds between two warnings about refused connections


class ServerConfig(Config):
    """Hypercorn's Config for one listen address, with its cap and its count of open connections."""

    def __init__(self, max_connections: int = DEFAULT_CAP) -> None:
        super().__init__()
        self.max_connections = max_connections  # 0: no cap
        self.open_connections = 0
        self.refused = 0  # since the last warning
        self.warned = 0.0


class Connection(TCPServer):
    """Hypercorn's per-connection server: refuses past the cap, ends when the client closes."""

    async def run(self) -> None:
        config = self.config
        if not isinstance(config, ServerConfig):
            await super().run()
            return
        if config.max_connections and config.open_connections >= config.max_connections:
            await refuse(self.reader, self.writer, config)
            return
        config.open_connections += 1
        try:
            await super().run()
        finally:
            config.open_connections -= 1

    async def _read_data(self) -> None:
        await super()._read_data()
        # the client closed (or the read failed): the idle timer would keep the connection's task
        # group, so the connection, open until the keep-alive timeout
        await self.idle_task.stop()


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, config: ServerConfig) -> None:
    """Answer 503 once the request head is in (or after HEAD_WAIT), then close."""
    config.refused += 1
    now = time.monotonic()
    if now - config.warned >= WARN_EVERY:
        log.warning("%d connection(s) refused with 503: %d open, the cap (--max-connections)",
                    config.refused, config.open_connections)
        config.refused, config.warned = 0, now
    # read the head first: closing with unread bytes would reset the connection, and the client
    # could lose the answer
    with contextlib.suppress(OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_WAIT)
    with contextlib.suppress(OSError, RuntimeError):
        writer.write(REFUSAL)
        writer.write_eof()
        await asyncio.wait_for(writer.drain(), HEAD_WAIT)
        # what the client still sends (a body) is read and dropped, briefly, for the same reason
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(HEAD_LIMIT), HEAD_WAIT)
    writer.close()
    with contextlib.suppress(OSError, RuntimeError):
        await writer.wait_closed()


def install() -> None:
    """Serve every Hypercorn connection of this process with Connection (idempotent)."""
    hypercorn_run.TCPServer = Connection  # type: ignore[misc]
