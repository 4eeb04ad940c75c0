"""hassio /snapshots on a real agent process, the real dockerd and real files (hassio.md §4).

An image add-on (`local_snap`, busybox made with `docker import`, in the local repository) is
installed and started through the `Addons` manager before the agent starts; the agent then makes
full and partial snapshots of it, of the four folders and of Home Assistant's settings, restores
them, downloads and uploads them, and takes an archive built the legacy way (tarfile and
pycryptodome, tests/unit/homeassistant/snapshots/legacy_snapshot.py) while a snapshot it made is
read back the legacy way. No Home Assistant image is installed: a restore has no version to pull
(the tests' dockerd must never reach a registry). A small tmpfs as the backup folder fills up.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from unit.homeassistant.snapshots.legacy_snapshot import read_snapshot, write_snapshot

from handlers.docker import Engine
from handlers.homeassistant.addons.installed import Installed
from handlers.homeassistant.addons.manager import Addons
from handlers.homeassistant.addons.store import AddonStore
from handlers.homeassistant.tokens import Tokens
from handlers.store import Store
from integration.addon_repos import addon_config, image_addon, write_addon
from integration.engine_support import wait_for
from tests.openapi import check_response

ARCH, MACHINE = "amd64", "qemux86-64"  # what the agent picks on this x86_64 machine without a device type
REPOSITORY = "pvtest/{arch}-addon-snap"
SLUG = "local_snap"
FOLDERS = ("homeassistant", "share", "addons/local", "ssl")


def call(agent: Any, method: str, path: str, body: Any = None, content: bytes | None = None,
         timeout: float = 120) -> tuple[int, Any]:
    """A hassio request with the agent's key: (status, data or message)."""
    with agent.client(timeout=timeout) as client:
        response = client.request(method, path, headers={"X-HASSIO-KEY": agent.key},
                                  content=content if content is not None else
                                  (None if body is None else json.dumps(body)))
    check_response("hassio", response, method, path)
    found = response.json()
    return response.status_code, found["data"] if found["result"] == "ok" else found["message"]


def addons_of(data_dir: Path, folder: Path, docker_host: str) -> tuple[Addons, Callable[[], None]]:
    """The agent's add-on manager, built in the test process on the same store and folder."""
    db = Store(data_dir)
    db.open()
    engine = Engine(docker_host)
    addons = Addons(AddonStore(folder / "addons", None, ARCH, MACHINE), Installed(db), engine,
                    Tokens(db, lambda: None, lambda key: False), folder, ARCH, MACHINE)
    addons.load()

    def close() -> None:
        engine.close()
        db.close()
    return addons, close


def addon_container(client: Any, name: str = f"addon_{SLUG}") -> Any:
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


@pytest.fixture
def snap_image(docker_client: Any) -> Iterator[str]:
    """The add-on's image (an uninstall removes it, as 138's did)."""
    if not docker_client.images.list(name=f"{REPOSITORY.format(arch=ARCH)}:1.0"):
        image_addon(docker_client, REPOSITORY, "1.0")
    yield REPOSITORY
    for image in docker_client.images.list(name=REPOSITORY.format(arch=ARCH)):
        docker_client.images.remove(image.id, force=True)


@pytest.fixture
def hassio(start_agent: Callable[..., Any], docker_host: str, docker_client: Any, snap_image: str,
           tmp_path: Path) -> Iterator[Any]:
    """An agent serving hassio on tmp_path/hassio, local_snap installed and started."""
    folder, data_dir = tmp_path / "hassio", tmp_path / "data"
    for name in FOLDERS:
        (folder / name).mkdir(parents=True)
    write_addon(folder / "addons" / "local" / "snap", addon_config("snap", image=snap_image))
    addons, close = addons_of(data_dir, folder, docker_host)
    try:
        assert addons.install(SLUG) is True
        (folder / "addons" / "data" / SLUG / "state.db").write_bytes(os.urandom(300_000))
        assert addons.start(SLUG) is not False
    finally:
        close()
    agent = start_agent(data_dir=data_dir, ready="/supervisor/ping",
                        args=["--dialects=hassio", f"--hassio-data={folder},privileged=false"])
    agent.folder = folder
    assert call(agent, "POST", "/supervisor/options", {"addons_repositories": []}) == (200, {})
    yield agent
    agent.stop()
    addons, close = addons_of(data_dir, folder, docker_host)
    try:
        for slug in addons.installed_slugs():
            addons.uninstall(slug)
    finally:
        close()
    if addon_container(docker_client) is not None:
        addon_container(docker_client).remove(force=True)


def homeassistant_settings(agent: Any) -> dict[str, Any]:
    store = Store(agent.data_dir)
    store.open()
    try:
        return dict(json.loads(store.get("hassio_homeassistant") or "{}"))
    finally:
        store.close()


def files(folder: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(folder)): (str(p.readlink()) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def test_full_snapshot_and_restore_with_password(hassio: Any, docker_client: Any) -> None:
    folder = hassio.folder
    assert call(hassio, "POST", "/homeassistant/options",
                {"port": 8300, "password": "api-pw", "refresh_token": "rt-1", "watchdog": False}) == (200, {})
    (folder / "share" / "big.bin").write_bytes(os.urandom(40 * 1024 * 1024))  # long enough to look in
    (folder / "homeassistant" / "configuration.yaml").write_text("homeassistant:\n")
    (folder / "ssl" / "cert.pem").write_text("CERT")
    (folder / "share" / "link").symlink_to("big.bin")
    before = {name: files(folder / name) for name in FOLDERS}
    addon_data = files(folder / "addons" / "data" / SLUG)

    result: list[tuple[int, Any]] = []
    worker = threading.Thread(target=lambda: result.append(
        call(hassio, "POST", "/snapshots/new/full", {"name": "nightly", "password": "secret"})))
    worker.start()
    wait_for(lambda: "Full-Snapshot" in hassio.log.read_text(), 30, "the snapshot's start in the log")
    # the API answers meanwhile; a second operation is refused; the partial file is not listed
    began = time.monotonic()
    assert call(hassio, "GET", "/supervisor/ping") == (200, {})
    assert time.monotonic() - began < 2
    assert call(hassio, "POST", "/snapshots/new/partial", {"folders": ["ssl"]}) == (400, None)
    assert call(hassio, "GET", "/snapshots") == (200, {"snapshots": []})
    worker.join(120)
    status, data = result[0]
    assert status == 200, data
    slug = data["slug"]
    log = hassio.log.read_text()
    assert f"Full-Snapshot {slug} start" in log and f"Snapshot {slug} store Add-ons" in log
    assert f"Full-Snapshot {slug} done" in log

    status, listing = call(hassio, "GET", "/snapshots")
    assert status == 200 and len(listing["snapshots"]) == 1
    entry = listing["snapshots"][0]
    assert (entry["slug"], entry["name"], entry["type"], entry["protected"]) == (slug, "nightly", "full", True)
    status, info = call(hassio, "GET", f"/snapshots/{slug}/info")
    assert status == 200
    assert set(info) == {"slug", "type", "name", "date", "size", "protected", "homeassistant", "addons",
                         "repositories", "folders"}
    # the setting as 138 kept it: `addons_repositories: []` drops only repositories that loaded,
    # so the default one, never cloned here, stays in it and in the snapshot
    settings = call(hassio, "GET", "/supervisor/info")[1]["addons_repositories"]
    assert settings == ["https://github.com/hassio-addons/repository"]
    assert info["folders"] == list(FOLDERS) and info["repositories"] == settings and info["homeassistant"] is None
    assert [a["slug"] for a in info["addons"]] == [SLUG] and set(info["addons"][0]) == {"slug", "name", "version", "size"}
    assert info["size"] >= 40 and isinstance(info["size"], float)

    # everything changes
    (folder / "share" / "big.bin").unlink()
    (folder / "share" / "new.txt").write_text("not in the snapshot")
    (folder / "ssl" / "cert.pem").write_text("OTHER")
    (folder / "addons" / "data" / SLUG / "state.db").write_bytes(b"changed")
    assert call(hassio, "POST", "/homeassistant/options",
                {"port": 9000, "password": "other", "refresh_token": None, "watchdog": True}) == (200, {})

    assert call(hassio, "POST", f"/snapshots/{slug}/restore/full", {"password": "wrong"}) == (400, None)
    assert call(hassio, "POST", f"/snapshots/{slug}/restore/full", {}) == (400, None)
    assert (folder / "ssl" / "cert.pem").read_text() == "OTHER"  # nothing changed
    assert call(hassio, "POST", "/snapshots/nope/restore/full", {}) == (400, "Snapshot does not exist")

    assert call(hassio, "POST", f"/snapshots/{slug}/restore/full", {"password": "secret"}) == (200, {})
    assert {name: files(folder / name) for name in FOLDERS} == before
    assert files(folder / "addons" / "data" / SLUG) == addon_data
    settings = homeassistant_settings(hassio)
    assert (settings["port"], settings["password"], settings["refresh_token"], settings["watchdog"]) == \
        (8300, "api-pw", "rt-1", False)
    container = addon_container(docker_client)
    assert container is not None and container.status == "running"  # it was started when snapshotted
    log = hassio.log.read_text()
    assert f"Full-Restore {slug} start" in log and f"Full-Restore {slug} done" in log
    assert "Invalid password for snapshot" in log


def test_download_upload_remove_and_the_legacy_format(hassio: Any, tmp_path: Path, docker_client: Any) -> None:
    folder = hassio.folder
    (folder / "share" / "note.txt").write_text("a note")
    status, data = call(hassio, "POST", "/snapshots/new/partial", {"name": "p", "folders": ["share"],
                                                                   "addons": [SLUG, "local_missing"]})
    assert status == 200
    slug = data["slug"]
    with hassio.client() as client:
        download = client.get(f"/snapshots/{slug}/download", headers={"X-HASSIO-KEY": hassio.key})
        missing = client.get("/snapshots/nope/download", headers={"X-HASSIO-KEY": hassio.key})
    check_response("hassio", missing, "GET", "/snapshots/nope/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/tar"
    assert download.content == (folder / "backup" / f"{slug}.tar").read_bytes()
    assert missing.status_code == 500  # 138: no api_process around download

    # the legacy way reads it
    (tmp_path / "download.tar").write_bytes(download.content)
    legacy = read_snapshot(tmp_path / "download.tar", None, tmp_path / "legacy")
    assert legacy["type"] == "partial" and legacy["folders"] == ["share"]
    assert [a["slug"] for a in legacy["addons"]] == [SLUG]
    assert (tmp_path / "legacy" / "share" / "note.txt").read_text() == "a note"
    assert json.loads((tmp_path / "legacy" / SLUG / "addon.json").read_text())["state"] == "started"

    assert call(hassio, "POST", f"/snapshots/{slug}/remove") == (200, {})
    assert call(hassio, "POST", f"/snapshots/{slug}/remove") == (400, "Snapshot does not exist")
    assert os.listdir(folder / "backup") == []

    # truncated and corrupt uploads are refused and leave nothing
    body = download.content
    for bad in (body[: len(body) // 2], body[:512], os.urandom(4096), b""):
        assert call(hassio, "POST", "/snapshots/new/upload", content=bad) == (400, None)
    assert os.listdir(folder / "backup") == []
    assert call(hassio, "POST", "/snapshots/new/upload", content=body) == (200, {"slug": slug})
    assert call(hassio, "POST", "/snapshots/new/upload", content=body) == (400, None)  # exists
    assert os.listdir(folder / "backup") == [f"{slug}.tar"]

    # an archive built the legacy way restores here: add-on data, folder
    def share(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("./from-138.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"old"))

    def addon(tar: tarfile.TarFile) -> None:
        made = json.loads((tmp_path / "legacy" / SLUG / "addon.json").read_text())  # 138's user/system entries
        state = json.dumps({**made, "state": "stopped"}).encode()
        for name, content in (("./addon.json", state), ("data/legacy.db", b"legacy data")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    legacy_path = tmp_path / "legacy.tar"
    write_snapshot(legacy_path, {"slug": "0ld5a9e0", "name": "from 138", "date": "2018-10-20T10:00:00+00:00",
                                 "type": "partial", "folders": ["share"],
                                 "addons": [{"slug": SLUG, "name": "Snap", "version": "1.0", "size": 0.0}],
                                 "homeassistant": {"port": 8124, "password": "legacy-pw", "refresh_token": None}},
                   {"share": share, SLUG: addon}, "legacy")
    assert call(hassio, "POST", "/snapshots/new/upload", content=legacy_path.read_bytes()) == \
        (200, {"slug": "0ld5a9e0"})
    assert call(hassio, "POST", "/snapshots/0ld5a9e0/restore/partial",
                {"folders": ["share"], "addons": [SLUG], "password": "nope"}) == (400, None)
    assert call(hassio, "POST", "/snapshots/0ld5a9e0/restore/partial",
                {"folders": ["share"], "addons": [SLUG], "password": "legacy"}) == (200, {})
    assert sorted(os.listdir(folder / "share")) == ["from-138.txt"]
    assert (folder / "addons" / "data" / SLUG / "legacy.db").read_bytes() == b"legacy data"
    assert not (folder / "addons" / "data" / SLUG / "state.db").exists()
    assert addon_container(docker_client) is None or addon_container(docker_client).status != "running"


def test_crafted_upload_is_refused_and_writes_nothing_outside(hassio: Any, tmp_path: Path) -> None:
    folder = hassio.folder
    (folder / "share" / "keep.txt").write_text("kept")

    def evil(tar: tarfile.TarFile) -> None:
        for name, kind, link in (("./ok.txt", tarfile.REGTYPE, ""), ("../../escaped.txt", tarfile.REGTYPE, ""),
                                 ("./up", tarfile.SYMTYPE, "../../.."), ("./up/escaped2.txt", tarfile.REGTYPE, "")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            info.size = 5 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"pwned") if kind == tarfile.REGTYPE else None)

    path = tmp_path / "evil.tar"
    write_snapshot(path, {"slug": "e0e0e0e0", "name": "evil", "date": "d", "type": "full", "folders": ["share"]},
                   {"share": evil})
    assert call(hassio, "POST", "/snapshots/new/upload", content=path.read_bytes()) == (200, {"slug": "e0e0e0e0"})
    assert call(hassio, "POST", "/snapshots/e0e0e0e0/restore/full", {}) == (400, None)
    assert call(hassio, "POST", "/snapshots/e0e0e0e0/restore/partial", {"folders": ["share"]}) == (400, None)
    assert sorted(os.listdir(folder / "share")) == ["keep.txt"]
    assert not list(tmp_path.rglob("escaped*.txt"))
    assert os.listdir(folder / "tmp") == []
    assert "Restore e0e0e0e0 refused, nothing changed" in hassio.log.read_text()


def test_schemas_and_unknown_snapshots(hassio: Any) -> None:
    status, message = call(hassio, "POST", "/snapshots/new/partial", {"folders": ["etc"]})
    assert status == 400 and "data['folders']" in message
    status, message = call(hassio, "POST", "/snapshots/new/full", {"name": "x", "extra": 1})
    assert (status, message) == (400, "extra keys not allowed @ data['extra']. Got 1")
    assert call(hassio, "GET", "/snapshots/nope/info") == (400, "Snapshot does not exist")
    assert call(hassio, "POST", "/snapshots/reload") == (200, {})


@pytest.fixture
def small_backup(hassio: Any) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted as the backup folder."""
    backup = hassio.folder / "backup"
    backup.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "pv-test-backup", str(backup)], check=True)
    try:
        yield backup
    finally:
        subprocess.run(["umount", str(backup)], check=False)


def test_a_full_disk_leaves_no_partial_snapshot(hassio: Any, small_backup: Path) -> None:
    (hassio.folder / "share" / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024))
    (hassio.folder / "ssl" / "cert.pem").write_text("CERT")
    assert call(hassio, "POST", "/snapshots/new/full", {"name": "too big"}) == (400, None)
    assert call(hassio, "GET", "/snapshots") == (200, {"snapshots": []})
    assert os.listdir(small_backup) == []
    assert "Snapshot" in hassio.log.read_text() and "No space left on device" in hassio.log.read_text()
    status, data = call(hassio, "POST", "/snapshots/new/partial", {"folders": ["ssl"]})  # what fits still works
    assert status == 200 and os.listdir(small_backup) == [f"{data['slug']}.tar"]


def test_an_upload_cut_off_by_the_client_leaves_nothing(hassio: Any) -> None:
    import socket

    host, port = hassio.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /snapshots/new/upload HTTP/1.1\r\nHost: hassio\r\nX-HASSIO-KEY: "
                     + hassio.key.encode() + b"\r\nContent-Length: 1000000\r\n\r\n" + os.urandom(200_000))
        backup = hassio.folder / "backup"
        wait_for(lambda: backup.is_dir() and any(p.name.endswith(".part") for p in backup.iterdir()), 10,
                 "the upload's part file")
    wait_for(lambda: "the client went away" in hassio.log.read_text(), 10, "the disconnect in the log")
    assert os.listdir(hassio.folder / "backup") == []
    assert call(hassio, "GET", "/snapshots") == (200, {"snapshots": []})
