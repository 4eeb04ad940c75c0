"""The Home Assistant supervisor ("hassio", tag 138, Oct 2018) API: aiohttp conventions.

Order of checks (hassio/api/security.py): blacklist -> open paths -> no token 401 -> unknown
token or a role without access 403 -> router (404, 405) -> api_process (common.py).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from compat.base import Context, Dialect, DialectApp, Route, Router, lookup_error
from compat.hassio import (
    addons,
    discovery,
    hardware,
    hassos,
    homeassistant,
    host,
    info,
    proxy,
    security,
    snapshots,
    supervisor,
)
from compat.hassio import auth as auth_routes
from compat.hassio import update as selfupdate
from compat.hassio.common import (
    UNKNOWN,
    APIError,
    Call,
    Crash,
    EntityTooLarge,
    error,
    ok,
    plain,
    raw,
    server_error,
)
from handlers.errors import InvalidInput, PolyvisorError
from handlers.homeassistant.tokens import Caller

log = logging.getLogger("polyvisor.hassio")

# api_process: APIError -> its message; any other HassioError -> "Unknown Error, see logs".
ERRORS: dict[type[BaseException], Any] = {
    APIError: lambda err: err.message,
    InvalidInput: str,
    PolyvisorError: lambda err: UNKNOWN,
}

ROUTES = Router()
ROUTES.include(supervisor.routes, host.routes, hardware.routes, hassos.routes, homeassistant.routes,
               proxy.routes, discovery.routes, info.routes, auth_routes.routes, addons.routes)
ROUTES.include(selfupdate.routes)  # POST /supervisor/update
ROUTES.include(snapshots.routes)


class HassioApp(DialectApp):
    """The supervisor's aiohttp application."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, ROUTES)

    async def caller(self, request: Request) -> Caller | Response | None:
        """The security middleware: the caller, None on an open path, or the refusal."""
        path = request.scope["path"]  # not url.path: urlsplit drops tabs and newlines
        if security.BLACKLIST.match(path):
            return plain(403)
        if security.NO_SECURITY_CHECK.match(path):
            return None
        token = request.headers.get("x-hassio-key")
        if not token:
            return plain(401)
        tokens = self.context.services.hassio_tokens
        found = await Call(request, self.context, Caller("anonymous")).run(tokens.who, token)
        if found is None:
            return plain(403)
        if not security.allowed(found, path):
            log.warning("%s no role for %s", found.addon.slug if found.addon else found.kind, path)
            return plain(403)
        return found

    async def handle(self, request: Request) -> Response:
        """Security middleware, then the router, then api_process."""
        found = await self.caller(request)
        if isinstance(found, Response):
            return found
        path = request.scope["path"]
        route, params, allowed = self.router.match(request.method, path)
        if route is None:
            if allowed:
                methods = set(allowed) | ({"HEAD"} if "GET" in allowed else set())
                return plain(405, {"Allow": ",".join(sorted(methods))})
            return plain(404)
        request.scope["path_params"] = params
        return await process(route, Call(request, self.context, found or Caller("anonymous")))

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket routes (method "WS"), e.g. /homeassistant/websocket; they check their own callers."""
        from starlette.websockets import WebSocket

        route, params, _ = self.router.match("WS", scope["path"])
        socket = WebSocket(scope, receive, send)
        if route is None:
            await socket.close(code=1008)
            return
        scope["path_params"] = params
        await route.endpoint(socket, self.context)


async def process(route: Route, call: Call) -> Response:
    """api_process (or api_process_raw for routes registered with raw=<content type>)."""
    content_type = route.options.get("raw")
    method, path = call.request.method, call.request.scope["path"]
    try:
        result = await route.endpoint(call)
    except PolyvisorError as err:
        log.warning("%s %s: %s", method, path, err)
        message = lookup_error(ERRORS, err)(err)
        return raw(message if content_type and message != UNKNOWN else b"",
                   "application/octet-stream") if content_type else error(message)
    except APIError as err:
        return raw(err.message or b"", "application/octet-stream") if content_type else error(err.message)
    except EntityTooLarge as err:  # an aiohttp HTTPException: passes api_process untouched
        return err.response()
    except Crash as err:  # where 138's handler crashed (callers.py): its 500 page, expected, one line
        log.warning("%s %s: %s (500, as tag 138)", method, path, err)
        return server_error()
    except Exception:  # aiohttp's generic 500 page, never a traceback
        log.exception("%s %s failed", method, path)
        return server_error()
    if isinstance(result, Response):
        return result
    if content_type:
        return raw(result, content_type)
    if result is False:
        return error(None)
    if isinstance(result, dict):
        return ok(result)
    return ok()


def build(context: Context) -> HassioApp:
    """The hassio app."""
    return HassioApp(context)


DIALECT = Dialect("hassio", (
    "/supervisor", "/homeassistant", "/host", "/hassos", "/hardware", "/addons", "/snapshots",
    "/discovery", "/services", "/info", "=/auth", "/app", "/panel",
), build)
