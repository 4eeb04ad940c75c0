"""The balena supervisor's database (`database.sqlite` in its data folder, /data in its container,
/mnt/data/resin-data/resin-supervisor on balenaOS), read without changing a byte of it.

The schema is the one knex's migrations left in v10 (balena-supervisor src/migrations, read at
v10.0.0): 20171129013519_legacy to 20190619152500-engine-snapshot and M00000 to M00004. Supervisors
v9.18.0 to v11.14.3 ran exactly these; v11.14.4 added M00005 (scoped API keys in their own
table), so a database of another version is refused by the names in knex_migrations.
Tables read: config (key, value), deviceConfig (targetValues, one row), app (appId, name, commit,
releaseId, services: a JSON array, networks, volumes, source), image (name, appId, serviceId,
serviceName, imageId, releaseId, dependent, dockerImageId), engineSnapshot (snapshot, timestamp);
the others are only counted (containerLogs, logsChannelSecret, the dependent* tables).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.errors import InvalidInput

DB_FILE = "database.sqlite"
HOST_FOLDER = "/mnt/data/resin-data/resin-supervisor"  # where balenaOS keeps the supervisor's /data
# knex_migrations.name of every migration of the v10 schema, in the order knex ran them
V10_MIGRATIONS = (
    "20171129013519_legacy.js", "20171129064057_multicontainer.js", "20171214172530_image_docker_id.js",
    "20180516164000-endpoint-specific-apps.js", "20181907164000-endpoint-specific-logschannel.js",
    "20190619152500-engine-snapshot.js", "M00000.js", "M00001.js", "M00002.js", "M00003.js", "M00004.js",
)
V10_RANGE = "v9.18.0 to v11.14.3"
# The first migration each later release added: how a newer database is told apart.
NEWER = {"M00005.js": "v11.14.4", "M00006.js": "v12.2.0", "M00007.js": "v12.10.0"}
COUNTED = ("containerLogs", "logsChannelSecret", "dependentApp", "dependentAppTarget", "dependentDevice",
           "dependentDeviceTarget")


class LegacyDataError(InvalidInput):
    """The legacy data folder cannot be taken over; the message says why and what to do."""


@dataclass
class LegacyDevice:
    """What the supervisor's database holds, as plain values."""

    path: Path
    config: dict[str, str] = field(default_factory=dict)
    target_values: dict[str, Any] = field(default_factory=dict)
    apps: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)


def database_path(folder: Path) -> Path:
    """The database of a data folder; LegacyDataError when the folder or the file is missing."""
    if not folder.exists():
        raise LegacyDataError(f"{folder}: no such folder (the balena supervisor's data folder is "
                              f"{HOST_FOLDER} on balenaOS)")
    if not folder.is_dir():
        raise LegacyDataError(f"{folder} is not a folder: give the supervisor's data folder ({HOST_FOLDER})")
    path = folder / DB_FILE
    if not path.is_file():
        raise LegacyDataError(f"{folder} holds no {DB_FILE}: not the balena supervisor's data folder")
    if not os.access(path, os.R_OK):
        raise LegacyDataError(f"cannot read {path}: run migrate as root")
    for suffix in ("-journal", "-wal"):
        unfinished = Path(f"{path}{suffix}")
        if unfinished.exists() and unfinished.stat().st_size > 0:
            raise LegacyDataError(f"{unfinished.name} holds an unfinished write: the supervisor is still running "
                                  "or died while writing. Stop its container cleanly (or start and stop it once), "
                                  "then run migrate again")
    return path


def read(folder: Path) -> LegacyDevice:
    """Read the data folder's database (read-only and immutable: no lock, no journal, no byte
    written); LegacyDataError when it is missing, corrupt or of another version."""
    path = database_path(folder)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as err:
        raise LegacyDataError(f"cannot open {path}: {err}") from err
    try:
        check_schema(conn, path)
        return _read(conn, path)
    except sqlite3.DatabaseError as err:
        raise LegacyDataError(f"{path} is corrupt or not a SQLite file ({err}): nothing was taken over") from err
    finally:
        conn.close()


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """The file is sound and knex ran exactly the v10 migrations on it."""
    problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise LegacyDataError(f"{path} is corrupt (SQLite: {problems[0]}): nothing was taken over")
    tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "knex_migrations" not in tables:
        raise LegacyDataError(f"{path} is not a balena supervisor database (no knex_migrations table)")
    names = [str(row[0]) for row in conn.execute("SELECT name FROM knex_migrations ORDER BY id")]
    newer = [name for name in names if name not in V10_MIGRATIONS]
    if newer:
        since = next((NEWER[n] for n in newer if n in NEWER), "a later release")
        raise LegacyDataError(f"{path} was written by a newer supervisor (migration {newer[0]}, {since} or "
                              f"later): migrate takes over the v10 schema ({V10_RANGE}) only")
    missing = [name for name in V10_MIGRATIONS if name not in names]
    if missing:
        raise LegacyDataError(f"{path} was written by an older supervisor (migration {missing[0]} not run): "
                              f"update the device to supervisor v10 ({V10_RANGE}) first, then migrate")


def _json(text: Any, what: str, default: Any) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError) as err:
        raise LegacyDataError(f"{what} is not JSON ({err}): nothing was taken over") from err


def _read(conn: sqlite3.Connection, path: Path) -> LegacyDevice:
    conn.row_factory = sqlite3.Row
    device = LegacyDevice(path)
    device.config = {str(r["key"]): str(r["value"]) for r in conn.execute("SELECT key, value FROM config")
                     if r["value"] is not None}
    rows = conn.execute("SELECT targetValues FROM deviceConfig").fetchall()
    values = _json(rows[0]["targetValues"], "deviceConfig.targetValues", {}) if rows else {}
    device.target_values = values if isinstance(values, dict) else {}
    for row in conn.execute("SELECT appId, name, \"commit\", releaseId, services, networks, volumes, source "
                            "FROM app ORDER BY id"):
        what = f"the services of app {row['appId']}"
        device.apps.append({
            "appId": row["appId"], "name": row["name"], "commit": row["commit"], "releaseId": row["releaseId"],
            "services": _json(row["services"], what, []), "networks": _json(row["networks"], what, {}),
            "volumes": _json(row["volumes"], what, {}), "source": row["source"] or ""})
    device.images = [dict(r) for r in conn.execute(
        "SELECT name, appId, serviceId, serviceName, imageId, releaseId, dependent, dockerImageId "
        "FROM image ORDER BY id")]
    snapshot = conn.execute("SELECT snapshot, timestamp FROM engineSnapshot ORDER BY rowid DESC LIMIT 1").fetchone()
    if snapshot is not None:
        device.snapshot = {"snapshot": _json(snapshot["snapshot"], "engineSnapshot.snapshot", {}),
                           "timestamp": snapshot["timestamp"]}
    for table in COUNTED:
        device.counts[table] = int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    return device
