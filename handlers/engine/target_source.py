"""A target from a URL, for fleets without the legacy cloud (managed devices).

http(s)://: polled every SUPERVISOR_POLL_INTERVAL (jittered 0.5-1.5x, as the legacy poll) with
If-None-Match, and at once on poll_now() (POST /v1/update). file://: a target baked into an OS
image; re-read when its modification time changes. The body is the local-mode format.
Fetch errors back off 15 s x 2^n, capped at the poll interval.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from handlers.errors import InvalidInput
from handlers.redact import redact_url

log = logging.getLogger("polyvisor.target_source")
SOURCE = "url"


class TargetSource:
    """Polls one URL and hands new targets to the reconciler."""

    def __init__(self, url: str, reconciler: Any, store: Any, timeout: float = 30.0,
                 device_type: Callable[[], str | None] = lambda: None) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https", "file"):
            raise ValueError(f"target URL must be http(s):// or file://, not {url!r}")
        self.url = url
        self.device_type = device_type  # which boot-config variables a target may carry
        self.reconciler = reconciler
        self.store = store
        self.timeout = timeout
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._force = False
        self.last_error: str | None = None
        self.last_fetch = time.monotonic()  # every attempt, failed or not (api-binder.ts)

    def start(self) -> None:
        """Fetch now, then keep polling."""
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

    def _loop(self) -> None:
        failures = 0
        while not self._closing.is_set():
            force, self._force = self._force, False
            try:
                self.fetch_once(force)
                failures = 0
                wait = self.reconciler.poll_seconds() * random.uniform(0.5, 1.5)
            except Exception as err:  # noqa: BLE001 - network, file and refusal alike: retried
                failures += 1
                self.last_error = str(err)
                wait = min(15 * 2 ** (failures - 1), self.reconciler.poll_seconds())
                log.warning("target fetch from %s failed (%s); again in %.0f s", redact_url(self.url), err,
                            wait)
            self.last_fetch = time.monotonic()
            self._wake.wait(wait)
            self._wake.clear()

    def healthy(self) -> bool:
        """The legacy rule: the last fetch attempt ended less than two poll intervals ago (a hung
        request or a dead poller makes the device unhealthy; a failing fetch does not)."""
        return time.monotonic() - self.last_fetch < 2 * self.reconciler.poll_seconds()

    def fetch_once(self, force: bool = False) -> bool:
        """One fetch; True when a new target was stored and applied."""
        body, tag = self._read()
        if body is None:
            if force:
                self.reconciler.trigger(force=True)
            return False
        from handlers.engine.target import validate

        try:
            target = validate(json.loads(body), self.device_type())
        except (ValueError, InvalidInput) as err:
            raise RuntimeError(f"target refused: {err}") from err
        self.reconciler.set_target(target, SOURCE, force)
        if tag:  # only once the target is safely stored: a crash before means fetching it again
            self.store.set(target_url_etag=tag)
        self.last_error = None
        return True

    def _read(self) -> tuple[bytes | None, str | None]:
        """(new body, its tag), or (None, None) when unchanged (304 / same mtime and size)."""
        parts = urlsplit(self.url)
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            stat = path.stat()
            tag = f"{stat.st_mtime_ns}-{stat.st_size}"
            if tag == self.store.get("target_url_etag"):
                return None, None
            return path.read_bytes(), tag
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        etag = self.store.get("target_url_etag")
        if etag:
            request.add_header("If-None-Match", etag)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
                new_tag = response.headers.get("ETag")
        except urllib.error.HTTPError as err:
            if err.code == 304:
                return None, None
            raise
        return data, new_tag
