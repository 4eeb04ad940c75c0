"""The industrial edge platform agent (/auth, /platform/api, /api, /edgehub/api): gin conventions.

gin routes first: an unknown path is `404 page not found` (text/plain), a path that differs
only by a trailing slash is redirected (301 for GET, 307 otherwise). Protected routes take a
JWT from `Authorization: Bearer`, `?token=` or the `jwt` cookie and refuse with
401 {"Code":401,"Message":"..."}; domain errors are {"errors":{"<Domain>":"..."}}.

Route options: auth (default True), jwt (gin-jwt's lower-case 401 envelope), admin (the
caller must be an admin), pre_change (allowed while the admin password is the default),
domain (the error key), errors (overrides of compat.platform.kit.REST_ERRORS).
The routes live in the route modules of compat/platform/ (auth, cloud, edgehub, net, perif, stream,
system, term), each with its own table; this module serves its own few and then theirs, in that order.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from compat.base import Context, Dialect, DialectApp, Route, Router
from compat.platform import auth, cloud, edgehub, net, perif, stream, system, term
from compat.platform.kit import answer_error, code_message, find_token, gin_jwt_error, pong
from compat.responses import CompactJSON, Text
from handlers.accounts.jwt_rs256 import TokenInvalid

log = logging.getLogger("polyvisor.platform")

ROUTES = Router()
API_VERSION = 1.2  # GET /auth/version: a JSON number
# Prefixes where the admin's default-password rule applies (B.3's recommended rule).
GUARDED = ("/platform/api/", "/edgehub/api/")
MUST_CHANGE = "admin password must be changed"
NO_PERMISSION = "the login user has no permission"


def agentinfo(context: Context) -> Response:
    """{"version": "v<our version>"}."""
    return CompactJSON({"version": f"v{context.settings.version}"})


async def _async(response: Response) -> Response:
    return response


for _prefix in ("/auth", "/platform/api", "/api", "/api/irtm", "/edgehub/api"):
    ROUTES.add("GET", f"{_prefix}/ping", auth=False)(lambda request, context: _async(pong()))
for _prefix in ("/auth", "/platform/api", "/api", "/edgehub/api"):
    ROUTES.add("GET", f"{_prefix}/agentinfo", auth=False)(
        lambda request, context: _async(agentinfo(context)))


@ROUTES.add("GET", "/auth/version", auth=False)
async def get_auth_version(request: Request, context: Context) -> Response:
    """The API version, a JSON number."""
    return CompactJSON({"version": API_VERSION})


def go_html_escape(text: str) -> str:
    """Go's html escaper in net/http: & < > " (as &#34;) and ' (as &#39;)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


class PlatformApp(DialectApp):
    """The gin engines of auth-server, rest-server, portal-service and edgehub-agent."""

    def __init__(self, context: Context) -> None:
        super().__init__(context, ROUTES)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket routes (method WS): the same token check, a refusal closes with 1008."""
        from starlette.websockets import WebSocket

        socket = WebSocket(scope, receive, send)
        route, params, _ = self.router.match("WS", scope.get("path", "/"), head_as_get=False)
        if route is None:
            await socket.close(code=1008)
            return
        scope["path_params"] = params
        refusal, claims = self.check(socket, route)
        if refusal is not None:
            await socket.close(code=1008)
            return
        scope["platform_claims"] = claims
        await route.endpoint(socket, self.context)

    async def handle(self, request: Request) -> Response:
        """Router (with gin's trailing-slash redirect), then auth, then the endpoint."""
        path = request.scope["path"]  # not url.path: urlsplit drops tabs and newlines
        route, params, _ = self.router.match(request.method, path, head_as_get=False)
        if route is None:
            other = path[:-1] if path.endswith("/") and path != "/" else path + "/"
            if self.router.match(request.method, other, head_as_get=False)[0] is not None:
                # gin redirects to req.URL.String() (the query kept) through Go's http.Redirect,
                # which writes its little HTML body (and type) only for GET and HEAD
                # req.URL.String(): the path escaped again (Go's encodePath), the raw query as sent
                query = request.scope.get("query_string", b"").decode("latin-1")
                target = quote(other, safe="$&+,/:;=@") + (f"?{query}" if query else "")
                if request.method == "GET":
                    body = f'<a href="{go_html_escape(target)}">Moved Permanently</a>.\n\n'
                    return Text(body, 301, "text/html; charset=utf-8", {"Location": target})
                return Response(b"", 307, {"Location": target})
            return Text("404 page not found", 404, "text/plain")
        request.scope["path_params"] = params
        refusal, claims = self.check(request, route)
        if refusal is not None:
            return refusal
        request.scope["platform_claims"] = claims
        try:
            response: Response = await route.endpoint(request, self.context)
            return response
        except Exception as err:  # noqa: BLE001 - every failure gets the route's legacy answer
            return answer_error(route.options.get("errors", {}), route.options.get("domain", "Server"), err)

    def check(self, conn: HTTPConnection, route: Route) -> tuple[Response | None, Any]:
        """(refusal, claims): the token check, the default-password rule, the admin rule."""
        if not route.options.get("auth", True):
            return None, None
        logins = self.context.services.platform.auth
        refuse = gin_jwt_error if route.options.get("jwt") else code_message
        token = find_token(conn)
        if not token:
            return refuse(401, "auth header is empty"), None
        try:
            claims = logins.verify(token)
        except TokenInvalid as err:
            return refuse(401, str(err)), None
        if (conn.url.path.startswith(GUARDED) and not route.options.get("pre_change")
                and logins.must_change_password(claims)):
            return code_message(403, MUST_CHANGE), None
        if route.options.get("admin") and not logins.is_admin(claims):
            return code_message(403, NO_PERMISSION), None
        return None, claims


def build(context: Context) -> PlatformApp:
    """The platform app."""
    return PlatformApp(context)


DIALECT = Dialect("platform", ("/auth", "/platform", "/api", "/edgehub"), build)

# The route modules' tables after this module's own routes, in the order they were first
# registered (stream before net: net was the first to import it).
ROUTES.include(auth.routes, stream.routes, net.routes, perif.routes, system.routes, term.routes,
               edgehub.routes, cloud.routes)
