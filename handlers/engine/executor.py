"""What each step does to the engine (balena-v2.md 3.3), with the legacy's system log messages."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from handlers.docker import Engine
from handlers.engine.compose import (
    SUPERVISOR_GATEWAY,
    SUPERVISOR_NETWORK,
    SUPERVISOR_SUBNET,
    DeviceInfo,
    container_name,
    normalise_labels,
)
from handlers.engine.device import UpdateFlags
from handlers.engine.images import Downloading, Images
from handlers.engine.locks import Locks
from handlers.engine.logs import Logs
from handlers.engine.recreate_guard import RecreateGuard
from handlers.engine.steps import Step, Wanted
from handlers.store import Store

log = logging.getLogger("polyvisor.executor")

HANDOVER_FILES = ("handover-complete", "resin-kill-me")
HANDOVER_TIMEOUT_MS = 60_000


def _gone(err: Exception) -> bool:
    return getattr(getattr(err, "response", None), "status_code", None) == 404


def _described(target: Wanted | None, container_name_: str = "") -> str:
    """'<serviceName> <image>' as the legacy log messages named services."""
    if target is not None:
        return f"'{target.name} {target.config['Image']}'"
    return f"'{container_name_}'"


def create_container(client: Any, config: dict[str, Any], name: str, extra_networks: dict[str, dict[str, Any]]) -> str:
    """docker create (replacing a leftover of that name), then join the extra networks; the id."""
    import docker.errors

    try:
        created = client.api.create_container_from_config(config, name)
    except docker.errors.APIError as err:
        if err.status_code != 409:
            raise
        # a container of that name that the current state did not pair (half-made before a crash)
        client.api.remove_container(name, force=True, v=True)
        created = client.api.create_container_from_config(config, name)
    if created.get("Warnings"):
        # what the daemon discards (a limit the kernel lacks) will differ from the target: say why
        log.info("engine warnings creating %s: %s", name, "; ".join(created["Warnings"]))
    container_id = str(created["Id"])
    for network, endpoint in extra_networks.items():
        client.api.connect_container_to_network(container_id, network, aliases=endpoint.get("Aliases"),
                                                ipv4_address=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"))
    return container_id


def create_network(client: Any, name: str, conf: dict[str, Any]) -> None:
    """docker network create for a target network (compose keys), labelled io.balena.supervised."""
    ipam = None
    if conf.get("ipam"):
        from docker.types import IPAMConfig, IPAMPool

        pools = [IPAMPool(subnet=c.get("subnet"), gateway=c.get("gateway"), iprange=c.get("ip_range"),
                          aux_addresses=c.get("aux_addresses")) for c in conf["ipam"].get("config") or []]
        ipam = IPAMConfig(driver=conf["ipam"].get("driver", "default"), pool_configs=pools,
                          options=conf["ipam"].get("options"))
    client.api.create_network(
        name, driver=conf.get("driver") or "bridge", options=conf.get("driver_opts") or None,
        ipam=ipam, check_duplicate=True, internal=bool(conf.get("internal")),
        labels={"io.balena.supervised": "true", **(conf.get("labels") or {})},
        enable_ipv6=bool(conf.get("enable_ipv6")))


def create_volume(client: Any, name: str, conf: dict[str, Any]) -> None:
    """docker volume create for a target volume (always local), labelled io.balena.supervised."""
    client.api.create_volume(name, driver="local", driver_opts=conf.get("driver_opts") or None,
                             labels={"io.balena.supervised": "true", **(conf.get("labels") or {})})


class Owner(Protocol):
    """What the executor needs of the loop that owns it (the Reconciler, which hands itself in):
    the engine and the stores, and the volatile status the API shows while steps run."""

    engine: Engine
    store: Store
    images: Images
    locks: Locks
    logs: Logs
    flags: UpdateFlags
    guard: RecreateGuard
    device_info: Callable[[], DeviceInfo]
    status: dict[str, str]
    started: set[str]
    installing: dict[tuple[int, int], str]

    def fetching(self) -> AbstractContextManager[None]:
        """Count an image pull and its time."""

    def poll_seconds(self) -> float:
        """SUPERVISOR_POLL_INTERVAL in seconds."""

    def local_mode(self) -> bool:
        """Whether the device is in local mode."""


class Executor:
    """Runs steps for its owner (the Reconciler)."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    @property
    def engine(self) -> Any:
        return self.owner.engine

    def run(self, step: Step) -> None:
        """Run one step; errors propagate (kill failures are only logged, as legacy)."""
        getattr(self, "do_" + step.action)(step)

    # ---- services ----

    def do_noop(self, step: Step) -> None:
        """Wait for something already under way."""

    def do_fetch(self, step: Step) -> None:
        """Pull the target image (progress in owner.images.downloading)."""
        want = step.target
        assert want is not None
        meta = Downloading(want.image, want.app_id, want.name, int(want.service["imageId"]),
                           want.service.get("releaseId"))
        with self.owner.fetching():
            docker_id = self.owner.images.pull(meta, self.owner.poll_seconds())
        self.owner.images.record(want.image, want.app_id, want.service_id, want.name,
                                 int(want.service["imageId"]), want.service.get("releaseId"), docker_id)

    def do_start(self, step: Step) -> None:
        """Start the existing container, or create it first (+ extra networks)."""
        want = step.target
        assert want is not None
        owner = self.owner
        container_id = step.current.id if step.current is not None else self.create(want)
        owner.status[container_id] = "Starting"
        owner.logs.system(f"Starting service {_described(want)}")
        try:
            self._start(container_id)
            owner.started.add(container_id)
        except Exception as err:
            # the legacy's startServiceError: the device's log (what `balena push` streams) says
            # why, not only "Starting service" again at every retry
            reason = getattr(err, "explanation", None) or err
            owner.logs.system(f"Failed to start service {_described(want)} due to '{reason}'", error=True)
            raise
        finally:
            owner.status.pop(container_id, None)
        owner.logs.system(f"Started service {_described(want)}")

    def _start(self, container_id: str) -> None:
        import docker.errors

        try:
            self.engine.call(lambda c: c.api.start(container_id))
        except docker.errors.APIError as err:
            if err.status_code == 304:
                return  # already started
            if "exec format error" in str(err):
                raise RuntimeError(f"Application architecture incompatible with "
                                   f"{self.owner.device_info().device_type}: exec format error") from err
            raise

    def create(self, want: Wanted) -> str:
        """docker create under <serviceName>_<imageId>_<releaseId>; a leftover of that name is replaced."""
        owner = self.owner
        key = (want.app_id, int(want.service["imageId"]))
        owner.installing[key] = "Installing"
        lock_dir = owner.locks.service_dir(want.app_id, want.name)
        lock_dir.mkdir(parents=True, exist_ok=True)
        owner.logs.system(f"Installing service {_described(want)}")
        try:
            container_id = self.engine.call(lambda c: create_container(c, want.config, container_name(want.service),
                                                                       want.extra_networks))
            if not owner.local_mode():  # local mode records no image (no fetch, no saveImage in 2019)
                owner.images.record(want.image, want.app_id, want.service_id, want.name,
                                    int(want.service["imageId"]), want.service.get("releaseId"),
                                    str(want.image_docker_id))
        finally:
            owner.installing.pop(key, None)
        owner.logs.system(f"Installed service {_described(want)}")
        return container_id

    def do_stop(self, step: Step) -> None:
        """docker stop, container kept: the legacy's kill without removal, with its messages."""
        self._kill(step, remove=False)

    def stop_container(self, container_id: str, attrs: dict[str, Any]) -> None:
        """docker stop with the container's own grace period."""
        grace = (attrs.get("Config") or {}).get("StopTimeout") or 10
        self.engine.call(lambda c: c.api.stop(container_id, timeout=grace))

    def do_kill(self, step: Step) -> None:
        """stop + remove (volumes of the container too); failures logged and swallowed (legacy)."""
        self._kill(step, remove=True)

    def _kill(self, step: Step, remove: bool) -> None:
        import docker.errors

        current = step.current
        assert current is not None
        what = f"'{current.service_name} {(current.attrs.get('Config') or {}).get('Image', '')}'"
        self.owner.status[current.id] = "Stopping"
        self.owner.logs.system(f"Killing service {what}")
        try:
            try:
                self.stop_container(current.id, current.attrs)
            except docker.errors.APIError as err:
                if not _gone(err) and err.status_code != 304:
                    raise
            try:
                if remove:
                    self.engine.call(lambda c: c.api.remove_container(current.id, v=True))
            except docker.errors.APIError as err:
                if not _gone(err):
                    raise
            self.owner.started.discard(current.id)
            self.owner.logs.system(f"Killed service {what}")
            self._count_recreation(step)
            if step.config.get("remove_image"):
                self._remove_unused_image(current.image)
            killed = True
        except docker.errors.APIError as err:
            killed = False
            self.owner.logs.system(f"Failed to kill service {what} due to '{err.explanation or err}'", error=True)
        finally:
            self.owner.status.pop(current.id, None)
        if killed and step.config.get("then_start") and step.target is not None:
            self.do_start(Step("start", step.app_id, None, step.target))

    def _count_recreation(self, step: Step) -> None:
        """A container replaced because it differed from its target: the recreate guard counts it."""
        if step.target is not None and "changes" in step.config:
            self.owner.guard.recreated((step.app_id, step.target.name), step.config["changes"], step.config["target"])

    def _remove_unused_image(self, image: str) -> None:
        """delete-then-download: the old image goes before the new one comes (when nothing uses it)."""
        try:
            self.engine.call(lambda c: c.api.remove_image(image))
            self.owner.logs.system(f"Deleted image '{image}'")
        except Exception as err:  # noqa: BLE001 - kept is fine, whatever the reason
            log.info("old image %s kept: %s", image, err)

    # ---- image housekeeping ----

    def do_cleanup(self, step: Step) -> None:
        """Remove dangling images (only outside local mode)."""
        if not self.owner.local_mode():
            self.owner.images.cleanup(step.config["ids"])

    def do_saveImage(self, step: Step) -> None:
        """Record a target image the engine already has, with the service's metadata."""
        want = step.target
        assert want is not None
        release = want.service.get("releaseId")
        self.owner.images.save(want.image, want.app_id, want.service_id, want.name, int(want.service["imageId"]),
                               int(release) if release is not None else None)

    def do_removeImage(self, step: Step) -> None:
        """Remove an image nothing uses any more (and its record)."""
        self.owner.images.remove(step.config["record"])

    def do_remove(self, step: Step) -> None:
        """Remove a Dead container."""
        assert step.current is not None
        current_id = step.current.id
        self.engine.call(lambda c: c.api.remove_container(current_id, v=True, force=True))

    def do_updateMetadata(self, step: Step) -> None:
        """Rename to the new <serviceName>_<imageId>_<releaseId>."""
        assert step.current is not None and step.target is not None
        current_id, name = step.current.id, container_name(step.target.service)
        self.engine.call(lambda c: c.api.rename(current_id, name))

    def do_handover(self, step: Step) -> None:
        """Start the new container next to the old one; kill the old one when it says so or on timeout."""
        current, want = step.current, step.target
        assert current is not None and want is not None
        self.engine.call(lambda c: c.api.update_container(current.id, restart_policy={"Name": ""}))
        old = f"old_{want.name}_{current.image_id}_{current.image_id}_{current.release_id}"
        self.engine.call(lambda c: c.api.rename(current.id, old))
        self.owner.status[current.id] = "Handing over"
        self.do_start(Step("start", want.app_id, None, want))
        self._count_recreation(step)
        lock_dir = self.owner.locks.service_dir(current.app_id, current.service_name)
        labels = normalise_labels(want.service.get("labels"))
        timeout = int(labels.get("io.balena.update.handover-timeout") or HANDOVER_TIMEOUT_MS) / 1000
        end = time.monotonic() + timeout
        while time.monotonic() < end and not any((lock_dir / f).exists() for f in HANDOVER_FILES):
            time.sleep(0.1)
        for name in HANDOVER_FILES:
            (lock_dir / name).unlink(missing_ok=True)
        self.do_kill(Step("kill", current.app_id, current))

    # ---- networks, volumes, commit ----

    def do_createNetwork(self, step: Step) -> None:
        """docker network create <appId>_<name> labelled io.balena.supervised."""
        self.owner.logs.system(f"Creating network '{step.name}'")
        self.engine.call(lambda c: create_network(c, step.name, step.config))

    def do_removeNetwork(self, step: Step) -> None:
        """docker network rm."""
        self.owner.logs.system(f"Removing network '{step.name}'")
        self.engine.call(lambda c: c.api.remove_network(step.name))

    def do_createVolume(self, step: Step) -> None:
        """docker volume create <appId>_<name> labelled io.balena.supervised."""
        self.owner.logs.system(f"Creating volume '{step.name}'")
        self.engine.call(lambda c: create_volume(c, step.name, step.config))

    def do_updateCommit(self, step: Step) -> None:
        """The db config currentCommit."""
        self.owner.store.set(current_commit=step.name)
        self.owner.flags.commit = step.name

    def do_ensureSupervisorNetwork(self, step: Step) -> None:
        """supervisor0: bridge supervisor0, 10.114.104.0/25, gateway .1."""
        from docker.types import IPAMConfig, IPAMPool

        ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=SUPERVISOR_SUBNET, gateway=SUPERVISOR_GATEWAY)])
        self.engine.call(lambda c: c.api.create_network(
            SUPERVISOR_NETWORK, driver="bridge", ipam=ipam, check_duplicate=True,
            options={"com.docker.network.bridge.name": SUPERVISOR_NETWORK}))

