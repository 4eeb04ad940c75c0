"""What the API can do to applications, under their update locks (balena's device-api actions).

Each action takes the app's update lock (or breaks it with `force`), then works on the
real containers and volumes through the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from handlers.docker import Engine
from handlers.engine.apps import App, Apps, Service
from handlers.engine.locks import Locks
from handlers.errors import AppNotFound, InvalidInput

log = logging.getLogger("polyvisor.actions")

SINGLE_ONLY = "Some v1 endpoints are only allowed on single-container apps"
STOP_TIMEOUT = 10  # docker's default grace period, as the supervisor used


@dataclass
class Actions:
    """Stop, start, restart and purge applications."""

    engine: Engine
    apps: Apps
    locks: Locks
    # volatile `running: false` targets set by stop (kept until the agent restarts, as legacy)
    stopped: set[tuple[int, str]] = field(default_factory=set)
    # holds the state engine between iterations while an action runs (the legacy pausingApply)
    pause: Callable[[], AbstractContextManager[None]] = nullcontext
    # marks a write to the engine without holding the loop (the state cache reads direct meanwhile)
    writing: Callable[[], AbstractContextManager[None]] = nullcontext

    def app(self, app_id: int) -> App:
        """The app, or AppNotFound."""
        for app in self.apps.list():
            if app.app_id == app_id:
                return app
        raise AppNotFound("App not found")

    def single_service(self, app_id: int) -> Service:
        """The only service of a single-container app."""
        app = self.app(app_id)
        if not app.services:
            raise AppNotFound("App not found")
        if len(app.services) > 1:
            raise InvalidInput(SINGLE_ONLY)
        return app.services[0]

    def stop_service(self, app_id: int, force: bool = False) -> str:
        """Stop the app's only container; its id."""
        with self.pause():
            service = self.single_service(app_id)
            with self.locks.hold(app_id, force):
                self.engine.call(lambda c: c.api.stop(service.container_id, timeout=STOP_TIMEOUT))
            self.stopped.add((app_id, service.service_name))
        return service.container_id

    def start_service(self, app_id: int, force: bool = False, locked: bool = False) -> str:
        """Start the app's only container; its id. The 2019 start step took no update lock (the
        2016 route did: `locked`). The container is looked up again afterwards: gone -> RuntimeError."""
        with self.pause():
            service = self.single_service(app_id)
            if locked:
                with self.locks.hold(app_id, force):
                    self.engine.call(lambda c: c.api.start(service.container_id))
            else:
                self.engine.call(lambda c: c.api.start(service.container_id))
            self.stopped.discard((app_id, service.service_name))
        try:
            return self.single_service(app_id).container_id
        except AppNotFound as err:
            raise RuntimeError("App not found after running action") from err

    def stop_all(self, force: bool = False) -> None:
        """Stop every app's containers, each app under its lock (before reboot or shutdown)."""
        with self.writing():  # not paused (a pull may hold the loop for minutes); the cache is told
            self._stop_all(force)

    def _stop_all(self, force: bool) -> None:
        for app in self.apps.list():
            with self.locks.hold(app.app_id, force):
                for service in app.services:
                    if service.status == "Running":
                        self.engine.call(lambda c, s=service: c.api.stop(s.container_id, timeout=STOP_TIMEOUT))

    def restart(self, app_id: int, force: bool = False) -> None:
        """Remove the app's containers and create them again from their own configuration."""
        with self.pause():
            self._restart(app_id, force)

    def _restart(self, app_id: int, force: bool) -> None:
        app = self.app(app_id)
        with self.locks.hold(app_id, force):
            for service in app.services:  # doRestart cleared the volatile `running` overrides
                self.stopped.discard((app_id, service.service_name))
            configs = [self._inspect(s) for s in app.services]
            for service in app.services:
                self._remove(service)
            for attrs in configs:
                self._recreate(attrs, start=True)

    def purge(self, app_id: int, force: bool = False) -> None:
        """Remove the app's containers and volumes, make the volumes again empty, restart the app."""
        with self.pause():
            self._purge(app_id, force)

    def _purge(self, app_id: int, force: bool) -> None:
        app = self.app(app_id)
        with self.locks.hold(app_id, force):
            configs = [self._inspect(s) for s in app.services]
            volumes = self.volumes_of(app_id)
            for service in app.services:
                self._remove(service)
            for volume in volumes:
                self.engine.call(lambda c, v=volume: c.api.remove_volume(v["Name"], force=True))
                self.engine.call(lambda c, v=volume: c.api.create_volume(
                    v["Name"], driver=v.get("Driver") or "local", driver_opts=v.get("Options") or None,
                    labels=v.get("Labels") or None))
            for attrs in configs:
                self._recreate(attrs, start=True)

    def volumes_of(self, app_id: int) -> list[dict[str, Any]]:
        """The app's named volumes: `<appId>_<name>` made by the supervisor (or used by its containers)."""
        prefix = f"{app_id}_"

        def read(client: Any) -> list[dict[str, Any]]:
            listed = client.api.volumes().get("Volumes") or []
            return [v for v in listed if v["Name"].startswith(prefix)]

        return self.engine.call(read)

    def _inspect(self, service: Service) -> dict[str, Any]:
        return self.engine.call(lambda c: c.api.inspect_container(service.container_id))

    def _remove(self, service: Service) -> None:
        self.engine.call(lambda c: c.api.stop(service.container_id, timeout=STOP_TIMEOUT))
        self.engine.call(lambda c: c.api.remove_container(service.container_id, v=False, force=True))

    def _recreate(self, attrs: dict[str, Any], start: bool) -> str:
        """docker create with the inspected Config/HostConfig/network aliases, under the same name."""
        config = dict(attrs["Config"])
        if config.get("Hostname") == attrs["Id"][:12]:
            config.pop("Hostname")  # docker's default hostname: let the new container get its own
        config["HostConfig"] = attrs["HostConfig"]
        networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        mode = attrs["HostConfig"].get("NetworkMode", "")
        extra: dict[str, dict[str, Any]] = {}
        for name, net in networks.items():
            aliases = [a for a in (net.get("Aliases") or []) if not attrs["Id"].startswith(a)]
            endpoint = {"Aliases": aliases} if aliases else {}
            if name == mode:
                config["NetworkingConfig"] = {"EndpointsConfig": {name: endpoint}}
            elif mode not in ("host", "none") and not mode.startswith("container:"):
                extra[name] = endpoint
        name = attrs["Name"].lstrip("/")
        created = self.engine.call(lambda c: c.api.create_container_from_config(config, name))
        container_id = str(created["Id"])
        for net_name, endpoint in extra.items():
            self.engine.call(lambda c, n=net_name, e=endpoint: c.api.connect_container_to_network(
                container_id, n, aliases=e.get("Aliases")))
        if start:
            self.engine.call(lambda c: c.api.start(container_id))
        return container_id
