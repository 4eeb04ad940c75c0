"""Integration fixtures: balena-style containers on the private engine, network namespaces."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from integration.engine_support import cleanup
from integration.processes import ip


@pytest.fixture
def containers(docker_client: Any, busybox_image: str) -> Iterator[Callable[..., Any]]:
    """make(name, labels, command=sleep 3600, start=True) -> a container; all removed afterwards.

    No network (network_mode none): tests reach containers only through `docker exec`.
    """
    made: list[Any] = []

    def make(name: str, labels: dict[str, str], command: Sequence[str] = ("sleep", "3600"),
             start: bool = True) -> Any:
        container = docker_client.containers.create(busybox_image, list(command), name=name,
                                                    labels=labels, network_mode="none")
        made.append(container)
        if start:
            container.start()
        container.reload()
        return container

    yield make
    for container in made:
        try:
            container.remove(force=True)
        except Exception as err:  # already gone is fine; anything else is worth seeing
            if "No such container" not in str(err):
                raise


@pytest.fixture(scope="session")
def _netns_folder() -> Iterator[None]:
    """iproute2 makes /run/netns (a shared bind mount of itself): undo that if we caused it."""
    existed = os.path.exists("/run/netns")
    yield
    if not existed and os.path.isdir("/run/netns") and not os.listdir("/run/netns"):
        subprocess.run(["umount", "/run/netns"], capture_output=True, check=False)
        try:
            os.rmdir("/run/netns")
        except OSError:
            pass


@pytest.fixture
def netns(_netns_folder: None) -> Iterator[Callable[[], str]]:
    """make() -> the name of a new network namespace (pv-test-<random>, lo up); deleted afterwards.

    Everything a test configures goes inside it (`ip -n NAME ...`): the host's own interfaces
    and addresses are never touched.
    """
    names: list[str] = []

    def make() -> str:
        name = f"pv-test-{uuid.uuid4().hex[:8]}"
        ip("netns", "add", name)
        names.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    yield make
    for name in names:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


@pytest.fixture
def clean_engine(start_agent: Callable[..., Any], docker_client: Any, busybox_image: str) -> Iterator[Any]:
    """The engine without supervised containers, app networks and volumes; afterwards the test's
    agents are stopped first, so none of them recreates containers while the engine is cleaned."""
    cleanup(docker_client)
    yield docker_client
    start_agent.stop_all()  # type: ignore[attr-defined]
    cleanup(docker_client)
