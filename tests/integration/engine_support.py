"""Helpers of the state-engine integration tests: targets, requests, waiting for convergence."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DB_NAME = "polyvisor.sqlite"  # handlers/store.py's database in the data folder


def integrity(data_dir: Path) -> str:
    """PRAGMA integrity_check of the agent's database (recovering its WAL as a restart would)."""
    db = sqlite3.connect(data_dir / DB_NAME)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


# exits at once on SIGTERM (busybox sleep as PID 1 would ignore it and cost the 10 s grace period)
COMMAND = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def service(name: str, image_id: int, image: str, **extra: Any) -> dict[str, Any]:
    """One target service."""
    return {"serviceName": name, "imageId": image_id, "image": image, "environment": {}, "labels": {},
            "running": True, "command": COMMAND, **extra}


def target(services: dict[int, dict[str, Any]], release: int = 1, commit: str = "c1", app_id: int = 1,
           volumes: dict[str, Any] | None = None, networks: dict[str, Any] | None = None,
           config: dict[str, str] | None = None, name: str = "Home") -> dict[str, Any]:
    """A local-mode target state of one app."""
    return {"local": {"name": name, "config": {"SUPERVISOR_LOCAL_MODE": "1", **(config or {})},
                      "apps": {str(app_id): {"name": "app", "commit": commit, "releaseId": release,
                                             "services": {str(k): v for k, v in services.items()},
                                             "volumes": volumes or {}, "networks": networks or {}}}},
            "dependent": {"apps": [], "devices": []}}


def request(agent: Any, method: str, path: str, **kwargs: Any) -> Any:
    """A request with the agent's key."""
    headers = {"Authorization": f"ApiKey {agent.key}", **kwargs.pop("headers", {})}
    with agent.client() as client:
        return client.request(method, path, headers=headers, **kwargs)


def post_target(agent: Any, body: dict[str, Any]) -> Any:
    """POST /v2/local/target-state."""
    return request(agent, "POST", "/v2/local/target-state", json=body)


def wait_for(check: Callable[[], Any], timeout: float = 60, what: str = "condition", step: float = 0.1) -> Any:
    """Poll until check() is truthy; its value."""
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"{what} not reached in {timeout} s (last: {last!r})")


def status(agent: Any) -> dict[str, Any]:
    """GET /v2/state/status."""
    response = request(agent, "GET", "/v2/state/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def managed(services: dict[int, dict[str, Any]], commit: str, release: int = 1) -> dict[str, Any]:
    """A target for a managed device (served by --target-url): not in local mode, polled every second."""
    body = target(services, release=release, commit=commit, config={"SUPERVISOR_POLL_INTERVAL": "1000"})
    body["local"]["config"].pop("SUPERVISOR_LOCAL_MODE")
    return body


def publish(source: Path, body: dict[str, Any]) -> None:
    """Write the target file a managed agent polls (--target-url file://), atomically."""
    partial = source.with_name(source.name + ".part")
    partial.write_text(json.dumps(body))
    partial.replace(source)


def converged(agent: Any, running: int, commit: str | None = None) -> Callable[[], Any]:
    """A check: applied, `running` containers Running (and release == commit)."""
    def check() -> Any:
        body = status(agent)
        ok = body["appState"] == "applied" and \
            sum(c["status"] == "Running" for c in body["containers"]) == running and \
            len(body["containers"]) == running and (commit is None or body.get("release") == commit)
        return body if ok else None

    return check


def supervised(client: Any) -> list[Any]:
    """Every container labelled io.balena.supervised on the engine. Tests poll this while the agent
    removes containers, so one that disappears between docker-py's list and its inspect is skipped."""
    return client.containers.list(all=True, filters={"label": "io.balena.supervised"}, ignore_removed=True)


def remove_network(network: Any, attempts: int = 50) -> None:
    """Remove a network; endpoints dockerd still lists for just-removed containers are disconnected
    and the removal retried (dockerd drops them a moment after `rm -f` answers)."""
    import docker.errors

    for attempt in range(attempts):
        try:
            network.reload()
            for container_id in network.attrs.get("Containers") or {}:
                try:
                    network.disconnect(container_id, force=True)
                except docker.errors.APIError:
                    pass
            network.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def cleanup(client: Any) -> None:
    """Remove supervised containers, app networks and volumes (between tests on the shared engine)."""
    for container in supervised(client):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": "io.balena.supervised"}):
        remove_network(network)
    for network in client.networks.list(names=["supervisor0"]):
        remove_network(network)
    for volume in client.volumes.list(filters={"label": "io.balena.supervised"}):
        volume.remove(force=True)
