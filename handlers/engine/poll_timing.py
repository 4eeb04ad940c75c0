"""When a managed device polls its target URL: pure rules, no clock and no shared state.

Each rule takes the poll interval (SUPERVISOR_POLL_INTERVAL in seconds) and a `random.Random` of
the caller's, so a fleet simulation and the unit tests can call them with a seeded one.

- first poll: uniform in [0, min(interval, FIRST_POLL_CAP)] once a target from the URL is stored
  (a fleet that boots together after a power cut spreads its first requests over up to a minute:
  1,000 devices make ~17 requests/s instead of 1,000 at once, and a device that has a target runs
  it meanwhile); at once when none is (a new device has nothing to run: it fetches first).
- after a good poll (200 or 304): interval x uniform(0.5, 1.5), the legacy supervisor's jitter
  kept: the mean stays the interval (the server's load is N/interval), and any fleet that starts
  in step drifts apart within a few polls.
- after a failure (connection error, timeout, 4xx/5xx, garbage): "equal jitter" back-off,
  b/2 + uniform(0, b/2) with b = min(interval, BACKOFF_BASE x 2^(n-1)) for the n-th failure in a
  row: never under half the step (a full-jitter draw near 0 would hammer a failing server),
  never in step (a fleet that lost the server at once does not come back at once).
- Retry-After (seconds or an HTTP-date) on a 429 or 5xx replaces the back-off: clamped to
  [RETRY_AFTER_FLOOR, RETRY_AFTER_CAP] (a "0" does not make a fleet hammer, a typo of a day does
  not silence it), plus uniform(0, a quarter of it) so a fleet told one date does not return at
  one instant.
"""

from __future__ import annotations

import random
from datetime import UTC
from email.utils import parsedate_to_datetime

FIRST_POLL_CAP = 60.0  # seconds: the widest spread of a fleet's first polls
BACKOFF_BASE = 15.0  # seconds: the first back-off step (the legacy supervisor's 15 s)
RETRY_AFTER_FLOOR = 1.0  # seconds: the least wait a Retry-After can ask for
RETRY_AFTER_CAP = 3600.0  # seconds: the most wait a Retry-After can ask for
JITTER = (0.5, 1.5)  # the interval's factor after a good poll


def first_delay(interval: float, rng: random.Random, stored: bool = True) -> float:
    """Seconds before the first poll: spread when a target is stored, else none."""
    return rng.uniform(0.0, min(interval, FIRST_POLL_CAP)) if stored else 0.0


def next_delay(interval: float, rng: random.Random) -> float:
    """Seconds to the next poll after a good one."""
    return interval * rng.uniform(*JITTER)


def backoff_delay(failures: int, interval: float, rng: random.Random,
                  retry_after: float | None = None) -> float:
    """Seconds to the next poll after the `failures`-th failure in a row (1, 2, ...); a
    Retry-After (seconds from now) replaces the back-off."""
    if retry_after is not None:
        wait = min(max(retry_after, RETRY_AFTER_FLOOR), RETRY_AFTER_CAP)
        return wait + rng.uniform(0.0, wait / 4)
    step = min(interval, BACKOFF_BASE * 2 ** min(max(failures, 1) - 1, 32))
    return step / 2 + rng.uniform(0.0, step / 2)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A Retry-After header as seconds from `now` (epoch seconds): delta-seconds or an HTTP-date
    (a date in the past is 0); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
