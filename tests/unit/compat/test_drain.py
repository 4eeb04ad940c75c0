"""compat.server.drain_unread_body on a scripted ASGI receive (the real server: tests/integration/test_keepalive.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from compat.server import drain_unread_body


class Channel:
    """The server side of one request: body messages put in by the test, what the app sent."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def body(self, data: bytes, more: bool) -> None:
        self.incoming.put_nowait({"type": "http.request", "body": data, "more_body": more})

    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.sent[0]["headers"])


async def refuse(scope: Any, receive: Any, send: Any) -> None:
    """A route that answers without reading the body."""
    await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


def run(app: Any, channel: Channel, scope_type: str = "http") -> None:
    asyncio.run(asyncio.wait_for(app({"type": scope_type}, channel.receive, channel.send), 5))


def test_a_body_that_arrives_is_read_before_the_answer() -> None:
    channel = Channel()

    async def go() -> None:
        task = asyncio.ensure_future(drain_unread_body(refuse)({"type": "http"}, channel.receive, channel.send))
        await asyncio.sleep(0)
        assert channel.sent == []  # waiting for the body
        channel.body(b"ab", True)
        channel.body(b"cd", False)
        await task
    asyncio.run(go())
    assert channel.headers() == [(b"content-length", b"0")]  # kept alive
    assert channel.incoming.empty()


def test_a_body_that_never_comes_gets_connection_close() -> None:
    channel = Channel()
    channel.body(b"ab", True)
    run(drain_unread_body(refuse, wait=0.05), channel)
    assert channel.headers() == [(b"content-length", b"0"), (b"connection", b"close")]


def test_a_body_over_the_limit_gets_connection_close_and_reaches_the_route_whole() -> None:
    channel = Channel()
    for _ in range(4):
        channel.body(b"x" * 100, True)
    channel.body(b"y", False)
    got = []

    async def late_reader(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"Connection", b"keep-alive")]})
        while True:
            message = await receive()
            got.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.body", "body": b""})

    run(drain_unread_body(late_reader, limit=150), channel)
    assert channel.headers() == [(b"connection", b"close")]  # the route's own value replaced
    assert b"".join(got) == b"x" * 400 + b"y"


def test_a_route_that_read_its_body_is_answered_at_once() -> None:
    channel = Channel()
    channel.body(b"{}", False)

    async def reader(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["body"] == b"{}"
        await refuse(scope, receive, send)

    run(drain_unread_body(reader, wait=30), channel)
    assert channel.headers() == [(b"content-length", b"0")]


def test_a_listener_that_takes_the_last_message_ends_the_wait() -> None:
    # Starlette's StreamingResponse listens for the disconnect while it answers.
    channel = Channel()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        listener = asyncio.ensure_future(receive())
        await asyncio.sleep(0)
        channel.body(b"", False)  # arrives while both wait on the queue
        await refuse(scope, receive, send)
        await listener

    run(drain_unread_body(streaming, wait=30), channel)
    assert channel.headers() == [(b"content-length", b"0")]


def test_the_last_send_returns_while_the_body_keeps_coming() -> None:
    # Hypercorn puts the disconnect in the same bounded queue as the body, from inside the
    # route's last send: if nobody takes from the queue, that send never returns.
    channel = Channel()
    channel.incoming = asyncio.Queue(maxsize=2)
    sent = channel.send

    async def server_send(message: dict[str, Any]) -> None:
        await sent(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            for _ in range(5):
                await channel.incoming.put({"type": "http.request", "body": b"z" * 100, "more_body": True})
            await channel.incoming.put({"type": "http.disconnect"})

    channel.send = server_send  # type: ignore[method-assign]
    for _ in range(2):
        channel.body(b"x" * 100, True)
    run(drain_unread_body(refuse, limit=50), channel)
    assert channel.headers() == [(b"content-length", b"0"), (b"connection", b"close")]
    assert channel.incoming.empty()


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_websockets_and_lifespan_pass_through(kind: str) -> None:
    channel = Channel()
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(receive == channel.receive and send == channel.send)

    run(drain_unread_body(app), channel, kind)
    assert seen == [True]


def test_a_request_without_a_body_is_passed_through() -> None:
    from compat.server import may_have_body

    assert may_have_body({"headers": [(b"host", b"x")]}) is False
    assert may_have_body({"headers": [(b"content-length", b"0")]}) is False
    assert may_have_body({"headers": [(b"content-length", b"2")]}) is True
    assert may_have_body({"headers": [(b"transfer-encoding", b"chunked")]}) is True
    assert may_have_body({}) is True  # nothing known: drained as before
    channel = Channel()
    scope = {"type": "http", "headers": [(b"host", b"x")]}
    asyncio.run(asyncio.wait_for(drain_unread_body(refuse)(scope, channel.receive, channel.send), 5))
    assert channel.headers() == [(b"content-length", b"0")]  # no receive() was needed, nothing added
