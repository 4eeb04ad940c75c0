"""The industrial edge platform agent (/auth, /platform/api, /api, /edgehub/api): gin conventions.

gin routes first: an unknown path is `404 page not found` (text/plain), a path that differs
only by a trailing slash is redirected (301 for GET, 307 otherwise). Protected routes take a
JWT from `Authorization: Bearer`, `?token=` or the `jwt` cookie and refuse with
401 {"Code":401,"Message":"..."}; domain errors are {"errors":{"<Domain>":"..."}}.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from compat.base import Context, Dialect, Router
from compat.responses import CompactJSON, Text

log = logging.getLogger("polyvisor.platform")

ROUTES = Router()
API_VERSION = 1.2  # GET /auth/version: a JSON number


def pong() -> Response:
    """c.String(200, "pong")."""
    return Text("pong", 200, "text/plain; charset=utf-8")


def agentinfo(context: Context) -> Response:
    """{"version": "v<our version>"}."""
    return CompactJSON({"version": f"v{context.settings.version}"})


def code_message(status: int, message: str) -> Response:
    """The rest-server's token-check failure: {"Code":n,"Message":"..."}."""
    return CompactJSON({"Code": status, "Message": message}, status)


def domain_error(status: int, domain: str, message: str) -> Response:
    """gin realworld's CommonError: {"errors":{"<Domain>":"<message>"}}."""
    return CompactJSON({"errors": {domain: message}}, status)


def find_token(request: Request) -> str | None:
    """The JWT a client presented: Bearer header, then ?token=, then the jwt cookie."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return request.query_params.get("token") or request.cookies.get("jwt") or None


for _prefix in ("/auth", "/platform/api", "/api", "/api/irtm", "/edgehub/api"):
    ROUTES.add("GET", f"{_prefix}/ping", auth=False)(lambda request, context: _async(pong()))
for _prefix in ("/auth", "/platform/api", "/api", "/edgehub/api"):
    ROUTES.add("GET", f"{_prefix}/agentinfo", auth=False)(
        lambda request, context: _async(agentinfo(context)))


@ROUTES.add("GET", "/auth/version", auth=False)
async def get_auth_version(request: Request, context: Context) -> Response:
    """The API version, a JSON number."""
    return CompactJSON({"version": API_VERSION})


async def _async(response: Response) -> Response:
    return response


class PlatformApp:
    """The gin engines of auth-server, rest-server, portal-service and edgehub-agent."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.router = ROUTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Router (with gin's trailing-slash redirect), then auth, then the endpoint."""
        path = request.url.path
        route, params, _ = self.router.match(request.method, path, head_as_get=False)
        if route is None:
            other = path[:-1] if path.endswith("/") and path != "/" else path + "/"
            if self.router.match(request.method, other, head_as_get=False)[0] is not None:
                status = 301 if request.method == "GET" else 307
                body = f'<a href="{other}">Moved Permanently</a>.\n\n' if status == 301 else ""
                return Text(body, status, "text/html; charset=utf-8", {"Location": other})
            return Text("404 page not found", 404, "text/plain")
        request.scope["path_params"] = params
        if route.options.get("auth", True):
            claims = await self.authenticate(request)
            if claims is None:
                return code_message(401, "token is invalid")
            request.scope["platform_claims"] = claims
        try:
            return await route.endpoint(request, self.context)
        except Exception as err:
            log.exception("%s %s failed", request.method, path)
            return domain_error(500, "Server", str(err))

    async def authenticate(self, request: Request) -> Any:
        """The verified claims of the presented JWT, or None (the signer comes with /auth/login)."""
        token = find_token(request)
        verify = getattr(self.context.services, "platform_verify", None)
        return verify(token) if token and verify else None


def build(context: Context) -> PlatformApp:
    """The platform app."""
    return PlatformApp(context)


DIALECT = Dialect("platform", ("/auth", "/platform", "/api", "/edgehub"), build)
