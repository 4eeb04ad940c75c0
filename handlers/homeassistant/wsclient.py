"""A WebSocket client to Home Assistant's /api/websocket (wsproto over asyncio streams: wsproto comes
with hypercorn), and the supervisor's side of Home Assistant's auth handshake as tag 138's
hassio/api/proxy.py _websocket_client did it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections import deque
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from handlers.homeassistant.haapi import (
    HomeAssistantAPI,
    HomeAssistantAPIError,
    HomeAssistantAuthError,
    Target,
)

log = logging.getLogger("polyvisor.hassio.core")

READ_SIZE = 65536


class WebSocketClient:
    """One client connection: text messages in and out."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: WSConnection) -> None:
        self._reader = reader
        self._writer = writer
        self._ws = connection
        self._events: deque[Event] = deque()
        self.closed = False

    @classmethod
    async def connect(cls, target: Target, path: str = "/api/websocket", timeout: float = 30) -> WebSocketClient:
        """Open and upgrade; ConnectionError when Home Assistant does not accept."""
        context = None
        if target.ssl:  # 138: verify_ssl=False
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(target.host, target.port, ssl=context), timeout)
        client = cls(reader, writer, WSConnection(ConnectionType.CLIENT))
        await client._send(Request(host=f"{target.host}:{target.port}", target=path))
        event = await asyncio.wait_for(client._next(), timeout)
        if not isinstance(event, AcceptConnection):
            await client.close()
            raise ConnectionError(f"Home Assistant refused the WebSocket ({type(event).__name__})")
        return client

    async def _send(self, event: Event) -> None:
        self._writer.write(self._ws.send(event))
        await self._writer.drain()

    async def _next(self) -> Event:
        while not self._events:
            data = await self._reader.read(READ_SIZE)
            self._ws.receive_data(data or None)
            self._events.extend(self._ws.events())
            if not data and not self._events:
                self.closed = True
                raise ConnectionError("Home Assistant closed the connection")
        return self._events.popleft()

    async def receive_str(self) -> str:
        """The next whole text message; ConnectionError when the connection closes."""
        parts: list[str] = []
        while True:
            event = await self._next()
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts)
            elif isinstance(event, Ping):
                await self._send(event.response())
            elif isinstance(event, (CloseConnection, RejectConnection)):
                if isinstance(event, CloseConnection) and self._ws.state is ConnectionState.REMOTE_CLOSING:
                    await self._send(event.response())
                self.closed = True
                raise ConnectionError("Home Assistant closed the WebSocket")
            elif isinstance(event, Message):  # binary: aiohttp's receive_str raised TypeError
                raise TypeError("binary message from Home Assistant")

    async def send_str(self, text: str) -> None:
        await self._send(Message(data=text))

    async def receive_json(self) -> Any:
        return json.loads(await self.receive_str())

    async def send_json(self, value: Any) -> None:
        await self.send_str(json.dumps(value))  # aiohttp's send_json: json.dumps defaults

    async def close(self) -> None:
        """Close politely when still open, then the socket."""
        if not self.closed and self._ws.state is ConnectionState.OPEN:
            try:
                await self._send(CloseConnection(code=1000))
            except (OSError, RuntimeError):
                pass
        self.closed = True
        self._writer.close()


async def connect_homeassistant(api: HomeAssistantAPI, target: Target, retry: bool = True) -> WebSocketClient:
    """A WebSocket to Home Assistant, authenticated with the refresh token's access token or the
    legacy api_password; HomeAssistantAPIError when that fails (the proxy then closes)."""
    try:
        client = await WebSocketClient.connect(target)
    except (TimeoutError, OSError) as err:
        raise HomeAssistantAPIError(f"cannot reach Home Assistant's WebSocket: {err}") from err
    try:
        data = await client.receive_json()
        if data.get("type") == "auth_ok":
            return client
        if data.get("type") != "auth_required":
            raise HomeAssistantAPIError(f"unexpected answer from Home Assistant's WebSocket: {data}")
        if target.refresh_token:
            token = await asyncio.to_thread(api.ensure_access_token, target)
            await client.send_json({"type": "auth", "access_token": token})
        else:
            await client.send_json({"type": "auth", "api_password": target.password})
        data = await client.receive_json()
        if data.get("type") == "auth_ok":
            return client
    except (OSError, ValueError, TypeError, AttributeError) as err:
        await client.close()
        raise HomeAssistantAPIError(f"Home Assistant's WebSocket failed: {err}") from err
    await client.close()
    if data.get("type") == "invalid_auth" and target.refresh_token and retry:  # renew the token once
        api.forget_token()
        return await connect_homeassistant(api, target, retry=False)
    raise HomeAssistantAuthError("Home Assistant refused the WebSocket authentication")
