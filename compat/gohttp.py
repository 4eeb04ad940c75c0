"""What Go's net/http, encoding/json and gorilla/mux show a client, shared by the Go dialects.

gosd (compat/gosd/), the resin Go helper (compat/gosuper/dialect.py) and the balena legacy profile,
which piped that helper's answers (compat/balena/v1.py), answer with these pieces.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from compat.responses import Text

# http.NotFound (Go 1.6-1.10): http.Error's text with Fprintln's newline; no nosniff header yet
# (http.Error added X-Content-Type-Options in Go 1.11).
NOT_FOUND_PAGE = "404 page not found\n"
TEXT_PLAIN = "text/plain; charset=utf-8"

# Go's json.Marshal escapes these inside strings, for embedding in HTML and JavaScript.
_HTML_SAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def go_string(text: str) -> str:
    """A JSON string as Go's encoding/json writes it (1.6-1.8: \\b and \\f as \\u00XX too)."""
    out = ['"']
    for char in text:
        if char in _SHORT:
            out.append(_SHORT[char])
        elif char in _HTML_SAFE:
            out.append(_HTML_SAFE[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        elif "\ud800" <= char <= "\udfff":  # a lone surrogate is invalid UTF-8 to Go
            out.append("\\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def go_marshal(value: Any, sort_keys: bool = True) -> bytes:
    """json.Marshal of strings, numbers, booleans, nil, string-keyed maps and slices, strings
    HTML-safe as Go writes them. Dicts are Go maps (keys sorted) unless `sort_keys` is False:
    then they stand for structs, whose fields keep their order (callers sort the maps in them)."""
    return _marshal(value, sort_keys).encode("utf-8")


def _marshal(value: Any, sort_keys: bool) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        keys = sorted(value) if sort_keys else list(value)
        return "{" + ",".join(f"{go_string(str(k))}:{_marshal(value[k], sort_keys)}" for k in keys) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_marshal(v, sort_keys) for v in value) + "]"
    raise TypeError(f"no Go encoding for {type(value).__name__}")


def go_json(body: bytes, status: int = 200) -> Response:
    """w.Header().Set("Content-Type", "application/json"); w.WriteHeader(status); w.Write(body)."""
    response = Response(body, status)
    response.headers["content-type"] = "application/json"
    return response


def go_envelope(data: Any, error: str = "", status: int = 200) -> Response:
    """The resin Go helper's APIResponse{Data, Error}: no json tags, so exactly these keys in this
    order, compact, no trailing newline (gosuper/gosuper/api.go jsonResponse)."""
    return go_json(b'{"Data":' + go_marshal(data) + b',"Error":' + go_marshal(error) + b"}", status)


def not_found_page() -> Response:
    """gorilla/mux v1.4 with no NotFoundHandler: http.NotFoundHandler()'s page."""
    return Text(NOT_FOUND_PAGE, 404, TEXT_PLAIN)


def go_clean_path(path: str) -> str:
    """gorilla/mux cleanPath: Go's path.Clean, keeping one trailing slash."""
    if not path:
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    clean = "/" + "/".join(parts)
    if path.endswith("/") and clean != "/":
        clean += "/"
    return clean


def mux_redirect(request: Request) -> Response | None:
    """mux's 301 to the cleaned path (query kept, empty body), or None when the path is clean."""
    path = request.scope["path"]  # not url.path: urlsplit drops tabs and newlines
    clean = go_clean_path(path)
    if clean == path:
        return None
    query = request.url.query
    location = quote(clean, safe="/:@!$&'()*+,;=-._~") + (f"?{query}" if query else "")
    return Response(b"", 301, {"Location": location})
