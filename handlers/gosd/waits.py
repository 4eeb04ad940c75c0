"""What a running job waits on, and how a wait ends early (gosd's luavm Service context).

    Mailbox      one value handed from another thread (an RPC reply, an operator's input)
    Control      one job's stop switch: cancel() ends every pending wait with "Be killed"
                 (gosd's context cancel, cooperative), halt() ends them all for good (the
                 time limit, or a cancelled script that does not stop)
    Killed       raised in the waiting thread by a wait a cancel ended
    Halted       raised once the job must stop, at the next wait or Lua instruction check
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

# gosd's text for a wait ended by cancel (luavm/jsonrpc.go, terminal.go)
KILLED = "Be killed"


class Killed(Exception):
    """A pending wait was ended by cancel."""

    def __init__(self) -> None:
        super().__init__(KILLED)


class Halted(Exception):
    """The job must stop now (time limit, or cancel not obeyed within the grace time)."""


class Mailbox:
    """A queue of values from other threads that one job thread waits on."""

    def __init__(self) -> None:
        self._items: deque[object] = deque()
        self._ready = threading.Condition()

    def put(self, value: object) -> None:
        """Hand over a value; wakes the waiter."""
        with self._ready:
            self._items.append(value)
            self._ready.notify_all()

    def take(self, timeout: float | None) -> tuple[bool, object]:
        """(True, value) when one came within `timeout` seconds, else (False, None)."""
        with self._ready:
            if not self._items:
                self._ready.wait(timeout)
            if self._items:
                return True, self._items.popleft()
            return False, None


class _Stop:
    """What is put into a waiting mailbox to end its wait."""

    def __init__(self, halted: bool) -> None:
        self.halted = halted


class Control:
    """One job's stop switch: deadline, cancel, halt; every wait of the job goes through it."""

    def __init__(self, timeout: float | None = None, grace: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deadline = clock() + timeout if timeout else None
        self.timeout = timeout
        self.grace = grace
        self.cancelled = False
        self.cancelled_at: float | None = None
        self.reason: str | None = None  # "timeout" or "cancelled" once halted
        self._lock = threading.Lock()
        self._waiting: set[Mailbox] = set()
        # a cancel that found no wait pending kills the next one (gosd lost it: its context was
        # cancelled and made anew at once)
        self._kill_next = False

    def cancel(self) -> None:
        """gosd's Kill: every wait pending now fails with Killed; the script may go on (cooperative)
        but is halted when it still runs `grace` seconds later."""
        with self._lock:
            self.cancelled = True
            if self.cancelled_at is None:
                self.cancelled_at = self.clock()
            waiting = list(self._waiting)
            self._kill_next = not waiting
        for box in waiting:
            box.put(_Stop(halted=False))

    def halt(self, reason: str) -> None:
        """Stop the job: every wait, pending or to come, raises Halted."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            waiting = list(self._waiting)
        for box in waiting:
            box.put(_Stop(halted=True))

    def _due(self) -> float | None:
        """The time the job is halted at, if nothing else happens."""
        times = [t for t in (self.deadline, self.cancelled_at + self.grace if self.cancelled_at is not None
                             else None) if t is not None]
        return min(times) if times else None

    def check(self) -> None:
        """Raise Halted when the job is past its deadline, or cancelled longer than the grace time."""
        if self.reason is None:
            due = self._due()
            if due is not None and self.clock() >= due:
                self.halt("cancelled" if self.cancelled_at is not None and (
                    self.deadline is None or self.cancelled_at + self.grace <= self.deadline) else "timeout")
        if self.reason is not None:
            raise Halted(self.reason)

    def wait(self, box: Mailbox, timeout: float | None = None) -> tuple[bool, object]:
        """Wait for the mailbox's next value: (True, value), (False, None) after `timeout`;
        Killed when cancelled meanwhile, Halted when the job must stop."""
        self.check()
        end = self.clock() + timeout if timeout is not None else None
        with self._lock:
            if self._kill_next:
                self._kill_next = False
                raise Killed()
            self._waiting.add(box)
        try:
            while True:
                limits = [t for t in (end, self._due()) if t is not None]
                left = max(0.0, min(limits) - self.clock()) if limits else None
                got, value = box.take(left)
                if got:
                    if isinstance(value, _Stop):
                        if value.halted:
                            raise Halted(self.reason or "halted")
                        raise Killed()
                    return True, value
                self.check()
                if end is not None and self.clock() >= end:
                    return False, None
        finally:
            with self._lock:
                self._waiting.discard(box)

    def sleep(self, seconds: float) -> None:
        """Sleep, ended early by cancel (Killed) or halt (Halted)."""
        self.wait(Mailbox(), max(0.0, seconds))
