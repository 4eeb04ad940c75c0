"""The cloud connection's bounded on-disk queue of data messages (handlers/edgehub/cloud.py): one
file per message, named by sequence, written atomically and fsynced, so a message the API
answered 201 survives kill -9; removed when the broker acknowledges it."""

from __future__ import annotations

import os
import threading
from collections import deque
from pathlib import Path

from handlers.errors import Unavailable

SPOOL_MAX_MESSAGES = 10_000
SPOOL_MAX_BYTES = 64 << 20
DRAIN_WINDOW = 100  # spooled messages handed to paho and not yet acknowledged


class Spool:
    """The bounded on-disk queue of data messages: one file per message, named by sequence."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._files: deque[Path] | None = None
        self._bytes = 0
        self._next = 0

    def _load(self) -> deque[Path]:
        if self._files is None:
            self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.folder.mkdir(exist_ok=True, mode=0o700)
            for stale in self.folder.glob("*.tmp"):
                stale.unlink(missing_ok=True)
            files = sorted(self.folder.glob("*.msg"))
            self._files = deque(files)
            self._bytes = sum(f.stat().st_size for f in files)
            self._next = int(files[-1].stem) + 1 if files else 0
        return self._files

    def __len__(self) -> int:
        with self._lock:
            return len(self._load())

    def put(self, payload: bytes) -> None:
        """Append a message (atomic, fsynced); Unavailable (422) when the bound is reached."""
        with self._lock:
            files = self._load()
            if len(files) >= SPOOL_MAX_MESSAGES or self._bytes + len(payload) > SPOOL_MAX_BYTES:
                raise Unavailable("the offline message queue is full")
            path = self.folder / f"{self._next:016d}.msg"
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb") as out:
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
            self._next += 1
            files.append(path)
            self._bytes += len(payload)

    def peek(self, skip: int) -> list[Path]:
        """The files after the first `skip` ones, oldest first (at most DRAIN_WINDOW)."""
        with self._lock:
            files = self._load()
            return [files[i] for i in range(skip, min(len(files), skip + DRAIN_WINDOW))]

    def remove(self, path: Path) -> None:
        """A message the broker acknowledged (the oldest ones go first: acks come in order)."""
        with self._lock:
            files = self._load()
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                size = 0
            if path in files:
                files.remove(path)
                self._bytes -= size
