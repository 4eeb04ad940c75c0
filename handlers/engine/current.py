"""The current state read back from the engine (balena-v2.md 2.6): supervised containers,
`<appId>_<name>` networks and volumes, decoded to app ids, service ids and names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from handlers.engine.apps import NAME_IDS, SUPERVISED, inspect_supervised, label
from handlers.engine.compose import SUPERVISOR_NETWORK, normalise_labels
from handlers.engine.compose_compare import comparable, current_networks

_APP_OBJECT = re.compile(r"^(\d+)_(.+)$")


@dataclass
class Container:
    """One supervised container as the engine shows it."""

    id: str
    name: str
    app_id: int
    service_id: int
    service_name: str
    image_id: int | None
    release_id: int | None
    image: str  # docker image id
    created_at: str
    state: str  # docker State.Status
    running: bool
    attrs: dict[str, Any]
    form: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        return normalise_labels((self.attrs.get("Config") or {}).get("Labels"))


@dataclass
class Current:
    """Containers, networks and volumes of every app on the engine."""

    containers: list[Container] = field(default_factory=list)
    networks: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    volumes: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    supervisor_network: dict[str, Any] | None = None

    def app_ids(self) -> set[int]:
        """Every app id that has a container, network or volume."""
        return ({c.app_id for c in self.containers} | {k[0] for k in self.networks}
                | {k[0] for k in self.volumes})


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def container_from(attrs: dict[str, Any]) -> Container | None:
    """A supervised container from `docker inspect`; None without an app id."""
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    app_id = _int(label(labels, "app-id"))
    if app_id is None:
        return None
    name = str(attrs.get("Name", "")).lstrip("/")
    ids = NAME_IDS.match(name)
    state = attrs.get("State") or {}
    found = Container(
        id=str(attrs["Id"]), name=name, app_id=app_id,
        service_id=_int(label(labels, "service-id")) or 0,
        service_name=label(labels, "service-name") or name,
        image_id=int(ids.group(1)) if ids else None, release_id=int(ids.group(2)) if ids else None,
        image=str(attrs.get("Image", "")), created_at=str(attrs.get("Created", "")),
        state=str(state.get("Status", "")), running=bool(state.get("Running")), attrs=attrs)
    found.form = comparable({**(attrs.get("Config") or {}), "HostConfig": attrs.get("HostConfig") or {}},
                            None, found.id, current_networks(attrs))
    return found


def read_current(client: Any) -> Current:
    """Everything supervised on the engine (runs inside Engine.call)."""
    containers = [c for c in map(container_from, inspect_supervised(client)) if c is not None]
    networks = [client.api.networks(filters={"label": key}) for key in SUPERVISED]
    volumes = [client.api.volumes(filters={"label": key}).get("Volumes") or [] for key in SUPERVISED]
    return assemble(containers, networks, volumes, client.api.networks(names=[SUPERVISOR_NETWORK]))


def assemble(containers: list[Container], networks: list[list[dict[str, Any]]],
             volumes: list[list[dict[str, Any]]], supervisor: list[dict[str, Any]]) -> Current:
    """A Current from the engine's answers: containers in list order, network and volume lists per
    supervised label (io.resin first), the list of networks named like the supervisor's."""
    current = Current(containers=list(containers))
    for listed in networks:
        for net in listed:
            match = _APP_OBJECT.match(net["Name"])
            if match:
                current.networks[(int(match.group(1)), match.group(2))] = net
    for listed in volumes:
        for vol in listed:
            match = _APP_OBJECT.match(vol["Name"])
            if match:
                current.volumes[(int(match.group(1)), match.group(2))] = vol
    for net in supervisor:
        if net["Name"] == SUPERVISOR_NETWORK:
            current.supervisor_network = net
    current.containers.sort(key=lambda c: c.created_at)
    return current
