"""Web terminal sessions into an app's container (the resin era's spawn-tty, without ngrok).

A session is a random token bound to an app; whoever holds the token's URL gets a shell in
the app's first container through `docker exec` with a TTY.
"""

from __future__ import annotations

import hmac
import math
import secrets
import socket
import threading
from dataclasses import dataclass
from typing import Any

from handlers.docker import Engine
from handlers.engine.actions import Actions
from handlers.errors import AppNotFound

SHELL = ["/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi"]
WINDOW_MAX = 1000  # more rows or columns than any screen has


def window_size(pair: Any) -> tuple[int, int] | None:
    """The first two items of a client's resize message as whole numbers, each 1..1000 (as
    GoTTY truncated its float64s); None unless both are finite JSON numbers."""
    if not isinstance(pair, (list, tuple)) or len(pair) < 2:
        return None
    size = []
    for value in pair[:2]:
        finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
        if isinstance(value, bool) or not finite:
            return None
        size.append(max(1, min(int(value), WINDOW_MAX)))
    return size[0], size[1]


@dataclass
class Session:
    """One spawned terminal: its token and the app it opens shells in."""

    token: str
    app_id: int


class Shell:
    """A shell process in a container, as a raw byte stream."""

    def __init__(self, engine: Engine, exec_id: str, sock: socket.socket) -> None:
        self._engine = engine
        self.exec_id = exec_id
        self.sock = sock

    def read(self) -> bytes:
        """Output bytes; b"" when the shell has ended."""
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def write(self, data: bytes) -> None:
        """Send keystrokes."""
        self.sock.sendall(data)

    def resize(self, rows: int, cols: int) -> None:
        """Tell the TTY its new size."""
        self._engine.call(lambda c: c.api.exec_resize(self.exec_id, height=rows, width=cols))

    def close(self) -> None:
        """Hang up (the shell gets SIGHUP from the closed TTY)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Terminals:
    """Spawns, looks up and removes terminal sessions."""

    def __init__(self, engine: Engine, actions: Actions) -> None:
        self._engine = engine
        self._actions = actions
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()

    def spawn(self, app_id: int) -> Session:
        """A session for the app (the same one when it already has one)."""
        app = self._actions.app(app_id)
        if not app.services:
            raise AppNotFound("App not found")
        with self._lock:
            if app_id not in self._sessions:
                self._sessions[app_id] = Session(secrets.token_urlsafe(24), app_id)
            return self._sessions[app_id]

    def despawn(self, app_id: int) -> None:
        """Forget the app's session; its URL stops working."""
        self._actions.app(app_id)
        with self._lock:
            self._sessions.pop(app_id, None)

    def find(self, token: str) -> Session | None:
        """The session a token belongs to (constant-time comparison)."""
        with self._lock:
            sessions = list(self._sessions.values())
        found = None
        for session in sessions:
            if hmac.compare_digest(session.token.encode(), token.encode("utf-8", "surrogateescape")):
                found = session
        return found

    def open_shell(self, session: Session) -> Shell:
        """Start a shell with a TTY in the app's first container."""
        service = self._actions.app(session.app_id).services[0]

        def start(client: Any) -> tuple[str, Any]:
            created = client.api.exec_create(service.container_id, SHELL, stdin=True, tty=True,
                                             environment={"TERM": "xterm"})
            return created["Id"], client.api.exec_start(created["Id"], tty=True, socket=True)

        exec_id, wrapped = self._engine.call(start)
        raw = getattr(wrapped, "_sock", wrapped)
        return Shell(self._engine, exec_id, raw)
