"""Self-update of the agent's own binary: download, check, swap, restart, and roll back by itself.

Steps of an update (each file write atomic: a temp name, fsync, rename, fsync of the folder):
 1. the release (handlers.host.release) downloaded into <data>/selfupdate/, SHA-256 and size checked;
 2. copied next to the binary as <binary>.new (same file system, so the rename below is atomic), mode 755;
 3. the running binary hard-linked as <binary>.previous;
 4. <data>/selfupdate.json written: the update is pending (version, paths, checksums, timeout);
 5. a guard started as a transient systemd unit (StartTransientUnit) running <binary>.previous
    `update-guard`: the known-good binary waits for the new one to confirm, outside our cgroup;
 6. <binary>.new renamed over <binary>; the API call answered; 1 s later RestartUnit(own unit)
    (the hassio supervisor answered first too, then stopped its loop after call_later(1)).
The new binary, once it serves, finds the state file with its own checksum on disk and removes it
(`started`): it is healthy. If that does not happen within the timeout (it exits at start, hangs,
crash-loops), the guard renames <binary>.previous back over <binary> and restarts the unit.
A kill -9 at any point leaves either the old binary with a state file whose checksum is not on
disk (the next start or the guard cleans up), or the new one with the guard watching.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from handlers.errors import BusUnavailable
from handlers.host.bus import SYSTEMD, Bus
from handlers.host.release import (
    ReleaseError,
    download,
    fetch_manifest,
    latest,
    machine_arch,
    release,
    sha256_of,
)

log = logging.getLogger("polyvisor.selfupdate")

STATE = "selfupdate.json"
DOWNLOADS = "selfupdate"
HEALTH_TIMEOUT = 180.0  # > the unit's TimeoutStartSec (90 s) + RestartSec: a slow start is not a failure
RESTART_DELAY = 1.0  # hassio's supervisor: call_later(1, loop.stop) after answering
GUARD_COMMAND = "update-guard"


def running_binary() -> tuple[Path | None, str]:
    """The onefile binary this process runs from, or None and why there is none."""
    if not getattr(sys, "frozen", False):
        return None, f"running from source ({sys.executable} is the Python interpreter): no binary to replace"
    exe = Path(sys.executable).resolve()
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and Path(bundle).resolve().is_relative_to(exe.parent):
        return None, f"{exe} is a onedir build: its folder, not one file, is the release"
    return exe, ""


def own_unit(cgroup: str) -> str | None:
    """The systemd service this process runs in, from /proc/self/cgroup's text (v2 or v1)."""
    for line in cgroup.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers in ("", "name=systemd"):
            for part in reversed(path.split("/")):
                if part.endswith(".service"):
                    return part
    return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(source: Path, target: Path) -> None:
    os.replace(source, target)
    _fsync_dir(target.parent)


def _sha(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


class SelfUpdate:
    """Updates the binary at `binary` from the manifest at `release_url`; `unit` restarts it."""

    def __init__(self, data_dir: Path, bus: Bus, release_url: str | None, version: str,
                 binary: Path | None = None, unit: str | None = None,
                 health_timeout: float = HEALTH_TIMEOUT) -> None:
        self.data_dir = Path(data_dir)
        self.bus = bus
        self.release_url = release_url
        self.version = version
        found, self.no_binary = running_binary() if binary is None else (binary, "")
        self.binary = found
        self.unit = unit
        self.health_timeout = health_timeout
        self.last_version: str | None = None  # the manifest's latest when last fetched
        self._lock = threading.Lock()
        self._restarting = False

    # -- the update ------------------------------------------------------------------------

    def latest(self) -> str | None:
        """The manifest's latest version, fetched now (also kept as last_version); None when no
        URL is configured or the manifest cannot be read."""
        if not self.release_url:
            return None
        try:
            self.last_version = latest(fetch_manifest(self.release_url))
        except ReleaseError as err:
            log.warning("%s", err)
            return None
        return self.last_version

    def update(self, version: str | None) -> bool | None:
        """Install `version` (None or "": the latest) and restart into it; None when that is the
        running version; False, with the reason logged and the running version left in place,
        when it cannot be done."""
        if not self._lock.acquire(blocking=False):  # hassio's process_lock: a second call is False
            log.error("Can't update polyvisor while an update is in progress")
            return False
        try:
            if self._restarting:
                log.error("Can't update polyvisor: a restart into the new version is pending")
                return False
            return self._update(version, time.monotonic())
        except (ReleaseError, OSError, BusUnavailable) as err:
            log.error("Update of polyvisor fails: %s", err)
            return False
        finally:
            self._lock.release()

    def _update(self, version: str | None, called: float) -> bool | None:
        if not self.release_url:
            raise ReleaseError("no release URL configured (--release-url, POLYVISOR_RELEASE_URL)")
        manifest = fetch_manifest(self.release_url)
        version = version or latest(manifest)
        if not version:
            raise ReleaseError(f"release manifest {self.release_url} names no latest version")
        if version == self.version:  # as hassio's Supervisor.update: a warning, nothing done
            log.warning("Version %s is already installed", version)
            return None
        if self.binary is None:
            raise ReleaseError(self.no_binary)
        unit = self.unit or self._own_unit()
        item = release(manifest, self.release_url, version, machine_arch())
        log.info("Update polyvisor %s to version %s (%s)", self.version, version, item.url)
        folder = self.data_dir / DOWNLOADS
        folder.mkdir(parents=True, exist_ok=True)
        fetched = folder / (re.sub(r"[^\w.+-]", "_", version) + ".download")
        try:
            download(item, fetched)
        except ReleaseError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        binary = self.binary
        staged, previous = _sibling(binary, ".new"), _sibling(binary, ".previous")
        state = {"version": version, "from": self.version, "binary": str(binary), "staged": str(staged),
                 "previous": str(previous), "sha256": item.sha256, "unit": unit,
                 "timeout": self.health_timeout}
        try:
            self._stage(fetched, staged)
            self._keep_previous(binary, previous)
            self._write_state(state)
            self._start_guard(previous, version)
            os.replace(staged, binary)  # the swap: from here on the guard watches
        except BaseException:
            staged.unlink(missing_ok=True)
            self._state_path().unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # the download folder holds only this one
        try:
            _fsync_dir(binary.parent)
        except OSError as err:  # the swap is done: restart into it all the same
            log.warning("fsync of %s: %s", binary.parent, err)
        log.info("polyvisor %s installed at %s (previous kept as %s); restarting %s", version, binary,
                 previous, unit)
        self._restarting = True
        timer = threading.Timer(RESTART_DELAY, self._restart, (unit, called))
        timer.daemon = True
        timer.start()
        return True

    def _own_unit(self) -> str:
        try:
            unit = own_unit(Path("/proc/self/cgroup").read_text())
        except OSError:
            unit = None
        if unit is None:
            raise ReleaseError("not run by a systemd service (/proc/self/cgroup): nothing would restart it")
        return unit

    @staticmethod
    def _stage(fetched: Path, staged: Path) -> None:
        """The checked download next to the binary, executable, on disk before any rename."""
        with open(fetched, "rb") as source, open(staged, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
            target.flush()
            os.fchmod(target.fileno(), 0o755)
            os.fsync(target.fileno())

    @staticmethod
    def _keep_previous(binary: Path, previous: Path) -> None:
        temp = _sibling(binary, ".previous.new")
        temp.unlink(missing_ok=True)
        try:
            os.link(binary, temp)  # the same inode: no copy, no time
        except OSError:  # a file system without hard links
            shutil.copy2(binary, temp)
        _replace(temp, previous)

    def _start_guard(self, previous: Path, version: str) -> None:
        """The rollback guard: `<previous> update-guard` in a transient unit, outside our cgroup."""
        argv = [str(previous), "--data-dir", str(self.data_dir)]
        if self.bus.address != "SYSTEM":
            argv += ["--dbus-address", self.bus.address]
        argv.append(GUARD_COMMAND)
        name = f"polyvisor-update-guard-{int(time.time())}.service"
        properties = [
            ("Description", ("s", f"polyvisor: roll back the update to {version} unless it comes up")),
            ("ExecStart", ("a(sasb)", [(argv[0], argv, False)])),
            ("Restart", ("s", "on-failure")),  # a guard killed outright starts again
        ]
        self.bus.call(SYSTEMD, "StartTransientUnit", "ssa(sv)a(sa(sv))", (name, "fail", properties, []))
        log.info("rollback guard %s started: %s", name, " ".join(argv))

    def _restart(self, unit: str, called: float) -> None:
        log.info("restarting %s into the new version (%.3f s after the update call)", unit,
                 time.monotonic() - called)
        try:
            self.bus.call(SYSTEMD, "RestartUnit", "ss", (unit, "replace"))
        except BusUnavailable as err:  # the guard rolls the binary back when nothing confirms
            log.error("cannot restart %s: %s", unit, err)

    # -- the state file, the start-time check and the guard ---------------------------------

    def _state_path(self) -> Path:
        return self.data_dir / STATE

    def _write_state(self, state: dict[str, Any]) -> None:
        path = self._state_path()
        temp = path.with_name(path.name + ".tmp")
        with open(temp, "w", encoding="utf-8") as file:
            json.dump(state, file)
            file.flush()
            os.fsync(file.fileno())
        _replace(temp, path)

    def read_state(self) -> dict[str, Any] | None:
        """The pending update, None when there is none (or the file is unreadable: then removed)."""
        path = self._state_path()
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if all(isinstance(state.get(k), str) for k in ("version", "binary", "previous", "sha256", "unit")):
                return dict(state)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            pass
        log.warning("%s is not an update state: removed", path)
        path.unlink(missing_ok=True)
        return None

    def _finish(self, state: dict[str, Any]) -> None:
        """Forget the update: the state file, the staged copy and unfinished downloads."""
        Path(state.get("staged") or "/nonexistent").unlink(missing_ok=True)
        self._state_path().unlink(missing_ok=True)
        shutil.rmtree(self.data_dir / DOWNLOADS, ignore_errors=True)

    def started(self) -> None:
        """At start, once serving: confirm a pending update when its binary is the one on disk
        (this is it, and it is healthy), else clean up after an update that never took."""
        try:
            self._started()
        except OSError as err:  # never a reason not to serve
            log.error("cannot check for a pending update: %s", err)

    def _started(self) -> None:
        state = self.read_state()
        if state is None:  # an update killed midway, before its state file: its temporary files
            shutil.rmtree(self.data_dir / DOWNLOADS, ignore_errors=True)
            if self.binary is not None:
                for suffix in (".new", ".previous.new"):
                    try:
                        _sibling(self.binary, suffix).unlink(missing_ok=True)
                    except OSError as err:  # a read-only root: no update can have left a file there
                        if err.errno != errno.EROFS:
                            raise
            return
        if _sha(Path(state["binary"])) == state["sha256"]:
            log.info("update to polyvisor %s confirmed: serving (previous kept as %s)", state["version"],
                     state["previous"])
        else:
            log.warning("update to polyvisor %s did not take (%s is not that binary): cleaned up",
                        state["version"], state["binary"])
        self._finish(state)

    def guard(self, poll: float = 0.5) -> int:
        """`polyvisor update-guard`: wait for the pending update to be confirmed; past its timeout
        put the previous binary back and restart the unit. The exit status (0: nothing left to do)."""
        begun = time.monotonic()  # not the wall clock: devices without an RTC jump at NTP sync
        while (state := self.read_state()) is not None:
            if time.monotonic() - begun >= float(state.get("timeout") or HEALTH_TIMEOUT):
                break
            time.sleep(poll)
        if state is None:
            log.info("no pending update: the new version confirmed (or the update never took)")
            return 0
        binary, previous = Path(state["binary"]), Path(state["previous"])
        if _sha(binary) == state["sha256"] and previous.exists():
            log.error("polyvisor %s did not come up within %s s: rolling back to %s", state["version"],
                      state.get("timeout"), state.get("from"))
            _replace(previous, binary)
            self._finish(state)
            try:
                self.bus.call(SYSTEMD, "RestartUnit", "ss", (state["unit"], "replace"))
            except BusUnavailable as err:
                log.error("rolled back, but cannot restart %s: %s", state["unit"], err)
                return 1
            log.info("rolled back to polyvisor %s and restarted %s", state.get("from"), state["unit"])
            return 0
        if _sha(binary) == state["sha256"]:
            log.error("polyvisor %s did not come up, and %s is gone: cannot roll back", state["version"], previous)
            self._finish(state)
            return 1
        log.warning("update to polyvisor %s never took effect: cleaned up", state["version"])
        self._finish(state)
        return 0


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
