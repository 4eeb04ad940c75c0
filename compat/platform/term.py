"""The web terminal: GET /platform/api/term/ws ({"os":"linux"}) and its WebSocket (GoTTY webtty).

Frames are text; the first character is the command. Server -> client: `1` + base64 output,
`2` pong, `3` window title, `6` buffer size. Client -> server: `1` + base64 input (raw text
is accepted too), `2` ping, `3` + {"columns":N,"rows":M}. GoTTY clients first send
{"Arguments":"...","AuthToken":"..."}, which is read and ignored (the JWT was checked already).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from compat.base import Context, Router
from compat.platform.kit import as_json, claims_of
from handlers.accounts.logins import ADMIN_ACCOUNT
from handlers.engine.terminal import window_size
from handlers.errors import PolyvisorError

routes = Router()  # compat.platform.dialect serves it after its own routes

log = logging.getLogger("polyvisor.platform.term")
SUBPROTOCOL = "webtty"
BUFFER_SIZE = 1024


@routes.add("GET", "/platform/api/term/ws", domain="Terminal")
async def get_term(request: Request, context: Context) -> Response:
    """The terminal's basic information."""
    return as_json({"os": "linux"})


@routes.add("WS", "/platform/api/term/ws", domain="Terminal")
async def ws_term(socket: WebSocket, context: Context) -> None:
    """A login shell of the token's user on a pty, bridged to the WebSocket."""
    claims = claims_of(socket)
    user = "root" if claims.m == ADMIN_ACCOUNT else claims.identity
    offered = socket.scope.get("subprotocols") or []
    await socket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    from handlers.host.shell import PtyShell  # pty, tty, termios: loaded by the first terminal

    try:
        shell = await run_in_threadpool(PtyShell, user)
    except PolyvisorError as err:
        await socket.send_text("1" + base64.b64encode(f"{err}\r\n".encode()).decode())
        await socket.close(code=1011)
        return
    await socket.send_text("3" + shell.title)
    await socket.send_text(f"6{BUFFER_SIZE}")
    loop = asyncio.get_running_loop()

    async def output() -> None:
        while True:
            data = await loop.run_in_executor(None, shell.read)
            if not data:
                break
            await socket.send_text("1" + base64.b64encode(data).decode())
        with contextlib.suppress(RuntimeError):
            await socket.close()

    pump = asyncio.create_task(output())
    try:
        while True:
            text = await socket.receive_text()
            if not text:
                continue
            command, data = text[0], text[1:]
            if command == "{":  # GoTTY's init message
                continue
            if command == "1":
                try:
                    raw = base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    raw = data.encode()
                await run_in_threadpool(shell.write, raw)
            elif command == "2":
                await socket.send_text("2")
            elif command == "3":  # {"columns":N,"rows":M}; anything else is ignored
                with contextlib.suppress(ValueError, RecursionError, OSError):
                    size = json.loads(data)
                    found = window_size([size.get("columns"), size.get("rows")]) if isinstance(size, dict) else None
                    if found is not None:
                        shell.resize(*found)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        pump.cancel()
        await run_in_threadpool(shell.close)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
