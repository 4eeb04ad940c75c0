"""Update locks exactly as the balena supervisor took them (src/lib/update-lock.ts).

An application locks its own updates by creating `updates.lock` (or the older
`resin-updates.lock`) in /tmp/balena (= /tmp/resin) inside its container: on the host that is
<root>/tmp/balena-supervisor/services/<appId>/<serviceName>/. Any existing file counts as a
lock. The agent takes the same files with O_CREAT|O_EXCL before acting on an app, and with
`force` first deletes the application's files.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from handlers.errors import UpdatesLocked
from handlers.host.hostfs import HostFS, uv_error

log = logging.getLogger("polyvisor.locks")
JOURNAL_KEY = "engine_locks"

LOCK_FILES = ("updates.lock", "resin-updates.lock")
LOCK_ROOT = "/tmp/balena-supervisor/services"

HOST_ROOT_SHOWN = Path("/mnt/root")


class Locks:
    """Takes and releases the update locks of applications.

    With a store, every hold is journaled (the lock files that existed before are noted), so
    that lock files a killed agent left behind are removed at its next start
    (`release_stale`); without that an app would look locked forever.
    """

    def __init__(self, hostfs: HostFS, store: Any = None) -> None:
        self._hostfs = hostfs
        self._store = store
        self._guard = threading.Lock()
        self._journal_guard = threading.Lock()
        self._app_locks: dict[int, threading.Lock] = {}

    def app_dir(self, app_id: int) -> Path:
        """The host folder holding one folder per service of the app."""
        return self._hostfs.path(f"{LOCK_ROOT}/{int(app_id)}")

    def service_dir(self, app_id: int, service_name: str) -> Path:
        """The host folder bind-mounted at /tmp/balena and /tmp/resin in a service."""
        if not service_name or "/" in service_name or service_name in (".", ".."):
            raise ValueError(f"bad service name {service_name!r}")
        return self.app_dir(app_id) / service_name

    def is_locked(self, app_id: int) -> bool:
        """True when any service of the app holds a lock file."""
        base = self.app_dir(app_id)
        return base.is_dir() and any((d / name).exists() for d in base.iterdir() if d.is_dir()
                                     for name in LOCK_FILES)

    def _in_process(self, app_id: int) -> threading.Lock:
        with self._guard:
            return self._app_locks.setdefault(int(app_id), threading.Lock())

    @contextmanager
    def hold(self, app_ids: list[int] | int, force: bool = False) -> Iterator[None]:
        """Hold the update locks of these apps for the block; UpdatesLocked when one is taken."""
        ids = sorted({int(a) for a in ([app_ids] if isinstance(app_ids, int) else app_ids)})
        held: list[threading.Lock] = []
        journaled: list[int] = []
        created: list[Path] = []
        try:
            for app_id in ids:
                lock = self._in_process(app_id)
                lock.acquire()
                held.append(lock)
                self._journal_add(app_id, force)
                journaled.append(app_id)
                created.extend(self._take_files(app_id, force))
            yield
        finally:
            for path in created:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            for app_id in journaled:
                self._journal_remove(app_id)
            for lock in reversed(held):
                lock.release()

    def _present(self, app_id: int) -> list[str]:
        base = self.app_dir(app_id)
        folders = sorted(d for d in base.iterdir() if d.is_dir()) if base.is_dir() else []
        return [str(d / n) for d in folders for n in LOCK_FILES if (d / n).exists()]

    def _journal(self) -> dict[str, Any]:
        raw = self._store.get(JOURNAL_KEY) if self._store is not None else None
        return dict(json.loads(raw)) if raw else {}

    def _journal_add(self, app_id: int, force: bool) -> None:
        if self._store is None:
            return
        with self._journal_guard:
            journal = self._journal()
            # with force the app's own files are deleted anyway: nothing to keep
            journal[str(app_id)] = {"before": [] if force else self._present(app_id)}
            self._store.set(**{JOURNAL_KEY: json.dumps(journal)})

    def _journal_remove(self, app_id: int) -> None:
        if self._store is None:
            return
        with self._journal_guard:
            journal = self._journal()
            journal.pop(str(app_id), None)
            self._store.set(**{JOURNAL_KEY: json.dumps(journal)})

    def release_stale(self) -> None:
        """Remove the lock files a previous run of the agent held when it died (kill -9)."""
        if self._store is None:
            return
        with self._journal_guard:
            for app_id, entry in self._journal().items():
                keep = set(entry.get("before") or [])
                for path in self._present(int(app_id)):
                    if path not in keep:
                        Path(path).unlink(missing_ok=True)
                        log.warning("removed %s, left by a previous run of the agent", path)
            self._store.set(**{JOURNAL_KEY: "{}"})

    def _take_files(self, app_id: int, force: bool) -> list[Path]:
        taken: list[Path] = []
        base = self.app_dir(app_id)
        try:
            # every entry, as the legacy readdir: a stray file makes `<file>/updates.lock` fail (ENOTDIR)
            services = sorted(base.iterdir())
        except FileNotFoundError:
            return taken
        for service in services:
            for name in LOCK_FILES:
                path = service / name
                if force:
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
                    except OSError as err:
                        self._release(taken)
                        raise UpdatesLocked(f"Updates are locked: {uv_error(err, 'unlink', self._shown(path))}") from err
                try:
                    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                    os.close(fd)
                    taken.append(path)
                except FileNotFoundError:
                    continue  # the service folder went away: nothing to lock
                except OSError as err:
                    self._release(taken)
                    raise UpdatesLocked(f"Updates are locked: {uv_error(err, 'open', self._shown(path))}") from err
        return taken

    def _shown(self, path: Path) -> str:
        """The path as the legacy message showed it: the supervisor container saw the host's root
        at /mnt/root (`Updates are locked: EEXIST: ..., open '/mnt/root/tmp/balena-supervisor/...'`)."""
        try:
            return str(HOST_ROOT_SHOWN / path.relative_to(self._hostfs.root))
        except ValueError:
            return str(path)

    @staticmethod
    def _release(paths: list[Path]) -> None:
        for path in paths:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
