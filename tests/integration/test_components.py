"""The fixtures' own components: the private engine is isolated, the busybox image works."""

from __future__ import annotations

import tempfile
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
