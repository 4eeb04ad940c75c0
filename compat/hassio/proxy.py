"""/homeassistant/api/... and /homeassistant/websocket: Home Assistant's API and websocket, proxied with the add-on token check of hassio/api/proxy.py.

Tag 138: these paths skip the security middleware; the proxy itself takes the add-on token from
`Authorization` (its last word) or `X-HA-Access` and answers 401 unless an add-on with
homeassistant_api holds it. Upstream failures are 502. The websocket speaks Home Assistant's
auth_required / auth / auth_ok handshake with the add-on, then relays text messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from compat.base import Context, Router
from compat.hassio.common import Call, plain
from compat.responses import Text
from handlers.errors import PolyvisorError
from handlers.homeassistant.wsclient import WebSocketClient, connect_homeassistant

log = logging.getLogger("polyvisor.hassio.proxy")

routes = Router()  # compat.hassio.dialect serves it
CHUNK = 65536


def _greedy(method: str) -> Any:
    """Register for /homeassistant/api/:path where the parameter spans segments (aiohttp's {path:.+})."""
    def register(endpoint: Any) -> Any:
        routes.add(method, "/homeassistant/api/:path")(endpoint)
        last = routes.items[-1]
        routes.items[-1] = dataclasses.replace(last, regex=r"^/homeassistant/api/(?P<path>.+)\Z")
        return endpoint
    return register


def _addon_allowed(services: Any, token: str | None) -> bool:
    """An installed add-on with homeassistant_api holds `token` (HA's own token is not one)."""
    caller = services.hassio_tokens.who(token)
    if caller is None or caller.kind != "addon" or caller.addon is None:
        log.warning("Unknown Home Assistant API access!")
        return False
    if not caller.addon.homeassistant_api:
        log.warning("Not permitted API access: %s", caller.addon.slug)
        return False
    log.debug("access from %s", caller.addon.slug)  # 138 logged each at INFO (supervisor#865)
    return True


async def _check_access(call: Call) -> bool:
    headers = call.request.headers
    token = headers["authorization"].split(" ")[-1] if "authorization" in headers else headers.get("x-ha-access")
    allowed: bool = await call.run(_addon_allowed, call.services, token)
    return allowed


def _essence(content_type: str | None) -> str | None:
    """aiohttp's request.content_type / response.content_type: the media type without parameters."""
    return content_type.split(";")[0].strip().lower() if content_type else None


async def _forward(call: Call, path: str, timeout: float | None) -> Any:
    """Open the request to Home Assistant: (connection, response), or None when it fails."""
    body = await call.body()
    content_type = _essence(call.request.headers.get("content-type")) if body else None
    api = call.services.hassio_core.api
    try:
        return await call.run(api.open, call.request.method, f"api/{path}", body or None, content_type, timeout)
    except PolyvisorError as err:
        log.error("error on API for request %s: %s", path, err)
        return None


@routes.add("GET", "/homeassistant/api/stream")
async def stream(call: Call) -> Response:
    """Home Assistant's event stream, relayed as it comes."""
    if not await _check_access(call):
        return plain(401)
    opened = await _forward(call, "stream", None)
    if opened is None:
        return plain(502)
    conn, upstream = opened

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                data = await run_in_threadpool(upstream.read1, CHUNK)
                if not data:
                    break
                yield data
        except OSError:
            pass
        finally:
            conn.close()

    # 138 labelled the stream with the request's content type (aiohttp's default when none)
    media = call.request.headers.get("content-type") or "application/octet-stream"
    return StreamingResponse(chunks(), status_code=200, media_type=media)


@routes.add("GET", "/homeassistant/websocket")
@routes.add("GET", "/homeassistant/api/websocket")
async def not_upgraded(call: Call) -> Response:
    """A plain GET of the websocket paths: aiohttp's WebSocketResponse.prepare refused it (400)."""
    headers = call.request.headers
    if headers.get("upgrade", "").lower().strip() != "websocket":
        text = f'No WebSocket UPGRADE hdr: {headers.get("upgrade")}\n Can "Upgrade" only to "WebSocket".'
    else:
        text = f'No CONNECTION upgrade hdr: {headers.get("connection")}'
    return Text(text, 400, "text/plain; charset=utf-8")


async def api(call: Call) -> Response:
    """One request to Home Assistant's API with the supervisor's credentials."""
    if not await _check_access(call):
        return plain(401)
    path = call.params.get("path", "")
    opened = await _forward(call, path, 300)
    if opened is None:
        return plain(502)
    conn, upstream = opened
    try:
        data = await call.run(upstream.read)
    except OSError as err:
        log.error("client error on API %s request: %s", path, err)
        return plain(502)
    finally:
        conn.close()
    # aiohttp's web.Response(body=..., content_type=client.content_type): the type, no charset added
    media = _essence(upstream.getheader("Content-Type")) or "application/octet-stream"
    return Text(data, upstream.status, media)


_greedy("POST")(api)
_greedy("GET")(api)
routes.add("GET", "/homeassistant/api/")(api)


async def _send_json(socket: WebSocket, value: Any) -> None:
    await socket.send_text(json.dumps(value))  # aiohttp's send_json: json.dumps defaults


async def websocket(socket: WebSocket, context: Context) -> None:
    """The add-on side of the handshake, then a relay to Home Assistant's /api/websocket."""
    services = context.services
    core = services.hassio_core
    await socket.accept()
    try:
        version = await run_in_threadpool(core.version)
        await _send_json(socket, {"type": "auth_required", "ha_version": version})
        response = json.loads(await socket.receive_text())
        token = response.get("api_password") or response.get("access_token")
        if not await run_in_threadpool(_addon_allowed, services, token):
            await _send_json(socket, {"type": "auth_invalid", "message": "Invalid access"})
            await socket.close()
            return
        await _send_json(socket, {"type": "auth_ok", "ha_version": version})
    except (RuntimeError, ValueError, AttributeError, KeyError) as err:
        log.error("cannot do the handshake: %s", err)
        with contextlib.suppress(RuntimeError):
            await socket.close()
        return
    except WebSocketDisconnect:  # the add-on went away
        return
    try:
        client = await connect_homeassistant(core.api, await run_in_threadpool(core.target))
    except PolyvisorError as err:
        log.error("Home Assistant's WebSocket: %s", err)
        with contextlib.suppress(RuntimeError):
            await socket.close()
        return
    await _relay(socket, client)


async def _relay(socket: WebSocket, client: WebSocketClient) -> None:
    """Text both ways until one side closes; then both are closed."""
    async def upstream() -> None:
        while True:
            await client.send_str(await socket.receive_text())

    async def downstream() -> None:
        while True:
            await socket.send_text(await client.receive_str())

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        await client.close()
        with contextlib.suppress(Exception):
            await socket.close()


routes.add("WS", "/homeassistant/websocket")(websocket)
routes.add("WS", "/homeassistant/api/websocket")(websocket)
