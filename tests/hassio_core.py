"""Home Assistant core (0.80-0.84, Oct-Dec 2018) as the hassio tests need it, on 127.0.0.1.

StandInCore: the HTTP side the supervisor calls (GET /api/, POST /auth/token, POST /api/hassio_auth,
POST/DELETE /api/hassio_push/discovery/<uuid>), recording each call. Like HA's discovery view
(homeassistant/components/hassio/discovery.py) it reads a pushed message back from the supervisor
with GET /discovery/<uuid>, then GET /addons/<slug>/info; on DELETE it checks the message is gone.

HassioClient: the behaviour of HA's hassio client (homeassistant/components/hassio/handler.py at
0.81): X-HASSIO-KEY from HASSIO_TOKEN, only status 200 or 400 accepted, `result == "ok"` for the
boolean calls, `data` or an error with `message` for the data calls. Written from its behaviour,
not copied.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from integration.engine_support import wait_for  # noqa: F401 (re-exported)


class HassioAPIError(RuntimeError):
    """The client's HassioAPIError: a status other than 200/400, no answer, or result != ok."""


@dataclass
class HassioClient:
    """HA 0.81's HassIO wrapper over any httpx client (an agent process or a TestClient)."""

    http: Any  # httpx.Client-like: .request(method, url, json=..., headers=...)
    token: str

    def send_command(self, command: str, method: str = "post", payload: Any = None) -> dict[str, Any]:
        try:
            response = self.http.request(method.upper(), command, json=payload, headers={"X-HASSIO-KEY": self.token})
        except httpx.HTTPError as err:
            raise HassioAPIError(f"client error on {command}: {err}") from err
        if response.status_code not in (200, 400):
            raise HassioAPIError(f"{command} return code {response.status_code}")
        answer: dict[str, Any] = response.json()
        return answer

    def api_bool(self, command: str, method: str = "post", payload: Any = None) -> bool:
        try:
            return self.send_command(command, method, payload)["result"] == "ok"
        except HassioAPIError:
            return False

    def api_data(self, command: str, method: str = "get") -> Any:
        data = self.send_command(command, method)
        if data["result"] == "ok":
            return data["data"]
        raise HassioAPIError(data["message"])

    # the calls of handler.py, by their names there
    def is_connected(self) -> bool:
        return self.api_bool("/supervisor/ping", "get")

    def get_homeassistant_info(self) -> Any:
        return self.api_data("/homeassistant/info")

    def get_addon_info(self, addon: str) -> Any:
        return self.api_data(f"/addons/{addon}/info")

    def retrieve_discovery_messages(self) -> Any:
        return self.api_data("/discovery")

    def get_discovery_message(self, uuid: str) -> Any:
        return self.api_data(f"/discovery/{uuid}")

    def update_hass_api(self, port: int, refresh_token: str, password: str | None = None) -> bool:
        options = {"ssl": False, "port": port, "password": password, "watchdog": True,
                   "refresh_token": refresh_token}
        return self.api_bool("/homeassistant/options", payload=options)

    def update_hass_timezone(self, timezone: str) -> bool:
        return self.api_bool("/supervisor/options", payload={"timezone": timezone})


@dataclass
class Recorded:
    """One call the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class StandInCore:
    """A Home Assistant core on 127.0.0.1 for the supervisor to call; see the module docstring."""

    users: dict[str, str] = field(default_factory=lambda: {"alice": "s3cret"})
    refresh_token: str = "refresh-0123"
    access_token: str = "access-4567"
    api_password: str | None = None  # the legacy X-HA-Access password, when HA has one
    client: Callable[[], HassioClient] | None = None  # how to call the supervisor back
    calls: list[Recorded] = field(default_factory=list)
    processed: list[tuple[str, Any]] = field(default_factory=list)  # what the discovery view did
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StandInCore:
        core = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw and "json" in (self.headers.get("Content-Type") or "") else raw.decode()
                except ValueError:
                    body = raw.decode(errors="replace")
                call = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with core.lock:
                    core.calls.append(call)
                self._answer(*core.answer(call))

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls_to(self, prefix: str) -> list[Recorded]:
        with self.lock:
            return [c for c in self.calls if c.path.startswith(prefix)]

    def authorised(self, call: Recorded) -> bool:
        if self.api_password is not None and call.headers.get("x-ha-access") == self.api_password:
            return True
        return call.headers.get("authorization") == f"Bearer {self.access_token}"

    def answer(self, call: Recorded) -> tuple[int, Any]:
        """(status, JSON body) for a call, as HA 0.81 answered it."""
        if call.method == "POST" and call.path == "/auth/token":
            if f"refresh_token={self.refresh_token}" not in str(call.body):
                return 400, {"error": "invalid_grant"}
            return 200, {"access_token": self.access_token, "expires_in": 1800, "token_type": "Bearer"}
        if not self.authorised(call):
            return 401, None
        if call.path == "/api/":
            return 200, {"message": "API running."}
        if call.path == "/api/hassio_auth" and call.method == "POST":
            body = call.body if isinstance(call.body, dict) else {}
            known = self.users.get(str(body.get("username")))
            return (200, None) if known is not None and known == body.get("password") else (403, None)
        if call.path.startswith("/api/hassio_push/discovery/"):
            self.discovery_view(call)
            return 200, None
        return 404, None

    def discovery_view(self, call: Recorded) -> None:
        """HassIODiscovery.post / .delete: never trust the push, ask the supervisor."""
        uuid = call.path.rsplit("/", 1)[1]
        client = self.client() if self.client else None
        if client is None:
            return
        if call.method == "POST":
            try:
                data = client.get_discovery_message(uuid)
            except HassioAPIError as err:
                self.processed.append(("unreadable", str(err)))
                return
            try:
                name = client.get_addon_info(data["addon"])["name"]
            except HassioAPIError as err:  # /addons arrives with part 2 of the dialect
                name = None
                self.processed.append(("addon info failed", str(err)))
            self.processed.append(("new", {**data, "addon_name": name}))
        else:
            try:
                client.get_discovery_message(uuid)
            except HassioAPIError:
                self.processed.append(("removed", call.body))
                return
            self.processed.append(("wrong unload", call.body))
