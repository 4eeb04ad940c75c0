"""The access log: one line per HTTP request, for every dialect, in the legacy supervisor's style.

balena-supervisor v10 src/supervisor-api.ts logged each request with morgan as
`<method> <req.path> <status> - <response-time> ms` (the time to the response headers, 3
decimals; `-` for a status when no answer was sent). Here failures (status >= 400, or no answer)
go out at info and the rest at debug, on the `polyvisor.access` logger. Credentials never reach
the line: credential query values and secret path segments are masked, and no header, cookie
or body is read. DialectApp (compat/base.py), the base of every dialect, times each request
and calls record(): no middleware layer, no wrapped `send`.
"""

from __future__ import annotations

import logging
import re
from logging import DEBUG, INFO
from urllib.parse import quote

from starlette.types import Scope

from handlers.redact import MASK, mask_query

log = logging.getLogger("polyvisor.access")

# Path segments that are credentials: (pattern, replacement).
SECRET_PATHS: tuple[tuple[re.Pattern[str], str], ...] = (
    # balena legacy profile: GET /v1/tty/:token (and its /ws) opens the tty spawned for that token
    (re.compile(r"^(/v1/tty/)[^/]+", re.IGNORECASE), rf"\g<1>{MASK}"),
)
# Printable ASCII but the space: kept as is in a logged path; anything else is %-escaped, so a
# request can never start a line of its own in the log.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
_UNSAFE = re.compile(rb"[^\x21-\x7e]")


def printable(raw: bytes) -> str:
    """The bytes as text, anything but printable ASCII %-escaped (h11 lets none through anyway)."""
    return quote(raw, safe=_SAFE) if _UNSAFE.search(raw) else raw.decode("ascii")


def logged_path(scope: Scope) -> str:
    """The request's path as received (raw, %-escapes kept), secrets masked, `?query` masked."""
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    path = printable(raw)
    for pattern, replacement in SECRET_PATHS:
        path = pattern.sub(replacement, path)
    query = scope.get("query_string", b"")
    if query:
        path += "?" + mask_query(printable(query))
    return path


def line(scope: Scope, status: int, seconds: float | None) -> str:
    """morgan's `:method :path :status - :response-time ms` for one request."""
    took = f"{seconds * 1000:.3f}" if seconds is not None else "-"
    return f"{scope.get('method', '-')} {logged_path(scope)} {status or '-'} - {took} ms"


def record(scope: Scope, status: int, seconds: float | None) -> None:
    """Log one request (status 0: no answer was sent); the line is formatted only when it goes
    out, so an answered /ping at info costs a comparison and a level check."""
    level = INFO if status >= 400 or not status else DEBUG
    if log.isEnabledFor(level):
        log.log(level, "%s", line(scope, status, seconds))
