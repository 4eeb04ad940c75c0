"""Pulls from a real registry (Debian's docker-registry on 127.0.0.1) on a managed device (local
mode never pulls): progress in the status, the four update strategies, a missing image retried
without touching what runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from integration.engine_support import (
    cleanup,
    converged,
    managed,
    publish,
    request,
    service,
    status,
    supervised,
    wait_for,
)
from integration.registry import Registry, registry  # noqa: F401 - the fixture

STRATEGIES = ("download-then-kill", "kill-then-download", "delete-then-download", "hand-over")


@dataclass
class Cloud:
    """A managed agent and the target file it polls every second."""

    agent: Any
    source: Path

    def publish(self, services: dict[int, dict[str, Any]], commit: str, release: int = 1) -> None:
        publish(self.source, managed(services, commit, release))


@pytest.fixture
def cloud(start_agent: Callable[..., Any], docker_client: Any, tmp_path: Path) -> Iterator[Cloud]:
    """A managed agent logging its system messages (INFO) to its log file, on a clean engine,
    starting from an app without services."""
    cleanup(docker_client)
    source = tmp_path / "target.json"
    publish(source, managed({}, "c0"))
    agent = start_agent(args=["--target-url", source.as_uri(), "--log-level", "info"])
    yield Cloud(agent, source)
    agent.stop()
    cleanup(docker_client)


def log_lines(agent: Any) -> list[str]:
    return agent.log.read_text(errors="replace").splitlines()


def index_of(lines: list[str], *parts: str) -> int:
    for number, line in enumerate(lines):
        if all(p in line for p in parts):
            return number
    raise AssertionError(f"no log line with {parts}")


def test_pull_shows_progress_then_runs(cloud: Cloud, registry: Registry, docker_client: Any) -> None:  # noqa: F811
    agent = cloud.agent
    image = registry.push(docker_client, "pv/big", "v1", "big", padding=96 * 1024 * 1024)
    cloud.publish({1: service("big", 21, image)}, "c1")
    seen: list[dict[str, Any]] = []

    def done() -> Any:
        body = status(agent)
        seen.append(body)
        return converged(agent, 1, "c1")()

    wait_for(done, 120, "pulled and running", step=0.02)
    downloading = [i for body in seen for i in body["images"] if i["status"] == "Downloading"]
    assert downloading, "the download was never seen in /v2/state/status"
    assert all("dockerImageId" not in i and isinstance(i["downloadProgress"], int) for i in downloading)
    assert any(body["appState"] == "applying" and body["overallDownloadProgress"] is not None for body in seen)
    final = status(agent)["images"]
    assert [(i["name"], i["status"], i["downloadProgress"]) for i in final] == [(image, "Downloaded", None)]
    assert final[0]["dockerImageId"].startswith("sha256:")
    assert list(final[0]) == ["name", "appId", "serviceName", "imageId", "dockerImageId", "status", "downloadProgress"]
    state = request(agent, "GET", "/v2/applications/state").json()
    assert state == {"app": {"appId": 1, "commit": "c1",
                             "services": {"big": {"status": "Running", "releaseId": 1, "downloadProgress": None}}}}
    lines = log_lines(agent)
    assert index_of(lines, f"Downloading image '{image}'") < index_of(lines, f"Downloaded image '{image}'")


def test_update_strategies(cloud: Cloud, registry: Registry, docker_client: Any) -> None:  # noqa: F811
    agent = cloud.agent
    names = {s: s.replace("-then-", "").replace("-", "") for s in STRATEGIES}  # dtk-like short names
    v1 = {s: registry.push(docker_client, f"pv/{names[s]}", "v1", f"{names[s]}-1") for s in STRATEGIES}
    v2 = {s: registry.push(docker_client, f"pv/{names[s]}", "v2", f"{names[s]}-2") for s in STRATEGIES}
    labels = {s: {"io.balena.update.strategy": s, "io.balena.update.handover-timeout": "4000"} for s in STRATEGIES}

    def app(images: dict[str, str], release: int) -> None:
        cloud.publish({i + 1: service(names[s], 30 + i, images[s], labels=labels[s])
                       for i, s in enumerate(STRATEGIES)}, f"c{release}", release)

    app(v1, 1)
    wait_for(converged(agent, 4, "c1"), 120, "release 1")
    first = {c.labels["io.balena.service-name"]: c.id for c in supervised(docker_client)}
    both_seen = False

    app(v2, 2)

    def release_two() -> Any:
        nonlocal both_seen
        handover = [c for c in supervised(docker_client) if c.labels["io.balena.service-name"] == names["hand-over"]]
        both_seen = both_seen or len(handover) == 2
        return converged(agent, 4, "c2")()

    wait_for(release_two, 120, "release 2", step=0.05)
    after = {c.labels["io.balena.service-name"]: c for c in supervised(docker_client)}
    for strategy in STRATEGIES:
        container = after[names[strategy]]
        assert container.id != first[names[strategy]], strategy
        assert f"MARKER={names[strategy]}-2" in container.attrs["Config"]["Env"], strategy
        assert container.name == f"{names[strategy]}_{30 + STRATEGIES.index(strategy)}_2"
    lines = log_lines(agent)
    dtk, ktd, dtd = names["download-then-kill"], names["kill-then-download"], names["delete-then-download"]
    assert index_of(lines, f"Downloaded image '{v2['download-then-kill']}'") < index_of(lines, f"Killing service '{dtk} ")
    assert index_of(lines, f"Killing service '{ktd} ") < index_of(lines, f"Downloading image '{v2['kill-then-download']}'")
    assert index_of(lines, f"Killing service '{dtd} ") < index_of(lines, f"Downloading image '{v2['delete-then-download']}'")
    assert index_of(lines, "Deleted image") < index_of(lines, f"Downloaded image '{v2['delete-then-download']}'")
    assert both_seen, "hand-over never ran the old and the new container side by side"
    # the hand-over's old container was killed after the new one had started
    ho = names["hand-over"]
    assert index_of(lines, f"Started service '{ho} ", "sha256") < max(
        i for i, line in enumerate(lines) if f"Killed service '{ho} " in line)


def test_image_missing_from_registry_is_retried_and_harms_nothing(cloud: Cloud, registry: Registry,  # noqa: F811
                                                                   docker_client: Any) -> None:
    agent = cloud.agent
    image = registry.push(docker_client, "pv/ok", "v1", "ok")
    cloud.publish({1: service("ok", 41, image)}, "c1")
    wait_for(converged(agent, 1, "c1"), 60)
    running = supervised(docker_client)[0].id
    missing = f"{registry.address}/pv/ok:nope"
    cloud.publish({1: service("ok", 42, missing)}, "c2", 2)
    wait_for(lambda: sum(f"Failed to download image '{missing}'" in line for line in log_lines(agent)) >= 2,
             60, "two failed attempts (retried with back-off)")
    device = request(agent, "GET", "/v1/device").json()
    assert device["update_pending"] and device["update_failed"]
    assert [c.id for c in supervised(docker_client)] == [running]
    assert docker_client.containers.get(running).status == "running"
    # the fixed target converges at once
    cloud.publish({1: service("ok", 41, image)}, "c3", 3)
    wait_for(converged(agent, 1, "c3"), 60)
