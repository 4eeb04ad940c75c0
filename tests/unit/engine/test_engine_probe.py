"""The start-up report's engine probe on a unix socket: one plain GET /version, no docker SDK."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from handlers.docker import Engine
from handlers.errors import EngineUnavailable

REPO = Path(__file__).resolve().parents[3]
VERSION = b'{"Version":"19.03.13","ApiVersion":"1.40","Os":"linux"}'


@contextmanager
def serve_once(path: Path, answer: bytes) -> Iterator[list[bytes]]:
    """A unix socket that reads one request, writes `answer` and closes; yields the requests read."""
    requests: list[bytes] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            requests.append(data)
            conn.sendall(answer)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield requests
    finally:
        thread.join(5)
        server.close()


@pytest.fixture
def engine_socket(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, list[bytes]]]:
    path = tmp_path / "docker.sock"
    with serve_once(path, request.param) as requests:
        yield f"unix://{path}", requests


CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + (
    f"{len(VERSION):x}\r\n".encode() + VERSION + b"\r\n0\r\n\r\n")
SIZED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(VERSION), VERSION)


@pytest.mark.parametrize("engine_socket", [SIZED, CHUNKED], indirect=True, ids=["sized", "chunked"])
def test_probe_reads_the_version_document(engine_socket: tuple[str, list[bytes]]) -> None:
    address, requests = engine_socket
    assert Engine(address).probe(timeout=2) == {"Version": "19.03.13", "ApiVersion": "1.40", "Os": "linux"}
    assert requests[0].startswith(b"GET /version HTTP/1.1\r\n")


@pytest.mark.parametrize("engine_socket", [
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
], indirect=True)
def test_an_engine_answering_an_error_is_unavailable(engine_socket: tuple[str, list[bytes]]) -> None:
    address, _ = engine_socket
    expected = (f"^Docker engine unavailable at {re.escape(address)}: "
                "GET /version answered 500 Internal Server Error$")
    with pytest.raises(EngineUnavailable, match=expected):
        Engine(address).probe(timeout=2)


NOT_JSON = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
NOT_OBJECT = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n[\"19.03.13\"]"


@pytest.mark.parametrize(("engine_socket", "reason"), [
    (NOT_JSON, "unexpected character"),  # orjson's own words
    (NOT_OBJECT, "GET /version answered no JSON object"),
], indirect=["engine_socket"], ids=["no JSON", "no object"])
def test_an_engine_answering_no_json_is_unavailable(engine_socket: tuple[str, list[bytes]],
                                                    reason: str) -> None:
    address, _ = engine_socket
    expected = f"^Docker engine unavailable at {re.escape(address)}: {reason}"
    with pytest.raises(EngineUnavailable, match=expected):
        Engine(address).probe(timeout=2)


@pytest.mark.parametrize("engine_socket", [SIZED], indirect=True)
def test_probe_leaves_the_docker_sdk_unloaded(engine_socket: tuple[str, list[bytes]]) -> None:
    """The idle agent's RSS: the report must not import docker (6 MiB in the binary) by itself."""
    address, _ = engine_socket
    code = ("import sys; from handlers.docker import Engine; "
            f"print(Engine({address!r}).probe(timeout=2)['ApiVersion'], 'docker' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "1.40 False\n"), done.stderr
