"""The balena supervisor's data mapped onto the agent's store (one transaction, all or nothing).

Where each legacy thing goes (handlers/store.py's tables):
  config apiSecret                  -> config api_key (the balena API key; handlers/host/identity.py)
  config.json uuid                  -> config uuid (v10 kept it on the boot partition, not in the DB)
  config name                       -> config device_name (the target's name: Targets.save)
  app rows of the applied source    -> app rows of source `local` (handlers/engine/target_store.py),
                                       checked by the same validation as POST /v2/local/target-state
  deviceConfig.targetValues         -> device_config (target device config, same key names)
  config currentCommit              -> config current_commit
  config connectivityCheckEnabled   -> config connectivity_check
  image rows (not dependent)        -> image rows (handlers/engine/images.py)
  engineSnapshot (last row)         -> config engine_snapshot (handlers/engine/local_mode.py)
  (the take-over itself)            -> config taken_over_from_balena: a second run does nothing
Without a counterpart (reported, not taken): the other config keys (the delta, logging, lock and
poll settings are taken from the target device config instead; initialConfigReported,
initialConfigSaved, containersNormalised, legacyAppsPresent, pinDevice are cloud bookkeeping),
containerLogs, logsChannelSecret, dependent apps and devices, and the target of a source the
supervisor did not apply (the cloud's while in local mode, or the other way round).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from handlers.engine.local_mode import KEY as SNAPSHOT_KEY
from handlers.engine.target import Target, TargetError, truthy, validate
from handlers.engine.target_store import Targets, write_target
from handlers.host.identity import KEY_PATTERN
from handlers.migrate.balena_db import LegacyDataError, LegacyDevice
from handlers.store import Store, read_value

# legacy config key -> the store's config key, for the values taken as they are
CONFIG_KEYS = {"currentCommit": "current_commit"}
# legacy config keys whose meaning the target device config carries (deviceConfig.targetValues)
IN_DEVICE_CONFIG = ("appUpdatePollInterval", "instantUpdates", "localMode", "loggingEnabled", "delta",
                    "deltaRequestTimeout", "deltaApplyTimeout", "deltaRetryCount", "deltaRetryInterval",
                    "deltaVersion", "lockOverride", "persistentLogging")
TAKEN = ("apiSecret", "name", "targetStateSet", "connectivityCheckEnabled", *CONFIG_KEYS)
SNAPSHOT_LISTS = ("containers", "images", "volumes", "networks")
# the store's record of a take-over: a second run (a boot script running migrate each time) does
# nothing instead of putting the legacy state back over what the agent did since
DONE_KEY = "taken_over_from_balena"


@dataclass
class Plan:
    """What the take-over stores, and what it leaves, in words for the report."""

    values: dict[str, str] = field(default_factory=dict)
    target: Target | None = None
    source: str | None = None
    images: list[tuple[Any, ...]] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


@contextmanager
def _refusals() -> Iterator[list[str]]:
    """The reasons validate() logs when it refuses a target (it raises the legacy one-liner)."""
    found: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    logger = logging.getLogger("polyvisor.target")
    handler, propagate = Catch(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def applied_source(legacy: LegacyDevice, config_json: dict[str, Any]) -> str:
    """The `app.source` the supervisor applied: `local` in local mode, else its API endpoint
    (the column holds config.json's apiEndpoint, '' on an unmanaged device)."""
    if truthy(legacy.config.get("localMode", "false")):
        return "local"
    return str(config_json.get("apiEndpoint") or "")


def legacy_target(legacy: LegacyDevice, source: str, device_type: str | None) -> tuple[Target | None, list[str]]:
    """The applied target as the agent stores it (None when the supervisor had none) and what the
    validation dropped from it with a warning (unsupported compose fields)."""
    rows = [app for app in legacy.apps if app["source"] == source]
    if not rows:
        return None, []
    apps: dict[str, Any] = {}
    for row in rows:
        services: dict[str, Any] = {}
        for service in row["services"] if isinstance(row["services"], list) else []:
            if not isinstance(service, dict) or service.get("serviceId") is None:
                raise LegacyDataError(f"app {row['appId']}: a service without a serviceId: nothing was taken over")
            # the app's ids and commit are put back into each service by the validation
            services[str(service["serviceId"])] = {k: v for k, v in service.items()
                                                   if k not in ("appId", "serviceId", "releaseId", "commit")}
        app = {"name": row["name"], "services": services, "networks": row["networks"] or {},
               "volumes": row["volumes"] or {}}
        app.update({k: row[k] for k in ("commit", "releaseId") if row[k] is not None})
        apps[str(row["appId"])] = app
    config = {k: v for k, v in legacy.target_values.items() if isinstance(v, str)}
    state = {"local": {"name": legacy.config.get("name") or "local", "config": config, "apps": apps}}
    with _refusals() as reasons:
        try:
            return validate(state, device_type), reasons
        except TargetError as err:
            why = "; ".join(reasons) or str(err)
            raise LegacyDataError(f"the supervisor's target cannot be taken over ({why}): nothing was "
                                  "taken over") from err


def plan(legacy: LegacyDevice, config_json: dict[str, Any]) -> Plan:
    """Everything to store, checked; LegacyDataError when a value cannot be taken."""
    found = Plan()
    key = legacy.config.get("apiSecret")
    if key is not None:
        if not KEY_PATTERN.match(key):
            raise LegacyDataError("the supervisor's apiSecret is not a key of letters, digits and _: nothing "
                                  "was taken over")
        found.values["api_key"] = key
        found.taken.append("API key (apiSecret)")
    else:
        found.left.append("API key: the database has none (the agent makes one at its first start)")
    uuid = str(config_json.get("uuid") or legacy.config.get("uuid") or "")
    if uuid and KEY_PATTERN.match(uuid):
        found.values["uuid"] = uuid
        found.taken.append(f"uuid {uuid}")
    else:
        found.left.append("uuid: config.json has none (the agent takes config.json's or makes one at start)")
    if legacy.config.get("name"):
        found.values["device_name"] = legacy.config["name"]
        found.taken.append(f"device name {legacy.config['name']!r}")
    if "connectivityCheckEnabled" in legacy.config:
        found.values["connectivity_check"] = "false" if truthy(legacy.config["connectivityCheckEnabled"]) is False \
            else "true"
    source = applied_source(legacy, config_json)
    found.target, dropped = legacy_target(legacy, source, config_json.get("deviceType"))
    found.left += [f"target: {warning}" for warning in dropped]
    if found.target is not None:
        found.source = source
        services = sum(len(app.services) for app in found.target.apps.values())
        found.taken.append(f"target: {len(found.target.apps)} app(s), {services} service(s) (source "
                           f"{source or 'unmanaged'!r}), {len(found.target.config)} device config value(s)")
        for legacy_key, ours in CONFIG_KEYS.items():
            if legacy.config.get(legacy_key):
                found.values[ours] = legacy.config[legacy_key]
    else:
        found.left.append("target: none applied (the agent keeps the running containers until a target is set)")
    others = sorted({app["source"] for app in legacy.apps if app["source"] != source})
    for other in others:
        found.left.append(f"target of source {other or 'unmanaged'!r}: the supervisor did not apply it")
    _images(legacy, found)
    _snapshot(legacy, found)
    for name in sorted(set(legacy.config) - set(TAKEN)):
        why = "kept in the target device config" if name in IN_DEVICE_CONFIG else "no counterpart"
        found.left.append(f"config {name}: {why}")
    for table, count in legacy.counts.items():
        if count:
            found.left.append(f"{table}: {count} row(s), no counterpart")
    return found


def _images(legacy: LegacyDevice, found: Plan) -> None:
    skipped = 0
    for row in legacy.images:
        needed = (row["name"], row["appId"], row["serviceId"], row["serviceName"], row["imageId"])
        if row["dependent"] or any(value is None for value in needed):
            skipped += 1
            continue
        found.images.append((*needed, row["releaseId"], row["dockerImageId"]))
    found.taken.append(f"{len(found.images)} image record(s)")
    if skipped:
        found.left.append(f"{skipped} image record(s) of dependent apps or without ids: no counterpart")


def _snapshot(legacy: LegacyDevice, found: Plan) -> None:
    if legacy.snapshot is None:
        return
    snapshot = legacy.snapshot["snapshot"]
    if isinstance(snapshot, dict) and all(isinstance(snapshot.get(k), list) for k in SNAPSHOT_LISTS):
        value = {"snapshot": {k: [str(x) for x in snapshot[k]] for k in SNAPSHOT_LISTS},
                 "timestamp": str(legacy.snapshot["timestamp"])}
        found.values[SNAPSHOT_KEY] = orjson.dumps(value).decode()
        found.taken.append("local mode's engine snapshot")
    else:
        found.left.append("engineSnapshot: not the four lists of ids, not taken")


def done(data_dir: Path) -> dict[str, str] | None:
    """{"from", "at"} of the take-over the agent's data folder already had, else None (read without
    changing anything); LegacyDataError when the folder's database cannot be read."""
    try:
        raw = read_value(data_dir, DONE_KEY)
    except FileNotFoundError:
        return None
    except (OSError, sqlite3.Error) as err:
        raise LegacyDataError(f"cannot read the agent's database in {data_dir}: {err} (run migrate as the "
                              "agent's user)") from err
    return dict(orjson.loads(raw)) if raw else None


def store(found: Plan, target_store: Store, record: dict[str, str]) -> None:
    """Write the plan and `record` ({"from", "at"}) in one transaction: all of it lands, or none."""
    with target_store.transaction() as db:
        db.execute("INSERT INTO config(key,value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   (DONE_KEY, orjson.dumps(record).decode()))
        if found.target is not None:
            write_target(db, found.target, Targets.LOCAL)
        for key, value in found.values.items():
            db.execute("INSERT INTO config(key,value) VALUES(?,?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))
        for image in found.images:
            db.execute("INSERT INTO image(name, app_id, service_id, service_name, image_id, release_id, "
                       "docker_image_id) VALUES(?,?,?,?,?,?,?) ON CONFLICT(image_id, name) DO UPDATE SET "
                       "app_id=excluded.app_id, service_id=excluded.service_id, "
                       "service_name=excluded.service_name, release_id=excluded.release_id, "
                       "docker_image_id=excluded.docker_image_id", image)
