"""Helpers of the target poller's tests: a real HTTP(S) server on 127.0.0.1 serving targets with
ETags and gzip (or misbehaving on request) and a reconciler shim with a tiny poll interval (the
fixtures that start them: target_fixtures.py)."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import http.server
import json
import socket
import ssl
import threading
import time
from email.utils import format_datetime
from typing import Any

from integration.engine_support import managed, service

GOOD = json.dumps(managed({1: service("m", 1, "busybox:latest")}, "c1")).encode()
NEWER = json.dumps(managed({1: service("m", 1, "busybox:latest", environment={"X": "2"})}, "c2")).encode()


class Reconciler:
    """The reconciler's side the poller uses: a tiny interval, the targets it was handed."""

    def __init__(self, interval: float = 0.02, interval_of_target: float | None = None) -> None:
        self.interval = interval
        self.interval_of_target = interval_of_target  # the SUPERVISOR_POLL_INTERVAL a target brings
        self.targets: list[Any] = []
        self.triggers = 0

    def poll_seconds(self) -> float:
        return self.interval

    def set_target(self, target: Any, source: str, force: bool = False) -> None:
        assert source == "url"
        self.targets.append(target)
        if self.interval_of_target is not None:
            self.interval = self.interval_of_target

    def trigger(self, force: bool = False) -> None:
        self.triggers += 1


class Server(http.server.ThreadingHTTPServer):
    """One target document per path, with an ETag, gzip when asked; `mode` makes it misbehave."""

    daemon_threads = True
    body = GOOD
    mode = "ok"
    retry_after: str | None = None
    redirect_to = ""

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True)
        self.seen: list[tuple[float, str, dict[str, str]]] = []  # (when, mode, request headers)
        self.lock = threading.Lock()

    def requests(self, mode: str | None = None) -> list[tuple[float, str, dict[str, str]]]:
        with self.lock:
            return [r for r in self.seen if mode is None or r[1] == mode]

    def tag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        mode = self.server.mode
        with self.server.lock:
            self.server.seen.append((time.monotonic(), mode, dict(self.headers.items())))
        if mode == "ok":
            if self.headers.get("If-None-Match") == self.server.tag():
                self.send_response(304)
                self.send_header("ETag", self.server.tag())
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            zipped = "gzip" in self.headers.get("Accept-Encoding", "")
            self.answer(200, gzip.compress(self.server.body) if zipped else self.server.body,
                        **({"Content-Encoding": "gzip"} if zipped else {}))
        elif mode in ("503", "500", "429"):
            extra = {"Retry-After": self.server.retry_after} if self.server.retry_after else {}
            if self.server.retry_after == "in 3 s":
                extra["Retry-After"] = format_datetime(datetime.datetime.now(datetime.UTC)
                                                       + datetime.timedelta(seconds=3), usegmt=True)
            self.answer(int(mode), b"busy", "text/plain", **extra)
        elif mode == "html":  # a proxy's error page, served with 200
            self.answer(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
        elif mode == "bad-json":
            self.answer(200, self.server.body[: len(self.server.body) // 2])
        elif mode == "refused":  # JSON, not a target
            self.answer(200, b'{"local": {"apps": "none"}}')
        elif mode == "truncated":  # Content-Length says more than comes before the close
            self.send_response(200)
            self.send_header("ETag", '"truncated"')
            self.send_header("Content-Length", str(len(self.server.body)))
            self.end_headers()
            self.wfile.write(self.server.body[:100])
            self.close_connection = True
        elif mode == "truncated-gzip":  # no length: the close ends the body, the gzip stream is cut
            self.send_response(200)
            self.send_header("ETag", '"truncated-gzip"')
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(gzip.compress(self.server.body)[:60])
            self.close_connection = True
        elif mode == "drop":  # the connection closes before any answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", self.server.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def answer(self, status: int, body: bytes, kind: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("ETag", f'"{status}-{hashlib.sha256(body).hexdigest()[:8]}"' if status != 200
                         or self.server.mode != "ok" else self.server.tag())
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def serve(server: Server) -> Server:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def url_of(server: Server, path: str = "/device/1.json", scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.server_address[1]}{path}"
