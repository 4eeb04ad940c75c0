"""Where the target state lives: the app, device_config and config tables of the store."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

import orjson

from handlers.engine.target import AppTarget, Target, TargetError
from handlers.store import Store

log = logging.getLogger("polyvisor.target")


def _json(value: Any) -> str:
    """The stored form of a target part. orjson writes at most 254 levels of nesting: a deeper
    target is refused with the message of the RangeError JSON.stringify threw when its stack
    ran out (the route answers 400 with it)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as err:
        raise TargetError("Maximum call stack size exceeded") from err


class Targets:
    """The stored target: device name, device config, apps per source."""

    LOCAL = "local"

    def __init__(self, store: Store, identity: Any) -> None:
        self._store = store
        self._identity = identity

    def save(self, target: Target, source: str) -> None:
        """Replace the target of `source` (and the shared name and device config) in one transaction."""
        with self._store.transaction() as db:
            write_target(db, target, source)

    def drop(self, source: str) -> None:
        """Forget the target apps of a source (leaving local mode drops the local ones)."""
        with self._store.transaction() as db:
            db.execute("DELETE FROM app WHERE source=?", (source,))

    def device_config(self) -> dict[str, str]:
        """The stored target device config (keys as stored)."""
        with self._store.transaction() as db:
            row = db.execute("SELECT target_values FROM device_config WHERE id=1").fetchone()
        return dict(orjson.loads(row[0])) if row else {}

    def set_device_config(self, values: Mapping[str, str]) -> None:
        """Replace the stored device config."""
        with self._store.transaction() as db:
            db.execute("INSERT INTO device_config(id, target_values) VALUES(1, ?) "
                       "ON CONFLICT(id) DO UPDATE SET target_values=excluded.target_values",
                       (orjson.dumps(dict(values)).decode(),))

    def apps(self, source: str) -> dict[int, AppTarget]:
        """The target apps of a source, by app id."""
        with self._store.transaction() as db:
            rows = db.execute("SELECT app_id, name, commit_, release_id, services, networks, volumes "
                              "FROM app WHERE source=? ORDER BY app_id", (source,)).fetchall()
        return {int(r[0]): AppTarget(int(r[0]), r[1], r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]),
                                     orjson.loads(r[6])) for r in rows}

    def all_app_rows(self) -> list[tuple[int, str, str | None]]:
        """(appId, name, commit) of every app row, any source (what /v2/applications/state reads)."""
        with self._store.transaction() as db:
            return [(int(a), n, c) for a, n, c in
                    db.execute("SELECT app_id, name, commit_ FROM app ORDER BY app_id, source").fetchall()]

    def name(self) -> str:
        """The device name (config `name`)."""
        return str(self._identity.name)


def write_target(db: sqlite3.Connection, target: Target, source: str) -> None:
    """Inside the caller's transaction: the target of `source`, the device name and device config,
    and the flag that a target was set."""
    db.execute("INSERT INTO config(key,value) VALUES('device_name',?) "
               "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (target.name,))
    db.execute("INSERT INTO device_config(id, target_values) VALUES(1, ?) "
               "ON CONFLICT(id) DO UPDATE SET target_values=excluded.target_values",
               (_json(target.config),))
    db.execute("DELETE FROM app WHERE source=?", (source,))
    for app in target.apps.values():
        db.execute(
            "INSERT INTO app(app_id, source, name, commit_, release_id, services, networks, volumes) "
            "VALUES(?,?,?,?,?,?,?,?)",
            (app.app_id, source, app.name, app.commit, app.release_id,
             _json(app.services), _json(app.networks), _json(app.volumes)))
    db.execute("INSERT INTO config(key,value) VALUES('target_state_set','true') "
               "ON CONFLICT(key) DO UPDATE SET value=excluded.value")
