"""The cap on open connections per listen address, on a real agent process (--max-connections).

The legacy servers had no cap; past it the agent answers a short 503 (Retry-After: 1,
Connection: close) and closes, and a slot frees as soon as a client closes its connection.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable
from typing import Any

CAP = 3


def connect(agent: Any) -> http.client.HTTPConnection:
    host, port = agent.url.rsplit("/", 1)[-1].rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=10)


def ping(conn: http.client.HTTPConnection) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn.request("GET", "/ping")
    response = conn.getresponse()
    return response.status, response.read(), response


def poll(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_one_connection_past_the_cap_is_refused_and_a_freed_slot_serves_again(start_agent: Any) -> None:
    agent = start_agent(docker_host=None, dbus_address=None, args=[f"--max-connections={CAP}"])
    # the start's own readiness checks may still be closing: wait until CAP connections hold
    held: list[http.client.HTTPConnection] = []

    def fill() -> bool:
        conn = connect(agent)
        if ping(conn)[0] == 200:
            held.append(conn)
        else:
            conn.close()
        return len(held) == CAP

    assert poll(fill)
    assert all(ping(conn)[:2] == (200, b"OK") for conn in held)  # kept alive, each one reused
    extra = connect(agent)
    status, body, response = ping(extra)
    assert (status, body) == (503, b"503 Service Unavailable: too many open connections\n")
    assert response.getheader("Retry-After") == "1" and response.getheader("Connection") == "close"
    extra.close()
    held.pop().close()

    def served() -> bool:
        conn = connect(agent)
        try:
            ok = ping(conn)[:2] == (200, b"OK")
        except (OSError, http.client.HTTPException):
            ok = False
        if ok:
            held.append(conn)
        else:
            conn.close()
        return ok

    assert poll(served)  # the closed one's slot, within moments, not after the 75 s keep-alive
    for conn in held:
        conn.close()
    assert "connection(s) refused with 503" in agent.log.read_text()


def test_a_silent_client_past_the_cap_is_answered_within_seconds(start_agent: Any) -> None:
    agent = start_agent(docker_host=None, dbus_address=None, args=["--max-connections=1"])
    port = int(agent.url.rsplit(":", 1)[1])
    held = connect(agent)
    assert poll(lambda: ping(held)[0] == 200)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:  # sends nothing
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert time.monotonic() - start < 4
    held.close()
