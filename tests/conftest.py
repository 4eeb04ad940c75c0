"""Fixtures shared by every test folder; the integration ones start the REAL components.

Nothing starts until a test asks for it, so unit tests stay fast:
  docker_host     a private dockerd (own data/exec roots, no iptables, no bridge), session-wide
  busybox_image   polyvisor-test/busybox:latest, imported from busybox-static (no registry)
  system_bus      a private dbus-daemon with python-dbusmock's logind, our systemd and hostnamed
                  (started once; each test finds the calls cleared and hostnamed's names reset)
  dbus_calls      what the mocks recorded (org.freedesktop.DBus.Mock.GetCalls)
  host_root       a temporary tree shaped like a balenaOS device's /
  make_settings   app.Settings from flags, over the fixtures above
  start_agent     the agent as a real process (`python app.py ...`); `agent` is one started for you
Every process is started here, stopped here by PID, and its leftovers (mounts, run dirs,
cgroups) are removed; nothing else on the machine is touched.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(TESTS))  # for integration.components

from integration.components import (  # after the sys.path lines above
    NO_ADDONS_CORE,
    NO_BUS,
    NO_ENGINE,
    OFFLINE_GIT,
    TIMINGS,
    Agent,
    Dockerd,
    MockCalls,
    SystemBus,
    import_busybox,
    run_agent,
)

# Safety net: code under test that falls back to the environment (docker.from_env, the system
# bus) finds addresses where nothing listens, never the host's own engine or logind.
os.environ["DOCKER_HOST"] = NO_ENGINE
os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = NO_BUS
# git here and in the in-process agents reaches only file:// and git:// URLs (the tests' own).
os.environ.update(OFFLINE_GIT)

API_KEY = "testkey_0123456789"
BUSYBOX_IMAGE = "polyvisor-test/busybox:latest"

OS_RELEASE = """\
ID="balena-os"
NAME="balenaOS"
VERSION="2.38.0+rev1"
VERSION_ID="2.38.0+rev1"
PRETTY_NAME="balenaOS 2.38.0+rev1"
MACHINE="raspberrypi3"
VARIANT="Production"
VARIANT_ID=prod
"""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long the real components took to start (before pytest's closing line)."""
    for what, took in TIMINGS.items():
        terminalreporter.write_line(f"started {what} in {took}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """DOCKER_HOST of a private dockerd (or POLYVISOR_TEST_DOCKER_HOST when set)."""
    given = os.environ.get("POLYVISOR_TEST_DOCKER_HOST")
    if given:
        yield given
        return
    daemon = Dockerd(Path(tempfile.mkdtemp(prefix="pv-dockerd-")))
    try:
        daemon.start()
        yield daemon.host
    finally:
        daemon.stop()


@pytest.fixture(scope="session")
def docker_client(docker_host: str) -> Iterator[Any]:
    """A docker SDK client on the private engine."""
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox_image(docker_client: Any) -> str:
    """polyvisor-test/busybox:latest, made with `docker import` from busybox-static."""
    return import_busybox(docker_client, BUSYBOX_IMAGE)


@pytest.fixture(scope="session")
def _system_bus_session() -> Iterator[str]:
    """The bus and its mocks, started once per session."""
    bus = SystemBus(Path(tempfile.mkdtemp(prefix="pv-dbus-")))
    try:
        bus.start()
        bus.add_mock("logind")
        bus.add_mock(str(TESTS / "dbus_templates" / "systemd_units.py"))  # dbusmock's has no LoadUnit
        bus.add_mock(str(TESTS / "dbus_templates" / "hostnamed.py"))
        bus.wait_for_mocks()
        yield bus.address
    finally:
        bus.stop()


@pytest.fixture
def system_bus(_system_bus_session: str) -> str:
    """Address of a private system bus with logind, systemd and hostnamed mocks on it.

    Each test finds the mocks as started: no recorded calls, hostnamed's names as loaded.
    """
    MockCalls(_system_bus_session).reset()
    return _system_bus_session


@pytest.fixture
def dbus_calls(system_bus: str) -> MockCalls:
    """calls(name) -> [(method, args)] recorded by a mock; calls.clear(name) forgets them."""
    return MockCalls(system_bus)


def make_host_root(root: Path) -> Path:
    """Fill `root` as a device's / in miniature: os-release, machine-id, hostname, a LED, config.json, locks."""
    files = {
        "etc/os-release": OS_RELEASE,
        "etc/machine-id": "0123456789abcdef0123456789abcdef\n",
        "etc/hostname": "polyvisor-test\n",
        "sys/class/leds/led0/brightness": "0\n",
        "mnt/boot/config.json": "{}",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "tmp/balena-supervisor/services").mkdir(parents=True)
    return root


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    """A device's / in miniature (make_host_root under the test's tmp_path)."""
    return make_host_root(tmp_path / "root")


# Settings fields that the fixtures fill lazily, so a test that overrides them starts nothing.
LAZY = {"docker_host": "docker_host", "dbus_address": "system_bus"}


@pytest.fixture
def make_settings(request: pytest.FixtureRequest, tmp_path: Path, host_root: Path) -> Callable[..., Any]:
    """make_settings(**fields) -> app.Settings via Settings.from_sources, on the test's fixtures.

    Fields are Settings' own names (listen, data_dir, api_key, root, dialects, balena_profile,
    docker_host, dbus_address, log_level, dialect_listen); None leaves a flag out, except for
    docker_host and dbus_address where None means an address where nothing listens.
    """
    import app

    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "listen": f"127.0.0.1:{free_port()}", "data_dir": tmp_path / "data", "root": host_root,
            "api_key": API_KEY, "log_level": "warning",
        }
        for name, fixture in LAZY.items():
            if name not in overrides:
                values[name] = request.getfixturevalue(fixture)
        values.update(overrides)
        values["docker_host"] = values["docker_host"] or NO_ENGINE
        values["dbus_address"] = values["dbus_address"] or NO_BUS
        argv: list[str] = []
        for name, value in values.items():
            if value is None:
                continue
            if name == "dialects" and not isinstance(value, str):
                value = ",".join(value)
            if name == "dialect_listen":
                argv += [f"--dialect-listen={k}={v}" for k, v in dict(value).items()]
                continue
            flag = {"docker_host": "docker-host", "dbus_address": "dbus-address"}.get(name, name)
            argv.append(f"--{flag.replace('_', '-')}={value}")
        return app.Settings.from_sources(argv, dict(NO_ADDONS_CORE))

    return make


@pytest.fixture
def start_agent(request: pytest.FixtureRequest, tmp_path: Path, host_root: Path) -> Iterator[Callable[..., Agent]]:
    """start_agent(**options) -> a running agent process; all are stopped after the test.

    Options: api_key (None: let the agent generate one), data_dir, root, listen
    ("unix:/path" or HOST:PORT; default a free 127.0.0.1 port), docker_host and dbus_address
    (default: the private engine and bus, started on demand; None: not set), netns (run inside
    `ip netns exec NAME`), args (extra flags), env (extra environment), command (argv
    replacing `python app.py`, e.g. the frozen binary), wait (until GET <ready> is 200;
    ready="/ping" by default, None for any answer to GET /: a dialect without /ping).
    """
    started: list[Agent] = []
    counter = iter(range(1_000_000))

    def start(**options: Any) -> Agent:
        for name, fixture in LAZY.items():
            if name not in options:
                options[name] = request.getfixturevalue(fixture)
        options.setdefault("api_key", API_KEY)
        options.setdefault("data_dir", tmp_path / "data")
        options.setdefault("root", host_root)
        options.setdefault("listen", f"127.0.0.1:{free_port()}")
        options.setdefault("command", [sys.executable, str(REPO / "app.py")])
        agent = run_agent(log=tmp_path / f"agent-{next(counter)}.log", **options)
        started.append(agent)
        return agent

    def stop_all() -> None:
        while started:
            started.pop().stop()

    start.stop_all = stop_all  # type: ignore[attr-defined]  # for fixtures that clean up after the agents
    yield start
    stop_all()


@pytest.fixture
def agent(start_agent: Callable[..., Agent]) -> Agent:
    """One agent on the private engine and bus, key testkey_0123456789."""
    return start_agent()
