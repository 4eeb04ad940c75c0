"""Snapshots made and restored on a temporary data folder, with and without password, and across the
legacy format both ways (an archive built the legacy way restores here; one made here is read by the
legacy way)."""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
from legacy_snapshot import read_snapshot, write_snapshot
from snapshot_world import HOME, World, tree, world

from handlers.homeassistant.snapshots import schema

__all__ = ["world"]  # snapshot_world's fixture, taken by name


def fill(folder: Path) -> None:
    """Files of every kind a folder holds: nested, empty folder, links, modes, owners, binary."""
    (folder / "homeassistant" / "configuration.yaml").write_text("homeassistant:\n  name: Home\n")
    (folder / "homeassistant" / "deps").mkdir()
    (folder / "homeassistant" / ".storage").mkdir()
    (folder / "homeassistant" / ".storage" / "auth").write_bytes(os.urandom(5000))
    (folder / "homeassistant" / "secrets.yaml").write_text("pw: x")
    (folder / "homeassistant" / "secrets.yaml").chmod(0o600)
    os.chown(folder / "homeassistant" / "secrets.yaml", 1234, 1234)
    (folder / "share" / "music").mkdir()
    (folder / "share" / "music" / "song.mp3").write_bytes(b"\x00\xff" * 40000)
    (folder / "share" / "latest").symlink_to("music/song.mp3")
    os.link(folder / "share" / "music" / "song.mp3", folder / "share" / "hard.mp3")
    (folder / "ssl" / "fullchain.pem").write_text("CERT")
    (folder / "addons" / "local" / "mine").mkdir()
    (folder / "addons" / "local" / "mine" / "config.json").write_text("{}")


def folders(world: World) -> dict[str, Any]:
    return {name: tree(world.folder / name) for name in schema.ALL_FOLDERS}


@pytest.mark.parametrize("password", [None, "secret"])
def test_full_round_trip(world: World, password: str | None) -> None:
    fill(world.folder)
    addon = world.addons.install("local_mine", "2.1")
    (addon / "options.json").write_text('{"a": 1}')
    (addon / "db").mkdir()
    (addon / "db" / "rows").write_bytes(os.urandom(70000))
    world.addons.running.add("local_mine")
    before, addon_before = folders(world), tree(addon)

    slug = world.snapshots.new_full("weekly", password)
    assert slug and len(slug) == 8
    snapshot = world.snapshots.get(slug)
    assert snapshot is not None and snapshot.path == world.folder / "backup" / f"{slug}.tar"
    assert snapshot.protected is bool(password) and snapshot.type == "full"
    assert snapshot.folders == list(schema.ALL_FOLDERS)
    assert [a["slug"] for a in snapshot.addons] == ["local_mine"] and snapshot.addons[0]["version"] == "2.1"
    assert slug == schema.create_slug("weekly", snapshot.data["date"])
    home = snapshot.homeassistant
    if password:
        assert home["password"] != HOME["password"] and home["refresh_token"] != HOME["refresh_token"]
    else:
        assert (home["password"], home["refresh_token"]) == (HOME["password"], HOME["refresh_token"])

    # everything changes, an add-on arrives that the snapshot lacks
    for name in schema.ALL_FOLDERS:
        for child in (world.folder / name).iterdir():
            if child.is_dir() and not child.is_symlink():
                import shutil

                shutil.rmtree(child)
            else:
                child.unlink()
    (world.folder / "share" / "new-file").write_text("not in the snapshot")
    (addon / "options.json").write_text('{"a": 2}')
    world.addons.install("core_extra")
    world.core.conf.update(password="changed", refresh_token=None, port=9000, watchdog=False)
    world.core.installed, world.core.running = "0.80.0", True
    world.settings.update(addons_repositories=["https://example.invalid/other"])
    world.addons.store.loaded = ["https://example.invalid/other"]

    assert world.snapshots.restore_full(slug, password) is True
    assert folders(world) == before
    assert tree(addon) == addon_before
    assert world.addons.installed_slugs() == ["local_mine"]
    assert "uninstall core_extra" in world.addons.calls and "restore local_mine" in world.addons.calls
    assert world.addons.is_running("local_mine")
    assert world.core.conf == HOME
    assert world.core.calls[0] == "stop" and world.core.calls[-1] == "start"
    assert world.settings.get().addons_repositories == ("https://example.invalid/addons",)
    assert "repositories ['https://example.invalid/addons']" in world.addons.calls


def test_partial_snapshot_and_restore(world: World) -> None:
    fill(world.folder)
    world.addons.install("local_mine")
    slug = world.snapshots.new_partial("p", addons=["local_mine", "core_missing"], folders=["share", "ssl"])
    assert slug is not None
    snapshot = world.snapshots.get(slug)
    assert snapshot is not None and snapshot.type == "partial"
    assert snapshot.folders == ["share", "ssl"] and snapshot.addon_list == ["local_mine"]
    assert world.snapshots.restore_full(slug) is False  # a partial snapshot cannot restore fully

    (world.folder / "share" / "music" / "song.mp3").write_text("changed")
    (world.folder / "ssl" / "fullchain.pem").write_text("changed")
    (world.folder / "homeassistant" / "configuration.yaml").write_text("kept: yes")
    world.core.conf["port"] = 9999
    assert world.snapshots.restore_partial(slug, folders=["share"]) is True
    assert (world.folder / "share" / "music" / "song.mp3").read_bytes() == b"\x00\xff" * 40000
    assert (world.folder / "ssl" / "fullchain.pem").read_text() == "changed"  # not asked for
    assert (world.folder / "homeassistant" / "configuration.yaml").read_text() == "kept: yes"
    assert world.core.conf["port"] == 9999  # 138: settings only with the homeassistant folder
    assert "restore local_mine" not in world.addons.calls


def test_legacy_archive_restores_here(world: World, tmp_path: Path) -> None:
    """An archive built the legacy way (tarfile + pycryptodome) restores: folders, add-on, settings."""
    def add_file(name: str, data: bytes, mode: int = 0o644) -> Any:
        def fill_tar(tar: tarfile.TarFile) -> None:
            root = tarfile.TarInfo(".")
            root.type, root.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(root)
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        return fill_tar

    def addon_tar(tar: tarfile.TarFile) -> None:
        body = json.dumps({"user": {}, "system": {}, "version": "3.0", "state": "stopped"}).encode()
        info = tarfile.TarInfo("./addon.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        data = tarfile.TarInfo("data")
        data.type, data.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(data)
        options = tarfile.TarInfo("data/options.json")
        options.size = 2
        tar.addfile(options, io.BytesIO(b"{}"))

    world.addons.install("core_ssh")
    path = world.folder / "backup" / "a1b2c3d4.tar"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"slug": "a1b2c3d4", "name": "from 138", "date": "2018-10-20T10:00:00.123456+00:00", "type": "full",
            "homeassistant": {"version": "0.80.3", "watchdog": True, "boot": False, "wait_boot": 600, "port": 8124,
                              "ssl": True, "refresh_token": "legacy-refresh-token", "password": "legacy-password"},
            "folders": ["homeassistant", "share"], "addons": [{"slug": "core_ssh", "name": "SSH", "version": "3.0",
                                                                "size": 0.01}],
            "repositories": ["https://github.com/hassio-addons/repository"]}
    write_snapshot(path, data, {"homeassistant": add_file("configuration.yaml", b"legacy: true\n"),
                                "share": add_file("note.txt", b"from the share", 0o600),
                                "core_ssh": addon_tar}, "legacy pass")
    world.snapshots.reload()
    listed = {s.slug: s for s in world.snapshots.listing()}
    assert listed["a1b2c3d4"].protected and listed["a1b2c3d4"].data["name"] == "from 138"
    (world.folder / "share" / "old.txt").write_text("old")

    assert world.snapshots.restore_full("a1b2c3d4", "wrong pass") is False
    assert world.snapshots.restore_full("a1b2c3d4", "legacy pass") is True
    assert (world.folder / "homeassistant" / "configuration.yaml").read_text() == "legacy: true\n"
    assert sorted(os.listdir(world.folder / "share")) == ["note.txt"]
    assert ((world.folder / "share" / "note.txt").stat().st_mode & 0o777) == 0o600
    assert (world.addons.data("core_ssh") / "options.json").read_text() == "{}"
    assert world.core.conf["password"] == "legacy-password" and world.core.conf["refresh_token"] == "legacy-refresh-token"
    assert (world.core.conf["port"], world.core.conf["ssl"], world.core.conf["boot"]) == (8124, True, False)
    assert "update 0.80.3" in world.core.calls


@pytest.mark.parametrize("password", [None, "secret"])
def test_snapshot_made_here_reads_the_legacy_way(world: World, tmp_path: Path, password: str | None) -> None:
    fill(world.folder)
    addon = world.addons.install("local_mine")
    (addon / "options.json").write_text('{"b": 2}')
    slug = world.snapshots.new_full("for 138", password)
    assert slug
    path = world.folder / "backup" / f"{slug}.tar"
    with tarfile.open(path, "r:") as tar:
        names = tar.getnames()
        assert tar.getmember("./share.tar.gz").isreg()
    assert set(names) == {".", "./snapshot.json", "./local_mine.tar.gz", "./homeassistant.tar.gz", "./share.tar.gz",
                          "./addons_local.tar.gz", "./ssl.tar.gz"}
    out = tmp_path / "legacy-read"
    data = read_snapshot(path, password, out)
    assert data["slug"] == slug and data["type"] == "full" and data["name"] == "for 138"
    assert (data.get("protected") is not None, data.get("crypto")) == ((True, "aes128") if password else (False, None))
    assert data["homeassistant"]["password"] == HOME["password"]
    assert data["homeassistant"]["refresh_token"] == HOME["refresh_token"]
    assert set(data) >= {"slug", "name", "date", "type", "homeassistant", "folders", "addons", "repositories"}
    for name in schema.ALL_FOLDERS:
        assert tree(out / name) == tree(world.folder / name)
    assert json.loads((out / "local_mine" / "addon.json").read_text())["state"] == "stopped"
    assert (out / "local_mine" / "data" / "options.json").read_text() == '{"b": 2}'


def test_one_operation_at_a_time(world: World) -> None:
    fill(world.folder)
    slug = world.snapshots.new_full("first")
    assert slug
    entered, release = threading.Event(), threading.Event()
    original = world.addons.backup

    def slow_backup(addon: str, folder: Path) -> dict[str, Any]:
        entered.set()
        release.wait(10)
        return original(addon, folder)

    world.addons.install("local_slow")
    world.addons.backup = slow_backup  # type: ignore[method-assign,assignment]
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(world.snapshots.new_full("second")))
    worker.start()
    assert entered.wait(10)
    assert world.snapshots.busy()
    assert world.snapshots.new_full("third") is None
    assert world.snapshots.new_partial("fourth", folders=["share"]) is None
    assert world.snapshots.restore_full(slug) is False
    assert world.snapshots.restore_partial(slug, folders=["share"]) is False
    assert [s.slug for s in world.snapshots.listing()] == [slug]  # the running one is not listed
    assert [p.name for p in (world.folder / "backup").iterdir() if p.name.endswith(".tar")] == [f"{slug}.tar"]
    release.set()
    worker.join(10)
    assert results[0] and len(world.snapshots.listing()) == 2


def test_remove_and_reload(world: World) -> None:
    slug = world.snapshots.new_full()
    assert slug and world.snapshots.remove(slug) is True
    assert world.snapshots.get(slug) is None and not (world.folder / "backup" / f"{slug}.tar").exists()
    assert world.snapshots.remove(slug) is False
    (world.folder / "backup" / "junk.tar").write_bytes(b"not a tar")
    (world.folder / "backup" / ".old.tar.part").write_bytes(b"left by a crash")
    (world.folder / "tmp" / "restore-abc" / "folders").mkdir(parents=True)
    world.snapshots._snapshots = None  # a fresh agent
    assert world.snapshots.listing() == []
    assert not (world.folder / "backup" / ".old.tar.part").exists()
    assert list((world.folder / "tmp").iterdir()) == []
