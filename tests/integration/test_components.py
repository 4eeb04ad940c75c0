"""The fixtures' own components: the private engine is isolated, the busybox image works."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from typing import Any


def test_engine_is_private(docker_client: Any, docker_host: str) -> None:
    info = docker_client.info()
    assert info["DockerRootDir"].startswith(tempfile.gettempdir())
    assert "bridge" not in {n.name for n in docker_client.networks.list()}  # --bridge=none
    assert docker_host.startswith("unix://")


def test_busybox_image_runs(containers: Callable[..., Any]) -> None:
    container = containers("pv_busybox_check", {"polyvisor-test": "1"})
    assert container.status == "running"
    code, output = container.exec_run(["cat", "/proc/1/cmdline"])
    assert (code, output) == (0, b"sleep\x003600\x00")
    code, output = container.exec_run(["ls", "/bin"])
    assert code == 0
    assert {"busybox", "sh", "httpd", "nc", "touch", "mkdir"} <= set(output.decode().split())
    code, output = container.exec_run(["sh", "-c", "ip -o link | wc -l"])
    assert (code, output.strip()) == (0, b"1")  # network_mode none: loopback only


def test_busybox_exit_code(containers: Callable[..., Any]) -> None:
    container = containers("pv_busybox_exit", {}, ("sh", "-c", "exit 3"))
    assert container.wait(timeout=30)["StatusCode"] == 3


def test_make_settings_starts_nothing_it_is_not_asked_for(make_settings: Callable[..., Any],
                                                          host_root: Any) -> None:
    from integration.components import NO_BUS, NO_ENGINE

    settings = make_settings(docker_host=None, dbus_address=None, dialects=("gosd",))
    assert (settings.docker_host, settings.dbus_address) == (NO_ENGINE, NO_BUS)
    assert settings.root == host_root
    assert settings.api_key == "testkey_0123456789"
    assert settings.dialects == ("gosd",)
    assert settings.listen.startswith("127.0.0.1:")


def test_make_settings_uses_the_private_engine_and_bus(make_settings: Callable[..., Any],
                                                       docker_host: str, system_bus: str) -> None:
    settings = make_settings(balena_profile="legacy")
    assert (settings.docker_host, settings.dbus_address) == (docker_host, system_bus)
    assert settings.balena_profile == "legacy"


def test_agent_without_ping_route(start_agent: Callable[..., Any]) -> None:
    agent = start_agent(args=["--dialects", "gosd"], ready=None, docker_host=None, dbus_address=None)
    assert agent.ping()  # up: it answered GET / (whatever gosd says to it)
    assert agent.process.poll() is None


def test_agent_stops_cleanly_on_sigterm(start_agent: Callable[..., Any]) -> None:
    agent = start_agent(docker_host=None, dbus_address=None)
    started = time.monotonic()
    # a clean exit takes about 0.1 s; the long grace only keeps a busy CI machine from a SIGKILL
    assert agent.stop(grace=20) == 0
    assert time.monotonic() - started < 20
