"""The managed device's target poller (handlers/engine/target_source.py) against a real HTTP
server on 127.0.0.1: conditional gzip polls, 304s, 5xx and 429 with Retry-After, garbage, dropped
and cut connections, a changed URL, the spread first poll. The poller runs with the agent's real
SQLite store; the reconciler is a shim that records targets and makes the poll interval tiny (no
fixed sleeps: outcomes are polled). TLS with a pinned CA: test_target_tls.py.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable

import pytest

from handlers.engine.poll_timing import first_delay
from handlers.engine.target_source import TargetSource
from handlers.store import Store
from integration.engine_support import wait_for
from integration.target_server import NEWER, Reconciler, Server, url_of

pytest_plugins = ["integration.target_fixtures"]  # server, store, poller


def test_every_poll_is_conditional_and_gzip(server: Server, store: Store,
                                           poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    source = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    first = server.requests()[0][2]
    assert "If-None-Match" not in first and first["Accept-Encoding"] == "gzip"
    assert first["User-Agent"].startswith("polyvisor/")
    assert shim.targets[0].apps[1].commit == "c1"  # inflated, validated
    assert store.get("target_url_etag") == server.tag()
    wait_for(lambda: len(server.requests()) >= 6, 10, "polls on")
    for _, _, headers in server.requests()[1:]:
        assert headers["If-None-Match"] == server.tag() and headers["Accept-Encoding"] == "gzip"
    assert source.last_result == "unchanged" and len(shim.targets) == 1
    server.body = NEWER
    wait_for(lambda: len(shim.targets) == 2, 10, "the changed target")
    assert shim.targets[1].apps[1].commit == "c2" and store.get("target_url_etag") == server.tag()
    source.poll_now(force=True)
    wait_for(lambda: shim.triggers >= 1, 10, "a forced poll answered 304 applies the stored target")


GARBAGE = [  # mode, what last_error says
    ("html", "body (text/html) is not JSON"),
    ("bad-json", "body (application/json) is not JSON"),
    ("refused", "target refused"),
    ("truncated", "body cut short"),
    ("truncated-gzip", "gzip body cut short"),
    ("drop", "connection failed"),
    ("500", "HTTP 500"),
]


def test_garbage_keeps_the_last_good_target_and_its_tag(server: Server, store: Store,
                                                        poller: Callable[..., TargetSource],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    shim = Reconciler()
    source = poller(url_of(server, "/device/1.json?token=s3cret"), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    good_tag = server.tag()
    caplog.set_level(logging.INFO, "polyvisor.target_source")
    for mode, said in GARBAGE:
        server.mode = mode
        wait_for(lambda: len(server.requests(mode)) >= 3, 10, f"polls answered {mode}")  # noqa: B023
        wait_for(lambda: said in (source.last_error or ""), 10, f"{mode} in last_error")  # noqa: B023
        assert source.last_result == "failed" and source.failures >= 1
        assert len(shim.targets) == 1 and store.get("target_url_etag") == good_tag, mode
        # the next polls still ask for the good target's tag
        assert {h.get("If-None-Match") for _, _, h in server.requests(mode)} == {good_tag}, mode
    server.mode = "ok"
    wait_for(lambda: source.last_result == "unchanged", 10, "304 again")
    assert source.last_error is None and source.failures == 0 and len(shim.targets) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "s3cret" not in logged and "token=***" in logged
    assert "the last good target stays" in logged and "works again" in logged


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_retry_after_is_honoured_in_seconds_and_as_a_date(server: Server, store: Store,
                                                          poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    source = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    server.mode, server.retry_after = "503", "1"
    wait_for(lambda: len(server.requests("503")) >= 2, 10, "two 503s")
    first, second = [t for t, _, _ in server.requests("503")][:2]
    assert 1.0 <= second - first < 2.0  # the tiny interval would poll at once
    wait_for(lambda: time.monotonic() - source.last_fetch > 0.3, 5, "well past two intervals", step=0.05)
    assert source.healthy()  # waiting out a Retry-After longer than two intervals is no hang
    server.mode = "429"
    server.retry_after = "in 3 s"  # as an HTTP-date, made when answering
    wait_for(lambda: len(server.requests("429")) >= 2, 10, "two 429s")
    first, second = [t for t, _, _ in server.requests("429")][:2]
    assert second - first >= 2.0  # the date, less its sub-second part (more than the floor)
    server.mode, server.retry_after = "500", None  # no Retry-After: back-off capped at the interval
    wait_for(lambda: len(server.requests("500")) >= 5, 10, "fast retries")
    assert max(gaps([t for t, _, _ in server.requests("500")][:5])) < 1.0
    assert len(shim.targets) == 1 and "HTTP 500" in (source.last_error or "")


def test_the_next_poll_follows_the_interval_the_target_brought(server: Server, store: Store,
                                                              poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler(interval=60.0, interval_of_target=0.02)  # the default until a target says
    poller(url_of(server), store, shim)
    wait_for(lambda: len(server.requests()) >= 3, 5, "polls at the target's interval")


def test_a_changed_url_sends_no_tag_of_the_old_one(server: Server, store: Store,
                                                   poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    old = poller(url_of(server, "/group/a.json"), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    old.close()
    assert store.get("target_url_etag") == server.tag()
    seen = len(server.requests())
    shim.interval = 30.0  # a first poll spread over the interval would show here: none for a new URL
    poller(url_of(server, "/group/b.json"), store, shim)
    wait_for(lambda: len(shim.targets) == 2, 10, "the new URL's target at once")
    assert "If-None-Match" not in server.requests()[seen][2]


def test_first_poll_is_spread_once_a_target_is_stored(server: Server, store: Store,
                                                      poller: Callable[..., TargetSource]) -> None:
    shim = Reconciler()
    first = poller(url_of(server), store, shim)
    wait_for(lambda: len(shim.targets) == 1, 10, "the first target")
    first.close()
    shim.interval = 1.0
    seed = 7
    expected = first_delay(1.0, random.Random(seed))
    assert 0.2 < expected < 1.0
    seen = len(server.requests())
    started = time.monotonic()
    poller(url_of(server), store, shim, rng=random.Random(seed))
    wait_for(lambda: len(server.requests()) > seen, 10, "the first poll after a restart")
    assert server.requests()[seen][0] - started >= expected - 0.01
    assert server.requests()[seen][2]["If-None-Match"] == server.tag()
