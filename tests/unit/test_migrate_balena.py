"""The balena supervisor's data mapped onto the agent's store (handlers/migrate/balena.py), and the
comparison of a v10 container's disabled healthcheck. The legacy database of the integration
tests (integration/balena_legacy.py, the v10 schema) is read by the real reader; the store is real."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from integration.balena_legacy import (
    API_SECRET,
    APP_ID,
    CLOUD,
    COMMIT,
    NAME,
    UUID,
    config_json,
    make_database,
)

from handlers.engine.compose_compare import comparable
from handlers.migrate import balena, balena_db
from handlers.store import Store

IMAGE, IMAGE_ID = "polyvisor-test/busybox:latest", "sha256:" + "2" * 64


@pytest.fixture
def legacy(tmp_path: Path) -> balena_db.LegacyDevice:
    make_database(tmp_path / "legacy", IMAGE, IMAGE_ID)
    return balena_db.read(tmp_path / "legacy")


def test_every_field_has_its_place(legacy: balena_db.LegacyDevice, tmp_path: Path) -> None:
    found = balena.plan(legacy, config_json())
    assert found.values == {"api_key": API_SECRET, "uuid": UUID, "device_name": NAME, "connectivity_check": "false",
                            "current_commit": COMMIT, "engine_snapshot": found.values["engine_snapshot"]}
    assert orjson.loads(found.values["engine_snapshot"])["snapshot"]["images"] == [IMAGE_ID]
    assert found.source == "local" and found.target is not None
    app = found.target.apps[APP_ID]
    assert (app.name, app.commit, app.release_id, app.volumes) == ("dashboard", COMMIT, 7, {"data": {}})
    assert [(s["serviceId"], s["serviceName"], s["imageId"]) for s in app.services] == [(21, "db", 31), (22, "web", 32),
                                                                                     (23, "monitor", 33)]
    assert found.target.config["SUPERVISOR_POLL_INTERVAL"] == "900000"
    assert found.images == [(IMAGE, APP_ID, 21, "db", 31, 7, IMAGE_ID), (IMAGE, APP_ID, 22, "web", 32, 7, IMAGE_ID),
                            (IMAGE, APP_ID, 23, "monitor", 33, 7, IMAGE_ID)]
    assert "config pinDevice: no counterpart" in found.left
    assert "config delta: kept in the target device config" in found.left
    store = Store(tmp_path / "data")
    store.open()
    try:
        assert balena.done(tmp_path / "data") is None
        balena.store(found, store, {"from": "/legacy", "at": "2026-01-01T00:00:00+00:00"})
        balena.store(found, store, {"from": "/legacy", "at": "2026-01-02T00:00:00+00:00"})  # --again
        assert balena.done(tmp_path / "data") == {"from": "/legacy", "at": "2026-01-02T00:00:00+00:00"}
        assert (store.get("api_key"), store.get("uuid"), store.get("device_name")) == (API_SECRET, UUID, NAME)
        assert store.get("target_state_set") == "true"
        with store.transaction() as db:
            assert db.execute("SELECT app_id, source FROM app").fetchall() == [(APP_ID, "local")]
            assert db.execute("SELECT count(*) FROM image").fetchone() == (3,)
    finally:
        store.close()


def test_out_of_local_mode_the_cloud_target_is_the_one_applied(legacy: balena_db.LegacyDevice) -> None:
    legacy.config["localMode"] = "false"
    found = balena.plan(legacy, config_json())
    assert found.source == CLOUD and found.target is not None and list(found.target.apps) == [77]
    assert "target of source 'local': the supervisor did not apply it" in found.left
    without = balena.plan(legacy, {**config_json(), "apiEndpoint": ""})
    assert without.target is None and "current_commit" not in without.values


def test_what_the_validation_drops_is_reported(legacy: balena_db.LegacyDevice) -> None:
    legacy.apps[0]["services"][1]["logging"] = {"driver": "none"}  # a compose field v10 ignored too
    found = balena.plan(legacy, config_json())
    assert "target: Ignoring unsupported or unknown compose fields: logging" in found.left
    assert found.target is not None and "logging" not in found.target.apps[APP_ID].services[1]


def test_values_the_agent_cannot_take_are_refused(legacy: balena_db.LegacyDevice) -> None:
    legacy.config["apiSecret"] = "not a key!"
    with pytest.raises(balena_db.LegacyDataError, match="apiSecret is not a key"):
        balena.plan(legacy, config_json())
    legacy.config["apiSecret"] = API_SECRET
    legacy.apps[0]["services"][0]["privileged"] = "yes"
    with pytest.raises(balena_db.LegacyDataError, match=r"target cannot be taken over \(.*bad value for privileged"):
        balena.plan(legacy, config_json())


def test_a_disabled_healthcheck_is_no_healthcheck() -> None:
    image: dict[str, Any] = {"Id": IMAGE_ID, "Config": {"Healthcheck": {"Test": ["CMD", "true"], "Interval": 30_000_000_000}}}
    made_by_v10 = comparable({"Healthcheck": {"Test": ["NONE"]}, "HostConfig": {}}, None, "c" * 64)
    assert made_by_v10["Healthcheck"] is None
    assert comparable({"HostConfig": {}}, {"Id": IMAGE_ID, "Config": {}})["Healthcheck"] is None
    # the image's check, switched off by the target, is off in the container too
    assert comparable({"Healthcheck": {"Test": ["NONE"]}, "HostConfig": {}}, image)["Healthcheck"] is None
    assert comparable({"HostConfig": {}}, image)["Healthcheck"] == image["Config"]["Healthcheck"]


def test_a_failed_write_leaves_nothing(legacy: balena_db.LegacyDevice, tmp_path: Path) -> None:
    """All or nothing: a write failing after the target and the key were written keeps neither."""
    found = balena.plan(legacy, config_json())
    found.images.append((None, APP_ID, 23, "late", 33, 7, IMAGE_ID))  # the image table refuses a NULL name
    store = Store(tmp_path / "data")
    store.open()
    try:
        with pytest.raises(sqlite3.IntegrityError):
            balena.store(found, store, {"from": "/legacy", "at": "2026-01-01T00:00:00+00:00"})
        assert store.get("api_key") is None and store.get(balena.DONE_KEY) is None
        with store.transaction() as db:
            assert db.execute("SELECT count(*) FROM app").fetchone() == (0,)
            assert db.execute("SELECT count(*) FROM image").fetchone() == (0,)
    finally:
        store.close()
