"""Applications: the containers that carry balena's labels, grouped by app id."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.docker import Engine

# io.resin.* first: the legacy listed those containers before the io.balena.* ones (listWithBothLabels)
SUPERVISED = ("io.resin.supervised", "io.balena.supervised")
# Containers are named <serviceName>_<imageId>_<releaseId> (balena-v2.md 2.3).
NAME_IDS = re.compile(r".*_(\d+)_(\d+)$")


def label(labels: dict[str, str], name: str) -> str | None:
    """A balena label, also under its older io.resin.* spelling."""
    return labels.get(f"io.balena.{name}", labels.get(f"io.resin.{name}"))


def inspect_supervised(client: Any) -> list[dict[str, Any]]:
    """Inspect every container carrying a supervised label, once each (runs inside Engine.call).
    A container removed between the list and its inspect is skipped: the reconciler, a user or
    the engine's restart policy may remove one at any moment."""
    seen: dict[str, dict[str, Any]] = {}
    for key in SUPERVISED:
        for item in client.api.containers(all=True, filters={"label": key}):
            if item["Id"] in seen:
                continue
            try:
                seen[item["Id"]] = client.api.inspect_container(item["Id"])
            except Exception as err:
                if getattr(getattr(err, "response", None), "status_code", None) == 404:
                    continue
                raise
    return list(seen.values())


def service_status(state: dict[str, Any]) -> str:
    """The legacy status string of a container (balena-v2.md 3.8)."""
    if state.get("Running"):
        return "Running"
    status = str(state.get("Status", ""))
    return {"created": "Installed", "dead": "Dead"}.get(status, status)


@dataclass
class Service:
    """One container of an application."""

    app_id: int
    service_id: int | None
    service_name: str
    image_id: int | None
    release_id: int | None
    container_id: str
    image: str
    status: str
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    download_progress: int | None = None


@dataclass
class App:
    """An application and its services, ordered by image id as the legacy maps were."""

    app_id: int
    services: list[Service]
    commit: str | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def service_from_container(attrs: dict[str, Any]) -> Service | None:
    """Build a Service from `docker inspect` output; None for foreign containers."""
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    app_id = _int(label(labels, "app-id"))
    if app_id is None:
        return None
    name = str(attrs.get("Name", "")).lstrip("/")
    ids = NAME_IDS.match(name)
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in config.get("Env") or [])
    return Service(
        app_id=app_id,
        service_id=_int(label(labels, "service-id")),
        service_name=label(labels, "service-name") or name,
        image_id=int(ids.group(1)) if ids else None,
        release_id=int(ids.group(2)) if ids else None,
        container_id=str(attrs.get("Id", "")),
        image=str(config.get("Image", "")),
        status=service_status(attrs.get("State") or {}),
        env=env,
        labels=labels,
    )


class Apps:
    """Reads the applications running on the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # inspect_supervised's answer from the engine state cache (set when the state engine is built)
        self.source: Callable[[], list[dict[str, Any]]] | None = None

    def list(self) -> list[App]:
        """Every app with its services, apps by id and services by image id (legacy map order)."""

        apps: dict[int, App] = {}
        found = self.source() if self.source is not None else self._engine.call(inspect_supervised)
        for attrs in found:
            service = service_from_container(attrs)
            if service is not None:
                apps.setdefault(service.app_id, App(service.app_id, [])).services.append(service)
        for app in apps.values():
            app.services.sort(key=lambda s: (s.image_id is None, s.image_id or 0, s.service_name))
        return [apps[key] for key in sorted(apps)]
