"""The web terminal on a real pty: GoTTY webtty frames over the WebSocket, in process."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.api.platform_support import Platform, start_platform
from tests.api.support import Agents

WS = "/platform/api/term/ws"


@pytest.fixture
def plat(agents: Agents, tmp_path: Path) -> Platform:
    return start_platform(agents, tmp_path)


class Term:
    """The output side of a webtty socket: decoded `1` frames, matched and consumed in order."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.buffer = b""

    def expect(self, pattern: bytes, timeout: float = 10.0) -> re.Match[bytes]:
        """The first match of `pattern` in the output; what precedes it and the match are consumed."""
        deadline = time.monotonic() + timeout
        while not (found := re.search(pattern, self.buffer)):
            assert time.monotonic() < deadline, self.buffer
            frame = self.socket.receive_text()
            if frame.startswith("1"):
                self.buffer += base64.b64decode(frame[1:])
        self.buffer = self.buffer[found.end():]
        return found


def send_input(socket: Any, text: str) -> None:
    socket.send_text("1" + base64.b64encode(text.encode()).decode())


def test_terminal_info_is_linux(plat: Platform) -> None:
    assert plat.get(WS).content == b'{"os":"linux"}'


def test_shell_on_a_pty_with_gotty_frames(plat: Platform) -> None:
    token = plat.tokens["admin"]
    with plat.agent.client.websocket_connect(f"{WS}?token={token}", subprotocols=["webtty"]) as socket:
        assert socket.accepted_subprotocol == "webtty"
        socket.send_text(json.dumps({"Arguments": "", "AuthToken": ""}))
        assert socket.receive_text().startswith("3root@")
        assert socket.receive_text() == "61024"
        socket.send_text("2")
        term = Term(socket)
        send_input(socket, "echo pv5-$((6*7)); tty\n")
        term.expect(rb"pv5-42")
        term.expect(rb"/dev/pts/\d+")
        socket.send_text("3" + json.dumps({"columns": 123, "rows": 45}))
        send_input(socket, "stty size\n")
        term.expect(rb"45 123")
        send_input(socket, "echo PV5PID$$\n")  # the typed line is echoed too: match the digits
        pid = int(term.expect(rb"PV5PID(\d+)").group(1))
    # the client went away: the shell is hung up and reaped (no shell outlives its socket)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower():
        assert time.monotonic() < deadline, f"shell {pid} outlived its WebSocket"
        time.sleep(0.05)


def test_terminal_needs_a_token(plat: Platform) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, plat.agent.client.websocket_connect(WS) as socket:
        socket.receive_text()
    assert refused.value.code == 1008


def test_os_account_without_a_system_user_gets_no_shell(plat: Platform) -> None:
    # alice exists only in the users file, not in /etc/passwd
    with plat.agent.client.websocket_connect(f"{WS}?token={plat.tokens['alice']}") as socket:
        assert b"no OS account alice" in base64.b64decode(socket.receive_text()[1:])
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_text()
    assert closed.value.code == 1011
