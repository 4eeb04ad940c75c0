"""A brake on recreate loops: a container that keeps differing from an unchanged target.

A comparison that misreads something the engine fills in (a hostname, a security option, a
value the kernel cannot honour) would otherwise kill and recreate a correct container on every
poll, for ever. When a service was recreated LIMIT times within WINDOW seconds for the same
differences against the same target, the guard logs that once and the inference treats the
running container as current until the service's target changes (a new release, image or config).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("polyvisor.recreate_guard")

LIMIT = 3         # recreations of one service for one difference before it is left running...
WINDOW = 300.0    # ...within this many seconds (a release every few minutes is a new target each time)

Key = tuple[int, str]  # (appId, serviceName)


@dataclass(frozen=True)
class _Recreation:
    at: float
    changes: tuple[str, ...]
    target: str


def fingerprint(*parts: object) -> str:
    """A short digest of a service's target (its form, image and release): equal while unchanged."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RecreateGuard:
    """Counts recreations per service; holds a service whose recreations do not converge."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._history: dict[Key, deque[_Recreation]] = {}
        self._held: dict[Key, str] = {}  # service -> the target it is held for
        self._lock = threading.Lock()

    def recreated(self, key: Key, changes: list[str], target: str) -> None:
        """A container of the service was killed to be recreated for these differences."""
        now = self._clock()
        with self._lock:
            history = self._history.setdefault(key, deque())
            history.append(_Recreation(now, tuple(changes), target))
            while history and now - history[0].at > self.window:
                history.popleft()

    def holds(self, key: Key, changes: list[str], target: str) -> bool:
        """True when the service's running container is to be left as it is for this target."""
        with self._lock:
            held = self._held.get(key)
            if held == target:
                return True
            if held is not None:  # the target changed: compare and recreate as usual again
                del self._held[key]
                self._history.pop(key, None)
            now = self._clock()
            same = [r for r in self._history.get(key, ())
                    if now - r.at <= self.window and r.changes == tuple(changes) and r.target == target]
            if len(same) < self.limit:
                return False
            self._held[key] = target
        log.warning("service %s of app %s was recreated %d times in %d s for the same differences %s; "
                    "leaving its container running as it is until the target changes",
                    key[1], key[0], len(same), int(same[-1].at - same[0].at), changes)
        return True

    def held(self) -> dict[Key, str]:
        """The services left running as they are (status and tests)."""
        with self._lock:
            return dict(self._held)
