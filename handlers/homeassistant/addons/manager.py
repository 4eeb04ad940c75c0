"""`Addons`: what the /addons routes, the boot and the snapshots call (the package's contract), as
tag 138's hassio/addons/__init__.py, addons/addon.py and api/addons.py did it.

Domain errors are InvalidInput(<138's message>); where 138's method returned False (a failed pull,
an add-on already installed, stop without a container) the method returns False, which the hassio
dialect answers 400 with message null as api_process did. Blocking: call off the event loop.
Operations on one add-on are serialised (138's process_lock); different add-ons run side by side.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import InvalidInput
from handlers.homeassistant.addons import params
from handlers.homeassistant.addons.addon import ASSETS, Addon
from handlers.homeassistant.addons.checks import check_stored, humanized, user_changes
from handlers.homeassistant.addons.container import (
    AddonContainer,
    engine_network,
    host_facts,
    remove_folder,
    write_json_atomic,
)
from handlers.homeassistant.addons.keeper import StoreKeeper, made_on_first_use
from handlers.homeassistant.container import Stats
from handlers.homeassistant.tokens import AddonGrant, Tokens, new_token

log = logging.getLogger("polyvisor.hassio.addons")


class Addons:
    """The add-ons of the store and the installed ones, with their containers."""

    def __init__(self, store: Any, installed: Any, engine: Engine, tokens: Tokens, data_folder: Path,
                 arch: str, machine: str, timezone: Callable[[], str] = lambda: "UTC",
                 wait_boot: Callable[[], float] = lambda: 0, network: str | None = None,
                 on_uninstall: Callable[[str], None] | None = None,
                 repositories: Callable[[], Iterable[str]] | None = None) -> None:
        # handlers.homeassistant.addons.store.AddonStore and .installed.Installed, or functions
        # making them on first use (the agent's start then loads none of their modules)
        self.keeper = StoreKeeper(store, repositories)  # the store, and the repositories cloned on first use
        self._installed = installed
        self.engine = engine
        self.tokens = tokens
        self.data_folder = data_folder
        self.arch = arch
        self.machine = machine
        self._timezone = timezone
        self._wait_boot = wait_boot
        self._network = network  # None: decided on the first run from the engine (params.py)
        self.on_uninstall = on_uninstall  # e.g. removing the add-on's discovery messages
        self._locks: dict[str, threading.RLock] = {}
        self._closing = threading.Event()  # ends boot's wait_boot pause when the agent stops
        self._guard = threading.Lock()

    @property
    def store(self) -> Any:
        return self.keeper.get()

    @property
    def installed(self) -> Any:
        if made_on_first_use(self._installed):
            with self._guard:
                if made_on_first_use(self._installed):
                    self._installed = self._installed()
        return self._installed

    # lookups
    def _lock(self, slug: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(slug, threading.RLock())

    def _cache(self, slug: str) -> dict[str, Any] | None:
        found = self.store.get(slug)
        if found is None:
            return None
        return {**found.config, "location": str(found.path), "repository": found.repository}

    def _addon(self, slug: str, installed: bool = True) -> Addon:
        """The add-on; InvalidInput as 138's _extract_addon."""
        addon = Addon(slug, self._cache(slug), self.installed.system(slug), self.installed.user(slug),
                      self.arch, self.machine)
        if addon.cache is None and addon.system is None:
            raise InvalidInput("Addon does not exist")
        if installed and not addon.installed:
            raise InvalidInput("Addon is not installed")
        return addon

    def _container(self, addon: Addon) -> AddonContainer:
        return AddonContainer(self.engine, addon.slug, addon.image, int(addon.mesh.get("timeout", 10)))

    def host(self) -> params.Host:
        """What this host offers add-ons; the network decided from the engine on first use."""
        if self._network is None:
            self._network = engine_network(self.engine)
        return host_facts(self.engine, self.data_folder, self._network)

    def installed_slugs(self) -> list[str]:
        return list(self.installed.slugs())

    def is_running(self, slug: str) -> bool:
        return self.state(slug) == "started"

    def state(self, slug: str) -> str:
        """none / started / stopped (138's Addon.state)."""
        system = self.installed.system(slug)
        if system is None:
            return "none"
        addon = Addon(slug, None, system, self.installed.user(slug), self.arch, self.machine)
        return "started" if self._container(addon).is_running() else "stopped"

    # listing
    def listing(self) -> dict[str, Any]:
        """GET /addons: every add-on of the store and the detached installed ones, and the repositories."""
        slugs = [a.slug for a in self.store.addons()]
        slugs += [s for s in self.installed_slugs() if s not in slugs]
        addons = []
        for slug in slugs:
            try:
                addons.append(self._addon(slug, installed=False).listing())
            except InvalidInput:  # gone between the two reads
                continue
        repositories = [{"slug": r.slug, "name": r.name, "source": r.source, "url": r.url,
                         "maintainer": r.maintainer} for r in self.store.repositories()]
        return {"addons": addons, "repositories": repositories}

    def info(self, slug: str) -> dict[str, Any]:
        addon = self._addon(slug, installed=False)
        return addon.info(self.state(slug))

    def asset(self, slug: str, kind: str) -> bytes:
        """icon.png, logo.png or CHANGELOG.md of the add-on's folder; 138's message when missing."""
        addon = self._addon(slug, installed=False)
        path = addon.asset(kind)
        if not path.is_file():
            raise InvalidInput(ASSETS[kind][1])
        return path.read_bytes()

    # store
    def load(self) -> None:
        """Read the repositories' folders (quick: no git)."""
        self.store.load()

    def load_repositories(self, epoch: int | None = None) -> None:
        self.keeper.load_repositories(epoch)

    def reload(self) -> None:
        self.store.reload()

    def set_repositories(self, urls: list[str]) -> Any:
        return self.keeper.set_repositories(urls)

    # lifecycle
    def _install_image(self, addon: Addon, version: str) -> bool:
        container = self._container(addon)
        if not addon.need_build:
            return container.pull(version)
        from handlers.homeassistant.addons.config import read_build

        build = read_build(addon.location, self.arch)
        return container.build(version, addon.location, params.build_arguments(addon.mesh, build, self.arch, version))

    def install(self, slug: str) -> bool:
        """Pull or build the store's version and record the add-on as installed."""
        with self._lock(slug):
            addon = self._addon(slug, installed=False)
            if not addon.available:
                log.error("Add-on %s not supported on %s", slug, self.arch)
                return False
            if addon.installed:
                log.error("Add-on %s is already installed", slug)
                return False
            assert addon.cache is not None and addon.last_version is not None
            data = self.host().addon_data(slug)
            made = not data.is_dir()
            if made:
                log.info("Create Home Assistant add-on data folder %s", data)
                data.mkdir(parents=True)
            log.info("install %s %s: %s", slug, addon.last_version,
                     "building the image" if addon.need_build else f"pulling {addon.image}")
            if not self._install_image(addon, addon.last_version):
                if made:
                    remove_folder(data)
                return False
            self.installed.install(slug, addon.cache)
            log.info("install %s %s: done", slug, addon.last_version)
            return True

    def uninstall(self, slug: str) -> bool:
        """Container and images removed, data folder removed, entries and token forgotten."""
        with self._lock(slug):
            addon = self._addon(slug)
            if not self._container(addon).remove_image(addon.version_installed):
                return False
            host = self.host()
            log.info("Remove Home Assistant add-on data folder %s", host.addon_data(slug))
            remove_folder(host.addon_data(slug))
            remove_folder(host.asound(slug))
            if self.on_uninstall is not None:
                self.on_uninstall(slug)
            self.tokens.remove_grant(slug)
            self.installed.uninstall(slug)
            return True

    def start(self, slug: str) -> bool | None:
        """A new access token (saved as the add-on's grant), /data/options.json, then the container.
        None when it runs already (138: a warning and ok)."""
        with self._lock(slug):
            addon = self._addon(slug)
            check_stored(addon)
            return self._start(addon)

    def _start(self, addon: Addon) -> bool | None:
        import voluptuous as vol

        from handlers.homeassistant.addons.options import validate_options

        container = self._container(addon)
        if container.is_running():
            log.warning("%s already running!", addon.slug)
            return None
        token = new_token()
        user = self.installed.set_user(addon.slug, access_token=token)
        mesh = addon.mesh
        self.save_grant(addon, token)
        host = self.host()
        options = addon.options
        try:
            validate_options(mesh.get("schema", False), options)
            # 138's write_options wrote the merged options as stored, once they validated
            write_json_atomic(host.addon_data(addon.slug) / "options.json", options)
        except vol.Invalid as err:
            log.error("Add-on %s have wrong options: %s", addon.slug, humanized(options, err))
            return False
        except OSError as err:
            log.error("Add-on %s can't write options: %s", addon.slug, err)
            return False
        if mesh.get("audio"):
            try:  # no ALSA defaults are known here: an empty config, as a host without sound cards
                host.asound(addon.slug).parent.mkdir(parents=True, exist_ok=True)
                host.asound(addon.slug).write_text("")
            except OSError as err:
                log.error("Add-on %s can't write asound: %s", addon.slug, err)
                return False
        if not addon.protected:
            log.warning("%s run with disabled protected mode!", mesh.get("name"))
        audio = (addon.audio("audio_output"), addon.audio("audio_input"))
        run = params.run_parameters(addon.slug, mesh, user, host, self._timezone(), token, audio)
        return container.run(run)

    def save_grant(self, addon: Addon, token: str) -> None:
        """The add-on's token and what its config allows, for part 1's role table (138 looked the
        token up in addons.json: valid from the start that made it until the next or uninstall)."""
        mesh = addon.mesh
        self.tokens.save_grant(AddonGrant(
            addon.slug, token, hassio_api=bool(mesh.get("hassio_api")),
            hassio_role=str(mesh.get("hassio_role") or "default"),
            homeassistant_api=bool(mesh.get("homeassistant_api")), auth_api=bool(mesh.get("auth_api")),
            discovery=tuple(mesh.get("discovery") or ()), services=tuple(mesh.get("services") or ())))

    def stop(self, slug: str) -> bool:
        with self._lock(slug):
            return self._container(self._addon(slug)).stop()

    def restart(self, slug: str) -> bool | None:
        """Stop and start; bad stored options are start's False here (138's API checked them only
        on start)."""
        with self._lock(slug):
            addon = self._addon(slug)
            self._container(addon).stop()
            return self._start(addon)

    def update(self, slug: str) -> bool:
        """The store's version installed; the container restarted when it ran."""
        with self._lock(slug):
            addon = self._addon(slug)
            if addon.last_version == addon.version_installed:
                raise InvalidInput("No update available!")
            assert addon.cache is not None and addon.last_version is not None
            running = self._container(addon).is_running()
            new = Addon(slug, addon.cache, addon.cache, addon.user, self.arch, self.machine)
            log.info("update %s %s -> %s", slug, addon.version_installed, addon.last_version)
            if not self._install_image(new, addon.last_version):
                return False
            self._container(addon).stop()
            self._container(new).cleanup()
            self.installed.update(slug, addon.cache)
            if running:
                self._start(self._addon(slug))
            return True

    def rebuild(self, slug: str) -> bool:
        """A local build's image built again at the installed version."""
        with self._lock(slug):
            addon = self._addon(slug)
            if not addon.need_build:
                raise InvalidInput("Only local build addons are supported")
            running = self._container(addon).is_running()
            if not self._container(addon).remove_image(addon.version_installed):
                return False
            if not self._install_image(addon, str(addon.version_installed)):
                return False
            if running:
                self._start(addon)
            return True

    # settings
    def set_options(self, slug: str, changes: dict[str, Any]) -> bool:
        """POST /addons/{slug}/options after SCHEMA_OPTIONS (checks.py); None resets network,
        audio and options."""
        with self._lock(slug):
            self.installed.set_user(slug, **user_changes(self._addon(slug), changes))
            return True

    def set_security(self, slug: str, protected: bool | None) -> bool:
        with self._lock(slug):
            self._addon(slug)
            if protected is not None:
                log.warning("Protected flag changing for %s!", slug)
                self.installed.set_user(slug, protected=bool(protected))
            return True

    # container i/o
    def stdin(self, slug: str, data: bytes) -> bool:
        addon = self._addon(slug)
        if not addon.mesh.get("stdin"):
            raise InvalidInput("STDIN not supported by add-on")
        with self._lock(slug):
            return self._container(addon).write_stdin(data)

    def logs(self, slug: str) -> bytes:
        return self._container(self._addon(slug)).logs()

    def stats(self, slug: str) -> Stats:
        found = self._container(self._addon(slug)).stats()
        if found is None:
            raise InvalidInput("No stats available")
        return found

    # boot
    def boot(self, stage: str) -> None:
        """Start the installed `boot: auto` add-ons of a startup stage, then wait wait_boot seconds."""
        started = 0
        for slug in self.installed_slugs():
            if self._closing.is_set():
                break
            try:
                addon = self._addon(slug)
                if addon.boot != "auto" or addon.mesh.get("startup") != stage:
                    continue
                started += 1
                with self._lock(slug):
                    check_stored(addon)
                    self._start(addon)
            except InvalidInput as err:
                log.error("Add-on %s did not start at boot: %s", slug, err)
            except Exception:  # one add-on must not keep the others from starting
                log.exception("Add-on %s did not start at boot", slug)
        log.info("Startup %s run %d add-ons", stage, started)
        if started:
            self._closing.wait(max(0.0, float(self._wait_boot())))

    def close(self) -> None:
        """The agent stops: a boot waiting wait_boot returns at once."""
        self._closing.set()

    # snapshots (backup.py)
    def backup(self, slug: str, folder: Path) -> dict[str, Any]:
        """addon.json {user, system, version, state}, image.tar for a local build, data/ into folder."""
        from handlers.homeassistant.addons.backup import backup

        with self._lock(slug):
            return backup(self, self._addon(slug), folder)

    def restore(self, slug: str, folder: Path) -> bool | None:
        """The add-on as backup() left it in folder: entries, image, data; started when it was."""
        from handlers.homeassistant.addons.backup import restore

        with self._lock(slug):
            return restore(self, slug, folder)
