"""The gosd job scheduler's API (v2.2.0): gorilla/mux routing, miniflux JSON helpers.

The router runs first (a path no route takes is mux's empty 405, because gosd registers a
catch-all OPTIONS route; never a 401), then the bearer-token check of protected routes;
errors are {"error_message": "..."}.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Dialect, DialectApp, Router, lookup_error
from compat.gohttp import mux_redirect
from handlers.errors import InvalidInput, NotFound, PolyvisorError

log = logging.getLogger("polyvisor.gosd")

# Headers miniflux's JSON helpers put on every JSON answer.
JSON_HEADERS = {
    "X-XSS-Protection": "1; mode=block",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src *; media-src *; frame-src *",
}
# The /api/v1 and /api/v2 subrouters add these to every matched answer.
SUBROUTER_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "*"}
# The router-wide OPTIONS handler (any path, 200, empty).
PREFLIGHT = {"Access-Control-Allow-Origin": "*",
             "Access-Control-Allow-Headers": "Authorization,Content-Type",
             "Access-Control-Allow-Methods": "PUT,POST,PATCH,DELETE"}

# Domain error -> (status, message or None for the error's own text), miniflux helpers.
ERRORS: dict[type[BaseException], tuple[int, str | None]] = {
    NotFound: (404, "Resource Not Found"),
    InvalidInput: (400, None),
    PolyvisorError: (500, None),
    Exception: (500, None),
}

ROUTES = Router()
STARTED = time.monotonic()


def json_response(value: Any, status: int = 200, cors: bool = True) -> Response:
    """miniflux json.OK/Created/...: compact JSON, application/json, its security headers."""
    headers = {**JSON_HEADERS, **(SUBROUTER_CORS if cors else {})}
    response = Response(orjson.dumps(value), status, headers)
    response.headers["content-type"] = "application/json"
    return response


def error(status: int, message: str, cors: bool = True) -> Response:
    """{"error_message": message} with the given status."""
    return json_response({"error_message": message}, status, cors)


def unauthorized() -> Response:
    """miniflux json.Unauthorized."""
    return error(401, "Access Unauthorized")


def bearer(header: str | None) -> str | None:
    """The token of `Authorization: <scheme> <token>`: split on one space, exactly two parts."""
    parts = (header or "").split(" ")
    return parts[1] if len(parts) == 2 and parts[1] else None


def go_time(now: float | None = None) -> str:
    """Go's time.Now().String(): local time, nanoseconds, offset, zone and monotonic reading."""
    ns = time.time_ns() if now is None else int(now * 1e9)
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    offset = local.strftime("%z")
    zone = local.tzname() or offset
    if zone.startswith(("+", "-")):  # Go prints the numeric offset again when the zone has no name
        zone = offset
    fraction = f"{ns % 1_000_000_000:09d}".rstrip("0")
    stamp = local.strftime("%Y-%m-%d %H:%M:%S") + (f".{fraction}" if fraction else "")
    return f"{stamp} {offset} {zone} m=+{time.monotonic() - STARTED:.9f}"


@ROUTES.add("GET", "/gosd/api/v2/ok", auth=False)
async def get_ok(request: Request, context: Context) -> Response:
    """Liveness: {"ok": "<Go time string>"}."""
    return json_response({"ok": go_time()})


class GosdApp(DialectApp):
    """gosd's gorilla/mux router."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, ROUTES)

    async def handle(self, request: Request) -> Response:
        """Router, then auth, then the endpoint."""
        path = request.scope["path"]  # not url.path: urlsplit drops tabs and newlines
        redirect = mux_redirect(request)
        if redirect is not None:
            return redirect
        if request.method == "OPTIONS":
            if path == "/gosd/oauth/token":  # authHandler answers its own preflight
                return Response(b"", 200, {"Access-Control-Allow-Origin": "*",
                                           "Access-Control-Allow-Headers": "content-type,Authorization"})
            return Response(b"", 200, PREFLIGHT)
        route, params, _ = self.router.match(request.method, path, head_as_get=False)
        if route is None:
            # gosd registers a catch-all `router.Methods(OPTIONS)` route: for mux every other
            # request that no route takes is a method mismatch, the empty 405 (never the 404 page)
            return Response(b"", 405)
        request.scope["path_params"] = params
        if route.options.get("auth", True):
            user = await self.authenticate(request)
            if user is None:
                return unauthorized()
            request.scope["gosd_user"] = user
        try:
            return await route.endpoint(request, self.context)
        except Exception as err:
            status, message = lookup_error(ERRORS, err)
            if status >= 500:
                log.exception("%s %s failed", request.method, request.url.path)
            return error(status, message or str(err))

    async def authenticate(self, request: Request) -> Any:
        """The user a bearer token belongs to, or None.

        gosd's tokens come from POST /gosd/oauth/token, which no issue has asked for yet: until
        it exists no token is valid, and every protected route (none is served today) is 401.
        """
        bearer(request.headers.get("authorization"))
        return None


def build(context: Context) -> GosdApp:
    """The gosd app."""
    return GosdApp(context)


DIALECT = Dialect("gosd", ("/gosd",), build)
