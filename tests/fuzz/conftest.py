"""Fixtures of the fuzz and security tests: ONE real agent process for this package serving every
dialect (balena v1/v2, hassio, gosd, platform on one port; gosuper on its own port), on a dockerd
of its own and the session's D-Bus, with credentials obtained each dialect's way; its log is checked
for tracebacks and for the secrets the tests used when the package's tests are done.

The agent reconciles whatever target the fuzzer posted: on the session's dockerd it would remove
the containers of later tests, so it has its own engine and stops with this package.

Budgets come from the environment so `scripts/fuzz` can raise them without another code path:
  POLYVISOR_FUZZ_EXAMPLES  hypothesis examples per operation (default 20)
  POLYVISOR_FUZZ_KILLS     kill -9 during applies (default 10)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import API_KEY, REPO, free_port, make_host_root  # tests/conftest.py
from integration.components import Agent, Dockerd, run_agent

EXAMPLES = int(os.environ.get("POLYVISOR_FUZZ_EXAMPLES", "20"))
KILLS = int(os.environ.get("POLYVISOR_FUZZ_KILLS", "10"))
GOSD_USER, GOSD_PASSWORD = "fuzzer", "Gosd-fuzz-pw-4711"  # a gosd user made with `polyvisor gosd users add`
FACTORY_PASSWORD = "p@ssw0rd"  # the platform's factory admin password (gosd-platform.md)
ADMIN_PASSWORD = "Fuzz-admin-" + secrets.token_hex(6)
USER, USER_PASSWORD = "alice", "alice-" + secrets.token_hex(6)  # a plain OS account: the lesser role


def scrypt_line(name: str, password: str, groups: str) -> str:
    """One --os-accounts line, `name:scrypt$n$r$p$salt$hash:groups` (handlers/auth_password's format)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    return f"{name}:scrypt${2 ** 14}$8$1${salt.hex()}${digest.hex()}:{groups}\n"


def basic(user: str, password: str) -> str:
    """An `Authorization: Basic` value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Dialects:
    """The package's agent, where each dialect answers, and the credentials each one accepts."""

    agent: Agent
    gosuper_url: str
    admin_token: str = ""
    user_token: str = ""
    gosd_token: str = ""
    certificate: str = ""
    secrets_used: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.agent.url

    def base_url(self, stem: str) -> str:
        """Where spec/<stem>.yaml is served."""
        return self.gosuper_url if stem == "gosuper" else self.agent.url

    def credentials(self, stem: str) -> dict[str, str]:
        """Headers that authenticate a request the dialect's way."""
        return {
            "balena_v1": {"Authorization": f"Bearer {API_KEY}"},
            "balena_v2": {"Authorization": f"Bearer {API_KEY}"},
            "hassio": {"X-HASSIO-KEY": API_KEY},
            "platform": {"Authorization": f"Bearer {self.admin_token}"},
            "gosd": {"Authorization": f"Bearer {self.gosd_token}"},
            "gosuper": {},
        }[stem]

    def ping(self) -> bool:
        """The agent answers balena's /ping with its key."""
        try:
            return httpx.get(f"{self.url}/ping", headers={"Authorization": f"Bearer {API_KEY}"},
                             timeout=10).status_code == 200
        except httpx.HTTPError:
            return False


def platform_token(url: str, user: str, password: str, m: int) -> str:
    """A JWT from GET /auth/token (Basic), the platform's way."""
    answer = httpx.get(f"{url}/auth/token?m={m}", headers={"Authorization": basic(user, password)}, timeout=30)
    assert answer.status_code == 200, answer.content
    token: str = json.loads(answer.content)["token"]
    return token


@pytest.fixture(scope="package")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DOCKER_HOST of a dockerd only the fuzzed agent uses (no image: nothing fuzzed needs one)."""
    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-fuzz-dockerd-")))
    try:
        daemon.start()
        yield daemon.host
    finally:
        daemon.stop()


@pytest.fixture(scope="package")
def dialects(fuzz_engine: str, _system_bus_session: str,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dialects]:
    """The package's agent; at the end it must be up, its log free of tracebacks."""
    folder = tmp_path_factory.mktemp("fuzz")
    root = make_host_root(folder / "root")
    accounts = folder / "os-accounts"
    accounts.write_text(scrypt_line(USER, USER_PASSWORD, "users"))
    gosuper = f"127.0.0.1:{free_port()}"
    made = subprocess.run([sys.executable, str(REPO / "app.py"), "gosd", "users", "add", GOSD_USER, GOSD_PASSWORD,
                           "--data-dir", str(folder / "data")], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}, check=False)
    assert made.returncode == 0, made.stderr
    agent = run_agent(log=folder / "agent.log", command=[sys.executable, str(REPO / "app.py")], api_key=API_KEY,
                      data_dir=folder / "data", root=root, listen=f"127.0.0.1:{free_port()}",
                      docker_host=fuzz_engine, dbus_address=_system_bus_session,
                      args=["--os-accounts", str(accounts), "--log-level", "info",
                            "--dialect-listen", f"gosuper={gosuper}"])
    found = Dialects(agent, f"http://{gosuper}")
    try:
        first = platform_token(agent.url, "admin", FACTORY_PASSWORD, 2)
        changed = httpx.put(f"{agent.url}/auth/user/admin/password", headers={"Authorization": f"Bearer {first}"},
                            json={"old": FACTORY_PASSWORD, "new": ADMIN_PASSWORD}, timeout=30)
        assert changed.status_code == 200, changed.content
        found.admin_token = platform_token(agent.url, "admin", ADMIN_PASSWORD, 2)
        found.user_token = platform_token(agent.url, USER, USER_PASSWORD, 0)
        found.certificate = httpx.get(f"{agent.url}/auth/certificate", timeout=10).text
        login = httpx.post(f"{agent.url}/gosd/oauth/token", json={"grant_type": "password", "username": GOSD_USER,
                                                                    "password": GOSD_PASSWORD}, timeout=30)
        assert login.status_code == 200, login.content
        found.gosd_token = login.json()["access_token"]
        found.secrets_used |= {API_KEY, ADMIN_PASSWORD, USER_PASSWORD, first, found.admin_token, found.user_token,
                               GOSD_PASSWORD, found.gosd_token}
        yield found
        assert found.ping(), "the agent is down at the end of the package"
    finally:
        agent.stop()
    log = agent.log.read_text(errors="replace")
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
    leaked = sorted(value for value in found.secrets_used if value and value in log)
    assert not leaked, f"secrets in the agent's log: {[value[:12] + '...' for value in leaked]}"


def pytest_report_header(config: Any) -> str:
    """The budgets in force (scripts/fuzz raises them)."""
    return f"fuzz budget: {EXAMPLES} examples per operation, {KILLS} kill -9"
