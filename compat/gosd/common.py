"""What every gosd route shares: Go's json.Marshal, miniflux's answers (security headers, gzip or
deflate over 1024 bytes), the calls into the domain, gorilla/mux's `{name:regex}` parameters and
the request bodies as gosd read them (mime.ParseMediaType, multipart.Reader).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from compat.base import BodyTooLarge, Context, Route, Router, read_body
from compat.gohttp import go_marshal

# Headers miniflux's JSON helpers put on every JSON answer.
JSON_HEADERS = {
    "X-XSS-Protection": "1; mode=block",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src *; media-src *; frame-src *",
}
# The /api/v1 and /api/v2 subrouters add these to every matched answer.
SUBROUTER_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "*"}
COMPRESSION_THRESHOLD = 1024  # miniflux's builder compresses bodies longer than this
# Our own limit on a request body (gosd had none and read every upload into memory); over it the
# answer is what Go's http.MaxBytesReader error would have given through json.ServerError.
MAX_BODY = 64 * 1024 * 1024
TOO_LARGE = "http: request body too large"
NO_MEDIA_TYPE = "mime: no media type"


class ServerError(Exception):
    """json.ServerError: 500 with the error's text (gosd's answer to most bad input)."""


class BadRequest(Exception):
    """json.BadRequest: 400 with the error's text."""


def go_map(mapping: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A Go map as json.Marshal writes it: keys sorted (nil stays null)."""
    return None if mapping is None else dict(sorted(mapping.items()))


def go_rfc3339(value: Any) -> Any:
    """A timestamp as Go's time.Time marshals (RFC 3339, fraction trimmed, offset or Z)."""
    if not isinstance(value, datetime):
        return value
    text = value.isoformat()
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = head + ("." + digits.rstrip("0") if digits.rstrip("0") else "") + zone
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def go_encode(value: Any) -> bytes:
    """json.Marshal: dicts in their order (structs; use go_map for maps), HTML-safe strings."""
    return go_marshal(value, sort_keys=False)


def compressed(request: Request, body: bytes, headers: dict[str, str]) -> bytes:
    """miniflux's builder: over 1024 bytes, gzip when Accept-Encoding names it, else raw deflate."""
    if len(body) <= COMPRESSION_THRESHOLD:
        return body
    accept = request.headers.get("accept-encoding", "")
    if "gzip" in accept:
        headers["Content-Encoding"] = "gzip"
        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    elif "deflate" in accept:
        headers["Content-Encoding"] = "deflate"  # compress/flate: raw deflate, no zlib header
        packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    else:
        return body
    return packer.compress(body) + packer.flush()


def answer(request: Request, value: Any, status: int = 200, cors: bool = True,
           extra: Mapping[str, str] | None = None) -> Response:
    """miniflux json.OK/Created/...: Go's JSON, application/json, the security headers; the
    subrouter's CORS headers when the route is under /api/v1 or /api/v2."""
    headers = {**(SUBROUTER_CORS if cors else {}), **(extra or {}), **JSON_HEADERS}
    body = compressed(request, go_encode(value), headers)
    response = Response(body, status, headers)
    response.headers["content-type"] = "application/json"
    return response


def error(request: Request, status: int, message: str, cors: bool = True) -> Response:
    """{"error_message": message} with the given status."""
    return answer(request, {"error_message": message}, status, cors)


def raw_json(content: bytes, status: int = 200) -> Response:
    """w.Header().Set("Content-Type", "application/json"); w.Write(content): no miniflux headers."""
    response = Response(content, status, dict(SUBROUTER_CORS))
    response.headers["content-type"] = "application/json"
    return response


Result = TypeVar("Result")


@dataclass
class Call:
    """One request to a gosd route: the request, the services and the caller (None on open routes)."""

    request: Request
    context: Context
    user: Any = None

    @property
    def services(self) -> Any:
        """The domain services."""
        return self.context.services

    @property
    def store(self) -> Any:
        """handlers.gosd's store (Services.gosd_store)."""
        store = getattr(self.context.services, "gosd_store", None)
        if store is None:
            raise ServerError("gosd store is not configured")
        return store

    def param(self, name: str) -> str:
        """A path parameter."""
        value: str = self.request.path_params[name]
        return value

    def int_param(self, name: str) -> int:
        """request.RouteInt64Param: a `[0-9]+` parameter (0 when it overflows int64, as Go's)."""
        text = self.param(name)
        if len(text) > 19:  # past int64 (and past what int() parses: a 5,000-digit id is a ValueError)
            return 0
        value = int(text)
        return value if value < 2 ** 63 else 0

    async def run(self, function: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        """A blocking domain call, in a thread."""
        return await run_in_threadpool(function, *args, **kwargs)

    async def body(self) -> bytes:
        """The whole body, at most MAX_BODY bytes (else the 500 a MaxBytesReader would give)."""
        limit = getattr(self.context.settings, "gosd_max_body", None) or MAX_BODY
        try:
            return await read_body(self.request, limit)
        except BodyTooLarge as err:
            raise ServerError(TOO_LARGE) from err


class MuxRouter(Router):
    """A route table whose `:name` parameters may carry mux's regex (`where={"id": "[0-9]+"}`)."""

    def add(self, method: str, path: str, **options: Any) -> Callable[[Any], Any]:
        """Register the decorated endpoint for METHOD path."""
        where: Mapping[str, str] = options.get("where", {})

        def segment(found: re.Match[str]) -> str:
            return f"(?P<{found.group(1)}>{where.get(found.group(1), '[^/]+')})"

        regex = re.sub(r":(\w+)", segment, path)

        def register(endpoint: Any) -> Any:
            self.items.append(Route(method, path, f"^{regex}\\Z", endpoint, options))
            return endpoint

        return register


DIGITS = {"id": "[0-9]+", "job": "[0-9]+"}  # mux's {planID:[0-9]+}, {blobID:[0-9]+}, {logID:[0-9]+}


# -- bodies ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def media_type(request: Request) -> tuple[str, dict[str, str]]:
    """mime.ParseMediaType of the Content-Type header: (lower-cased type, parameters); ServerError
    with Go's text when it does not parse (`mime: no media type` when the header is missing)."""
    header = request.headers.get("content-type", "")
    base, _, rest = header.partition(";")
    base = base.strip().lower()
    if not base:
        raise ServerError(NO_MEDIA_TYPE)
    kind, slash, sub = base.partition("/")
    if not _TOKEN.fullmatch(kind) or not slash:
        raise ServerError("mime: expected slash after first token")
    if not _TOKEN.fullmatch(sub):
        raise ServerError("mime: expected token after slash" if not sub else
                          "mime: unexpected content after media subtype")
    params: dict[str, str] = {}
    for item in rest.split(";"):
        name, equals, value = item.strip().partition("=")
        if not item.strip():
            continue
        if not equals or not _TOKEN.fullmatch(name.strip()):
            raise ServerError("mime: invalid media parameter")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name.strip().lower()] = value
    return f"{kind}/{sub}", params


@dataclass
class Part:
    """One part of a multipart body: its form name, file name ("" for a field) and content."""

    name: str
    filename: str
    content: bytes


@dataclass
class Form:
    """A multipart body as gosd read it: text fields by name (the last wins), file parts in order."""

    fields: dict[str, str] = field(default_factory=dict)
    files: list[Part] = field(default_factory=list)


# multipart.Reader.NextPart's error when the body ends before the closing boundary; gosd itself
# crashed (a nil part) on it, we answer it through json.ServerError as the code meant to.
BAD_MULTIPART = "multipart: NextPart: EOF"


def parse_multipart(body: bytes, boundary: str) -> Form:
    """multipart.NewReader(body, boundary) read to the end; ServerError on a malformed body."""
    if not boundary:
        raise ServerError(BAD_MULTIPART)
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    form = Form()
    chunks = body.split(b"\r\n" + delimiter)
    first = chunks[0]
    if first.startswith(delimiter):
        chunks[0] = first[len(delimiter):]
    else:  # a preamble: the first delimiter must come after a line break
        _head, found, tail = first.partition(b"\n" + delimiter)
        if not found:
            raise ServerError(BAD_MULTIPART)
        chunks[0] = tail
    closed = False
    for chunk in chunks:
        if chunk.startswith(b"--"):
            closed = True
            break
        headers, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ServerError(BAD_MULTIPART)
        name, filename = _disposition(headers)
        if filename:
            form.files.append(Part(name, filename, content))
        else:
            form.fields[name] = content.decode("utf-8", "replace")
    if not closed:
        raise ServerError(BAD_MULTIPART)
    return form


_PARAM = re.compile(r';\s*([\w*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


def _disposition(headers: bytes) -> tuple[str, str]:
    """(FormName, FileName) of a part: the Content-Disposition's name and the base of filename."""
    name = filename = ""
    for line in headers.decode("utf-8", "replace").split("\r\n"):
        key, colon, value = line.partition(":")
        if not colon or key.strip().lower() != "content-disposition":
            continue
        kind = value.split(";")[0].strip().lower()
        params = {k.lower(): (v[1:-1].replace('\\"', '"').replace("\\\\", "\\") if v.startswith('"') else v.strip())
                  for k, v in _PARAM.findall(value)}
        if kind == "form-data":
            name = params.get("name", "")
        filename = params.get("filename", "") or _extended(params.get("filename*", ""))
    if filename:  # Part.FileName: filepath.Base
        stripped = filename.rstrip("/")
        filename = stripped.rsplit("/", 1)[-1] if stripped else "/"
    return name, filename


def _extended(value: str) -> str:
    """An RFC 2231 `filename*=UTF-8''...` value decoded (mime.ParseMediaType does it); "" if bad."""
    charset, quote, rest = value.partition("'")
    _, quote2, encoded = rest.partition("'")
    if not (quote and quote2) or charset.lower() not in ("utf-8", "us-ascii"):
        return ""
    try:
        return unquote(encoded, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return ""


async def read_form(call: Call) -> Form | None:
    """formData2Blob's reading: the multipart form, or None for any other media type (gosd then
    ignored the body); ServerError for a missing or malformed Content-Type or body."""
    kind, params = media_type(call.request)
    if not kind.startswith("multipart/"):
        return None
    return parse_multipart(await call.body(), params.get("boundary", ""))


async def store_files(call: Call, form: Form) -> dict[str, str]:
    """Each file part as a new blob, in order: form name -> blob id as a string (the last wins)."""
    ids: dict[str, str] = {}
    for part in form.files:
        ids[part.name] = str(await call.run(call.store.create_blob, part.filename, part.content))
    return ids
