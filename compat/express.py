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
import json
import re
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from compat.base import BodyTooLarge, read_body

BODY_LIMIT = 10 * 1024 * 1024  # bodyParser limit '10mb'

# Node's http.STATUS_CODES for the statuses the supervisor sends.
REASONS = {200: "OK", 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 413: "Payload Too Large", 423: "Locked",
           500: "Internal Server Error", 503: "Service Unavailable"}


def etag(body: bytes) -> str:
    """The weak ETag express's default etag function gives a body."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def _respond(body: bytes, status: int, media_type: str, request: Request | None) -> Response:
    if status in (204, 304):
        return Response(status_code=status)
    tag = etag(body)
    # express's req.fresh: a matching If-None-Match on a successful GET/HEAD turns into 304
    # (fresh 0.5: a request with Cache-Control: no-cache is never fresh)
    if (request is not None and request.method in ("GET", "HEAD") and 200 <= status < 300
            and "no-cache" not in request.headers.get("cache-control", "")):
        wanted = request.headers.get("if-none-match", "")
        if wanted and (wanted.strip() == "*" or tag in [w.strip() for w in wanted.split(",")]):
            return Response(status_code=304, headers={"ETag": tag})
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
    """res.sendStatus(204) / res.status(204).send()."""
    return Response(status_code=204)


def html_page(status: int, message: str) -> Response:
    """finalhandler 1.1.1's error document (express 4.16.4, the v10 supervisor's): the message in
    <pre>, with its two security headers (CSP became 'none' only in finalhandler 1.1.2)."""
    body = escape_html(message).replace("\n", "<br>").replace("  ", " &nbsp;")
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Error</title>\n</head>\n<body>\n<pre>" + body + "</pre>\n</body>\n</html>\n")
    response = Response(page.encode(), status, {
        "Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff"})
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


def cannot(method: str, raw_path: str) -> Response:
    """The 404 express gives a route it does not know: `Cannot GET /x` (the path as sent, no query)."""
    return html_page(404, f"Cannot {method} {encode_url(raw_path)}")


class ParseError(Exception):
    """A body the parser refused; carries the status and message express showed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        """finalhandler's page for this error (NODE_ENV was not production: name and message)."""
        return html_page(self.status, self.message)


def _json_error(text: str, err: json.JSONDecodeError) -> str:
    """V8's JSON.parse message for the error Python found (Node 10, as the 2019 supervisor ran)."""
    if err.pos >= len(text.rstrip()):
        return "SyntaxError: Unexpected end of JSON input"
    return f"SyntaxError: Unexpected token {text[err.pos]} in JSON at position {err.pos}"


def _set_nested(target: dict[str, Any], key: str, value: str) -> None:
    """qs (extended: true) for the common shapes: a=1, a[b]=1, a[]=1, repeated keys -> array."""
    parts = re.findall(r"[^\[\]]+|\[\]", key) if "[" in key else [key]
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if last:
                node.append(value)
            else:
                node.append({})
                node = node[-1]
            continue
        if last:
            if part in node:
                node[part] = (node[part] if isinstance(node[part], list) else [node[part]]) + [value]
            else:
                node[part] = value
        else:
            node = node.setdefault(part, [] if parts[i + 1] == "[]" else {})


async def parse_body(request: Request) -> dict[str, Any]:
    """req.body as bodyParser.json + bodyParser.urlencoded({extended:true}) made it; {} otherwise."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/x-www-form-urlencoded") and not media.endswith("+json"):
        return {}
    try:
        raw = await read_body(request, BODY_LIMIT)
    except BodyTooLarge as err:
        raise ParseError(413, "PayloadTooLargeError: request entity too large") from err
    if not raw:
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParseError(400, "Error: invalid utf-8 body") from err
    if media == "application/x-www-form-urlencoded":
        body: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            _set_nested(body, key, value)
        return body
    stripped = text.lstrip(" \t\n\r")
    if stripped[:1] not in ("{", "["):  # body-parser strict mode
        position = len(text) - len(stripped)
        return _raise(f"SyntaxError: Unexpected token {stripped[:1]} in JSON at position {position}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return _raise(_json_error(text, err))
    return value if isinstance(value, dict) else {}


def _raise(message: str) -> dict[str, Any]:
    raise ParseError(400, message)


def check_int(value: Any) -> int | None:
    """parseInt(value, 10) as the supervisor's checkInt: '12abc' -> 12, 'abc' -> None, 1.7 -> 1."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if value == value and abs(value) != float("inf") else None
    match = re.match(r"^\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else None


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
