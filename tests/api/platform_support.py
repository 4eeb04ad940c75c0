"""What the platform API tests share: an agent with OS users from a file, tokens, sysfs trees."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from handlers.accounts.passwords import hash_password
from tests.api.support import Agent, Agents

STEM = "platform"
ADMIN_PASSWORD = "N3w-admin-pw"
# alice is a plain OS account; bob is in the admin group (sudo, the default --admin-group)
USERS = {"alice": ("alice-pw", "users"), "bob": ("bob-pw", "users,sudo")}


@dataclass
class Platform:
    """An in-process agent, its root, and tokens of alice, bob and the admin (password changed)."""

    agent: Agent
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.agent.root

    @property
    def services(self) -> Any:
        """The agent's domain objects (compat.base.Mux.services)."""
        return self.agent.client.app.services  # type: ignore[attr-defined]

    def request(self, method: str, url: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        """METHOD url with `who`'s bearer token (None: no token), checked against the spec."""
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.agent.request(STEM, method, url, headers=headers, **kwargs)

    def get(self, url: str, who: str | None = "admin", **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, who, **kwargs)

    def put(self, url: str, body: Any, who: str | None = "admin") -> httpx.Response:
        return self.request("PUT", url, who, json=body)


def login(agent: Agent, user: str, password: str, m: int) -> str:
    """A token through GET /auth/token (Basic)."""
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    response = agent.request(STEM, "GET", f"/auth/token?m={m}", headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.content
    token: str = json.loads(response.content)["token"]
    return token


def start_platform(agents: Agents, tmp_path: Path, *flags: str) -> Platform:
    """An agent with the users file; the admin's password changed to ADMIN_PASSWORD."""
    users = tmp_path / "os-users"
    users.write_text("".join(f"{name}:{hash_password(pw)}:{groups}\n" for name, (pw, groups) in USERS.items()))
    agent = agents.start("--os-accounts", str(users), *flags)
    platform = Platform(agent)
    first = login(agent, "admin", "p@ssw0rd", 2)
    response = agent.request(STEM, "PUT", "/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                             json={"old": "p@ssw0rd", "new": ADMIN_PASSWORD})
    assert response.status_code == 200, response.content
    platform.tokens = {"admin": login(agent, "admin", ADMIN_PASSWORD, 2), "first": first,
                       **{name: login(agent, name, pw, 0) for name, (pw, _) in USERS.items()}}
    return platform


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Plain files under the agent's root (a sysfs-shaped tree)."""
    for name, text in files.items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
