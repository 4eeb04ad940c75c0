"""What every dialect shares: the request context, path ownership, error tables, body reading."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from time import perf_counter
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from compat import access

log = logging.getLogger("polyvisor.compat")


@dataclass(frozen=True)
class Context:
    """What a dialect is built with: the settings and the domain services."""

    settings: Any
    services: Any


@dataclass(frozen=True)
class Dialect:
    """A legacy API: the paths it owns on a shared port and how to build its ASGI app.

    `owns` entries are path prefixes ("/v1" owns /v1 and /v1/...); an entry starting with
    "=" owns exactly that path.
    """

    name: str
    owns: tuple[str, ...]
    build: Callable[[Context], ASGIApp]

    def match(self, path: str) -> int:
        """How specifically this dialect owns `path`: 0 not at all, higher is more specific."""
        best = 0
        for entry in self.owns:
            if entry.startswith("="):
                if path == entry[1:]:
                    return 1_000_000
            elif path == entry or path.startswith(entry.rstrip("/") + "/"):
                best = max(best, len(entry))
        return best


class Mux:
    """Sends each request to the dialect that owns its path; the first dialect gets the rest.

    Each dialect is a whole app of its own, so it keeps its own auth, envelope and
    not-found answer when several share one port. Runs the services' lifespan.
    """

    def __init__(self, apps: list[tuple[Dialect, ASGIApp]], services: Any) -> None:
        if not apps:
            raise ValueError("no dialect to serve")
        self.apps = apps
        self.services = services
        # every owned path starts with one segment: index the candidates by it, so a request
        # only checks the one or two dialects that may own it
        self._by_segment: dict[str, list[tuple[Dialect, ASGIApp]]] = {}
        for dialect, app in apps:
            for entry in dialect.owns:
                candidates = self._by_segment.setdefault(entry.lstrip("=/").split("/")[0], [])
                if (dialect, app) not in candidates:
                    candidates.append((dialect, app))

    def app_for(self, path: str) -> ASGIApp:
        """The app of the dialect that owns `path`."""
        best_app, best_score = self.apps[0][1], 0
        for dialect, app in self._by_segment.get(path[1:].split("/", 1)[0], ()):
            score = dialect.match(path)
            if score > best_score:
                best_app, best_score = app, score
        return best_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.app_for(scope.get("path", "/"))(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.services.open()
                except Exception as err:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.services.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


Answer = TypeVar("Answer", bound=Callable[..., Any])


def answers(status: int, answer: Answer) -> Answer:
    """An error-table entry marked with the status it answers (the contract tests check that
    the dialect's spec declares it for every route whose table holds the entry)."""
    answer.status = status  # type: ignore[attr-defined]
    return answer


def lookup_error(table: Mapping[type[BaseException], Any], exc: BaseException) -> Any:
    """The table entry for the exception's class or its nearest base class (MRO order)."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None


class BodyTooLarge(Exception):
    """The request body is over the dialect's limit."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refusing more than `limit` bytes without reading them all."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only (str.isdigit takes "١"); longer than 18 is over any limit (and int()
    # refuses more than 4300 digits)
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise BodyTooLarge(declared)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Request], Awaitable[Any]]


REGEX_SYNTAX = frozenset(".^$*+?{}[]\\|()")


@dataclass(frozen=True)
class Route:
    """One legacy route: method, path, its regex (`path` with each `:name` as a group; compiled on
    first use), endpoint and dialect-specific options."""

    method: str
    path: str
    regex: str
    endpoint: Callable[..., Awaitable[Any]]
    options: Mapping[str, Any]
    flags: int = 0

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(self.regex, self.flags)

    @cached_property
    def _literal(self) -> tuple[str, bool, bool] | None:
        """(the path before its first `:name`, lower-cased when matched without case; whether that
        is the whole path; whether case is ignored) when it is plain ASCII text, which the regex
        matches character for character; None when only the regex can tell."""
        head, colon, _ = self.path.partition(":")
        if not head.isascii() or REGEX_SYNTAX.intersection(head):
            return None
        folds = bool(self.flags & re.IGNORECASE)
        return (head.lower() if folds else head), not colon, folds

    def params(self, path: str, folded: str | None = None) -> dict[str, str] | None:
        """The path's parameters when this route's regex matches it, else None. A plain path is
        compared as text (an ASCII request path: what IGNORECASE folds there is what lower() does;
        `folded` is path.lower() when the caller has it), and a path that does not start with a
        parameterised route's plain head never compiles its regex: at start no route is compiled,
        and /ping never runs one."""
        literal = self._literal
        if literal is not None and path.isascii():
            text = ((folded if folded is not None else path.lower()) if literal[2] else path)
            if literal[1]:
                return {} if text == literal[0] else None
            if not text.startswith(literal[0]):
                return None
        found = self.pattern.match(path)
        return found.groupdict() if found else None


class Router:
    """A dialect's route table, filled by decorators; `:name` path segments become parameters."""

    def __init__(self, case_insensitive: bool = False) -> None:
        self.items: list[Route] = []
        self._flags = re.IGNORECASE if case_insensitive else 0

    def add(self, method: str, path: str, **options: Any) -> Callable[[Any], Any]:
        """Register the decorated endpoint for METHOD path."""
        regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path)

        def register(endpoint: Any) -> Any:
            self.items.append(Route(method, path, f"^{regex}\\Z", endpoint, options, self._flags))
            return endpoint

        return register

    def match(self, method: str, path: str, head_as_get: bool = True) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, params, allowed methods): route None with methods = wrong method; none = unknown."""
        allowed: list[str] = []
        folded = path.lower() if path.isascii() else None  # once, not once per route
        for route in self.items:
            params = route.params(path, folded)
            if params is None:
                continue
            if route.method == method or (head_as_get and method == "HEAD" and route.method == "GET"):
                return route, params, []
            allowed.append(route.method)
        return None, {}, allowed

    def include(self, *tables: Router) -> None:
        """Serve the routes of `tables` after this table's own, in order (a dialect assembling the
        tables of its route modules)."""
        for table in tables:
            self.items.extend(table.items)

    def paths(self) -> set[tuple[str, str]]:
        """Every (METHOD, path) served, for the contract tests."""
        return {(r.method, r.path) for r in self.items}


class DialectApp:
    """A dialect's ASGI app: each HTTP request is answered by handle() and goes to the access log,
    WebSockets go to websocket()."""

    def __init__(self, context: Context, router: Router) -> None:
        self.context = context
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        start = perf_counter()
        status, took = 0, None
        try:
            response = await self.handle(Request(scope, receive))
            # the time to the answer's headers, as morgan's response-time in the legacy access log
            status, took = response.status_code, perf_counter() - start
            await response(scope, receive, send)
        finally:
            access.record(scope, status, took)

    async def handle(self, request: Request) -> Any:
        """The legacy answer to one HTTP request."""
        raise NotImplementedError

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """No WebSocket routes: refuse the handshake."""
        from starlette.websockets import WebSocket

        await WebSocket(scope, receive, send).close(code=1008)
