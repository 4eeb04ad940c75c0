"""JSON-RPC 2.0 to the nodes over MQTT (gosd's rpc2mqtt and luavm/jsonrpc.go).

A request goes to `nodes/<id>/rpc/send` (QoS 2); the node answers on `nodes/<id>/rpc/recv`.
Unanswered requests are sent again `base`, 2*base, 4*base ... seconds after the first send
(gosd: 2, 4, 8 ... s) until `limit` seconds (gosd: 1 h), then answered with gosd's `timeout`
error. Ids are gosd's: `gosd.0-<13-digit ms>-<sequence>`.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.gosd.waits import KILLED, Mailbox

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, int], None]  # topic, payload, qos


def error_response(rpc_id: Any, code: int, message: str, data: Any = None) -> bytes:
    """A JSON-RPC error response in jsonrpc-lite's field order (data always present)."""
    return json.dumps({"jsonrpc": "2.0", "error": {"code": code, "message": message, "data": data},
                       "id": rpc_id}, ensure_ascii=False, separators=(",", ":")).encode()


# What a cancelled wait is fed (luavm/service.go: NewErrors("user.killed").InternalError("Be killed"))
KILLED_RESPONSE = error_response("user.killed", -32603, "Internal error", KILLED)


def _kind(message: Any) -> str:
    """jsonrpc-lite's type of a parsed message: request, notify, success, error or invalid."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return "invalid"
    method, has_id = message.get("method"), message.get("id") is not None
    has_result, has_error = "result" in message, message.get("error") is not None
    if method and not has_result and not has_error:
        return "request" if has_id else "notify"
    # a null result is still an answer here (gosd dropped it and re-sent until the time-out)
    if not method and has_id and has_result != has_error:
        return "success" if has_result else "error"
    return "invalid"


def id_key(rpc_id: Any) -> str:
    """Pending table key: string and number ids apart, as jsonrpc-lite's ID."""
    return rpc_id if isinstance(rpc_id, str) else f"#{rpc_id}"


@dataclass(eq=False)
class Pending:
    """One request waiting for its answer."""

    id: Any
    node_id: str
    payload: bytes
    sent: float
    reply: Mailbox = field(default_factory=Mailbox)
    count: int = 0  # re-sends so far


class Rpc:
    """The pending requests of all jobs, their re-sends and time-outs."""

    def __init__(self, publish: Publish | None, base: float = 2.0, limit: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic, now_ms: Callable[[], int] | None = None) -> None:
        self.publish = publish
        self.base = base
        self.limit = limit
        self.clock = clock
        self.now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self._sequence = itertools.count()
        self._pending: dict[str, Pending] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def new_id(self) -> str:
        """gosd's request id: gosd.0-<13-digit ms>-<process-wide sequence>."""
        return f"gosd.0-{str(self.now_ms())[:13]}-{next(self._sequence)}"

    def send(self, node_id: str, raw: str | bytes) -> Pending:
        """Send a request (validated and written anew, as jsonrpc-lite did) and track it;
        ValueError with gosd's words for what is not a request."""
        if self.publish is None:
            raise ValueError("no MQTT broker configured (MQTT_URL)")
        try:
            message = json.loads(raw)
        except ValueError as err:
            raise ValueError(str(err)) from None
        if _kind(message) != "request":
            raise ValueError("Invalid RPC object")
        request = {"jsonrpc": "2.0", "method": message["method"]}
        if message.get("params") is not None:
            request["params"] = message["params"]
        request["id"] = message["id"]
        payload = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
        pending = Pending(message["id"], str(node_id), payload, self.clock())
        with self._changed:
            self._pending[id_key(pending.id)] = pending
            self._start()
            self._changed.notify_all()
        self.publish(f"nodes/{node_id}/rpc/send", payload, 2)
        return pending

    def received(self, topic: str, payload: bytes) -> None:
        """A message from the broker: an answer on nodes/<id>/rpc/recv ends its request's wait."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "nodes" or parts[2:] != ["rpc", "recv"]:
            return
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if _kind(message) not in ("success", "error"):
            return
        with self._changed:
            pending = self._pending.pop(id_key(message["id"]), None)
        if pending is not None:
            pending.reply.put(payload.decode("utf-8", "replace"))

    def drop(self, pendings: list[Pending], reply: bytes | None = KILLED_RESPONSE) -> None:
        """Stop tracking requests (a cancelled job's); each gets `reply` (gosd's "Be killed")."""
        with self._changed:
            for pending in pendings:
                self._pending.pop(id_key(pending.id), None)
        for pending in pendings:
            if reply is not None:
                pending.reply.put(reply.decode())

    def pending(self) -> int:
        """How many requests wait for an answer."""
        with self._changed:
            return len(self._pending)

    def close(self) -> None:
        """End the re-send thread and forget every request."""
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(5)
        with self._changed:  # the next send starts it again
            self._closed, self._thread = False, None

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._loop, name="gosd-rpc", daemon=True)
            self._thread.start()

    def _due(self, pending: Pending) -> float:
        """When the request is sent again (past the limit: when it times out)."""
        return min(pending.sent + self.base * 2 ** pending.count, pending.sent + self.limit)

    def _loop(self) -> None:
        while True:
            resend: list[Pending] = []
            expired: list[Pending] = []
            with self._changed:
                if self._closed:
                    return
                now = self.clock()
                for key, pending in list(self._pending.items()):
                    if now - pending.sent > self.limit:
                        del self._pending[key]
                        expired.append(pending)
                    elif now >= pending.sent + self.base * 2 ** pending.count:
                        pending.count += 1
                        resend.append(pending)
                due = [self._due(p) for p in self._pending.values()]
                if not resend and not expired:
                    self._changed.wait(max(0.01, min(due) - now + 0.001) if due else None)
                    continue
            for pending in resend:
                log.debug("RPC %s re-sent to node %s", pending.id, pending.node_id)
                if self.publish is not None:
                    self.publish(f"nodes/{pending.node_id}/rpc/send", pending.payload, 2)
            for pending in expired:
                pending.reply.put(error_response(pending.id, 1, "timeout").decode())
