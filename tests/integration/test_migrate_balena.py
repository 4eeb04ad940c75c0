"""`polyvisor migrate --from-balena`: a device the balena supervisor v10 ran is taken over in place.

The legacy database is built with the v10 schema (balena_legacy.py), its containers are made on
the tests' dockerd with the create body v10 sent and left running; the command runs as a user
runs it (`app.py migrate ...`), then the agent starts on the migrated data folder. Its containers
must keep their ids and start times (the engine's status says it has compared them: `applying`
from its start until the first pass is done), the key, name and uuid must be the legacy ones, and
the legacy database must be the same bytes with the same mtime. Bad input: one line, exit 1,
no traceback, nothing written on either side.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from integration.balena_legacy import (
    API_SECRET,
    APP_ID,
    COMMIT,
    NAME,
    UUID,
    V10_MIGRATIONS,
    config_json,
    make_database,
    run_like_v10,
)
from integration.engine_support import cleanup, converged, request, supervised, wait_for

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def migrate(legacy: Path, data: Path, root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`python app.py migrate --from-balena LEGACY` with the agent's data folder and root."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POLYVISOR_")}
    return subprocess.run([sys.executable, APP, "migrate", "--from-balena", str(legacy), "--data-dir", str(data),
                           "--root", str(root), *extra], check=False, capture_output=True, text=True, timeout=120, env=environ)


def fingerprint(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a folder: its bytes and mtime (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_takeover_keeps_the_apps_running(start_agent: Callable[..., Any], docker_client: Any, busybox_image: str,
                                         host_root: Path, tmp_path: Path) -> None:
    cleanup(docker_client)
    try:
        image_id = docker_client.images.get(busybox_image).id
        legacy = tmp_path / "resin-supervisor"
        make_database(legacy, busybox_image, image_id)
        (host_root / "mnt/boot/config.json").write_text(json.dumps(config_json()))
        before = fingerprint(legacy)
        ids = run_like_v10(docker_client, busybox_image, host_root)
        started = {cid: docker_client.api.inspect_container(cid)["State"]["StartedAt"] for cid in ids}
        assert sorted(docker_client.api.inspect_container(cid)["HostConfig"]["RestartPolicy"]["Name"]
                      for cid in ids) == ["always", "always", "unless-stopped"]

        result = migrate(legacy, tmp_path / "data", host_root)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert "API key (apiSecret)" in result.stdout and f"uuid {UUID}" in result.stdout
        assert "target: 1 app(s), 3 service(s) (source 'local')" in result.stdout
        assert "target of source 'https://api.balena-cloud.com': the supervisor did not apply it" in result.stdout
        assert "containerLogs: 2 row(s), no counterpart" in result.stdout
        assert fingerprint(legacy) == before  # read only: same bytes, same mtime, no journal left

        agent = start_agent(api_key=None)  # the key is the migrated one
        assert agent.key == API_SECRET
        body = wait_for(converged(agent, 3, COMMIT), 60, "the agent's first pass over the legacy containers")
        assert sorted(c["containerId"] for c in body["containers"]) == sorted(ids)
        assert {c.id for c in supervised(docker_client)} == set(ids)
        assert {cid: docker_client.api.inspect_container(cid)["State"]["StartedAt"] for cid in ids} == started
        assert sorted((i["imageId"], i["status"]) for i in body["images"]) == [(31, "Downloaded"), (32, "Downloaded"), (33, "Downloaded")]

        assert request(agent, "GET", "/v1/device").status_code == 200
        with agent.client() as client:
            assert client.get("/v1/device", headers={"Authorization": "ApiKey wrong"}).status_code == 401
        assert request(agent, "GET", "/v2/device/name").json() == {"status": "success", "deviceName": NAME}
        state = request(agent, "GET", "/v2/local/target-state").json()["state"]["local"]
        assert state["name"] == NAME and state["config"]["SUPERVISOR_POLL_INTERVAL"] == "900000"
        services = state["apps"][str(APP_ID)]["services"]
        assert [s["serviceName"] for s in services] == ["db", "web", "monitor"]
        assert {s["environment"]["BALENA_DEVICE_UUID"] for s in services} == {UUID}
        again = migrate(legacy, tmp_path / "data", host_root)  # a boot script running it each time
        assert again.returncode == 0 and "nothing done (--again takes it over again)" in again.stdout, again.stderr
        assert fingerprint(legacy) == before
    finally:
        start_agent.stop_all()  # type: ignore[attr-defined]
        cleanup(docker_client)


def _v9(folder: Path) -> None:
    # v9.14.0 to v9.17: every v10 migration but the engine snapshot's
    make_database(folder, "busybox:latest", "sha256:" + "1" * 64,
                  tuple(n for n in V10_MIGRATIONS if n != "20190619152500-engine-snapshot.js"))


def _v12(folder: Path) -> None:
    make_database(folder, "busybox:latest", "sha256:" + "1" * 64, (*V10_MIGRATIONS, "M00005.js", "M00006.js"))


def _corrupt(folder: Path) -> None:
    path = make_database(folder, "busybox:latest", "sha256:" + "1" * 64)
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xa5" * 4096  # the second page: a table's b-tree
    path.write_bytes(bytes(data))


def _not_sqlite(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "database.sqlite").write_bytes(b"not a database, a log file\n" * 100)


def _bad_services(folder: Path) -> None:
    path = make_database(folder, "busybox:latest", "sha256:" + "1" * 64)
    db = sqlite3.connect(path)
    db.execute("UPDATE app SET services='[{\"serviceId\": 1, \"serviceName\": \"x\"' WHERE source='local'")
    db.commit()
    db.close()


def _unfinished(folder: Path) -> None:
    make_database(folder, "busybox:latest", "sha256:" + "1" * 64)
    (folder / "database.sqlite-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"\0" * 504)


BAD: list[tuple[str, Callable[[Path], None] | None, str]] = [
    ("v9 schema", _v9, "written by an older supervisor (migration 20190619152500-engine-snapshot.js not run)"),
    ("v12 schema", _v12, "written by a newer supervisor (migration M00005.js, v11.14.4 or later)"),
    ("corrupt", _corrupt, "database.sqlite is corrupt"),
    ("not sqlite", _not_sqlite, "is corrupt or not a SQLite file (file is not a database)"),
    ("bad services", _bad_services, "the services of app 1011 is not JSON"),
    ("unfinished write", _unfinished, "database.sqlite-journal holds an unfinished write"),
    ("missing folder", None, "no such folder (the balena supervisor's data folder is"),
]


@pytest.mark.parametrize(("case", "make", "message"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_legacy_data_is_one_clear_error(case: str, make: Callable[[Path], None] | None, message: str,
                                            tmp_path: Path, host_root: Path) -> None:
    legacy = tmp_path / "resin-supervisor"
    if make is not None:
        make(legacy)
    before = fingerprint(legacy) if legacy.exists() else None
    result = migrate(legacy, tmp_path / "data", host_root)
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("polyvisor: migrate: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "data").exists()  # nothing of ours was made
    assert (fingerprint(legacy) if legacy.exists() else None) == before
    shutil.rmtree(legacy, ignore_errors=True)
