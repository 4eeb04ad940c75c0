"""Snapshots: make, list, import, remove and restore them, one operation at a time (tag 138's
hassio/snapshots/__init__.py, hassio.md §4.6).

Blocking: the API calls these off the event loop, so it keeps answering while a snapshot is made.
A second snapshot or restore while one runs is refused (None / False: 400 with message null).
A snapshot is written to `.<slug>.tar.part` in the backup folder and renamed to `<slug>.tar` when
complete, so a listing never shows a partial one; any failure (a full disk) removes it.
A restore first extracts everything it needs into a staging folder under `<data>/tmp` (wrong
password, corrupt or refused archives fail there, before anything is stopped or changed), then
stops what it must and swaps the staged folders in.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from handlers.homeassistant.snapshots.snapshot import Snapshot

log = logging.getLogger("polyvisor.hassio.snapshots")

PART = ".part"  # never *.tar: reload and the listing skip it


def durable_replace(part: Path, final: Path) -> None:
    """`part` renamed to `final` once its bytes are on disk, the rename itself synced too: after a
    power cut there is the whole snapshot or none."""
    with part.open("rb") as file:
        os.fsync(file.fileno())
    os.replace(part, final)
    folder = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


class Snapshots:
    """The snapshots in `<folder>/backup` of the hassio data folder `folder`.

    core: Home Assistant (handlers.homeassistant.core.Core); settings: the supervisor's settings
    (its addons_repositories); addons: the add-ons (handlers.homeassistant.addons, `Addons`) or
    None while the agent has none.
    """

    def __init__(self, folder: Path, core: Any, settings: Any, addons: Any = None) -> None:
        self.folder = folder
        self.core = core
        self.settings = settings
        self.addons = addons
        self._snapshots: dict[str, Snapshot] | None = None
        self._files = threading.Lock()  # the listing and the backup folder's names
        self._operation = threading.Lock()  # one snapshot or restore at a time (138's lock)

    @property
    def backup_dir(self) -> Path:
        return self.folder / "backup"

    @property
    def tmp_dir(self) -> Path:
        return self.folder / "tmp"

    def busy(self) -> bool:
        """A snapshot or restore is running."""
        return self._operation.locked()

    # the listing
    def _load(self, path: Path) -> Snapshot | None:
        from handlers.homeassistant.snapshots import archive, schema

        try:
            return Snapshot(path, schema.validate(archive.read_json(path)))
        except (archive.ArchiveError, ValueError) as err:
            log.error("Can't read snapshot %s: %s", path.name, err)
            return None

    def reload(self) -> None:
        """Read every *.tar of the backup folder; unreadable ones are left out. The first time,
        parts left by an agent that was killed mid-way are removed."""
        with self._files:
            first = self._snapshots is None
            self.backup_dir.mkdir(parents=True, exist_ok=True)
            if first and not self.busy():
                for stale in self.backup_dir.glob(f".*{PART}"):
                    log.warning("removing %s, left by an interrupted snapshot or upload", stale.name)
                    stale.unlink(missing_ok=True)
                for stale in [*self.tmp_dir.glob("restore-*"), *self.tmp_dir.glob("snapshot-*")]:
                    log.warning("removing %s, left by an interrupted snapshot or restore", stale.name)
                    shutil.rmtree(stale, ignore_errors=True)
            found: dict[str, Snapshot] = {}
            files = sorted(self.backup_dir.glob("*.tar"))
            for path in files:
                snapshot = self._load(path)
                if snapshot is not None:
                    found[snapshot.slug] = snapshot
            log.info("Found %d snapshot files", len(files))
            self._snapshots = found

    def listing(self) -> list[Snapshot]:
        if self._snapshots is None:
            self.reload()
        return list((self._snapshots or {}).values())

    def get(self, slug: str) -> Snapshot | None:
        if self._snapshots is None:
            self.reload()
        return (self._snapshots or {}).get(slug)

    def remove(self, slug: str) -> bool:
        """Delete the file; False on an IO error (400 with message null)."""
        snapshot = self.get(slug)
        if snapshot is None:
            return False
        with self._files:
            try:
                snapshot.path.unlink()
            except OSError as err:
                log.error("Can't remove snapshot %s: %s", slug, err)
                return False
            assert self._snapshots is not None
            self._snapshots.pop(slug, None)
        log.info("Removed snapshot file %s", slug)
        return True

    # uploads
    def new_part(self) -> Path:
        """A new empty file in the backup folder for an upload (import_part or discard it)."""
        self.listing()
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=PART, dir=self.backup_dir)
        os.close(fd)
        return Path(name)

    def import_part(self, path: Path) -> str | None:
        """The uploaded file as `<slug>.tar` when it is a complete snapshot whose slug is new;
        None otherwise, and the file is gone."""
        try:
            snapshot = self._load(path)
            if snapshot is None or not self._complete(snapshot):
                return None
            with self._files:
                final = self.backup_dir / f"{snapshot.slug}.tar"
                if snapshot.slug in (self._snapshots or {}) or final.exists():
                    log.error("Snapshot %s already exists!", snapshot.slug)
                    return None
                durable_replace(path, final)
                assert self._snapshots is not None
                self._snapshots[snapshot.slug] = Snapshot(final, snapshot.data)
        except OSError as err:
            log.error("Can't move snapshot file to storage: %s", err)
            return None
        finally:
            path.unlink(missing_ok=True)
        log.info("Success import %s", snapshot.slug)
        return snapshot.slug

    @staticmethod
    def _complete(snapshot: Snapshot) -> bool:
        """Every folder and add-on snapshot.json lists has its archive in the file."""
        import tarfile

        from handlers.homeassistant.snapshots import archive

        try:
            with archive.Reader(snapshot.path, None) as reader:
                missing = [name for name in [*snapshot.folders, *snapshot.addon_list] if not reader.has(name)]
        except (OSError, tarfile.TarError) as err:
            log.error("Can't read snapshot tarfile %s: %s", snapshot.path.name, err)
            return False
        if missing:
            log.error("Snapshot %s lacks the archives of %s", snapshot.slug, ", ".join(missing))
        return not missing

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    # making snapshots
    def new_full(self, name: str = "", password: str | None = None) -> str | None:
        """All installed add-ons and the four folders; the slug, None on failure or when busy."""
        return self._new("full", name, password, None, None)

    def new_partial(self, name: str = "", addons: list[str] | None = None, folders: list[str] | None = None,
                    password: str | None = None) -> str | None:
        """Only these add-ons (not installed ones are skipped with a warning) and folders."""
        return self._new("partial", name, password, addons or [], folders or [])

    def _new(self, kind: str, name: str, password: str | None, addons: list[str] | None,
             folders: list[str] | None) -> str | None:
        from handlers.homeassistant.snapshots import schema

        self.listing()
        if not self._operation.acquire(blocking=False):
            log.error("It is already a snapshot/restore process running")
            return None
        try:
            date = schema.new_date()
            slug = schema.create_slug(name, date)
            label = "Full-Snapshot" if kind == "full" else "Partial-Snapshot"
            log.info("%s %s start", label, slug)
            try:
                path = self._write(slug, kind, name, date, password, addons, folders)
            except Exception:  # a full disk, an unreadable folder: nothing is kept
                log.exception("Snapshot %s error", slug)
                return None
            with self._files:
                assert self._snapshots is not None
                self._snapshots[slug] = Snapshot(path, self._load_data(path))
            log.info("%s %s done", label, slug)
            return slug
        finally:
            self._operation.release()

    def _load_data(self, path: Path) -> dict[str, Any]:
        snapshot = self._load(path)
        if snapshot is None:
            raise RuntimeError(f"{path.name} cannot be read back")
        return snapshot.data

    def _write(self, slug: str, kind: str, name: str, date: str, password: str | None,
               addons: list[str] | None, folders: list[str] | None) -> Path:
        from handlers.homeassistant.snapshots import archive, crypto, schema

        data: dict[str, Any] = {"slug": slug, "name": name, "date": date, "type": kind}
        key = None
        if password:
            key = crypto.password_to_key(password)
            data.update(protected=crypto.password_marker(password), crypto=schema.CRYPTO_AES128)
        data["homeassistant"] = self._store_homeassistant(key)
        data["repositories"] = list(self.settings.get().addons_repositories)
        data["folders"], data["addons"] = [], []
        part = self.backup_dir / f".{slug}.tar{PART}"
        final = self.backup_dir / f"{slug}.tar"
        try:
            with archive.Writer(part, key) as writer:
                wanted = self._installed() if addons is None else addons
                if wanted:
                    log.info("Snapshot %s store Add-ons", slug)
                for addon in wanted:
                    entry = self._store_addon(writer, addon)
                    if entry:
                        data["addons"].append(entry)
                wanted_folders = [f for f in schema.ALL_FOLDERS if folders is None or f in folders]
                if wanted_folders:
                    log.info("Snapshot %s store folders", slug)
                for folder in wanted_folders:
                    origin = self.folder / folder
                    if not origin.is_dir():
                        log.warning("Can't find snapshot folder %s", folder)
                        continue
                    log.info("Snapshot folder %s", folder)
                    writer.add_folder(folder, origin)
                    data["folders"].append(folder)
                    log.info("Snapshot folder %s done", folder)
                writer.add_json(schema.validate(data))
            durable_replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        return final

    def _installed(self) -> list[str]:
        if self.addons is None:
            return []
        return list(self.addons.installed_slugs())

    def _store_addon(self, writer: Any, slug: str) -> dict[str, Any] | None:
        """The add-on's archive; None (and a warning) when it is not installed or cannot be saved.
        Only a failure to write the snapshot file itself is raised."""
        if self.addons is None or slug not in self.addons.installed_slugs():
            log.warning("Add-on %s not found/installed", slug)
            return None
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="snapshot-", dir=self.tmp_dir) as temp:
            try:
                meta = self.addons.backup(slug, Path(temp))
            except Exception as err:  # noqa: BLE001 - 138 logged any failure and left the add-on out
                log.error("Can't make snapshot from %s: %s", slug, err)
                return None
            log.info("Snapshot add-on %s", slug)
            size = writer.add_addon(slug, Path(temp))
        return {"slug": slug, "name": meta.get("name", slug), "version": meta.get("version"),
                "size": round(size / 1048576, 2)}

    def _store_homeassistant(self, key: bytes | None) -> dict[str, Any]:
        """Home Assistant's settings as 138's store_homeassistant took them; the refresh token and
        the password encrypted when there is a key."""
        from handlers.homeassistant.snapshots import crypto

        core = self.core
        settings = core.settings()
        found: dict[str, Any] = {"version": core.version(), "watchdog": settings["watchdog"],
                                 "boot": settings["boot"], "wait_boot": settings["wait_boot"]}
        if found["version"] is None:
            del found["version"]  # 138 wrote "None" (Coerce(str) of null); nothing is installed
        if core.is_custom():
            found.update(image=core.image, last_version=core.last_version())
        found.update(port=settings["port"], ssl=settings["ssl"])
        secrets = {"refresh_token": settings.get("refresh_token"), "password": settings.get("password")}
        found.update(crypto.encrypt_fields(secrets, key) if key else secrets)
        return found

    # restoring
    def restore_full(self, slug: str, password: str | None = None) -> bool:
        """Everything in the snapshot; installed add-ons that it lacks are uninstalled."""
        return self._restore(slug, password, full=True)

    def restore_partial(self, slug: str, homeassistant: bool = False, addons: list[str] | None = None,
                        folders: list[str] | None = None, password: str | None = None) -> bool:
        """Only these parts (138: Home Assistant's settings only with its folder)."""
        return self._restore(slug, password, full=False, homeassistant=homeassistant, addons=addons or [],
                             folders=folders or [])

    def _restore(self, slug: str, password: str | None, *, full: bool, homeassistant: bool = False,
                 addons: list[str] | None = None, folders: list[str] | None = None) -> bool:
        snapshot = self.get(slug)
        if snapshot is None:
            return False
        if not self._operation.acquire(blocking=False):
            log.error("It is already a snapshot/restore process running")
            return False
        try:
            if full and snapshot.type != "full":
                log.error("Restore %s is only a partial snapshot!", slug)
                return False
            key = self._key(snapshot, password)
            if snapshot.protected and key is None:
                log.error("Invalid password for snapshot %s", slug)
                return False
            label = "Full-Restore" if full else "Partial-Restore"
            log.info("%s %s start", label, slug)
            from handlers.homeassistant.snapshots.restore import Restore, RestoreRefused

            steps = Restore(self.folder, self.core, self.settings, self.addons)
            try:
                if full:
                    steps.full(snapshot, key)
                else:
                    steps.partial(snapshot, key, homeassistant, addons or [], folders or [])
            except RestoreRefused as err:
                log.error("Restore %s refused, nothing changed: %s", slug, err)
                return False
            except Exception:
                log.exception("Restore %s error", slug)
                return False
            log.info("%s %s done", label, slug)
            return True
        finally:
            self._operation.release()

    @staticmethod
    def _key(snapshot: Snapshot, password: str | None) -> bytes | None:
        """The key when the password matches the snapshot's marker (None for unprotected ones)."""
        from handlers.homeassistant.snapshots import crypto

        if not snapshot.protected or not password:
            return None
        if crypto.password_marker(password) != snapshot.data["protected"]:
            return None
        return crypto.password_to_key(password)
