"""The in-process agent the API tests talk to, and what they share.

Every request made through Agent.request is checked against spec/<stem>.yaml by
tests/openapi.py before the test sees the response.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

import app
from tests.openapi import check_response

API_KEY = "testkey_0123456789"
MACHINE_ID = "0123456789abcdef0123456789abcdef"
HOSTNAME = "polyvisor-test"
PRETTY_NAME = "balenaOS 2.38.0+rev1"
# No engine and no bus: nothing a test does can reach the host's dockerd or logind.
ENV = {
    "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket",
    "POLYVISOR_HASSIO_ADDONS_CORE_URL": "",  # no add-on core repository (GitHub)
}


def make_root(root: Path, variant: str = "prod") -> Path:
    """A device's / in miniature: os-release (PRETTY_NAME, VARIANT_ID), machine-id, hostname, a LED."""
    files = {
        "etc/os-release": f'NAME="balenaOS"\nPRETTY_NAME="{PRETTY_NAME}"\nVARIANT_ID={variant}\n',
        "etc/machine-id": MACHINE_ID + "\n",
        "etc/hostname": HOSTNAME + "\n",
        "sys/class/leds/led0/brightness": "0\n",
        "mnt/boot/config.json": "{}",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def express_etag(body: bytes, md5: bool = False) -> str:
    """express's weak ETag of a body, computed here independently of compat/balena/express.py: SHA-1
    (etag 1.8, 2017 on) or MD5 without padding (etag 1.7, the legacy profile's express 4.14)."""
    if md5:
        return f'W/"{len(body):x}-{base64.b64encode(hashlib.md5(body).digest()).decode().rstrip("=")}"'
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


@dataclass
class Agent:
    """One app under TestClient (lifespan running), with its root and data folders."""

    client: TestClient
    root: Path
    data_dir: Path
    profile: str = "v10"  # --balena-profile: which x-profiles operations are served

    def request(self, stem: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send the request and check the answer against spec/<stem>.yaml."""
        response = self.client.request(method, url, follow_redirects=False, **kwargs)
        check_response(stem, response, method, url, self.profile)
        return response


class Agents:
    """Starts agents for one test and stops them all afterwards."""

    def __init__(self, base: Path, stack: ExitStack) -> None:
        self.base = base
        self.stack = stack
        self.count = 0

    def start(self, *flags: str, variant: str = "prod", api_key: str | None = API_KEY,
              env: Mapping[str, str] | None = None) -> Agent:
        """An agent with these extra flags, on a fresh root and data folder."""
        self.count += 1
        root = make_root(self.base / f"root{self.count}", variant)
        data_dir = self.base / f"data{self.count}"
        argv = ["--data-dir", str(data_dir), "--root", str(root), *flags]
        if api_key is not None:
            argv += ["--api-key", api_key]
        settings = app.Settings.from_sources(argv, {**ENV, **(env or {})})
        client = self.stack.enter_context(TestClient(app.create_app(settings)))
        return Agent(client, root, data_dir, settings.balena_profile)


def header_items(response: httpx.Response) -> list[tuple[str, str]]:
    """The response's headers as (lower-case name, value), in order."""
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers.raw]
