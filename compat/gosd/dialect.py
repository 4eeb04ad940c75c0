"""The gosd job scheduler's API (v2.2.0): gorilla/mux routing, miniflux JSON helpers.

Order of checks (api/api.go, api/middleware.go): mux cleans the path (301); OPTIONS is answered
by the router-wide preflight route (or /gosd/oauth/token's own); any other request no route takes
is mux's empty 405 (gosd registers a catch-all OPTIONS route, so for mux every miss is a method
mismatch, never the 404 page, never a 401); then the subrouter's auth middleware (paths it lets
through: OPEN_PREFIXES); then the route. Errors are {"error_message": "..."} (ERRORS).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from compat.base import Context, Dialect, DialectApp, Router, lookup_error
from compat.gohttp import mux_redirect
from compat.gosd import actions, auth, blobs, jobs, mqtt, plans
from compat.gosd.common import BadRequest, Call, ServerError, error
from handlers.errors import InvalidInput, NotFound, PolyvisorError

log = logging.getLogger("polyvisor.gosd")

# The router-wide OPTIONS handler (any path, 200, empty).
PREFLIGHT = {"Access-Control-Allow-Origin": "*",
             "Access-Control-Allow-Headers": "Authorization,Content-Type",
             "Access-Control-Allow-Methods": "PUT,POST,PATCH,DELETE"}
# authHandler answers its own preflight
TOKEN_PREFLIGHT = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "content-type,Authorization"}

# AuthMiddleware let these path prefixes through without a token (hard-coded to /gosd, whatever
# BASE_URL said); so every /api/v1/blobs/ route is open, and GET /api/v1/blobs/ too (which mux
# gives to the {action} route).
OPEN_PREFIXES = ("/gosd/api/v2/ok", "/gosd/api/v1/blobs/", "/gosd/api/v2/oauth/token")

# Domain error -> (status, message or None for the error's own text), miniflux helpers.
ERRORS: dict[type[BaseException], tuple[int, str | None]] = {
    NotFound: (404, "Resource Not Found"),  # json.NotFound
    BadRequest: (400, None),  # json.BadRequest(err)
    InvalidInput: (500, None),  # a value the database cannot hold: gosd's store errors were ServerError
    ServerError: (500, None),  # json.ServerError(err): gosd's answer to most bad input
    PolyvisorError: (500, None),
    Exception: (500, None),
}

ROUTES = Router()
# mux's order: the /api/v1 subrouter (plan_logs, logs, blobs, user, then {action}), the /api/v2
# one (oauth, plans, jobs, blobs, ok, mqtt), /oauth/token; the first route that takes both the
# path and the method wins
ROUTES.include(jobs.routes, blobs.routes, auth.routes, actions.routes, plans.routes, mqtt.routes)


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
            if path == "/gosd/oauth/token":
                return Response(b"", 200, TOKEN_PREFLIGHT)
            return Response(b"", 200, PREFLIGHT)
        route, params, _ = self.router.match(request.method, path, head_as_get=False)
        if route is None:
            return Response(b"", 405)
        request.scope["path_params"] = params
        call = Call(request, self.context)
        cors = route.options.get("cors", True)
        try:
            if route.options.get("auth", True):
                call.user = await self.caller(call)
                if call.user is None and not path.startswith(OPEN_PREFIXES):
                    return error(request, 401, "Access Unauthorized")
            response: Response = await route.endpoint(call)
            return response
        except Exception as err:
            status, message = lookup_error(ERRORS, err)
            if status >= 500 and not isinstance(err, (ServerError, PolyvisorError)):
                log.exception("%s %s failed", request.method, path)
            elif status >= 500:
                log.warning("%s %s: %s", request.method, path, err)
            response = error(request, status, message or str(err), cors)
            if path == "/gosd/oauth/token":  # authHandler set this before anything could fail
                response.headers["Access-Control-Allow-Origin"] = "*"
            return response

    async def caller(self, call: Call) -> Any:
        """helpCurrentUser: user 1 with --gosd-noauth, else the user of the bearer token, or None.

        `Authorization` is split on single spaces and must have exactly two parts; the scheme
        word is not checked. Expired tokens are None (the store's user_for_token).
        """
        request = call.request
        store = getattr(self.context.services, "gosd_store", None)
        if store is None:
            return None
        if getattr(self.context.settings, "gosd_noauth", False):
            return await call.run(store.user, 1)
        token = bearer(request.headers.get("authorization"))
        if token is None:
            return None
        return await call.run(store.user_for_token, token)


def bearer(header: str | None) -> str | None:
    """The token of `Authorization: <scheme> <token>`: split on one space, exactly two parts."""
    parts = (header or "").split(" ")
    return parts[1] if len(parts) == 2 and parts[1] else None


def build(context: Context) -> GosdApp:
    """The gosd app."""
    return GosdApp(context)


DIALECT = Dialect("gosd", ("/gosd",), build)
