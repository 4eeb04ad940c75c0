"""The engine's truth as the v2 status routes show it (balena-v2.md 1.1-1.3, 3.8), in domain terms.

Key orders and id-keyed map orders are the legacy ones; the dialect only serialises.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from handlers.engine.apps import service_status

if TYPE_CHECKING:
    from handlers.engine.cache import StateCache
    from handlers.engine.current import Container, Current
    from handlers.engine.reconciler import Reconciler


def iso(created: str) -> str:
    """Docker's `Created` (ns precision) as JS Date.toISOString (ms, Z)."""
    main, _, frac = created.rstrip("Z").partition(".")
    try:
        when = datetime.fromisoformat(main).replace(tzinfo=UTC)
    except ValueError:
        return created
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{(frac + '000')[:3]}Z"


class Status:
    """Builds the status documents from the engine, the image rows and volatile state."""

    def __init__(self, reconciler: Reconciler, cache: StateCache | None = None) -> None:
        self.r = reconciler
        self.cache = cache  # the engine's state from memory (the reconciler's own reads stay direct)

    def current(self) -> Current:
        """The engine's current state, from the cache when there is one."""
        return self.cache.current() if self.cache is not None else self.r.read_current()

    def image(self, name: str) -> dict[str, Any] | None:
        """An image's inspect (None when absent), from the cache when there is one."""
        return self.cache.image(name) if self.cache is not None else self.r.images.inspect(name)

    def container_status(self, container: Container) -> str:
        """Volatile status while a step works on it, else docker's state in legacy words."""
        volatile = self.r.status.get(container.id)
        if volatile:
            return volatile
        return service_status(container.attrs.get("State") or {})

    def images(self, current: Current) -> list[dict[str, Any]]:
        """images.getStatus: the volatile entries (downloads in flight, images being deleted) and
        the recorded images present in the engine (Downloaded), one per imageId with the volatile
        one first in line, in ascending imageId order (the legacy object was keyed by imageId)."""
        by_id: dict[int, dict[str, Any]] = {}
        for meta in dict(self.r.images.downloading).values():
            # in flight: no dockerImageId key at all (balena-v2.md 1.3)
            by_id.setdefault(meta.image_id, {
                "name": meta.name, "appId": meta.app_id, "serviceName": meta.service_name,
                "imageId": meta.image_id, "status": "Downloading",
                "downloadProgress": meta.progress, "releaseId": meta.release_id})
        for record in dict(self.r.images.deleting).values():
            by_id.setdefault(record["imageId"], {
                "name": record["name"], "appId": record["appId"], "serviceName": record["serviceName"],
                "imageId": record["imageId"], "dockerImageId": record["dockerImageId"], "status": "Deleting",
                "downloadProgress": None, "releaseId": record["releaseId"]})
        present = {c.image for c in current.containers}
        for row in self.r.images.rows():
            if row["imageId"] in by_id:
                continue
            if row["dockerImageId"] not in present and self.image(row["dockerImageId"] or row["name"]) is None:
                continue
            by_id[row["imageId"]] = {"name": row["name"], "appId": row["appId"], "serviceName": row["serviceName"],
                                     "imageId": row["imageId"], "dockerImageId": row["dockerImageId"],
                                     "status": "Downloaded", "downloadProgress": None, "releaseId": row["releaseId"]}
        return [by_id[key] for key in sorted(by_id)]

    def state_status(self) -> dict[str, Any]:
        """GET /v2/state/status."""
        current = self.current()
        containers = [{"status": self.container_status(c), "serviceName": c.service_name, "appId": c.app_id,
                       "imageId": c.image_id, "serviceId": c.service_id, "containerId": c.id,
                       "createdAt": iso(c.created_at)} for c in current.containers]
        images = [{k: v for k, v in i.items() if k != "releaseId"} for i in self.images(current)]
        progress = [i["downloadProgress"] for i in images if i["downloadProgress"] is not None]
        body: dict[str, Any] = {
            "status": "success", "appState": "applying" if self.r.applying else "applied",
            "overallDownloadProgress": js_mean(progress),
            "containers": containers, "images": images,
        }
        commit = self.r.store.get("current_commit")
        if commit is not None:
            body["release"] = commit
        return body

    def applications_state(self, current: Any = None) -> dict[str, Any]:
        """GET /v2/applications/state: by app name, services from images, container status wins."""
        current = current if current is not None else self.current()
        by_image = {c.image_id: c for c in current.containers}
        rows = self.r.targets.all_app_rows()
        apps: dict[int, dict[str, Any]] = {}
        out: dict[str, Any] = {}
        for app_id, name, commit in rows:
            entry: dict[str, Any] = {"appId": app_id, "commit": commit, "services": {}}
            apps.setdefault(app_id, entry)
            out[name] = apps[app_id]
        for image in self.images(current):
            app = apps.get(image["appId"])
            if app is None:
                continue  # an image of an app with no row is skipped (the legacy logged a warning)
            container = by_image.get(image["imageId"])
            status = self.container_status(container) if container else image["status"]
            app["services"][image["serviceName"]] = {
                "status": status, "releaseId": image["releaseId"],
                "downloadProgress": image["downloadProgress"] or None}
        return out

    def app_state(self) -> dict[str, Any]:
        """GET /v2/applications/:appId/state (the appId is ignored, as in 2019): local, dependent, commit."""
        current = self.current()
        local: dict[int, dict[int, dict[str, Any]]] = {}
        by_image: dict[tuple[int, int | None], list[Container]] = {}
        for c in current.containers:
            by_image.setdefault((c.app_id, c.image_id), []).append(c)
        for (app_id, image_id), found in by_image.items():
            if image_id is None:
                continue
            found.sort(key=lambda c: c.created_at)
            status = "Handing over" if len(found) > 1 else self.container_status(found[0])
            local.setdefault(app_id, {})[image_id] = {"status": status, "releaseId": found[0].release_id,
                                                      "download_progress": None}
        for image in self.images(current):
            services = local.setdefault(image["appId"], {})
            if image["imageId"] not in services:
                services[image["imageId"]] = {"status": image["status"], "releaseId": image["releaseId"],
                                              "download_progress": image["downloadProgress"]}
        # integer-like keys enumerate in ascending numeric order in JavaScript objects
        body: dict[str, Any] = {"local": {str(a): {"services": {str(i): local[a][i] for i in sorted(local[a])}}
                                          for a in sorted(local)}, "dependent": {}}
        commit = self.r.store.get("current_commit")
        if commit is not None:
            body["commit"] = commit
        return body

    def first_service(self) -> tuple[bool, str | None, int | None]:
        """(has a service, status, download progress) of the first app's first service (/v1/device)."""
        current = self.current()  # once: each read is several engine round trips
        state = self.applications_state(current)
        for app in state.values():
            for service in app["services"].values():
                return True, service["status"], service["downloadProgress"]
        if current.containers:
            first = min(current.containers, key=lambda c: (c.app_id, c.image_id or 0))
            return True, self.container_status(first), None
        return False, None, None


def js_mean(values: list[int]) -> int | float | None:
    """The mean as JSON.stringify wrote the JavaScript number: 50, not 50.0; None without values."""
    if not values:
        return None
    mean = sum(values) / len(values)
    return int(mean) if mean.is_integer() else mean
