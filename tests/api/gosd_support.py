"""In-process gosd agents with their services (the real store on SQLite in the data folder)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import app
from handlers.services import Services
from tests.api.support import ENV, Agent, make_root

STEM = "gosd"


@dataclass
class Gosd:
    """One agent serving gosd, its services and a logged-in user's token."""

    agent: Agent
    services: Services
    token: str = ""

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """The request with `Authorization: Bearer <token>` (the agent's own when None; "" for none)."""
        token = self.token if token is None else token
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **kwargs.pop("headers", {})}
        return self.agent.request(STEM, method, path, headers=headers, **kwargs)

    def login(self, username: str, password: str) -> str:
        """A token through POST /gosd/oauth/token (JSON)."""
        response = self.call("POST", "/gosd/oauth/token", token="", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token


class GosdAgents:
    """Starts gosd agents for one test."""

    def __init__(self, base: Path, stack: ExitStack) -> None:
        self.base, self.stack, self.count = base, stack, 0

    def start(self, *flags: str, user: tuple[str, str] | None = ("admin", "secret123")) -> Gosd:
        self.count += 1
        root = make_root(self.base / f"root{self.count}")
        data_dir = self.base / f"data{self.count}"
        argv = ["--data-dir", str(data_dir), "--root", str(root), "--dialects", "gosd", *flags]
        settings = app.Settings.from_sources(argv, dict(ENV))
        services = app.build_services(settings)
        client = self.stack.enter_context(TestClient(app.create_app(settings, services)))
        gosd = Gosd(Agent(client, root, data_dir), services)
        if user is not None:
            assert services.gosd_store is not None
            services.gosd_store.add_user(*user)
            gosd.token = gosd.login(*user)
        return gosd


@pytest.fixture(name="gosd_agents")
def gosd_agents_fixture(tmp_path: Path) -> Iterator[GosdAgents]:
    with ExitStack() as stack:
        yield GosdAgents(tmp_path, stack)


@pytest.fixture(name="gosd")
def gosd_fixture(gosd_agents: GosdAgents) -> Gosd:
    return gosd_agents.start()
