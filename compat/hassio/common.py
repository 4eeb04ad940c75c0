"""What every hassio route module shares: the envelope (api_return_ok / api_return_error), the
errors api_process maps, body validation with voluptuous (api_validate) and the Call a route gets.

A route endpoint is `async def endpoint(call: Call) -> Any`; the dialect turns what it returns
into the legacy answer as api_process did (hassio.md §1.1): a dict -> ok with it as data, False
-> 400 with message null, a Response -> as is, anything else -> ok {}. Routes registered with
`raw=<content type>` are api_process_raw: the bytes or text returned, errors with status 200.
APIError(message) is the supervisor's APIError/APIForbidden: 400 with the message. Any other
PolyvisorError from the domain is 400 "Unknown Error, see logs"; any other exception aiohttp's 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import voluptuous as vol
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from voluptuous.humanize import humanize_error

from compat.base import Context
from compat.responses import SpacedJSON, Text
from handlers.homeassistant.tokens import Caller

UNKNOWN = "Unknown Error, see logs"
REASONS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           500: "Internal Server Error", 502: "Bad Gateway"}
BODY_LIMIT = 1024 ** 2  # aiohttp 3.4's client_max_size: a bigger body is 413 before any handler


class Crash(Exception):
    """Where tag 138's handler raised an exception api_process did not catch: aiohttp's 500 page
    (logged as one line: the crash is the legacy's, expected)."""


class EntityTooLarge(Exception):
    """aiohttp's HTTPRequestEntityTooLarge: the body reached client_max_size (1 MiB) while read."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size

    def response(self) -> Response:
        text = f"Maximum request body size {BODY_LIMIT} exceeded, actual body size {self.size}"
        return Text(text, 413, "text/plain; charset=utf-8")


class APIError(Exception):
    """hassio's APIError / APIForbidden: 400 {"result": "error", "message": <message>}."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message)
        self.message = message


def ok(data: dict[str, Any] | None = None) -> Response:
    """api_return_ok: 200 {"result": "ok", "data": data or {}}."""
    return SpacedJSON({"result": "ok", "data": data or {}})


def error(message: str | None) -> Response:
    """api_return_error: 400 {"result": "error", "message": message}."""
    return SpacedJSON({"result": "error", "message": message}, status_code=400)


def plain(status: int, headers: dict[str, str] | None = None) -> Response:
    """aiohttp's own error answer: "<status>: <reason>" as text/plain."""
    return Text(f"{status}: {REASONS[status]}", status, "text/plain; charset=utf-8", headers)


def server_error() -> Response:
    """aiohttp's page for an exception a handler let escape (never a traceback)."""
    page = ("<html><head><title>500 Internal Server Error</title></head><body>"
            "<h1>500 Internal Server Error</h1>Server got itself in trouble</body></html>")
    return Text(page, 500, "text/html; charset=utf-8")


def raw(body: bytes | str, content_type: str) -> Response:
    """api_process_raw's answer: status 200, the exact content type (no charset added)."""
    return Text(body.encode() if isinstance(body, str) else body, 200, content_type)


@dataclass
class Call:
    """One request to a hassio route: the request, the agent's context and the caller."""

    request: Request
    context: Context
    caller: Caller

    @property
    def services(self) -> Any:
        return self.context.services

    @property
    def params(self) -> dict[str, str]:
        return dict(self.request.path_params)

    async def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """A blocking domain call, off the event loop."""
        return await run_in_threadpool(function, *args, **kwargs)

    async def body(self) -> bytes:
        """request.read(): the body, refused once it reaches client_max_size (aiohttp checked
        `>=` after each chunk, so a body of exactly 1 MiB is refused too)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size >= BODY_LIMIT:
                raise EntityTooLarge(size)
            chunks.append(chunk)
        return b"".join(chunks)

    async def json(self) -> Any:
        """request.json(loads=json_loads): an empty body is {}, broken JSON APIError("Invalid json").
        The content type is not looked at (hassio-cli 1.x sent none)."""
        body = await self.body()
        if not body:
            return {}
        try:
            return json.loads(body.decode(_charset(self.request)))
        except (ValueError, LookupError) as err:  # JSONDecodeError, UnicodeDecodeError
            raise APIError("Invalid json") from err
        except RecursionError:  # json_loads caught only JSONDecodeError: 138 crashed here
            raise Crash("JSON body nested deeper than the parser's recursion limit") from None

    async def validate(self, schema: vol.Schema) -> dict[str, Any]:
        """api_validate: the body through `schema`; a failure is 400 with humanize_error's text."""
        data = await self.json()
        try:
            result: dict[str, Any] = schema(data)
        except vol.Invalid as err:
            raise APIError(humanize_error(data, err)) from None
        except (OverflowError, ValueError, TypeError) as err:  # e.g. Coerce(int)(Infinity): past voluptuous
            raise Crash(f"validation raised {type(err).__name__}: {err}") from None
        return result


def _charset(request: Request) -> str:
    """aiohttp's request.text(): the content type's charset, else utf-8."""
    for part in request.headers.get("content-type", "").split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
