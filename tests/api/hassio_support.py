"""Hassio agents in process with their Services at hand (to add add-on grants, read the token,
attach the log ring as app.main does)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import app
from handlers.homeassistant.tokens import AddonGrant
from handlers.services import Services
from tests.api.support import API_KEY, ENV, Agent, make_root

STEM = "hassio"
JSON = "application/json; charset=utf-8"


@dataclass
class Hassio:
    """One in-process agent serving hassio, and its services."""

    agent: Agent
    services: Services

    def call(self, method: str, path: str, token: str | None = API_KEY, **kwargs: Any) -> httpx.Response:
        """A request with X-HASSIO-KEY `token` (None: no header), checked against the spec."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["X-HASSIO-KEY"] = token
        return self.agent.request(STEM, method, path, headers=headers, **kwargs)

    def addon(self, slug: str, role: str = "default", hassio_api: bool = True) -> str:
        """Install an add-on grant; its token."""
        token = f"{slug}-token-{role}-{hassio_api}"
        self.services.hassio_tokens.save_grant(AddonGrant(slug, token, hassio_api=hassio_api, hassio_role=role))
        return token


class HassioAgents:
    """Starts hassio agents for one test (a fresh root each; data_dir may be shared to restart)."""

    def __init__(self, base: Path, stack: ExitStack) -> None:
        self.base = base
        self.stack = stack
        self.count = 0

    def start(self, *flags: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> Hassio:
        self.count += 1
        root = make_root(self.base / f"root{self.count}")
        data_dir = data_dir or self.base / f"data{self.count}"
        argv = ["--data-dir", str(data_dir), "--root", str(root), "--api-key", API_KEY,
                "--dialects", "hassio", *flags]
        settings = app.Settings.from_sources(argv, {**ENV, **(env or {})})
        services = app.build_services(settings)
        client = self.stack.enter_context(TestClient(app.create_app(settings, services)))
        return Hassio(Agent(client, root, data_dir), services)


# Imported by the test modules under these names, used under the fixture names (no shadowing).
@pytest.fixture(name="hassio_agents")
def hassio_agents_fixture(tmp_path: Path) -> Iterator[HassioAgents]:
    """hassio_agents.start(*flags) -> Hassio; all stopped after the test."""
    with ExitStack() as stack:
        yield HassioAgents(tmp_path, stack)


@pytest.fixture(name="hassio")
def hassio_fixture(hassio_agents: HassioAgents) -> Hassio:
    """A hassio agent with key testkey_0123456789, no engine, no bus."""
    return hassio_agents.start()


class VersionServer:
    """An HTTP server on 127.0.0.1 serving /<channel>.json bodies, counting requests."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                status, body = owner.bodies.get(self.path, (404, b"not here"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{{channel}}.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, document: Any, status: int = 200) -> None:
        self.bodies[path] = (status, document if isinstance(document, bytes) else json.dumps(document).encode())


@pytest.fixture(name="versions")
def versions_fixture() -> Iterator[VersionServer]:
    server = VersionServer()
    yield server
    server.server.shutdown()
    server.server.server_close()
