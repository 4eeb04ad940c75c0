"""When the apply loop waits between two iterations (balena-v2.md 3.1: the legacy always waited
200 ms; nothing depends on it, so a loop making progress goes straight on to read what it did)."""

from __future__ import annotations

from handlers.engine.steps import Step, only_noops

PAUSE = 0.05       # after an iteration that repeated the last one, the RUSH-th in a row, or with an API action waiting
NOOP_PAUSE = 1.0   # after an iteration whose steps only wait (a download, a container stopping)
RUSH = 8           # iterations in a row without a pause, at most (a cap on a loop that never settles)


class Pacing:
    """The pauses of one apply: what its iterations did, and the rule."""

    def __init__(self) -> None:
        self.previous: list[frozenset[str]] = []  # what the iterations since the last pause did

    def after(self, steps: list[Step], api_waiting: bool) -> float:
        """Seconds to wait after an iteration: NOOP_PAUSE when it only waited; PAUSE when an API
        action waits for the loop, the iteration repeated the last one (a step that fails quietly,
        as a kill does, must not spin on the engine) or RUSH iterations went without a pause;
        else none."""
        done = frozenset(s.describe() for s in steps)
        repeated = bool(self.previous) and self.previous[-1] == done
        self.previous.append(done)
        if only_noops(steps):
            self.previous = [done]
            return NOOP_PAUSE
        if api_waiting or repeated or len(self.previous) > RUSH:
            self.previous = [done]
            return PAUSE
        return 0.0


def pretty_delay(seconds: float) -> str:
    """pretty-ms for the delays the loop uses (1s, 2s, 500ms, 1m)."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    return f"{seconds / 60:g}m"
