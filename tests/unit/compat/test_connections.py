"""compat.connections on Hypercorn serving a tiny app on 127.0.0.1 (the agent: tests/integration/test_connection_cap.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from hypercorn.asyncio import serve

from compat import connections


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"OK"})


@asynccontextmanager
async def server(cap: int) -> AsyncIterator[tuple[int, connections.ServerConfig]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = connections.ServerConfig(cap)
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    config.keep_alive_timeout = 75
    connections.install()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(hello, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        break
    await until(lambda: config.open_connections == 0)
    try:
        yield port, config
    finally:
        stop.set()
        await task


async def until(check: Any, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def get(port: int) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """One GET /ping on a new connection: (the answer's head and body, the open connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    return head + await reader.readexactly(length), reader, writer


def test_past_the_cap_a_connection_gets_503_and_is_closed() -> None:
    async def go() -> None:
        async with server(2) as (port, config):
            kept = [await get(port) for _ in range(2)]
            assert all(answer.startswith(b"HTTP/1.1 200") for answer, _, _ in kept)
            assert config.open_connections == 2
            answer, reader, writer = await get(port)
            assert answer.startswith(b"HTTP/1.1 503 ")
            assert b"Connection: close\r\n" in answer and b"Retry-After: 1\r\n" in answer
            assert answer.endswith(connections.REFUSAL_BODY)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
            writer.close()
            kept[0][2].close()  # a slot frees as soon as its client goes
            await until(lambda: config.open_connections == 1)
            answer, _, writer = await get(port)
            assert answer.startswith(b"HTTP/1.1 200")
            writer.close()
            for _, _, other in kept[1:]:
                other.close()
    asyncio.run(go())


def test_a_closed_keep_alive_connection_ends_at_once() -> None:
    """Hypercorn alone keeps it in CLOSE-WAIT until its keep-alive timer (75 s here) runs out."""
    async def go() -> None:
        async with server(0) as (port, config):  # 0: no cap, connections still counted
            opened = [await get(port) for _ in range(20)]
            assert config.open_connections == 20
            for _, _, writer in opened:
                writer.close()
            await until(lambda: config.open_connections == 0, timeout=3)
    asyncio.run(go())


def test_a_refused_client_with_a_body_still_reads_the_answer() -> None:
    async def go() -> None:
        async with server(1) as (port, _):
            _, _, first = await get(port)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = b"x" * 50_000
            writer.write(b"POST /v1/restart HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(connections.REFUSAL_BODY)
            writer.close()
            first.close()
    asyncio.run(go())
