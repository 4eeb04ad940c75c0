"""The Home Assistant supervisor ("hassio", tag 138, Oct 2018) API: aiohttp conventions.

Order of checks (hassio/api/security.py): blacklist -> open paths -> no token 401 ->
unknown token 403 -> router (404, 405). Handlers answer {"result": "ok", "data": {...}} or
400 {"result": "error", "message": ...}; text errors are aiohttp's "<status>: <reason>".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Dialect, DialectApp, Router, lookup_error
from compat.responses import SpacedJSON, Text
from handlers.errors import InvalidInput, PolyvisorError

log = logging.getLogger("polyvisor.hassio")

BLACKLIST = re.compile(r"^/homeassistant/api/hassio/.*$")
NO_SECURITY_CHECK = re.compile(r"^(?:/supervisor/ping|/homeassistant/api/.*|/homeassistant/websocket)$")
REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error"}

# api_process: APIError -> its message; any other HassioError -> "Unknown Error, see logs".
ERRORS: dict[type[BaseException], Callable[[BaseException], str]] = {
    InvalidInput: str,
    PolyvisorError: lambda err: "Unknown Error, see logs",
}

ROUTES = Router()


def ok(data: dict[str, Any] | None = None) -> Response:
    """api_return_ok: 200 {"result": "ok", "data": data or {}}."""
    return SpacedJSON({"result": "ok", "data": data or {}})


def error(message: str | None) -> Response:
    """api_return_error: 400 {"result": "error", "message": message}."""
    return SpacedJSON({"result": "error", "message": message}, status_code=400)


def plain(status: int, headers: dict[str, str] | None = None) -> Response:
    """aiohttp's own error answer: "<status>: <reason>" as text/plain."""
    return Text(f"{status}: {REASONS[status]}", status, "text/plain; charset=utf-8", headers)


@ROUTES.add("GET", "/supervisor/ping")
async def get_supervisor_ping(request: Request, context: Context) -> Response:
    """Liveness, open to every caller."""
    return ok()


class HassioApp(DialectApp):
    """The supervisor's aiohttp application."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, ROUTES)

    def token_valid(self, token: str) -> bool:
        """The agent's API key, or the host's machine-id (the HassOS CLI's token), both full access."""
        identity = self.context.services.identity
        machine_id = (self.context.services.hostfs.read_text("/etc/machine-id") or "").strip()
        return identity.check_key(token) or (bool(machine_id) and _same(token, machine_id))

    async def handle(self, request: Request) -> Response:
        """Security middleware, then the router, then api_process."""
        path = request.scope["path"]  # not url.path: urlsplit drops tabs and newlines
        if BLACKLIST.match(path):
            return plain(403)
        if not NO_SECURITY_CHECK.match(path):
            token = request.headers.get("x-hassio-key")
            if not token:
                return plain(401)
            if not await run_in_threadpool(self.token_valid, token):
                return plain(403)
        route, params, allowed = self.router.match(request.method, path)
        if route is None:
            if allowed:
                return plain(405, {"Allow": ",".join(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))})
            return plain(404)
        request.scope["path_params"] = params
        try:
            return await route.endpoint(request, self.context)
        except PolyvisorError as err:
            message = lookup_error(ERRORS, err)
            log.warning("%s %s: %s", request.method, path, err)
            return error(message(err) if message else None)
        except Exception:  # aiohttp's generic 500 page, never a traceback
            log.exception("%s %s failed", request.method, path)
            page = ("<html><head><title>500 Internal Server Error</title></head><body>"
                    "<h1>500 Internal Server Error</h1>Server got itself in trouble</body></html>")
            return Text(page, 500, "text/html; charset=utf-8")


def _same(given: str, expected: str) -> bool:
    from handlers.host.identity import keys_equal

    return keys_equal(given, expected)


def build(context: Context) -> HassioApp:
    """The hassio app."""
    return HassioApp(context)


DIALECT = Dialect("hassio", (
    "/supervisor", "/homeassistant", "/host", "/hassos", "/hardware", "/addons", "/snapshots",
    "/discovery", "/services", "/info", "=/auth", "/app", "/panel",
), build)
