"""The balena (resin) supervisor's API on port 48484: auth, express envelope, profiles.

The v1 and v2 route tables live in compat/balena/v1.py and compat/balena/v2.py, over what
they share with this module (compat/balena/common.py: profiles, Call, error answers); this module
puts them behind the supervisor's middleware order: GET /v1/healthy, then the API-key check
for everything else (so an unknown route without a key is 401), then the routes, then
express's `Cannot GET /x` page.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from compat.balena import express, qs
from compat.balena import v1 as balena_v1
from compat.balena import v2 as balena_v2
from compat.balena.common import PROFILES, Call
from compat.base import Context, Dialect, DialectApp, Route, Router, lookup_error
from handlers.errors import PolyvisorError

log = logging.getLogger("polyvisor.balena")

# Authorization: ApiKey <key> (2016) or Bearer <key> (v11.3, issue #1249), scheme in any case.
AUTH_HEADER = re.compile(r"^(?:ApiKey|Bearer) (\w+)$", re.IGNORECASE)


def find_key(request: Request) -> str | None:
    """The key a client presented: ?apikey= first, else the Authorization header."""
    query = request.query_params.get("apikey")
    if query:
        return query
    match = AUTH_HEADER.match(request.headers.get("authorization", ""))
    return match.group(1) if match else None


def needs_key(context: Context) -> bool:
    """needsAuth = unmanaged ? osVariant === 'prod' : !localMode; an unknown variant counts as prod.

    Managed = a target URL is configured (the legacy: config.json has an apiEndpoint).
    """
    supervisor = context.services.supervisor
    if supervisor.managed:
        return not supervisor.local_mode()
    return context.services.device.os_variant() != "dev"


class BalenaApp(DialectApp):
    """The supervisor's express app: healthy -> auth -> routes -> Cannot GET."""

    def __init__(self, context: Context, routes: list[Route]) -> None:
        super().__init__(context, Router(case_insensitive=True))
        profile = context.settings.balena_profile
        self.profile = PROFILES[profile]
        self.router.items = [r for r in routes if profile in r.options.get("profiles", PROFILES)]

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket routes (method "WS"); they check their own credentials."""
        from starlette.websockets import WebSocket

        route, params, _ = self.router.match("WS", _routed_path(scope))
        socket = WebSocket(scope, receive, send)
        decoded = _decode_params(params)
        if route is None or decoded is None:
            await socket.close(code=1008)
            return
        scope["path_params"] = decoded
        await route.endpoint(socket, self.context)

    async def handle(self, request: Request) -> Response:
        """Answer one request the way the legacy supervisor did."""
        era = express.ERA.set(self.profile.era)
        try:
            response = await self._handle(request)
        finally:
            express.ERA.reset(era)
        if self.profile.powered_by:
            response.headers["X-Powered-By"] = "Express"
        return response

    async def _handle(self, request: Request) -> Response:
        # express routing is case-insensitive and ignores one trailing slash; no 405, only 404
        route, params, allowed = self.router.match(request.method, _routed_path(request.scope))
        # routes before the auth middleware (or holding their own credential) skip the key check;
        # `open` may name the Profile field that decides it per era
        opened = route.options.get("open", False) if route is not None else False
        if not (getattr(self.profile, opened) if isinstance(opened, str) else opened):
            try:
                # unmanaged: os-release's variant, from memory while the file is unchanged (no thread
                # hop on polled routes); managed: local mode, from the database, in the pool
                needed = (needs_key(self.context) if not self.context.services.supervisor.managed
                          else await run_in_threadpool(needs_key, self.context))
            except Exception as err:  # the config could not be read: authenticate's catch
                log.error("API key check failed: %s", err)
                return express.send(f"Unexpected error: Error: {err}", 503, request)
            if needed and not self.context.services.identity.check_key(find_key(request)):
                return express.send_status(401, request)
        body: dict[str, Any] = {}
        early = route.options.get("early", False) if route is not None else False
        if not (early is True or (early and self.profile.era in early)):
            # the body parsers are the first middleware of the routers: every later request goes through them
            try:
                body = await express.parse_body(request, self.profile.body_limit)
            except express.ParseError as err:
                return err.response()
        if route is None:
            if request.method == "OPTIONS" and allowed:
                return options_response(allowed)
            return express.cannot_answer(request)
        decoded = _decode_params(params)
        if decoded is None:  # decode_param's URIError, status 400, through finalhandler
            bad = next(value for value in params.values() if _undecodable(value))
            page = (f"URIError: Failed to decode param '{bad}'" if self.profile.era == "2016"
                    else express.REASONS[400])
            return express.html_page(400, page)
        request.scope["path_params"] = decoded
        errors = route.options.get("errors", {})
        try:
            return await route.endpoint(Call(request, self.context, self.profile, body))
        except PolyvisorError as err:
            answer = lookup_error(errors, err)
            if answer is None:
                log.warning("%s %s: %s", request.method, request.url.path, err)
                return express.send(str(err), 503, request)
            return answer(err)
        except Exception as err:  # never a traceback to the client
            log.exception("%s %s failed", request.method, request.url.path)
            answer = lookup_error(errors, err)
            return answer(err) if answer else express.send(f"{type(err).__name__}: {err}", 503, request)


def options_response(methods: list[str]) -> Response:
    """express's automatic OPTIONS answer: the path's methods (HEAD after GET) in Allow and body."""
    found: list[str] = []
    for method in methods:
        for one in (method, "HEAD") if method == "GET" else (method,):
            if one not in found and one != "WS":
                found.append(one)
    response = express.send(",".join(found))
    response.headers["Allow"] = ",".join(found)
    return response


def _routed_path(scope: Scope) -> str:
    """The path express matched its routes on: req.url's pathname as sent, still percent-encoded
    (`/v1/apps/..%2Fetc/stop` is :appId/stop), less one trailing slash. The router ignores case."""
    raw = scope.get("raw_path")
    return _one_slash_less(raw.decode("latin-1") if raw else scope["path"])


def _undecodable(value: str) -> bool:
    try:
        _decode_param(value)
    except ValueError:
        return True
    return False


def _decode_param(value: str) -> str:
    """express's decode_param: decodeURIComponent of the matched text (sent bytes read as UTF-8)."""
    return qs.decode_uri_component(value if value.isascii() else value.encode("latin-1").decode("utf-8"))


def _decode_params(params: dict[str, str]) -> dict[str, str] | None:
    """Every path parameter decoded, or None when one is not valid percent-encoded UTF-8."""
    try:
        return {name: _decode_param(value) for name, value in params.items()}
    except ValueError:  # UnicodeError is one
        return None


def _one_slash_less(path: str) -> str:
    """express (path-to-regexp, strict off) ignores one trailing slash, not more."""
    return path[:-1] if path.endswith("/") and path != "/" else path


def build(context: Context) -> BalenaApp:
    """The balena app with every route of the configured profile."""
    return BalenaApp(context, list(balena_v1.ROUTES.items) + list(balena_v2.ROUTES.items))


DIALECT = Dialect("balena", ("/ping", "/v1", "/v2"), build)
