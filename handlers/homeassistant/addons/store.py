"""The add-on store: the repositories the agent knows and the add-ons they hold, as tag 138's
hassio/addons/{__init__,data,repository}.py kept them.

    <root>/local/           the built-in local repository: plain folders, no git (made at start)
    <root>/core/            the core repository, cloned from core_url (none when it is empty)
    <root>/git/<id>/        a custom repository, id = sha1(url.lower())[:8]; it must hold a valid
                            repository.json or its add-ons are ignored

Every config.json under a repository (at any depth) is an add-on whose full slug is
`<repository id>_<slug>`; one that does not validate is skipped with a warning naming the file.
Reading is cheap and done by load() at start; git work happens in set_repositories() (clone the
new, remove the dropped) and reload() (pull them all). Readers get the current snapshot without
waiting for git; the writers are serialised.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import voluptuous as vol
from voluptuous.humanize import humanize_error

from handlers.homeassistant.addons.config import MACHINE_ALL, read_json, validate_config, validate_repository
from handlers.homeassistant.addons.git import GitError, GitRepository, remove_tree, run_git, split_url
from handlers.redact import redact_url

log = logging.getLogger("polyvisor.hassio.addons")

CORE = "core"
LOCAL = "local"
# 138's built-in.json: what the built-in repositories are called.
BUILTIN = {
    LOCAL: {"name": "Local add-ons", "url": "https://home-assistant.io/hassio", "maintainer": "you"},
    CORE: {"name": "Official add-ons", "url": "https://home-assistant.io/addons",
           "maintainer": "Home Assistant"},
}
UNKNOWN = "unknown"
RE_REPOSITORY_ID = re.compile(r"[a-f0-9]{8}")
WORKERS = 4  # git commands run side by side (138 ran them all at once)


def repository_id(url: str) -> str:
    """A custom repository's id: the first 8 hex digits of sha1 of its URL in lower case."""
    return hashlib.sha1(url.lower().encode()).hexdigest()[:8]


def id_from_folder(name: str) -> str:
    """138's extract_hash_from_path: a folder name starting with 8 hex digits is the id."""
    return name if RE_REPOSITORY_ID.match(name) else repository_id(name)


def kept_repositories(configured: Iterable[str], before: Iterable[str], after: Iterable[str]) -> list[str]:
    """The addons_repositories setting after set_repositories(), as tag 138 kept it: `configured`
    (the setting before the call) without the repositories the call removed (loaded `before`, not
    `after`), plus the ones it loaded anew, appended. A URL that failed to load is not added, but
    one already in the setting stays there (138 only dropped repositories it had loaded)."""
    before_set, after_set = set(before), set(after)
    kept = [url for url in configured if not (url in before_set and url not in after_set)]
    return kept + [url for url in after if url not in kept]


@dataclass(frozen=True)
class Repository:
    """One repository as GET /addons lists it."""

    slug: str  # core, local or the 8-hex id
    name: str
    source: str | None  # the URL as configured (url#branch); None for core and local
    url: str | None
    maintainer: str
    path: Path


@dataclass(frozen=True, eq=False)
class StoreAddon:
    """An add-on a repository offers: its validated config.json, with `repository` and
    `location` (the folder) added as 138's cache held them."""

    slug: str  # full slug: <repository>_<config slug>
    repository: str
    path: Path
    config: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.config["version"])

    @property
    def build(self) -> bool:
        """Built here from the folder's Dockerfile (no `image` in config.json)."""
        return "image" not in self.config

    def image(self, arch: str) -> str:
        """The Docker image (without tag) for `arch`: config's image with {arch} filled in, else
        `<repository>/<arch>-addon-<config slug>` for a local build."""
        if "image" in self.config:
            return str(self.config["image"]).replace("{arch}", arch)
        return f"{self.repository}/{arch}-addon-{self.config['slug']}"

    def available(self, arch: str | None, machine: str | None) -> bool:
        """It runs on this arch and machine (138: machine list default every machine; an unknown
        machine passes only add-ons that name none)."""
        if arch not in self.config["arch"]:
            return False
        machines = self.config.get("machine") or MACHINE_ALL
        if machine is None:
            return not self.config.get("machine")
        return machine in machines


class AddonStore:
    """The repositories under `root` and their add-ons."""

    def __init__(self, root: Path, core_url: str | None, arch: str | None, machine: str | None) -> None:
        self.root = Path(root)
        self.core_url = core_url or None
        if self.core_url:
            try:
                split_url(self.core_url)
            except ValueError:
                log.error("No core add-on repository: %s is no repository URL", redact_url(self.core_url))
                self.core_url = None
        self.arch = arch
        self.machine = machine
        self.local_path = self.root / LOCAL
        self.core_path = self.root / CORE
        self.git_path = self.root / "git"
        self._sources: dict[str, str] = {}  # custom repository id -> its URL as configured
        self._repositories: dict[str, Repository] = {}
        self._addons: dict[str, StoreAddon] = {}
        self._lock = threading.RLock()

    # readers: the current snapshot
    def repositories(self) -> list[Repository]:
        """core (when enabled and cloned), local, then the custom ones in configured order."""
        return list(self._repositories.values())

    def addons(self) -> list[StoreAddon]:
        return list(self._addons.values())

    def get(self, slug: str) -> StoreAddon | None:
        return self._addons.get(slug)

    def repository(self, slug: str) -> Repository | None:
        return self._repositories.get(slug)

    def sources(self) -> list[str]:
        """The custom repositories' URLs that are loaded."""
        return list(self._sources.values())

    def available(self, addon: StoreAddon) -> bool:
        return addon.available(self.arch, self.machine)

    def image(self, addon: StoreAddon) -> str:
        return addon.image(self.arch or "amd64")

    # writers
    def load(self) -> None:
        """Make the folders, remove what an interrupted clone left, read what they hold (no git:
        quick, for the agent's start)."""
        with self._lock:
            for folder in (self.local_path, self.git_path):
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as err:
                    log.error("Can't create %s: %s", folder, err)
            for folder in (self.root, self.git_path):
                for leftover in folder.glob(".*.clone-*"):  # GitRepository.clone's temporary folders
                    log.info("Remove %s, left by an interrupted clone", leftover)
                    remove_tree(leftover)
            self._scan()

    def set_repositories(self, urls: Iterable[str]) -> list[str]:
        """Make the custom repositories exactly `urls`: clone the new ones (and the core one when
        it is missing), remove the others, read them all. The URLs now loaded, in the given order.

        A URL that cannot be cloned is logged (138: "Can't load from repository <url>") and left
        out of the result; 138 then kept it out of its addons_repositories unless it was there
        already (see hassio/addons/__init__.py load_repositories)."""
        wanted: dict[str, str] = {}
        for url in urls:
            try:
                split_url(url)
            except ValueError:
                log.error("Can't load from repository %s", redact_url(url))
                continue
            wanted.setdefault(repository_id(url), url)
        with self._lock:
            jobs: dict[str, GitRepository] = {}
            if self.core_url:
                core = GitRepository(self.core_path, self.core_url)
                if not self._current(core):
                    jobs[CORE] = core
            for ident, url in wanted.items():
                repo = GitRepository(self.git_path / ident, url)
                if not self._current(repo):
                    jobs[ident] = repo
            failed = {ident for ident, ok in self._each(jobs, self._clone) if not ok}
            for folder in self._git_folders():
                if id_from_folder(folder.name) not in wanted:
                    shown = redact_url(self._sources.get(folder.name, str(folder)))
                    log.info("Remove custom add-on repository %s", shown)
                    remove_tree(folder)
            self._sources = {ident: url for ident, url in wanted.items() if ident not in failed}
            self._scan()
            return list(self._sources.values())

    def reload(self) -> None:
        """Pull every git repository (fetch, hard reset, clean), then read them all again."""
        with self._lock:
            jobs: dict[str, GitRepository] = {}
            if self.core_url and (self.core_path / ".git").exists():
                jobs[CORE] = GitRepository(self.core_path, self.core_url)
            for ident, url in self._sources.items():
                if (self.git_path / ident / ".git").exists():
                    jobs[ident] = GitRepository(self.git_path / ident, url)
            list(self._each(jobs, self._pull))
            self._scan()

    # git work
    @staticmethod
    def _current(repo: GitRepository) -> bool:
        """A working copy of this repository's URL is there already."""
        if not repo.exists():
            return False
        try:
            origin = run_git(["config", "--get", "remote.origin.url"], cwd=repo.path).strip()
        except GitError:
            return False
        return origin == repo.url

    @staticmethod
    def _clone(repo: GitRepository) -> bool:
        try:
            repo.clone()
            return True
        except GitError:
            log.error("Can't load from repository %s", redact_url(repo.source))
            remove_tree(repo.path)  # 138 removed what was there when a clone failed
            return False

    @staticmethod
    def _pull(repo: GitRepository) -> bool:
        try:
            return repo.pull()
        except GitError:
            log.error("Can't update %s repo", redact_url(repo.source))
            return False

    @staticmethod
    def _each(jobs: dict[str, GitRepository], work: Any) -> Iterator[tuple[str, bool]]:
        if not jobs:
            return iter(())
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs)), thread_name_prefix="addon-git") as pool:
            results = dict(zip(jobs, pool.map(work, jobs.values())))
        return iter(results.items())

    # reading the folders
    def _git_folders(self) -> list[Path]:
        """The custom repositories' folders (not the temporary ones of a clone under way)."""
        try:
            return sorted(p for p in self.git_path.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return []

    def _scan(self) -> None:
        repositories: dict[str, Repository] = {}
        addons: dict[str, StoreAddon] = {}
        if self.core_url and (self.core_path / ".git").exists():
            repositories[CORE] = self._builtin(CORE, self.core_path)
            addons.update(self._read_addons(self.core_path, CORE))
        repositories[LOCAL] = self._builtin(LOCAL, self.local_path)
        addons.update(self._read_addons(self.local_path, LOCAL))
        folders = {id_from_folder(p.name): p for p in self._git_folders()}
        order = [i for i in self._sources if i in folders] + [i for i in folders if i not in self._sources]
        for ident in order:
            path = folders[ident]
            source = self._sources.get(ident)
            info = self._read_repository(path)
            if info is None:
                if source is not None:  # 138 listed it, unnamed, and read none of its add-ons
                    repositories[ident] = Repository(ident, UNKNOWN, source, source, UNKNOWN, path)
                continue
            repositories[ident] = Repository(ident, info["name"], source, info.get("url", source),
                                             info.get("maintainer", UNKNOWN), path)
            addons.update(self._read_addons(path, ident))
        self._repositories = repositories
        self._addons = addons
        log.info("Load add-ons: %d in %d repositories", len(addons), len(repositories))

    @staticmethod
    def _builtin(slug: str, path: Path) -> Repository:
        info = BUILTIN[slug]
        return Repository(slug, info["name"], None, info["url"], info["maintainer"], path)

    @staticmethod
    def _read_repository(path: Path) -> dict[str, Any] | None:
        file = path / "repository.json"
        try:
            raw = read_json(file) if not file.is_symlink() else None
            return validate_repository(raw)
        except (OSError, ValueError):
            log.warning("Can't read repository information from %s", file)
        except vol.Invalid:
            log.warning("Repository parse error %s", file)
        return None

    @staticmethod
    def _read_addons(path: Path, repository: str) -> dict[str, StoreAddon]:
        """Every config.json under path, without following symbolic links out of it."""
        found: dict[str, StoreAddon] = {}
        for folder, names, files in os.walk(path):
            names[:] = sorted(n for n in names if n != ".git")
            if "config.json" not in files:
                continue
            file = Path(folder) / "config.json"
            if file.is_symlink():
                log.warning("Can't read %s: a symbolic link", file)
                continue
            raw: Any = None
            try:
                raw = read_json(file)
                config = validate_config(raw)
            except (OSError, ValueError):
                log.warning("Can't read %s", file)
                continue
            except vol.Invalid as err:
                log.warning("Can't read %s: %s", file, humanize_error(raw, err))
                continue
            slug = f"{repository}_{config['slug']}"
            if slug in found:
                log.warning("%s: add-on %s is also in %s; this one is used", file, slug, found[slug].path)
            config["repository"] = repository
            config["location"] = str(file.parent)
            found[slug] = StoreAddon(slug, repository, file.parent, config)
        return found
