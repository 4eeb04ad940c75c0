"""Express 4 conventions the balena supervisor's clients see: bodies, content types, ETags, errors.

res.send(str)     -> text/html; charset=utf-8
res.sendStatus(n) -> text/plain; charset=utf-8, body = the reason phrase
res.json(x)       -> application/json; charset=utf-8, compact, insertion order
every body gets a weak ETag; 204 has no body and no content headers;
finalhandler answers unknown routes and parser errors with a small HTML page.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from compat.balena import qs
from compat.base import BodyTooLarge, read_body
from handlers.jsvalues import STACK_EXCEEDED, JsNumber, JSParseError, js_string, json_parse, parse_int

BODY_LIMIT = 10 * 1024 * 1024  # bodyParser limit '10mb'

# Node's http.STATUS_CODES for the statuses the supervisor sends.
REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 413: "Payload Too Large", 415: "Unsupported Media Type", 423: "Locked",
           500: "Internal Server Error", 503: "Service Unavailable"}


# Which express a response imitates: "2019" (express 4.16.4, etag 1.8, finalhandler 1.1.1, the
# v10 supervisor) or "2016" (express 4.14.0, etag 1.7, finalhandler 0.5.0, the resin era). Set
# per request by the dialect.
ERA: ContextVar[str] = ContextVar("express_era", default="2019")


def etag(body: bytes) -> str:
    """The weak ETag express's default etag function gives a body: SHA-1 from etag 1.8 (2017),
    MD5 before."""
    if ERA.get() == "2016":
        digest = base64.b64encode(hashlib.md5(body).digest()).decode().rstrip("=")
    else:
        digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


_NO_CACHE = re.compile(r"(?:^|,)\s*?no-cache\s*?(?:,|$)")


_CONDITIONAL = (b"if-none-match", b"if-modified-since")


def fresh(request: Request, tag: str) -> bool:
    """The fresh 0.5.2 package as express's req.fresh used it (no Last-Modified is ever sent)."""
    raw = request.scope["headers"]
    if not any(name in _CONDITIONAL for name, _ in raw):  # the common case, without a Headers object
        return False
    headers = request.headers
    modified_since, none_match = headers.get("if-modified-since"), headers.get("if-none-match")
    if not modified_since and not none_match:
        return False
    if _NO_CACHE.search(headers.get("cache-control", "")):
        return False
    if none_match and none_match != "*":
        matches = [m.strip() for m in none_match.split(",") if m.strip()]
        if not any(m == tag or "W/" + m == tag or m == "W/" + tag for m in matches):
            return False
    return not modified_since  # If-Modified-Since without a Last-Modified: stale


def _respond(body: bytes, status: int, media_type: str, request: Request | None) -> Response:
    tag = etag(body)
    # express's req.fresh: a GET/HEAD answered 2xx that the client already has turns into 304
    if request is not None and request.method in ("GET", "HEAD") and 200 <= status < 300 and fresh(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    if status in (204, 304):  # res.send strips the body and its content headers, not the ETag
        return Response(status_code=status, headers={"ETag": tag})
    response = Response(body, status, {"ETag": tag})
    response.headers["content-type"] = media_type
    return response


def send(text: str, status: int = 200, request: Request | None = None) -> Response:
    """res.status(status).send(text)."""
    return _respond(text.encode(), status, "text/html; charset=utf-8", request)


def send_status(status: int, request: Request | None = None) -> Response:
    """res.sendStatus(status)."""
    return _respond(REASONS.get(status, str(status)).encode(), status,
                    "text/plain; charset=utf-8", request)


def send_json(value: Any, status: int = 200, request: Request | None = None) -> Response:
    """res.status(status).json(value)."""
    return _respond(orjson.dumps(value), status, "application/json; charset=utf-8", request)


def no_content() -> Response:
    """res.sendStatus(204): no body and no content headers, but the ETag of "No Content" stays."""
    return _respond(b"No Content", 204, "text/plain; charset=utf-8", None)


def html_page(status: int, message: str) -> Response:
    """finalhandler's error answer: 1.1.1's HTML document with its two security headers (CSP
    became 'none' only in 1.1.2); in the 2016 era 0.5.0's bare line."""
    body = escape_html(message).replace("\n", "<br>").replace("  ", " &nbsp;")
    if ERA.get() == "2016":
        return _bare_page(status, body + "\n")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Error</title>\n</head>\n<body>\n<pre>" + body + "</pre>\n</body>\n</html>\n")
    response = Response(page.encode(), status, {
        "Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff"})
    response.headers["content-type"] = "text/html; charset=utf-8"
    return response


def _bare_page(status: int, text: str) -> Response:
    response = Response(text.encode(), status, {"X-Content-Type-Options": "nosniff"})
    response.headers["content-type"] = "text/html; charset=utf-8"
    return response


def escape_html(text: str) -> str:
    """The escape-html package: & < > " and ' (as &#39;)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def encode_url(path: str) -> str:
    """The encodeurl package: percent-encode what is not allowed in a URL, keep existing %XX."""
    return re.sub(r"%(?![0-9A-Fa-f]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]%]",
                  lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode("utf-8")), path)


def cannot(method: str, raw_path: str, query: str = "") -> Response:
    """The 404 express gives a route it does not know: `Cannot GET /x` (the path as sent, no
    query); in the 2016 era `Cannot GET /x?query` and a newline, without a document around it."""
    if ERA.get() == "2016":
        url = raw_path + (f"?{query}" if query else "")
        return _bare_page(404, f"Cannot {escape_html(method)} {escape_html(url)}\n")
    return html_page(404, f"Cannot {method} {encode_url(raw_path)}")


def cannot_answer(request: Request) -> Response:
    """cannot() for this request: the path as sent (raw), and its query."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return cannot(request.method, raw.decode("latin-1"), request.scope.get("query_string", b"").decode("latin-1"))


class ParseError(Exception):
    """A body the parser refused; carries the status and the error's first stack line."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        """finalhandler's page for this error. The 2019 supervisor was bundled by webpack 4 in
        production mode, which fixed express's env to "production": the page shows the status
        text only. In the 2016 era node showed err.stack, of which the first line is kept, in
        node 0.10's words (no JSON position)."""
        if ERA.get() != "2016":
            return html_page(self.status, REASONS.get(self.status, str(self.status)))
        message = re.sub(r" in JSON at position \d+$", "", self.message)
        return html_page(self.status, message.replace("Unexpected end of JSON input", "Unexpected end of input"))


PARAMETER_LIMIT = 1000  # body-parser's urlencoded parameterLimit
# the utf-* charsets iconv-lite decodes (json() refuses other families, urlencoded() all but utf-8)
DECODERS = {"utf-8": "utf-8", "utf-16": "utf-16", "utf-16le": "utf-16-le", "utf-16be": "utf-16-be",
            "utf-32": "utf-32", "utf-32le": "utf-32-le", "utf-32be": "utf-32-be", "utf-7": "utf-7"}


def _media(request: Request) -> tuple[str, str | None] | None:
    """(type, charset) of a request that has a body (type-is's hasBody), or None."""
    headers = request.headers
    if "transfer-encoding" not in headers and headers.get("content-length", "0").strip() in ("", "0"):
        return None
    media, _, params = headers.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """raw-body's content-encoding handling: identity, deflate and gzip; anything else is 415."""
    import zlib

    if encoding == "identity":
        return raw
    if encoding not in ("deflate", "gzip"):
        raise ParseError(415, f'UnsupportedMediaTypeError: unsupported content encoding "{encoding}"')
    try:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        data = inflater.decompress(raw, limit + 1)
    except zlib.error as err:
        raise ParseError(400, f"Error: {err}") from err
    if len(data) > limit:
        raise ParseError(413, "PayloadTooLargeError: request entity too large")
    return data


async def _discard_rest(request: Request) -> None:
    """Read off what is left of the body before the error answer, as body-parser's read() did
    (`stream.resume()` then onFinished -> next(err)): a client still sending gets its 413 instead
    of blocking on a peer that stopped reading."""
    while True:
        message = await request.receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def parse_body(request: Request, limit: int = BODY_LIMIT) -> dict[str, Any]:
    """req.body as body-parser's json() and urlencoded({extended: true}) made it: only for the
    exact types application/json and application/x-www-form-urlencoded, {} otherwise."""
    found = _media(request)
    if found is None or found[0] not in ("application/json", "application/x-www-form-urlencoded"):
        return {}
    media, charset = found
    form = media == "application/x-www-form-urlencoded"
    charset = charset or "utf-8"
    if (form and charset != "utf-8") or (not form and not charset.startswith("utf-")):
        raise ParseError(415, f'UnsupportedMediaTypeError: unsupported charset "{charset.upper()}"')
    try:
        raw = await read_body(request, limit)
    except BodyTooLarge as err:
        await _discard_rest(request)
        raise ParseError(413, "PayloadTooLargeError: request entity too large") from err
    raw = _inflate(raw, request.headers.get("content-encoding", "identity").lower(), limit)
    if charset not in DECODERS:  # iconv-lite knows no such encoding
        raise ParseError(415, f'UnsupportedMediaTypeError: unsupported charset "{charset.upper()}"')
    # iconv-lite: bad sequences become U+FFFD, the byte order mark is stripped
    text = raw.decode(DECODERS[charset], errors="replace").removeprefix("\ufeff")
    if form:
        parameters = text.count("&")
        if parameters >= PARAMETER_LIMIT:
            raise ParseError(413, "PayloadTooLargeError: too many parameters")
        try:
            return qs.parse(text, parameters)
        except RecursionError:  # qs merged recursively: node's RangeError, body-parser's 400
            return _raise(STACK_EXCEEDED)
    if not text:
        return {}
    stripped = text.lstrip(" \t\n\r")
    if stripped[:1] not in ("{", "["):  # body-parser strict mode
        position = len(text) - len(stripped)
        return _raise(f"SyntaxError: Unexpected token {stripped[:1]} in JSON at position {position}")
    try:
        value = json_parse(text)
    except JSParseError as err:  # body-parser: any error of JSON.parse is a 400
        return _raise(str(err))
    return value if isinstance(value, dict) else {}


def _raise(message: str) -> dict[str, Any]:
    raise ParseError(400, message)


def check_int(value: Any) -> JsNumber | None:
    """The supervisor's checkInt: parseInt(value, 10) of what JavaScript makes of the value:
    '12abc' -> 12, 'abc' -> None, 1.7 -> 1, [7] -> 7, 1e21 -> 1 (String gives '1e+21'), '١' ->
    None, a 5000-digit string -> Infinity (a number no app has), 1e999 -> None ('Infinity')."""
    if value is None:
        return None
    return parse_int(js_string(value))


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a parsed body value: "false" and "0" are true, 0 and "" false."""
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def check_truthy(value: Any) -> bool | None:
    """The supervisor's checkTruthy: true/1/on, false/0/off (strings case-insensitive)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "1", "on"):
            return True
        if lowered in ("false", "0", "off"):
            return False
    return None
