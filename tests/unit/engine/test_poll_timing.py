"""The target poller's timing rules (handlers/engine/poll_timing.py): jitter bounds, back-off
growth and cap, Retry-After in both forms and its bounds."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from handlers.engine.poll_timing import (
    BACKOFF_BASE,
    FIRST_POLL_CAP,
    RETRY_AFTER_CAP,
    RETRY_AFTER_FLOOR,
    backoff_delay,
    first_delay,
    next_delay,
    parse_retry_after,
)

DRAWS = 2000


def draws(rule, *args, **kwargs) -> list[float]:  # type: ignore[no-untyped-def]
    rng = random.Random(19)
    return [rule(*args, rng, **kwargs) for _ in range(DRAWS)]


@pytest.mark.parametrize(("interval", "widest"), [(1.0, 1.0), (30.0, 30.0), (60.0, 60.0), (900.0, FIRST_POLL_CAP)])
def test_first_poll_is_spread_over_the_interval_up_to_the_cap(interval: float, widest: float) -> None:
    values = draws(first_delay, interval)
    assert min(values) >= 0 and max(values) <= widest
    assert min(values) < widest * 0.05 and max(values) > widest * 0.95  # the whole span is used
    assert abs(sum(values) / len(values) - widest / 2) < widest * 0.05  # uniform: the mean mid-span


def test_first_poll_is_at_once_without_a_stored_target() -> None:
    assert set(draws(first_delay, 60.0, stored=False)) == {0.0}


def test_poll_after_a_good_one_is_half_to_one_and_a_half_intervals() -> None:
    values = draws(next_delay, 60.0)
    assert min(values) >= 30.0 and max(values) <= 90.0
    assert min(values) < 32.0 and max(values) > 88.0
    assert abs(sum(values) / len(values) - 60.0) < 2.0  # the server's mean load stays N/interval


def test_backoff_doubles_from_15_s_with_equal_jitter_capped_at_the_interval() -> None:
    interval = 600.0
    for failures in range(1, 8):
        step = min(interval, BACKOFF_BASE * 2 ** (failures - 1))
        values = draws(backoff_delay, failures, interval)
        assert min(values) >= step / 2 and max(values) <= step, failures
        assert min(values) < step * 0.52 and max(values) > step * 0.98, failures  # jittered, not fixed
    assert max(draws(backoff_delay, 1000, interval)) <= interval  # no overflow far down the road


def test_backoff_with_a_tiny_interval_stays_tiny() -> None:
    assert max(draws(backoff_delay, 5, 0.05)) <= 0.05


def test_retry_after_replaces_the_backoff_within_floor_and_cap() -> None:
    values = draws(backoff_delay, 1, 600.0, retry_after=120.0)
    assert min(values) >= 120.0 and max(values) <= 150.0  # never before it, spread over a quarter
    assert min(values) < 121.0 and max(values) > 149.0
    assert min(draws(backoff_delay, 9, 600.0, retry_after=0.0)) >= RETRY_AFTER_FLOOR
    assert max(draws(backoff_delay, 1, 600.0, retry_after=0.0)) <= RETRY_AFTER_FLOOR * 1.25
    huge = draws(backoff_delay, 1, 60.0, retry_after=86400.0 * 7)
    assert min(huge) >= RETRY_AFTER_CAP and max(huge) <= RETRY_AFTER_CAP * 1.25
    # longer than the interval's back-off cap: the server asked for it
    assert min(draws(backoff_delay, 1, 1.0, retry_after=30.0)) >= 30.0


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", 0.0) == 120.0
    assert parse_retry_after(" 0 ", 0.0) == 0.0


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("Tue, 01 Dec 2026 12:02:00 GMT", now) == 120.0
    later = format_datetime(datetime(2026, 12, 1, 13, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now) == 3600.0
    assert parse_retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0.0  # past: at once (then the floor)
    assert parse_retry_after("Tue, 01 Dec 2026 12:00:30 -0000", now) == 30.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2026", "12:00"])
def test_retry_after_unreadable_is_none(value: str | None) -> None:
    assert parse_retry_after(value, 0.0) is None
