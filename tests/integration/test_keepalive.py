"""A body the route never read does not cost the client its keep-alive connection.

The legacy Go servers read up to 256 KiB of a body the handler left unread before they answered,
so a client that sent a request the route refused early (no key, a bad path parameter) could
reuse the connection. Hypercorn alone closes it instead, and the client's next request on it
meets a reset: that is what CI once saw on PUT /platform/api/networking/ipv4config/abc.
"""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import httpx


def connect(agent: Any) -> http.client.HTTPConnection:
    host, port = agent.url.rsplit("/", 1)[-1].rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=20)


def test_late_body_of_a_refused_request_keeps_the_connection(agent: Any) -> None:
    body = json.dumps({"appId": 1}).encode()
    conn = connect(agent)
    conn.putrequest("POST", "/v1/restart")  # no key: refused before the body is read
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    sock = conn.sock
    # The body follows the headers late, as a client writing them in two steps may send it.
    timer = threading.Timer(0.3, sock.sendall, (body,))
    timer.start()
    response = conn.getresponse()
    assert response.status == 401 and response.read() == b"Unauthorized"
    assert response.getheader("connection") is None
    timer.join()
    conn.request("GET", "/ping")  # the same connection
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"OK")
    assert conn.sock is sock
    conn.close()


def test_big_unread_body_gets_connection_close(agent: Any) -> None:
    body = b"x" * (11 << 20)  # fills Hypercorn's queue to the route many times over
    # httpx reads the answer when the server stops reading the body (http.client would not)
    with httpx.Client(base_url=agent.url, timeout=20) as client:
        response = client.post("/v1/restart", content=body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.content) == (401, b"Unauthorized")
        assert response.headers.get("connection") == "close"  # the client knows not to reuse it
        assert client.get("/ping").content == b"OK"  # on a new connection


def test_small_refused_bodies_in_a_row_on_one_connection(agent: Any) -> None:
    conn = connect(agent)
    conn.connect()
    sock = conn.sock
    for n in range(50):
        conn.request("POST", "/v1/restart", body=json.dumps({"appId": n}),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 401 and response.read() == b"Unauthorized"
    assert conn.sock is sock
    conn.close()
