"""The `homeassistant` container on the Docker Engine, as tag 138's hassio/docker/homeassistant.py and
docker/interface.py ran it: one container named homeassistant from `<image>:latest`, the version
read from the image's io.hass.version label, logs and stats of the running container.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import EngineUnavailable

log = logging.getLogger("polyvisor.hassio.core")

NAME = "homeassistant"
LABEL_VERSION = "io.hass.version"
LABEL_MACHINE = "io.hass.machine"
STOP_TIMEOUT = 30  # DockerInterface.timeout
CHECK_COMMAND = "python3 -m homeassistant -c /config --script check_config"


@dataclass(frozen=True)
class RunOptions:
    """How the container runs: 138's parameters, with the parts a device or a test must choose."""

    data_folder: Path  # host folder holding homeassistant/ (-> /config), ssl/ and share/
    supervisor: str  # HASSIO: where Home Assistant finds this agent (host[:port])
    network_mode: str = "host"  # 138: Home Assistant on the host's network
    privileged: bool = True  # 138: privileged; machines without the capability need False
    devices: tuple[str, ...] = field(default=())  # serial devices, mapped rwm

    def volumes(self, share_mode: str = "rw") -> dict[str, dict[str, str]]:
        """/config rw, /ssl ro, /share (rw for the core, ro for the config check, as 138)."""
        return {str(self.data_folder / "homeassistant"): {"bind": "/config", "mode": "rw"},
                str(self.data_folder / "ssl"): {"bind": "/ssl", "mode": "ro"},
                str(self.data_folder / "share"): {"bind": "/share", "mode": share_mode}}

    def prepare(self) -> None:
        """The bind-mount folders (docker would make them root-owned otherwise)."""
        for name in ("homeassistant", "ssl", "share"):
            (self.data_folder / name).mkdir(parents=True, exist_ok=True)


def find(client: Any, kind: str, name: str) -> Any:
    """`client.<kind>.get(name)` (kind: images or containers) through the docker SDK; None when the
    engine has no such object or refuses the reference (an image option like `-1`)."""
    import docker.errors

    try:
        return getattr(client, kind).get(name)
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as err:
        if err.status_code == 400:
            log.warning("the engine refuses %s %r: %s", kind, name, err.explanation)
            return None
        raise


@dataclass(frozen=True)
class Stats:
    """DockerStats of 138: cpu_percent and byte counters of one `docker stats` sample."""

    cpu_percent: float
    memory_usage: int
    memory_limit: int
    network_rx: int
    network_tx: int
    blk_read: int
    blk_write: int

    @classmethod
    def parse(cls, stats: dict[str, Any]) -> Stats:
        """Each part falls back to 0 when the engine leaves it out (cgroup v2 has no percpu_usage)."""
        memory = stats.get("memory_stats") or {}
        cpu = 0.0
        with contextlib.suppress(KeyError, TypeError):
            now, before = stats["cpu_stats"], stats["precpu_stats"]
            cpu_delta = now["cpu_usage"]["total_usage"] - before["cpu_usage"]["total_usage"]
            system_delta = now["system_cpu_usage"] - before["system_cpu_usage"]
            cpus = now.get("online_cpus") or len(now["cpu_usage"].get("percpu_usage") or ()) or 1
            if system_delta > 0 and cpu_delta > 0:
                cpu = cpu_delta / system_delta * cpus * 100.0
        networks = (stats.get("networks") or {}).values()
        blkio = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ()
        return cls(cpu_percent=cpu, memory_usage=int(memory.get("usage", 0)),
                   memory_limit=int(memory.get("limit", 0)),
                   network_rx=sum(int(n.get("rx_bytes", 0)) for n in networks),
                   network_tx=sum(int(n.get("tx_bytes", 0)) for n in networks),
                   blk_read=sum(int(e["value"]) for e in blkio if str(e.get("op")).lower() == "read"),
                   blk_write=sum(int(e["value"]) for e in blkio if str(e.get("op")).lower() == "write"))

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Container:
    """Docker operations on the homeassistant container (blocking: call them off the event loop)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def image_labels(self, image: str) -> dict[str, str]:
        """The labels of `image` (its latest tag), {} when absent or the engine is away (138's
        info then had no version either: attach had failed)."""
        try:
            found = self.engine.call(lambda c: find(c, "images", image))
        except EngineUnavailable:
            return {}
        return dict((found.attrs.get("Config") or {}).get("Labels") or {}) if found else {}

    def is_running(self, image: str) -> bool:
        """Running, and from the image `image` names now (138: an old image counts as not running).
        The watchdog's poll: plain inspects, without the docker SDK on a unix socket."""
        container = self.engine.inspect("containers", NAME)
        if not container or not (container.get("State") or {}).get("Running"):
            return False
        wanted = self.engine.inspect("images", image)
        return bool(wanted and container.get("Image") == wanted.get("Id"))

    def exists(self) -> bool:
        """A container named homeassistant is there (138's is_initialize)."""
        return self.engine.inspect("containers", NAME) is not None

    def has_image(self, reference: str) -> bool:
        """The engine holds `reference` (repository:tag)."""
        return self.engine.inspect("images", reference) is not None

    def install(self, image: str, tag: str) -> bool:
        """`image:tag` tagged as `image:latest`: the local copy when the engine has it, else pulled.
        (138 always pulled; a device offline or a private build keeps working this way.)"""
        import docker.errors

        def install(client: Any) -> bool:
            try:  # a tag the engine refuses (`../`) is a 400 on the lookup already
                found = find(client, "images", f"{image}:{tag}")
                if found is None:
                    log.info("pull %s:%s", image, tag)
                    found = client.images.pull(image, tag=tag)
                found.tag(image, tag="latest")
            except docker.errors.APIError as err:
                log.error("cannot install %s:%s: %s", image, tag, err)
                return False
            return True
        return self.engine.call(install)

    def run(self, image: str, options: RunOptions, environment: dict[str, str]) -> bool:
        """Remove any old container and run a new one (hassio/docker/homeassistant.py _run)."""
        import docker.errors

        options.prepare()
        self.stop()

        def run(client: Any) -> bool:
            try:
                client.containers.run(
                    image, name=NAME, hostname=NAME, detach=True, privileged=options.privileged, init=True,
                    devices=[f"{d}:{d}:rwm" for d in options.devices] or None,
                    network_mode=options.network_mode, environment=environment, volumes=options.volumes())
            except docker.errors.DockerException as err:
                log.error("cannot run %s: %s", image, err)
                return False
            return True
        return self.engine.call(run)

    def stop(self) -> bool:
        """Stop and remove the container; False when there is none (the API's 400 with message null)."""
        import docker.errors

        def stop(client: Any) -> bool:
            container = find(client, "containers", NAME)
            if container is None:
                return False
            if container.status == "running":
                with contextlib.suppress(docker.errors.DockerException):
                    container.stop(timeout=STOP_TIMEOUT)
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
            return True
        return self.engine.call(stop)

    def cleanup(self, image: str) -> None:
        """Remove the repository's other images (138's _cleanup), once the new one runs."""
        import docker.errors

        def cleanup(client: Any) -> None:
            latest = find(client, "images", image)
            if latest is None:
                return
            for other in client.images.list(name=image):
                if other.id != latest.id:
                    with contextlib.suppress(docker.errors.DockerException):
                        client.images.remove(other.id, force=True)
        self.engine.call(cleanup)

    def logs(self) -> bytes:
        """The last 100 lines of both streams, demultiplexed; b"" without a container."""
        import docker.errors

        def logs(client: Any) -> bytes:
            container = find(client, "containers", NAME)
            if container is None:
                return b""
            try:
                return bytes(container.logs(tail=100, stdout=True, stderr=True))
            except docker.errors.DockerException as err:
                log.warning("cannot read the logs of %s: %s", NAME, err)
                return b""
        return self.engine.call(logs)

    def stats(self) -> Stats | None:
        """One stats sample of a running container, else None."""
        import docker.errors

        def stats(client: Any) -> Stats | None:
            container = find(client, "containers", NAME)
            if container is None or container.status != "running":
                return None
            try:
                return Stats.parse(container.stats(stream=False))
            except docker.errors.DockerException as err:
                log.error("cannot read the stats of %s: %s", NAME, err)
                return None
        return self.engine.call(stats)

    def run_command(self, image: str, options: RunOptions, environment: dict[str, str]) -> tuple[int | None, bytes]:
        """CHECK_COMMAND in a temporary container of `image` (138's execute_command: not an exec in the
        running one, so a stopped Home Assistant can be checked): (exit code, output), None on failure."""
        import docker.errors

        options.prepare()

        def run(client: Any) -> tuple[int | None, bytes]:
            container = None
            try:
                container = client.containers.run(
                    image, command=CHECK_COMMAND, detach=True, privileged=options.privileged, init=True,
                    network_mode=options.network_mode, environment=environment, volumes=options.volumes("ro"),
                    devices=[f"{d}:{d}:rwm" for d in options.devices] or None)
                result = container.wait()
                return result.get("StatusCode"), bytes(container.logs(stdout=True, stderr=True))
            except docker.errors.DockerException as err:
                log.error("cannot run the config check: %s", err)
                return None, b""
            finally:
                if container is not None:
                    with contextlib.suppress(docker.errors.DockerException):
                        container.remove(force=True)
        return self.engine.call(run)
