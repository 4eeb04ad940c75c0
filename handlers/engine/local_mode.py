"""Entering and leaving local mode on a managed device (balena-v2.md 4.2, the 2019 local-mode.ts).

Entering stores a snapshot of the engine's objects. Leaving removes every container, image,
network and volume that appeared since that snapshot, and the local target's apps, so the
device goes back to exactly what it ran before someone pushed to it in local mode.

One deliberate difference: the legacy snapshot listed only running containers, so a container
that was stopped on entry and running on exit was deleted, and a container made in local mode
and stopped on exit survived. Here, both snapshots list every container.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any

import orjson

from handlers.docker import Engine
from handlers.store import Store

log = logging.getLogger("polyvisor.local_mode")

KEY = "engine_snapshot"


@dataclass
class Snapshot:
    """The ids (names for volumes) of the engine's objects at one moment."""

    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def since(self, earlier: Snapshot) -> Snapshot:
        """What is here and was not in `earlier`."""
        return Snapshot(*[[x for x in mine if x not in set(theirs)] for mine, theirs in
                          ((self.containers, earlier.containers), (self.images, earlier.images),
                           (self.volumes, earlier.volumes), (self.networks, earlier.networks))])

    def __str__(self) -> str:
        return (f"{len(self.containers)} containers, {len(self.images)} images, "
                f"{len(self.volumes)} volumes, {len(self.networks)} networks")


class LocalModeSwitch:
    """Takes the snapshot on entry and removes what local mode left on exit."""

    def __init__(self, engine: Engine, store: Store) -> None:
        self._engine = engine
        self._store = store

    def collect(self) -> Snapshot:
        """The engine's objects now."""

        def read(client: Any) -> Snapshot:
            return Snapshot(containers=[c["Id"] for c in client.api.containers(all=True)],
                            images=[i["Id"] for i in client.api.images()],
                            volumes=[v["Name"] for v in (client.api.volumes().get("Volumes") or [])],
                            networks=[n["Id"] for n in client.api.networks()])

        return self._engine.call(read)

    def stored(self) -> tuple[Snapshot, str] | None:
        """The snapshot taken on entry and its time (ISO), if any."""
        raw = self._store.get(KEY)
        if not raw:
            return None
        data = orjson.loads(raw)
        return Snapshot(**data["snapshot"]), str(data["timestamp"])

    def enter(self) -> None:
        """Store a snapshot of the engine (replacing any older one)."""
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        snapshot = self.collect()
        self._store.set(**{KEY: orjson.dumps({"snapshot": asdict(snapshot), "timestamp": stamp}).decode()})
        log.info("entered local mode: engine snapshot stored (%s)", snapshot)

    def leave(self, drop_local_apps: Any) -> None:
        """Remove what appeared since the stored snapshot, then the local apps and the snapshot.
        Without a snapshot nothing is removed. Each removal failure is logged and skipped."""
        found = self.stored()
        if found is None:
            return
        earlier, stamp = found
        extra = self.collect().since(earlier)
        log.info("leaving local mode: removing what appeared since %s (%s)", stamp, extra)
        self._remove_each(extra.containers, lambda c, i: c.api.remove_container(i, v=False, force=True), "container")
        self._remove_each(extra.images, lambda c, i: c.api.remove_image(i, force=True), "image")
        self._remove_each(extra.networks, lambda c, i: c.api.remove_network(i), "network")
        self._remove_each(extra.volumes, lambda c, i: c.api.remove_volume(i), "volume")
        drop_local_apps()
        with self._store.transaction() as db:
            db.execute("DELETE FROM config WHERE key=?", (KEY,))

    def _remove_each(self, ids: list[str], remove: Callable[[Any, str], Any], kind: str) -> None:
        import docker.errors

        for object_id in ids:
            try:
                self._engine.call(partial(_call_with, remove, object_id))
            except docker.errors.APIError as err:
                log.error("unable to delete %s %s: %s", kind, object_id, err.explanation or err)


def _call_with(remove: Callable[[Any, str], Any], object_id: str, client: Any) -> None:
    remove(client, object_id)
