"""The state engine as the API uses it: target in and out, service actions, status, volumes.

Bundles the target store, images, logs, the reconciler and the optional target URL source,
built from settings values by Supervisor.build (called from handlers/services.py).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from handlers import supervisor_version
from handlers.engine.cache import StateCache
from handlers.engine.compose import DeviceInfo, image_name, internal_form
from handlers.engine.images import Images
from handlers.engine.logs import Logs
from handlers.engine.reconciler import Reconciler
from handlers.engine.status import Status
from handlers.engine.target import config_with_defaults, validate
from handlers.engine.target_store import Targets
from handlers.errors import AppNotFound, EngineUnavailable, InvalidInput, NotFound, PolyvisorError
from handlers.host.devicetype import device_type
from handlers.jsvalues import canonical_id

log = logging.getLogger("polyvisor.supervisor")

NO_API_CLIENT = "Attempt to communicate with API, without initialized client"


class NotLocalMode(InvalidInput):
    """A local-mode route was called outside local mode."""


class ServiceNotFound(NotFound):
    """No container matches the serviceName/imageId given."""


class MissingService(PolyvisorError):
    """Neither serviceName nor imageId was given (the legacy threw: 503)."""


class Supervisor:
    """The balena state engine behind the v1/v2 routes."""

    def __init__(self, *, store: Any, identity: Any, hostfs: Any, engine: Any, locks: Any, actions: Any,
                 device: Any, api_port: int, boot_dir: str, docker_host: str | None,
                 target_url: str | None = None, device_type: str | None = None,
                 target_ca: str | None = None) -> None:
        self.store = store
        self.identity = identity
        self.hostfs = hostfs
        self.engine = engine
        self.actions = actions
        self.device = device
        self.api_port = api_port
        self.boot_dir = boot_dir
        self.docker_socket = (docker_host or "unix:///var/run/docker.sock").removeprefix("unix://")
        self.target_url = target_url
        self.device_type_option = device_type  # --device-type SLUG[:ARCH]
        self.targets = Targets(store, identity)
        self.logs = Logs(engine, self.service_name, gate=self._logs_published)
        self.images = Images(engine, store, self.logs)
        self.reconciler = Reconciler(engine, store, self.targets, self.images, locks, self.logs,
                                     self.device_info, device.flags, managed=bool(target_url),
                                     stopped=actions.stopped)
        # the API's reads of the engine from memory, true to its event stream; the reconciler
        # reads direct, and while it or an API action writes, the cache answers direct too
        self.cache = StateCache(engine, busy=self.reconciler.busy, image_inspect=self.images.inspect)
        self.reconciler.changed = self.cache.invalidate
        self.status = Status(self.reconciler, self.cache)
        self.source: Any = None
        if target_url:
            from handlers.engine.target_source import TargetSource

            self.source = TargetSource(target_url, self.reconciler, store, device_type=self.device_slug,
                                       ca_file=target_ca)

    # ---- life ----

    def open(self) -> None:
        """Follow the engine's events, start the apply loop (and the target URL poller)."""
        self.cache.start()
        self.device.flags.commit = self.store.get("current_commit")
        try:
            self.images.purge_missing()
        except PolyvisorError as err:
            log.warning("image records not checked: %s", err)
        self.reconciler.start()
        if self.source is not None:
            self.source.start()

    def close(self) -> None:
        """Stop the poller and the loop."""
        if self.source is not None:
            self.source.close()
        self.reconciler.close()
        self.cache.close()

    def healthy(self) -> bool:
        """GET /v1/healthy's checks (supervisor.ts: api-binder and device-state healthchecks): an
        unmanaged device is healthy; a managed one while its target is fetched on time and no
        apply cycle is stuck. The store must answer in any case."""
        if not self.store.ping():
            return False
        if not self.managed:
            return True
        return self.source.healthy() and self.reconciler.apply_healthy()

    # ---- facts about the device ----

    @property
    def managed(self) -> bool:
        """A device with a target URL is managed."""
        return bool(self.target_url)

    def local_mode(self) -> bool:
        """See Reconciler.local_mode."""
        return self.reconciler.local_mode()

    def device_type(self) -> dict[str, Any]:
        """{"slug", "arch"}: --device-type, the boot partition, or the machine's generic type."""
        return device_type(self.hostfs, self.boot_dir, self.device_type_option)

    def device_slug(self) -> str | None:
        """The device type's slug from the boot partition, or None when it cannot be read."""
        try:
            return str(self.device_type()["slug"])
        except (NotFound, KeyError):
            return None

    def device_info(self) -> DeviceInfo:
        """What services' environment says about the device."""
        try:
            slug = self.device_type()["slug"]
        except NotFound:
            slug = "unknown"
        return DeviceInfo(uuid=self.identity.uuid, device_type=slug,
                          os_version=self.device.os_version() or "", supervisor_version=supervisor_version(self.device.reported_version),
                          device_name=self.identity.name, api_key=self.identity.api_key,
                          api_port=self.api_port, docker_socket=self.docker_socket,
                          root=str(self.hostfs.root), hostname=self.hostfs.hostname())

    def service_name(self, service_id: int) -> str | None:
        """The target service name of a service id (log records): the first app's, as the legacy
        serviceNameFromId looked only there."""
        for app in self.targets.apps(self.reconciler.source()).values():
            for service in app.services:
                if service["serviceId"] == service_id:
                    return str(service["serviceName"])
            return None
        return None

    def _logs_published(self) -> bool:
        """The local log stream carries records while local mode and SUPERVISOR_LOG_CONTROL are on."""
        from handlers.engine.target import config_value

        return self.reconciler.local_mode() and bool(config_value(self.targets.device_config(),
                                                                  "SUPERVISOR_LOG_CONTROL"))

    # ---- target ----

    def set_local_target(self, body: Any) -> None:
        """POST /v2/local/target-state: validate, store, apply (asynchronously)."""
        if not self.local_mode():
            raise NotLocalMode("Target state can only set when device is in local mode")
        target = validate(body, self.device_slug())
        force = bool(body.get("force")) if isinstance(body, dict) else False
        self.reconciler.set_target(target, Targets.LOCAL, force)
        self.store.set(device_tags=orjson.dumps(_tags(body)).decode())

    def local_target(self) -> dict[str, Any]:
        """GET /v2/local/target-state's `state`."""
        if not self.local_mode():
            raise NotLocalMode("Target state can only be retrieved when in local mode")
        device = self.device_info()
        apps: dict[str, Any] = {}
        for app in self.targets.apps(Targets.LOCAL).values():
            services = []
            for service in app.services:
                try:
                    image = self.status.image(image_name(service["image"]))
                except EngineUnavailable:
                    image = None  # the target is still shown, with the image by name
                services.append(internal_form(service, app.name, device, str(image["Id"]) if image else None))
            apps[str(app.app_id)] = {"appId": app.app_id, "name": app.name, "commit": app.commit,
                                     "releaseId": app.release_id, "services": services,
                                     "networks": app.networks, "volumes": app.volumes}
        return {"local": {"name": self.targets.name(),
                          "config": config_with_defaults(self.targets.device_config(), unmanaged=not self.managed),
                          "apps": apps}, "dependent": {"apps": [], "devices": []}}

    def tags(self) -> list[dict[str, Any]]:
        """Device tags carried by the target; unmanaged devices without any have no API to ask."""
        stored = self.store.get("device_tags")
        tags = orjson.loads(stored) if stored else []
        if not tags and not self.managed:
            raise InvalidInput(NO_API_CLIENT)
        return list(tags)

    # ---- actions ----

    def service_action(self, app_id: str, action: str, service_name: Any, image_id: Any, force: bool) -> None:
        """restart-service / stop-service / start-service (balena-v2.md 1.4)."""
        # the legacy looked the app up by the path's string: only the canonical "12" finds app 12
        number = canonical_id(app_id)
        if number is None:
            raise AppNotFound("App not found")
        r = self.reconciler
        with r.paused(), r.update_lock(number, force or r.lock_override()):
            current = r.read_current()
            if number not in current.app_ids():
                raise AppNotFound("App not found")
            if service_name is None and image_id is None:
                raise MissingService("serviceName or imageId is required")
            mine = [c for c in current.containers if c.app_id == number]
            if image_id is not None:
                found = [c for c in mine if isinstance(image_id, int) and not isinstance(image_id, bool)
                         and c.image_id == image_id]
            else:
                found = [c for c in mine if c.service_name == service_name]
            if not found:
                raise ServiceNotFound("no container for that service")
            container = found[0]  # _.find: the first
            key = (number, container.service_name)
            described = f"'{container.service_name} {(container.attrs.get('Config') or {}).get('Image', '')}'"
            if action == "stop":
                r.stopped.add(key)
                r.executor.do_stop(_step("stop", container))
                return
            r.stopped.discard(key)
            if action == "start":
                self.logs.system(f"Starting service {described}")
                r.executor._start(container.id)
                r.started.add(container.id)
                self.logs.system(f"Started service {described}")
                return
            attrs = container.attrs
            r.executor.do_kill(_step("kill", container))
            self.logs.system(f"Starting service {described}")
            new_id = self.actions._recreate(attrs, start=True)
            r.started.add(new_id)
            self.logs.system(f"Started service {described}")
        r.trigger()

    def restart(self, app_id: int, force: bool) -> None:
        """doRestart: the app's containers removed and made again from their own config."""
        with self.reconciler.paused():
            self.actions.restart(app_id, force or self.reconciler.lock_override())
            self.reconciler.started.clear()
        self.reconciler.trigger()

    def purge(self, app_id: int, force: bool) -> None:
        """doPurge: containers removed, volumes emptied, everything made again."""
        self.logs.system(f"Purging data for app {app_id}")
        try:
            with self.reconciler.paused():
                self.actions.purge(app_id, force or self.reconciler.lock_override())
        except Exception as err:
            self.logs.system(f"Error purging data: {err}", error=True)
            raise
        self.logs.system("Purged data")
        self.reconciler.trigger()

    def container_ids(self) -> list[tuple[str, str]]:
        """(serviceName, container id) of every supervised container, in the engine's order."""
        return [(c.service_name, c.id) for c in self.status.current().containers]

    def cleanup_volumes(self) -> None:
        """Remove every volume no running container mounts, except `<appId>_<name>` volumes of the target."""
        keep = {f"{app.app_id}_{name}" for app in self.reconciler.wanted().values() for name in app.volumes}

        def run(client: Any) -> None:
            used: set[str] = set()
            for item in client.api.containers():
                for mount in item.get("Mounts") or []:
                    if mount.get("Name"):
                        used.add(mount["Name"])
            for volume in client.api.volumes().get("Volumes") or []:
                if volume["Name"] not in used and volume["Name"] not in keep:
                    client.api.remove_volume(volume["Name"])

        with self.reconciler.writing():
            self.engine.call(run)


def _step(action: str, container: Any) -> Any:
    from handlers.engine.steps import Step

    return Step(action, container.app_id, container)


def _tags(body: Any) -> list[dict[str, Any]]:
    """`local.tags` ({name: value} or [{id?, name, value}]) -> [{id, name, value}]."""
    raw = (body.get("local") or {}).get("tags") if isinstance(body, dict) else None
    if isinstance(raw, dict):
        return [{"id": i + 1, "name": str(k), "value": str(v)} for i, (k, v) in enumerate(raw.items())]
    if isinstance(raw, list):
        return [{"id": t.get("id", i + 1), "name": str(t.get("name", t.get("tag_key", ""))),
                 "value": str(t.get("value", ""))} for i, t in enumerate(raw) if isinstance(t, dict)]
    return []
