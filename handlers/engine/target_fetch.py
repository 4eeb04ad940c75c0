"""One conditional GET of an http(s) target URL, and the TLS context of a pinned CA.

The request says `If-None-Match` (the tag of the last target taken from this URL), `Accept-Encoding:
gzip` (nginx's gzip; the body is inflated here, at most MAX_BODY either way) and `User-Agent:
polyvisor/VERSION`.
A redirect from https:// to anything else is refused: it would step around the pinned CA.

    FetchError            the poll failed; the last good target stays (message for last_error)
     .retry_after         seconds a 429/5xx's Retry-After asked for, else None
"""

from __future__ import annotations

import http.client
import re
import ssl
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from handlers import VERSION
from handlers.engine.poll_timing import parse_retry_after

PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
USER_AGENT = f"polyvisor/{VERSION}"  # the server's access log tells agents from other clients
MAX_BODY = 16 * 1024 * 1024  # bytes of a target, on the wire and inflated (a gzip bomb stops here)


class FetchError(Exception):
    """A poll that brought no usable answer."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    """A 200's body (inflated), its ETag and Content-Type; body None for a 304."""

    body: bytes | None
    tag: str | None = None
    content_type: str = ""


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client context whose only trust anchor is the PEM file (the system's store is not
    loaded), host names checked, TLS 1.2 or later; ValueError saying what is wrong with the file."""
    try:
        raw = Path(ca_file).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {ca_file}: {err.strerror or err}") from None
    blocks = PEM_CERTIFICATE.findall(raw)
    if not blocks and raw[:1] == b"\x30":  # an ASN.1 SEQUENCE: a DER certificate
        raise ValueError(f"{ca_file} is not a PEM file (binary: DER? convert it with openssl x509 -inform der)")
    if not blocks:
        raise ValueError(f"{ca_file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    pem = "\n".join(block.decode("ascii", "replace") for block in blocks)  # comments around them left out
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=pem)
    except ssl.SSLError as err:
        raise ValueError(f"{ca_file} holds no valid PEM certificate ({err.reason or err})") from None
    return context


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https:// to another scheme."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(req.full_url).scheme == "https" and urlsplit(newurl).scheme != "https":
            raise FetchError(f"HTTP {code} redirect from https:// to {urlsplit(newurl).scheme}:// refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener(context: ssl.SSLContext | None) -> urllib.request.OpenerDirector:
    """An opener of its own (one per poller: nothing shared between pollers): with the pinned
    CA's context when given, else the system's trust store."""
    handlers: list[Any] = [_NoDowngrade()]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def get(open_url: urllib.request.OpenerDirector, url: str, tag: str | None, timeout: float) -> Fetched:
    """One GET; FetchError for anything but a 304 or a complete 2xx body."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "Accept-Encoding": "gzip",
                                                   "User-Agent": USER_AGENT})
    if tag:
        request.add_header("If-None-Match", tag)
    try:
        with open_url.open(request, timeout=timeout) as response:
            raw = _read(response)
            headers = response.headers
    except urllib.error.HTTPError as err:
        with err:
            if err.code == 304:
                return Fetched(None)
            retry = None
            if err.code == 429 or err.code >= 500:
                retry = parse_retry_after(err.headers.get("Retry-After"), time.time())
            raise FetchError(f"HTTP {err.code} {err.reason}".rstrip(), retry) from None
    except urllib.error.URLError as err:
        raise FetchError(f"cannot connect: {err.reason}") from None
    except http.client.IncompleteRead as err:
        raise FetchError(f"body cut short: {len(err.partial)} bytes, then the connection closed") from None
    except (OSError, http.client.HTTPException) as err:  # reset, timeout, a bad status line
        raise FetchError(f"connection failed: {err or type(err).__name__}") from None
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw)
    elif encoding not in ("identity", ""):
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    return Fetched(raw, headers.get("ETag"), headers.get("Content-Type", ""))


def _read(response: Any) -> bytes:
    """The body, at most MAX_BODY bytes, complete (as long as its Content-Length says)."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.strip().isdigit() else None
    if expected is not None and expected > MAX_BODY:
        raise FetchError(f"body of {expected} bytes, over {MAX_BODY}")
    data = bytearray()
    while chunk := response.read(65536):
        data += chunk
        if len(data) > MAX_BODY:
            raise FetchError(f"body over {MAX_BODY} bytes")
    if expected is not None and len(data) < expected:
        raise FetchError(f"body cut short: {len(data)} of {expected} bytes, then the connection closed")
    return bytes(data)


def _gunzip(raw: bytes) -> bytes:
    """A gzip body inflated, at most MAX_BODY bytes; FetchError when corrupt or cut short."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        data = inflater.decompress(raw, MAX_BODY + 1)
    except zlib.error as err:
        raise FetchError(f"bad gzip body: {err}") from None
    if len(data) > MAX_BODY:
        raise FetchError(f"gzip body inflates past {MAX_BODY} bytes")
    if not inflater.eof:
        raise FetchError("gzip body cut short")
    return data
