"""Images the engine needs: pulled with progress, retried with back-off, recorded in the store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from handlers.docker import Engine
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


CLEANUP_RETRY = 3600.0  # imageCleanupErrorIgnoreTimeout: a failed cleanup is not retried for an hour


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
        self._cleanup_failures: dict[str, float] = {}  # engine image id -> monotonic time of the failure
        self.deleting: dict[tuple[int, str], dict[str, Any]] = {}  # records being removed (status Deleting)
        self._inspected: dict[str, dict[str, Any]] = {}  # engine image id -> its inspect (see lookup)

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

    def listed(self) -> list[dict[str, Any]]:
        """The engine's image list (`docker images`): one call for every image check of an iteration."""
        return list(self._engine.call(lambda c: c.api.images(all=False)))

    def lookup(self, listed: list[dict[str, Any]]) -> Callable[[str], dict[str, Any] | None]:
        """name -> the image's inspect, or None when the engine lacks it, from one image list: the
        name is found by tag, digest or id and inspected once per image id (an id names immutable
        content: its Id and Config, what the target's preparation uses, never change; its tags
        may, so they are not to be read from here). A name the list spells otherwise
        (docker.io/library/..., an id prefix) is inspected as before."""
        refs: dict[str, str] = {}
        for image in listed:
            for ref in [image["Id"], *(image.get("RepoTags") or []), *(image.get("RepoDigests") or [])]:
                if not ref.startswith("<none>"):
                    refs.setdefault(ref, image["Id"])
        with self._lock:  # forget the images the engine no longer has
            self._inspected = {i: v for i, v in self._inspected.items() if i in refs}

        def find(name: str) -> dict[str, Any] | None:
            image_id = refs.get(name)
            if image_id is None:
                return self.inspect(name)
            with self._lock:
                found = self._inspected.get(image_id)
            if found is None:
                found = self.inspect(image_id)
                if found is not None:  # None: removed between the list and the inspect
                    with self._lock:
                        self._inspected[image_id] = found
            return found
        return find

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

    # ---- housekeeping (images.ts: getAvailable, getImagesForCleanup, cleanup, removeImageIfNotNeeded) ----

    def survey(self, listed: list[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """(records whose image the engine has, by tag, digest or id; engine ids of dangling images
        that no record uses and whose removal did not fail within the last hour); `listed`: the
        iteration's image list, when it has one."""
        engine_images = self.listed() if listed is None else listed
        records = self.rows()
        tags = {tag for image in engine_images for tag in image.get("RepoTags") or []}
        digests = {d.split("@", 1)[1] for image in engine_images for d in image.get("RepoDigests") or [] if "@" in d}
        ids = {image["Id"] for image in engine_images}
        available = [r for r in records if r["name"] in tags or r["dockerImageId"] in ids
                     or ("@" in r["name"] and r["name"].split("@", 1)[1] in digests)]
        used = {r["dockerImageId"] for r in records}
        now = time.monotonic()
        with self._lock:
            dangling = [image["Id"] for image in engine_images
                        if not [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
                        and not [d for d in image.get("RepoDigests") or [] if d != "<none>@<none>"]
                        and image["Id"] not in used
                        and now - self._cleanup_failures.get(image["Id"], -CLEANUP_RETRY) >= CLEANUP_RETRY]
        return available, dangling

    def cleanup(self, ids: list[str]) -> None:
        """Remove dangling images (force); a failure is logged and that image left alone for an hour."""
        import docker.errors

        for image_id in ids:
            try:
                self._engine.call(partial(_remove_image, image_id))
                with self._lock:
                    self._cleanup_failures.pop(image_id, None)
            except docker.errors.APIError as err:
                if err.status_code == 404:
                    continue
                self._logs.system(f"Error cleaning up {image_id}: {err.explanation or err} - will ignore for 1 hour",
                                  error=True)
                with self._lock:
                    self._cleanup_failures[image_id] = time.monotonic()

    def save(self, name: str, app_id: int, service_id: int, service_name: str, image_id: int,
             release_id: int | None) -> None:
        """Record a target image the engine already has (saveImage)."""
        found = self.inspect(name)
        if found is None:
            raise RuntimeError(f"image {name} not found")
        self.record(name, app_id, service_id, service_name, image_id, release_id, str(found["Id"]))

    def remove(self, record: dict[str, Any]) -> None:
        """removeImageIfNotNeeded: the engine image goes (force) when this is its only record; a tag
        that other records do not need is dropped; the record goes in any case."""
        import docker.errors

        name, docker_id = record["name"], record["dockerImageId"]
        removed = False
        try:
            if docker_id is None:
                self._engine.call(lambda c: c.api.remove_image(name, force=True))
                removed = True
            else:
                sharing = [r for r in self.rows() if r["dockerImageId"] == docker_id]
                if len(sharing) == 1:
                    self._logs.system(f"Deleting image '{name}'")
                    key = (int(record["imageId"]), name)
                    self.deleting[key] = record
                    try:
                        self._engine.call(lambda c: c.api.remove_image(docker_id, force=True))
                    finally:
                        self.deleting.pop(key, None)
                    removed = True
                elif "@" not in name:
                    others = {r["name"] for r in sharing if r["name"] != name}
                    tags = (self.inspect(docker_id) or {}).get("RepoTags") or []
                    if len(tags) > 1 and name in tags and others & set(tags):
                        self._engine.call(lambda c: c.api.remove_image(name, noprune=True))
        except docker.errors.APIError as err:
            if err.status_code != 404:
                self._logs.system(f"Failed to delete image '{name}' due to '{err.explanation or err}'", error=True)
                raise
            removed = False
        self.forget(int(record["imageId"]), name)
        if removed:
            self._logs.system(f"Deleted image '{name}'")

    def purge_missing(self) -> None:
        """Rows whose image the engine no longer has are removed (done at start, as legacy)."""
        for row in self.rows():
            if self.inspect(row["dockerImageId"] or row["name"]) is None:
                self.forget(row["imageId"], row["name"])


def _remove_image(image_id: str, client: Any) -> None:
    client.api.remove_image(image_id, force=True)


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
