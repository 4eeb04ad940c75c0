"""A target from a URL, for fleets without the legacy cloud (managed devices).

http(s)://: polled every SUPERVISOR_POLL_INTERVAL, at once on poll_now() (POST /v1/update); the
timing rules (a spread first poll, 0.5-1.5x jitter, equal-jitter back-off, Retry-After) are
handlers.engine.poll_timing's, the request handlers.engine.target_fetch's. Every poll sends
`If-None-Match` with the tag of the last target taken from this very URL (the store keeps the tag
with a hash of its URL: a changed --target-url sends no tag), also after failures. A failure of
any kind (connection, timeout, 4xx/5xx, a body that is not a valid target: bad JSON, an HTML page,
a refused target, a truncated or corrupt body) keeps the last good target and its tag, and is said
in `last_error` and the log (URL redacted). file://: a target baked into an OS image, re-read when
its modification time or size changes. The body is the local-mode format.

Interface for many pollers in one process (a fleet simulation): nothing is shared between
instances (each has its own opener, Random and thread).

    TargetSource(url, reconciler, store, timeout=30.0, device_type=lambda: None, *,
                 ca_file=None, rng=None)
        reconciler: poll_seconds() -> float, set_target(target, "url", force), trigger(force=True)
        store: get(key) -> str | None, set(**values)   keys target_url_etag, target_url_for (the
            url_key of the URL they came from; store.set(target_url_for=source.url_key) before
            start() makes a device that has a target: its first poll is spread, not at once)
        ca_file: PEM file, the only trust anchor of an https:// URL (ValueError when unusable)
        rng: a random.Random (seed it for a repeatable run)
    .start() / .close()       a daemon thread: first_delay(), then poll() after poll() for ever
    .first_delay() -> float   seconds before the first poll
    .poll(force=False) -> float   one poll; the seconds until the next one
    .poll_now(force=False)    wake the thread for a poll at once
    .last_result              "new" (a target was applied), "unchanged" (304), "failed"
    .last_error, .failures    the last failure's reason (None after a good poll), failures in a row
    .polls                    polls done
    poll_timing.first_delay(interval, rng, stored), .next_delay(interval, rng),
    .backoff_delay(failures, interval, rng, retry_after), .parse_retry_after(header, now_epoch):
        the rules alone, for a simulation's own scheduler
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from handlers.engine import poll_timing
from handlers.engine.target_fetch import Fetched, FetchError, get, opener, tls_context
from handlers.errors import InvalidInput
from handlers.redact import redact_url

log = logging.getLogger("polyvisor.target_source")
SOURCE = "url"


class TargetSource:
    """Polls one URL and hands new targets to the reconciler."""

    def __init__(self, url: str, reconciler: Any, store: Any, timeout: float = 30.0,
                 device_type: Callable[[], str | None] = lambda: None, *,
                 ca_file: str | None = None, rng: random.Random | None = None) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https", "file"):
            raise ValueError(f"target URL must be http(s):// or file://, not {redact_url(url)!r}")
        if ca_file and scheme != "https":
            raise ValueError("a pinned CA needs an https:// target URL")
        self.url = url
        self.device_type = device_type  # which boot-config variables a target may carry
        self.reconciler = reconciler
        self.store = store
        self.timeout = timeout
        self.rng = rng or random.Random()
        self._open = opener(tls_context(ca_file) if ca_file else None) if scheme != "file" else None
        self.url_key = hashlib.sha256(url.encode()).hexdigest()[:32]  # the URL itself may hold a token
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._force = False
        self._wait = 0.0  # the wait scheduled after the last poll
        self.failures = 0
        self.polls = 0
        self.last_result = ""
        self.last_error: str | None = None
        self.last_fetch = time.monotonic()  # every attempt, failed or not (api-binder.ts)

    def start(self) -> None:
        """Poll after first_delay(), then keep polling."""
        self._closing.clear()
        self._thread = threading.Thread(target=self._loop, name="target-source", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop polling."""
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 5)
            self._thread = None

    def poll_now(self, force: bool = False) -> None:
        """Fetch at once (POST /v1/update)."""
        self._force = self._force or force
        self._wake.set()

    def first_delay(self) -> float:
        """Seconds before the first poll (none for file://: it costs no server anything)."""
        if self._open is None:
            return 0.0
        try:
            stored = self.store.get("target_url_for") == self.url_key
        except Exception:  # noqa: BLE001 - an unreadable store: poll at once (the poll says why it fails)
            stored = False
        return poll_timing.first_delay(self.reconciler.poll_seconds(), self.rng, stored)

    def _loop(self) -> None:
        self._wait = wait = self.first_delay()
        while not self._closing.is_set():
            if wait > 0:
                self._wake.wait(wait)
            self._wake.clear()
            if self._closing.is_set():
                break
            force, self._force = self._force, False
            wait = self.poll(force)

    def poll(self, force: bool = False) -> float:
        """One poll; the seconds until the next one (at the interval of the target it may bring)."""
        try:
            self.last_result = "new" if self.fetch_once(force) else "unchanged"
        except Exception as err:  # noqa: BLE001 - the server's, the network's or the store's: retried
            retry_after = err.retry_after if isinstance(err, FetchError) else None
            interval = self.reconciler.poll_seconds()
            self.failures += 1
            self.last_result = "failed"
            self.last_error = str(err) if isinstance(err, FetchError) else f"{type(err).__name__}: {err}"
            wait = poll_timing.backoff_delay(self.failures, interval, self.rng, retry_after)
            after = f" (Retry-After {retry_after:.0f} s)" if retry_after is not None else ""
            log.warning("target fetch from %s failed (%s); the last good target stays; again in %.1f s%s",
                        redact_url(self.url), self.last_error, wait, after)
        else:
            if self.failures:
                log.info("target fetch from %s works again after %d failures", redact_url(self.url),
                         self.failures)
            self.failures = 0
            self.last_error = None
            wait = poll_timing.next_delay(self.reconciler.poll_seconds(), self.rng)
        self.polls += 1
        self._wait = wait
        self.last_fetch = time.monotonic()
        return wait

    def healthy(self) -> bool:
        """The legacy rule: the last fetch attempt ended less than two poll intervals ago (a hung
        request or a dead poller makes the device unhealthy; a failing fetch does not), or less
        than the wait it scheduled plus one interval (a server's long Retry-After)."""
        interval = self.reconciler.poll_seconds()
        return time.monotonic() - self.last_fetch < max(2 * interval, self._wait + interval)

    def fetch_once(self, force: bool = False) -> bool:
        """One fetch; True when a new target was stored and applied; FetchError when the answer is
        no target (the last good one stays)."""
        fetched = self._read()
        if fetched.body is None:
            if force:
                self.reconciler.trigger(force=True)
            return False
        from handlers.engine.target import validate

        try:
            body = json.loads(fetched.body)
        except ValueError as err:  # an HTML error page, a cut JSON document
            kind = f" ({fetched.content_type})" if fetched.content_type else ""
            raise FetchError(f"body{kind} is not JSON: {err}") from None
        try:
            target = validate(body, self.device_type())
        except (ValueError, InvalidInput) as err:
            raise FetchError(f"target refused: {err}") from None
        self.reconciler.set_target(target, SOURCE, force)
        # only once the target is safely stored: a crash before means fetching it again
        self.store.set(target_url_for=self.url_key, target_url_etag=fetched.tag or "")
        return True

    def _stored_tag(self) -> str | None:
        """The tag of the last target taken from this URL (another URL's is not sent)."""
        if self.store.get("target_url_for") != self.url_key:
            return None
        return self.store.get("target_url_etag") or None

    def _read(self) -> Fetched:
        """The new body and its tag, or no body when unchanged (304 / same mtime and size)."""
        if self._open is not None:
            return get(self._open, self.url, self._stored_tag(), self.timeout)
        path = Path(unquote(urlsplit(self.url).path))
        try:
            stat = path.stat()
            tag = f"{stat.st_mtime_ns}-{stat.st_size}"
            if tag == self._stored_tag():
                return Fetched(None)
            return Fetched(path.read_bytes(), tag)
        except OSError as err:
            raise FetchError(f"cannot read {path}: {err.strerror or err}") from None
