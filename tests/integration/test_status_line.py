"""The status line of the real agent carries its reason phrase, as the legacy servers' did."""

from __future__ import annotations

import socket
from typing import Any


def status_line(agent: Any, path: str) -> bytes:
    host, port = agent.url.rsplit("/", 1)[-1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def test_reason_phrases(agent: Any) -> None:
    assert status_line(agent, "/ping") == b"HTTP/1.1 200 OK"
    assert status_line(agent, "/v1/device") == b"HTTP/1.1 401 Unauthorized"
    assert status_line(agent, "/gosd/nope") == b"HTTP/1.1 405 Method Not Allowed"  # mux's method mismatch
    assert status_line(agent, "/platform/api/nope") == b"HTTP/1.1 404 Not Found"
