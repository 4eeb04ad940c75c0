"""An add-on's image and container on the Docker Engine, as tag 138's hassio/docker/addon.py and
docker/interface.py kept them: `<image>:<version>` pulled (or built from the add-on's folder) and
tagged latest, one container `addon_<slug>` run from it with params.py's parameters, stopped and
removed (138 never kept a stopped container), logs, stats, stdin, image save/load for snapshots.

Blocking: call these off the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import EngineUnavailable
from handlers.homeassistant.addons.params import (
    GATEWAY,
    NETWORK,
    NETWORK_MASK,
    NETWORK_RANGE,
    Host,
    container_name,
)
from handlers.homeassistant.container import Stats, find

log = logging.getLogger("polyvisor.hassio.addons")

LABEL_VERSION = "io.hass.version"


def engine_network(engine: Engine) -> str:
    """NETWORK when the engine runs bridge networking (it has its default `bridge`), else "none":
    an engine started with --bridge none gets no bridge made behind its owner's back."""
    import docker.errors

    def probe(client: Any) -> str:
        try:
            client.networks.get("bridge")
        except docker.errors.NotFound:
            log.warning("the engine runs without bridge networking: add-ons without host_network "
                        "run with no network")
            return "none"
        return NETWORK
    return engine.call(probe)


def host_facts(engine: Engine, data_folder: Path, network: str) -> Host:
    """What this machine offers add-ons (the engine's socket, sound, GPIO, serial devices)."""
    address = engine.address
    socket = address.removeprefix("unix://") if address.startswith("unix://") else "/var/run/docker.sock"
    serial = tuple(sorted(str(p) for glob in ("ttyUSB*", "ttyACM*", "ttyAMA*") for p in Path("/dev").glob(glob)))
    return Host(data_folder, network, apparmor=False, audio=Path("/dev/snd").is_dir(),
                gpio=Path("/sys/class/gpio").is_dir(), serial=serial, docker_socket=socket)


def ensure_network(client: Any) -> Any:
    """The `hassio` bridge network, made as 138's DockerNetwork made it when missing."""
    import docker.errors
    import docker.types

    try:
        return client.networks.get(NETWORK)
    except docker.errors.NotFound:
        log.info("Can't find Hass.io network, create new network")
    pool = docker.types.IPAMPool(subnet=NETWORK_MASK, gateway=GATEWAY, iprange=NETWORK_RANGE)
    return client.networks.create(NETWORK, driver="bridge", ipam=docker.types.IPAMConfig(pool_configs=[pool]),
                                  enable_ipv6=False, options={"com.docker.network.bridge.name": NETWORK})


class AddonContainer:
    """The image and container of one add-on."""

    def __init__(self, engine: Engine, slug: str, image: str, timeout: int = 10) -> None:
        self.engine = engine
        self.slug = slug
        self.image = image
        self.name = container_name(slug)
        self.timeout = timeout  # the add-on's `timeout`: docker stop's grace period

    # image
    def has_image(self, tag: str = "latest") -> bool:
        return self.engine.inspect("images", f"{self.image}:{tag}") is not None

    def version(self) -> str | None:
        """The io.hass.version label of the image tagged latest."""
        found = self.engine.inspect("images", f"{self.image}:latest")
        return ((found or {}).get("Config") or {}).get("Labels", {}).get(LABEL_VERSION) if found else None

    def pull(self, tag: str) -> bool:
        """`<image>:<tag>` tagged latest: the engine's copy when it has one, else pulled (138 pulled)."""
        import docker.errors

        def pull(client: Any) -> bool:
            try:
                found = find(client, "images", f"{self.image}:{tag}")
                if found is None:
                    log.info("Pull image %s tag %s.", self.image, tag)
                    found = client.images.pull(self.image, tag=tag)
                found.tag(self.image, tag="latest")
            except docker.errors.DockerException as err:
                log.error("Can't install %s:%s -> %s.", self.image, tag, err)
                return False
            log.info("Tag image %s with version %s as latest", self.image, tag)
            return True
        return self.engine.call(pull)

    def build(self, tag: str, folder: Path, arguments: dict[str, Any]) -> bool:
        """`docker build` of the add-on's folder as `<image>:<tag>`, tagged latest (AddonBuild's
        arguments: labels, buildargs, squash). No pull: the base comes from the engine's images."""
        import docker.errors

        def build(client: Any) -> bool:
            log.info("Start build %s:%s", self.image, tag)
            try:
                image, lines = client.images.build(path=str(folder), tag=f"{self.image}:{tag}", forcerm=True,
                                                   pull=False, **arguments)
                for line in lines:
                    text = str(line.get("stream") or "").strip()
                    if text:
                        log.info("build %s: %s", self.slug, text)
                image.tag(self.image, tag="latest")
            except (docker.errors.DockerException, OSError) as err:
                log.error("Can't build %s:%s: %s", self.image, tag, err)
                return False
            log.info("Build %s:%s done", self.image, tag)
            return True
        return self.engine.call(build)

    def remove_image(self, version: str | None) -> bool:
        """Stop the container, remove `<image>:latest` and `<image>:<version>` (138's _remove)."""
        import docker.errors

        self.stop()

        def remove(client: Any) -> bool:
            log.info("Remove Docker %s with latest and %s", self.image, version)
            try:
                for tag in ("latest", version):
                    if tag:
                        with contextlib.suppress(docker.errors.ImageNotFound):
                            client.images.remove(image=f"{self.image}:{tag}", force=True)
            except docker.errors.DockerException as err:
                log.warning("Can't remove image %s: %s", self.image, err)
                return False
            return True
        return self.engine.call(remove)

    def cleanup(self) -> None:
        """Remove the repository's images other than latest (138's _cleanup after an update)."""
        import docker.errors

        def cleanup(client: Any) -> None:
            latest = find(client, "images", f"{self.image}:latest")
            if latest is None:
                return
            for other in client.images.list(name=self.image):
                if other.id != latest.id:
                    with contextlib.suppress(docker.errors.DockerException):
                        client.images.remove(other.id, force=True)
        self.engine.call(cleanup)

    def export_image(self, target: Path) -> bool:
        """`docker save <image>` into target (written to a temporary name, then renamed)."""
        import docker.errors
        import requests.exceptions

        partial = target.with_name(target.name + ".part")

        def export(client: Any) -> bool:
            try:
                chunks: Iterator[bytes] = client.api.get_image(f"{self.image}:latest")
                with partial.open("wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
                os.replace(partial, target)
            except (docker.errors.DockerException, OSError, requests.exceptions.RequestException) as err:
                log.error("Can't write tar file %s: %s", target, err)
                with contextlib.suppress(OSError):
                    partial.unlink()
                return False
            log.info("Export image %s done", self.image)
            return True
        return self.engine.call(export)

    def import_image(self, source: Path, tag: str) -> bool:
        """`docker load` of source, then `<image>:<tag>` (138 tagged the loaded latest)."""
        import docker.errors

        def load(client: Any) -> bool:
            try:
                with source.open("rb") as data:
                    client.api.load_image(data, quiet=True)
                client.images.get(f"{self.image}:latest").tag(self.image, tag=tag)
            except (docker.errors.DockerException, OSError) as err:
                log.error("Can't import image %s: %s", self.image, err)
                return False
            log.info("Import image %s and tag %s", source, tag)
            return True
        ok = self.engine.call(load)
        if ok:
            self.cleanup()
        return ok

    # container
    def inspect(self) -> dict[str, Any] | None:
        return self.engine.inspect("containers", self.name)

    def is_running(self) -> bool:
        """Running, from the image tagged latest now (138: an old image counts as not running).
        Plain inspects: no docker SDK on a unix socket."""
        try:
            container = self.inspect()
            if not container or not (container.get("State") or {}).get("Running"):
                return False
            wanted = self.engine.inspect("images", f"{self.image}:latest")
        except EngineUnavailable:
            return False
        return bool(wanted and container.get("Image") == wanted.get("Id"))

    def run(self, params: dict[str, Any]) -> bool:
        """Remove any old container, create one from `<image>:latest` with params.run_parameters'
        output and start it; on the hassio bridge (made when missing) with the hostname as alias."""
        import docker.errors

        self.stop()
        params = dict(params)
        aliases = params.pop("aliases", None)

        def run(client: Any) -> bool:
            container = None
            try:
                if params.get("network") == NETWORK:
                    ensure_network(client)
                    endpoint = client.api.create_endpoint_config(aliases=aliases)
                    params["networking_config"] = {NETWORK: endpoint}
                container = client.containers.create(f"{self.image}:latest", **params)
                container.start()
            except docker.errors.DockerException as err:
                log.error("Can't start %s: %s", self.name, err)
                if container is not None:
                    with contextlib.suppress(docker.errors.DockerException):
                        container.remove(force=True)
                return False
            log.info("Start Docker add-on %s", self.image)
            return True
        return self.engine.call(run)

    def stop(self) -> bool:
        """docker stop with the add-on's timeout, then remove; False when there was no container."""
        import docker.errors

        def stop(client: Any) -> bool:
            container = find(client, "containers", self.name)
            if container is None:
                return False
            if container.status == "running":
                log.info("Stop %s Docker application", self.image)
                with contextlib.suppress(docker.errors.DockerException):
                    container.stop(timeout=self.timeout)
            with contextlib.suppress(docker.errors.DockerException):
                container.remove(force=True)
            return True
        return self.engine.call(stop)

    def logs(self) -> bytes:
        """The last 100 lines of both streams; b"" without a container."""
        import docker.errors

        def logs(client: Any) -> bytes:
            container = find(client, "containers", self.name)
            if container is None:
                return b""
            try:
                return bytes(container.logs(tail=100, stdout=True, stderr=True))
            except docker.errors.DockerException as err:
                log.warning("cannot read the logs of %s: %s", self.name, err)
                return b""
        return self.engine.call(logs)

    def stats(self) -> Stats | None:
        """One stats sample of the running container, else None."""
        import docker.errors

        if not self.is_running():
            return None

        def stats(client: Any) -> Stats | None:
            container = find(client, "containers", self.name)
            if container is None:
                return None
            try:
                return Stats.parse(container.stats(stream=False))
            except docker.errors.DockerException as err:
                log.error("cannot read the stats of %s: %s", self.name, err)
                return None
        return self.engine.call(stats)

    def write_stdin(self, data: bytes) -> bool:
        """data + newline to the running container's stdin (attached as 138 did); False when it
        does not run or the write fails."""
        import docker.errors

        if not self.is_running():
            return False

        def write(client: Any) -> bool:
            try:
                container = client.containers.get(self.name)
                sock = container.attach_socket(params={"stdin": 1, "stream": 1})
            except docker.errors.DockerException as err:
                log.error("Can't attach to %s stdin: %s", self.name, err)
                return False
            try:
                raw = getattr(sock, "_sock", sock)
                raw.sendall(data + b"\n")
            except OSError as err:
                log.error("Can't write to %s stdin: %s", self.name, err)
                return False
            finally:
                with contextlib.suppress(OSError):
                    sock.close()
            return True
        return self.engine.call(write)


def write_json_atomic(path: Path, document: Any) -> None:
    """path replaced whole by the JSON document (tempfile in the same folder, fsync, os.replace)."""
    import json
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def remove_folder(folder: Path) -> None:
    """An add-on's data folder, gone (138 ran rm -rf)."""
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
    elif folder.exists() or folder.is_symlink():
        folder.unlink()
