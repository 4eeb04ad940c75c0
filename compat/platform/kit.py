"""What the platform routes share: gin's answers, request binding and the error tables.

rest-server's envelopes (gosd-platform.md B.2): token-check failures `{"Code":n,"Message":..}`
(a Go struct without JSON tags), gin-jwt's own `{"code":n,"message":..}`, domain errors
`{"errors":{"<Domain>":"..."}}` (gin realworld's CommonError), binding failures under the
`validator` key with status 422.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from compat.base import BodyTooLarge, answers, lookup_error, read_body
from compat.gojson import INT64_MAX, INT64_MIN, GoJSONError, GoStruct, decode
from compat.responses import CompactJSON, Text
from handlers.errors import InvalidId, InvalidInput, NotFound, NotSupported, PolyvisorError, Unavailable

log = logging.getLogger("polyvisor.platform")

BODY_LIMIT = 1 << 20
Answer = Callable[[str, BaseException], Response]


class BindError(Exception):
    """The request body is not the JSON the route binds (gin's ShouldBindJSON failed)."""


class BadParam(InvalidId):
    """A path parameter is not a valid id (the routes answer 400 for these)."""


def code_message(status: int, message: str) -> Response:
    """The rest-server's token check: {"Code":n,"Message":"..."}."""
    return CompactJSON({"Code": status, "Message": message}, status)


def gin_jwt_error(status: int, message: str) -> Response:
    """gin-jwt's own failure body: {"code":n,"message":"..."}."""
    return CompactJSON({"code": status, "message": message}, status)


def domain_error(status: int, domain: str, message: str) -> Response:
    """gin realworld's CommonError: {"errors":{"<Domain>":"<message>"}}."""
    return CompactJSON({"errors": {domain: message}}, status)


def status_only(status: int = 200) -> Response:
    """c.Status(n): no body and no Content-Type."""
    return Response(status_code=status)


def as_json(value: Any, status: int = 200) -> Response:
    """c.JSON(status, value), compact."""
    return CompactJSON(value, status)


def pong() -> Response:
    """c.String(200, "pong")."""
    return Text("pong", 200, "text/plain; charset=utf-8")


def domain(status: int) -> Answer:
    """A table entry: the error's message under the route's domain key."""
    return answers(status, lambda key, err: domain_error(status, key, str(err) or type(err).__name__))


def bare(status: int) -> Answer:
    """A table entry: the status alone (the page documents no body)."""
    return answers(status, lambda key, err: status_only(status))


# rest-server's answers by domain error class (MRO lookup); routes override entries.
# Anything else "has been applied but got errors": 422 under the domain key.
REST_ERRORS: Mapping[type[BaseException], Answer] = {
    InvalidId: domain(400),  # a bad :id, pid or interface uuid
    NotSupported: bare(404),  # "Not supported or no available data."
    InvalidInput: domain(422),
    NotFound: domain(422),
    Unavailable: domain(422),
    PolyvisorError: domain(422),
}


def answer_error(errors: Mapping[type[BaseException], Answer], key: str, err: BaseException) -> Response:
    """The route's answer to a domain error (unknown ones logged, 422 with a generic message)."""
    if isinstance(err, BindError):
        return domain_error(422, "validator", str(err))
    entry = lookup_error({**REST_ERRORS, **errors}, err)
    if entry is None or not isinstance(err, PolyvisorError) and entry is REST_ERRORS[PolyvisorError]:
        log.error("unexpected failure: %r", err, exc_info=err)
        return domain_error(422, key, "internal error")
    response: Response = entry(key, err)
    return response


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking domain call in the thread pool."""
    return await run_in_threadpool(fn, *args)


# The Go type of each Python type a route's struct names; gin (Go 1.15 and later) refused bodies
# nested deeper than encoding/json's maxNestingDepth.
GO_KINDS = {str: "string", bool: "bool", int: "int", list: "[]string"}
GO_MAX_DEPTH = 10000


async def bind(request: Request, struct: str, fields: Mapping[str, type],
               required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON body as gin's ShouldBindJSON put it into a struct (compat.gojson: Go's decoder and
    its texts; keys any case, what follows the first value unread, fields the struct has not
    ignored whatever they hold), then the validator's `required`: BindError (-> 422 validator)."""
    try:
        raw = await read_body(request, BODY_LIMIT)
    except BodyTooLarge as err:
        raise BindError("http: request body too large") from err
    go_struct = GoStruct(struct, {name: GO_KINDS[kind] for name, kind in fields.items()}, package="",
                         max_depth=GO_MAX_DEPTH)
    try:
        values = decode(raw, go_struct)
    except GoJSONError as err:
        raise BindError(str(err)) from err
    bound = {name: value for name, value in values.items() if value is not None}
    for name in required:  # the validator runs once decoding succeeded
        if name not in bound:
            field = name[:1].upper() + name[1:]
            raise BindError(f"Key: '{struct}.{field}' Error:Field validation for '{field}' "
                            "failed on the 'required' tag")
    return bound


_ATOI = re.compile(r"[+-]?[0-9]{1,19}")


def atoi(text: str) -> int | None:
    """strconv.Atoi on a 64-bit build: an optional sign and ASCII digits within int64 ("١" and
    "1 " fail, "+7" is 7, 20 digits are out of range); None where Atoi returns an error."""
    if not _ATOI.fullmatch(text):
        return None
    number = int(text)
    return number if INT64_MIN <= number <= INT64_MAX else None


def int_param(request: Request, name: str, message: str = "invalid parameter") -> int:
    """A path parameter as strconv.Atoi read it; BadParam (400) where Atoi failed."""
    number = atoi(request.path_params.get(name, ""))
    if number is None:
        raise BadParam(message)
    return number


def find_token(conn: HTTPConnection) -> str | None:
    """The JWT a client presented: Bearer header, then ?token=, then the jwt cookie."""
    header = conn.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    return conn.query_params.get("token") or conn.cookies.get("jwt") or None


def claims_of(conn: HTTPConnection) -> Any:
    """The verified claims of the request's token."""
    return conn.scope.get("platform_claims")
