"""Images the engine needs: pulled with progress, retried with back-off, recorded in the store."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from handlers.engine import Engine
from handlers.store import Store

log = logging.getLogger("polyvisor.images")

# Pull events that mean a layer is fully there.
DONE = ("Download complete", "Pull complete", "Already exists", "Extracting", "Verifying Checksum")


@dataclass
class Downloading:
    """An image being pulled (volatile, as the legacy's in-memory status)."""

    name: str
    app_id: int
    service_name: str
    image_id: int
    release_id: int | None
    progress: int = 0


def backoff(failures: int, cap_seconds: float) -> float:
    """min(2^failures x 500 ms, poll interval): 1 s, 2 s, 4 s ..."""
    return min((2 ** failures) * 0.5, cap_seconds)


def progress_of(layers: dict[str, tuple[int, int]]) -> int:
    """Percentage of bytes downloaded over the layers whose size is known."""
    total = sum(t for _, t in layers.values() if t > 0)
    if not total:
        return 0
    return min(100, int(sum(min(c, t) for c, t in layers.values() if t > 0) * 100 / total))


class Images:
    """Pulls, inspects and records the images of target services."""

    def __init__(self, engine: Engine, store: Store, logs: Any) -> None:
        self._engine = engine
        self._store = store
        self._logs = logs
        self._lock = threading.Lock()
        self.downloading: dict[str, Downloading] = {}
        self._failures: dict[str, tuple[int, float]] = {}

    def inspect(self, name: str) -> dict[str, Any] | None:
        """The engine's inspect of an image, or None when it is not there."""
        import docker.errors

        try:
            return self._engine.call(lambda c: c.api.inspect_image(name))
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as err:
            if err.status_code == 404:
                return None
            raise

    def waiting(self, name: str) -> bool:
        """True while a failed pull of `name` waits for its retry time."""
        with self._lock:
            entry = self._failures.get(name)
        return entry is not None and time.monotonic() < entry[1]

    def failed(self) -> set[str]:
        """Names whose last pull failed."""
        with self._lock:
            return set(self._failures)

    def pull(self, meta: Downloading, cap_seconds: float) -> str:
        """Pull meta.name with progress; the docker image id. Failures start a back-off."""
        name = meta.name
        with self._lock:
            self.downloading[name] = meta
        self._logs.system(f"Downloading image '{name}'")
        repository, tag = split_reference(name)
        layers: dict[str, tuple[int, int]] = {}

        def run(client: Any) -> None:
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise RuntimeError(event.get("error"))
                layer = event.get("id")
                if not layer:
                    continue
                detail = event.get("progressDetail") or {}
                status = event.get("status", "")
                if status == "Downloading" and detail.get("total"):
                    layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
                elif status in DONE and layer in layers:
                    layers[layer] = (layers[layer][1], layers[layer][1])
                meta.progress = progress_of(layers)

        try:
            self._engine.call(run)
            image = self.inspect(name)
            if image is None:
                raise RuntimeError(f"image {name} missing after pull")
        except Exception as err:
            with self._lock:
                count = self._failures.get(name, (0, 0.0))[0] + 1
                self._failures[name] = (count, time.monotonic() + backoff(count, cap_seconds))
            self._logs.system(f"Failed to download image '{name}' due to '{err}'", error=True)
            raise
        finally:
            with self._lock:
                self.downloading.pop(name, None)
        with self._lock:
            self._failures.pop(name, None)
        self._logs.system(f"Downloaded image '{name}'")
        return str(image["Id"])

    def record(self, name: str, app_id: int, service_id: int, service_name: str, image_id: int,
               release_id: int | None, docker_image_id: str) -> None:
        """Remember an image the supervisor manages (the legacy `image` table)."""
        with self._store.transaction() as db:
            db.execute("INSERT INTO image(name, app_id, service_id, service_name, image_id, release_id, "
                       "docker_image_id) VALUES(?,?,?,?,?,?,?) ON CONFLICT(image_id, name) DO UPDATE SET "
                       "app_id=excluded.app_id, service_id=excluded.service_id, service_name=excluded.service_name, "
                       "release_id=excluded.release_id, docker_image_id=excluded.docker_image_id",
                       (name, app_id, service_id, service_name, image_id, release_id, docker_image_id))

    def rows(self) -> list[dict[str, Any]]:
        """Every recorded image, oldest first."""
        with self._store.transaction() as db:
            rows = db.execute("SELECT name, app_id, service_id, service_name, image_id, release_id, "
                              "docker_image_id FROM image ORDER BY rowid").fetchall()
        keys = ("name", "appId", "serviceId", "serviceName", "imageId", "releaseId", "dockerImageId")
        return [dict(zip(keys, row)) for row in rows]

    def forget(self, image_id: int, name: str) -> None:
        """Drop a row (its image is gone from the engine)."""
        with self._store.transaction() as db:
            db.execute("DELETE FROM image WHERE image_id=? AND name=?", (image_id, name))

    def purge_missing(self) -> None:
        """Rows whose image the engine no longer has are removed (done at start, as legacy)."""
        for row in self.rows():
            if self.inspect(row["dockerImageId"] or row["name"]) is None:
                self.forget(row["imageId"], row["name"])


def split_reference(name: str) -> tuple[str, str | None]:
    """registry:5000/repo:tag -> (registry:5000/repo, tag); digests go as the tag argument."""
    if "@" in name:
        repository, digest = name.split("@", 1)
        return repository, digest
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest"
