"""Snapshots on a temporary hassio data folder, with Home Assistant, the supervisor's settings and
the add-ons replaced by recording stand-ins (their real ones are tested in tests/integration)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from handlers.homeassistant.settings import SupervisorSettings
from handlers.homeassistant.snapshots.manager import Snapshots

HOME = {"boot": True, "port": 8123, "ssl": False, "watchdog": True, "wait_boot": 600,
        "password": "api-password", "refresh_token": "refresh-token-of-home-assistant"}


class FakeContainer:
    def __init__(self, core: FakeCore) -> None:
        self.core = core

    def is_running(self, image: str) -> bool:
        return self.core.running


@dataclass
class FakeCore:
    """Home Assistant's settings (Core's interface); start/stop/update recorded."""

    conf: dict[str, Any] = field(default_factory=lambda: dict(HOME))
    installed: str | None = None
    running: bool = False
    calls: list[str] = field(default_factory=list)
    image: str = "homeassistant/qemux86-64-homeassistant"

    def __post_init__(self) -> None:
        self.container = FakeContainer(self)

    def settings(self) -> dict[str, Any]:
        return dict(self.conf)

    def save(self, changes: dict[str, Any]) -> None:
        self.conf.update(changes)

    def version(self) -> str | None:
        return self.installed

    def is_custom(self) -> bool:
        return False

    def last_version(self) -> str | None:
        return self.installed

    def stop(self) -> bool:
        self.calls.append("stop")
        self.running = False
        return True

    def start(self) -> None:
        self.calls.append("start")
        self.running = True

    def update(self, version: str) -> None:
        self.calls.append(f"update {version}")
        self.installed = version


class FakeSettings:
    def __init__(self) -> None:
        self.value = SupervisorSettings(addons_repositories=("https://example.invalid/addons",))

    def get(self) -> SupervisorSettings:
        return self.value

    def update(self, **changes: Any) -> None:
        from dataclasses import replace

        self.value = replace(self.value, addons_repositories=tuple(changes["addons_repositories"]))


class FakeStore:
    def __init__(self) -> None:
        self.loaded: list[str] = []

    def sources(self) -> list[str]:
        return list(self.loaded)


class FakeAddons:
    """The Addons contract's snapshot side: data in <folder>/addons/data/<slug>."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.installed: dict[str, dict[str, Any]] = {}
        self.running: set[str] = set()
        self.calls: list[str] = []
        self.store = FakeStore()

    def data(self, slug: str) -> Path:
        return self.folder / "addons" / "data" / slug

    def install(self, slug: str, version: str = "1.0") -> Path:
        self.installed[slug] = {"name": f"Add-on {slug}", "version": version}
        self.data(slug).mkdir(parents=True, exist_ok=True)
        return self.data(slug)

    def installed_slugs(self) -> list[str]:
        return list(self.installed)

    def is_running(self, slug: str) -> bool:
        return slug in self.running

    def stop(self, slug: str) -> None:
        self.calls.append(f"stop {slug}")
        self.running.discard(slug)

    def uninstall(self, slug: str) -> None:
        self.calls.append(f"uninstall {slug}")
        self.installed.pop(slug)
        shutil.rmtree(self.data(slug))

    def set_repositories(self, urls: list[str]) -> list[str]:
        self.calls.append(f"repositories {urls}")
        self.store.loaded = list(urls)
        return list(urls)

    def backup(self, slug: str, folder: Path) -> dict[str, Any]:
        meta = {"slug": slug, **self.installed[slug]}
        (folder / "addon.json").write_text(json.dumps({"user": {}, "system": {}, "version": meta["version"],
                                                       "state": "started" if slug in self.running else "stopped"}))
        (folder / "data").symlink_to(self.data(slug))
        return meta

    def restore(self, slug: str, folder: Path) -> None:
        self.calls.append(f"restore {slug}")
        state = json.loads((folder / "addon.json").read_text())
        self.installed[slug] = {"name": f"Add-on {slug}", "version": state["version"]}
        if self.data(slug).exists():
            shutil.rmtree(self.data(slug))
        shutil.copytree(folder / "data", self.data(slug), symlinks=True)
        if state["state"] == "started":
            self.running.add(slug)


@dataclass
class World:
    folder: Path
    core: FakeCore
    settings: FakeSettings
    addons: FakeAddons
    snapshots: Snapshots


@pytest.fixture
def world(tmp_path: Path) -> World:
    folder = tmp_path / "hassio"
    for name in ("homeassistant", "share", "addons/local", "ssl"):
        (folder / name).mkdir(parents=True)
    core, settings, addons = FakeCore(), FakeSettings(), FakeAddons(folder)
    return World(folder, core, settings, addons, Snapshots(folder, core, settings, addons))


def tree(folder: Path) -> dict[str, Any]:
    """Every entry under folder: file contents, link targets, "dir"; with mode bits and owner."""
    found: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        status = path.lstat()
        if path.is_symlink():
            found[name] = ("link", str(path.readlink()))
        elif path.is_dir():
            found[name] = ("dir", oct(status.st_mode & 0o7777), status.st_uid)
        else:
            found[name] = (path.read_bytes(), oct(status.st_mode & 0o7777), status.st_uid)
    return found
