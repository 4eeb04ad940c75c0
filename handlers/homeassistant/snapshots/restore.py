"""The steps of a restore (tag 138's do_restore_full and do_restore_partial, hassio.md §4.6) once
the snapshot, the password and the lock are checked: everything needed is extracted into a staging
folder first (nothing changes when that fails), then what must stop stops and the staged parts
are swapped in. Steps whose failure 138 logged and went on from are logged here too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from handlers.homeassistant.snapshots.snapshot import Snapshot

log = logging.getLogger("polyvisor.hassio.snapshots")


class RestoreRefused(Exception):
    """The snapshot cannot be restored: wrong password, corrupt, or a member refused."""


class Restore:
    """Restores into the hassio data folder `folder`, with Home Assistant (`core`), the
    supervisor's settings and the add-ons (None when the agent has none)."""

    def __init__(self, folder: Path, core: Any, settings: Any, addons: Any) -> None:
        self.folder = folder
        self.core = core
        self.settings = settings
        self.addons = addons

    @property
    def tmp_dir(self) -> Path:
        return self.folder / "tmp"

    def _homeassistant_settings(self, snapshot: Snapshot, key: bytes | None) -> dict[str, Any]:
        """What restore_homeassistant wrote into Home Assistant's settings, the secrets decrypted."""
        from handlers.homeassistant.snapshots import crypto

        data = snapshot.homeassistant
        secrets = {"refresh_token": data.get("refresh_token"), "password": data.get("password")}
        if key:
            try:
                secrets = crypto.decrypt_fields(secrets, key)
            except crypto.WrongPassword as err:
                raise RestoreRefused(f"wrong password ({err})") from None
        changes = {name: data[name] for name in ("watchdog", "boot", "wait_boot", "port", "ssl")}
        changes.update(secrets)
        if data.get("image"):
            changes.update(image=data["image"], last_version=data["last_version"])
        return changes

    def _stage(self, snapshot: Snapshot, key: bytes | None, stage: Path, folders: list[str],
               addons: list[str]) -> tuple[list[str], list[str]]:
        """Extract these folders' and add-ons' archives under `stage`; what was found of each.
        Nothing outside `stage` changes; any unreadable or refused archive refuses the restore."""
        from handlers.homeassistant.snapshots import archive

        staged_folders, staged_addons = [], []
        try:
            with archive.Reader(snapshot.path, key) as reader:
                for folder in folders:
                    if not reader.has(folder):
                        log.warning("Can't find restore folder %s", folder)
                        continue
                    log.info("Restore %s extract folder %s", snapshot.slug, folder)
                    reader.extract(folder, stage / "folders" / folder.replace("/", "_"))
                    staged_folders.append(folder)
                for addon in addons:
                    if not reader.has(addon):
                        log.error("Can't find snapshot for %s", addon)
                        continue
                    log.info("Restore %s extract add-on %s", snapshot.slug, addon)
                    reader.extract(addon, stage / "addons" / addon)
                    staged_addons.append(addon)
        except Exception as err:  # noqa: BLE001 - tarfile, gzip, zlib, AES, OSError: nothing changed yet
            raise RestoreRefused(f"{type(err).__name__}: {err}") from None
        return staged_folders, staged_addons

    def full(self, snapshot: Snapshot, key: bytes | None) -> None:
        """138's do_restore_full after its checks."""
        settings = self._homeassistant_settings(snapshot, key)
        with self._staging() as stage:
            wanted_addons = snapshot.addon_list if self.addons is not None else []
            folders, addons = self._stage(snapshot, key, stage, snapshot.folders, wanted_addons)
            self._shutdown()
            log.info("Restore %s run folders", snapshot.slug)
            for folder in folders:
                self._replace_folder(stage / "folders" / folder.replace("/", "_"), self.folder / folder)
            log.info("Restore %s run Home-Assistant", snapshot.slug)
            self.core.save(settings)
            update = self._update_homeassistant(snapshot)
            log.info("Restore %s run Repositories", snapshot.slug)
            self._restore_repositories(list(snapshot.data["repositories"]))
            if self.addons is not None:
                extra = [slug for slug in self.addons.installed_slugs() if slug not in snapshot.addon_list]
                if extra:
                    log.info("Restore %s remove add-ons", snapshot.slug)
                for slug in extra:
                    self._quietly(self.addons.uninstall, slug, what=f"uninstall {slug}")
                log.info("Restore %s old add-ons", snapshot.slug)
                self._restore_addons(stage, addons)
            log.info("Restore %s wait until homeassistant ready", snapshot.slug)
            update.join()
            self._start_homeassistant()

    def partial(self, snapshot: Snapshot, key: bytes | None, homeassistant: bool, addons: list[str],
                folders: list[str]) -> None:
        """138's do_restore_partial after its checks."""
        settings = self._homeassistant_settings(snapshot, key)
        with self._staging() as stage:
            if self.addons is None:
                for slug in addons:
                    log.warning("Can't restore addon %s", slug)
                addons = []
            folders, staged = self._stage(snapshot, key, stage, folders, addons)
            if homeassistant and "homeassistant" in folders:
                self._quietly(self.core.stop, what="stop Home Assistant")
                self.core.save(settings)
            if folders:
                log.info("Restore %s run folders", snapshot.slug)
            for folder in folders:
                self._replace_folder(stage / "folders" / folder.replace("/", "_"), self.folder / folder)
            update = self._update_homeassistant(snapshot) if homeassistant else None
            if staged:
                log.info("Restore %s old add-ons", snapshot.slug)
                self._restore_addons(stage, staged)
            if update is not None:
                log.info("Restore %s wait for Home-Assistant", snapshot.slug)
                update.join()
            self._start_homeassistant()

    @contextlib.contextmanager
    def _staging(self) -> Any:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="restore-", dir=self.tmp_dir) as temp:
            yield Path(temp)

    def _shutdown(self) -> None:
        """Running add-ons, then Home Assistant (138's core shutdown, errors logged)."""
        if self.addons is not None:
            for slug in self.addons.installed_slugs():
                if self._quietly(self.addons.is_running, slug, what=f"ask whether {slug} runs"):
                    self._quietly(self.addons.stop, slug, what=f"stop {slug}")
        self._quietly(self.core.stop, what="stop Home Assistant")

    def _restore_addons(self, stage: Path, slugs: list[str]) -> None:
        for slug in slugs:
            log.info("Restore add-on %s", slug)
            if self._quietly(self.addons.restore, slug, stage / "addons" / slug, what=f"restore {slug}") is False:
                log.error("Can't restore snapshot for %s", slug)

    def _restore_repositories(self, urls: list[str]) -> None:
        """138's load_repositories: the add-on store clones new repositories and drops the others;
        the supervisor's list keeps what 138 kept (POST /supervisor/options does the same: a URL
        that cannot be cloned is not added, one already listed stays)."""
        if self.addons is None:
            self.settings.update(addons_repositories=urls)
            return

        def load() -> None:
            from handlers.homeassistant.addons.store import kept_repositories

            before = self.addons.store.sources()
            after = self.addons.set_repositories(urls)
            configured = self.settings.get().addons_repositories
            self.settings.update(addons_repositories=kept_repositories(configured, before, after))
        self._quietly(load, what="restore repositories")

    def _update_homeassistant(self, snapshot: Snapshot) -> threading.Thread:
        """Home Assistant updated to the snapshot's version, in the background (138's task_hass)."""
        version = snapshot.homeassistant.get("version")

        def update() -> None:
            if version:
                self._quietly(self.core.update, version, what=f"install Home Assistant {version}")
        thread = threading.Thread(target=update, name="hassio-restore-homeassistant", daemon=True)
        thread.start()
        return thread

    def _start_homeassistant(self) -> None:
        """Start Home Assistant when one is installed and not running."""
        core = self.core

        def start() -> None:
            if core.version() is not None and not core.container.is_running(core.image):
                core.start()
        self._quietly(start, what="start Home Assistant")

    @staticmethod
    def _quietly(function: Any, *args: Any, what: str) -> Any:
        """One step whose failure 138 logged and went on from (its calls returned False): what it
        returned, False when it raised."""
        try:
            return function(*args)
        except Exception as err:  # noqa: BLE001 - 138 went on after any of these steps failed
            log.error("Restore: cannot %s: %s", what, err)
            return False

    @staticmethod
    def _replace_folder(staged: Path, target: Path) -> None:
        """The target folder emptied (not removed: it is bind-mounted into containers), then the
        staged contents moved in, with the archived folder's own mode and owner."""
        target.mkdir(parents=True, exist_ok=True)
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        for child in staged.iterdir():
            try:
                os.rename(child, target / child.name)
            except OSError:  # another file system (a mount on the target)
                shutil.move(str(child), str(target / child.name))
        status = staged.lstat()
        with contextlib.suppress(OSError):
            os.chown(target, status.st_uid, status.st_gid)
            os.chmod(target, status.st_mode & 0o7777)
