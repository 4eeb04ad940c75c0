"""The newest versions the update channel offers (hassio/updater.py of tag 138): a version JSON
fetched per channel, kept in the store.

The 2018 supervisor fetched https://s3.amazonaws.com/hassio-version/<channel>.json; polyvisor's
releases are not there, so the URL is an option (`{channel}` is replaced). Its quirks, kept:
- a fetch that fails the expected way (no answer, not JSON, a document of another channel, a key
  missing) is logged and swallowed: reload still succeeds (Updater.reload suppressed
  HassioUpdaterError); only an unexpected failure (a JSON list, a homeassistant entry that is not
  an object, bytes that are not UTF-8) makes the caller's reload fail;
- the HTTP status is not looked at (aiohttp's get does not raise on 4xx/5xx);
- a fetch within 60 s of the previous attempt does nothing (AsyncThrottle(timedelta(seconds=60))).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from handlers.homeassistant.settings import Settings
from handlers.redact import redact_url
from handlers.store import Store

log = logging.getLogger("polyvisor.hassio.updater")

VERSIONS_KEY = "hassio_updater_versions"
THROTTLE = 60.0  # seconds, AsyncThrottle's period
RELOAD_EVERY = 21600.0  # seconds, tasks.py's RUN_RELOAD_UPDATER
TIMEOUT = 10.0  # seconds, as sys_websession.get(url, timeout=10)


class FetchFailed(Exception):
    """HassioUpdaterError: the expected failures, logged and swallowed by reload()."""


class Updater:
    """The versions offered on the configured channel."""

    def __init__(self, store: Store, url: str | None, settings: Settings,
                 machine: Callable[[], str | None] = lambda: None, throttle: float = THROTTLE) -> None:
        self._store = store
        self._url = url
        self._settings = settings
        self._machine = machine
        self._throttle = throttle
        self._last_attempt = -float("inf")
        self._lock = threading.Lock()

    def versions(self) -> dict[str, Any]:
        """The last fetched versions: hassio (this agent), homeassistant, hassos (per board), hassos-cli."""
        raw = self._store.get(VERSIONS_KEY)
        found: dict[str, Any] = json.loads(raw) if raw else {}
        return found

    @property
    def last_version(self) -> str | None:
        """The newest supervisor (this agent's) version on the channel, None before a fetch."""
        found = self.versions().get("hassio")
        return None if found is None else str(found)

    def reload(self) -> bool:
        """Fetch the version JSON now; False when the fetch failed unexpectedly ("Some reload task fails!")."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_attempt <= self._throttle:
                return True
            self._last_attempt = now
            try:
                self._fetch()
            except FetchFailed as err:
                log.warning("%s", err)
            except Exception as err:  # noqa: BLE001 (the legacy let these escape its suppress(HassioUpdaterError))
                log.error("version data from %s: %s: %s", redact_url(self._url or ""), type(err).__name__, err)
                return False
            return True

    def watch(self, stop: threading.Event, every: float = RELOAD_EVERY) -> None:
        """Fetch now (the supervisor's updater.load() at start) and every `every` seconds until
        `stop` is set (its scheduled reload); for a thread of its own."""
        while True:
            self.reload()
            if stop.wait(every):
                return

    def _fetch(self) -> None:
        channel = self._settings.get().channel
        if not self._url:
            raise FetchFailed("no version URL configured (--hassio-version-url): no versions fetched")
        url = self._url.replace("{channel}", channel)
        shown = redact_url(url)  # the log is readable through GET /supervisor/logs
        log.info("Fetch update data from %s", shown)
        data = parse_json(download(url, shown))
        if not data or data.get("channel") != channel:
            raise FetchFailed(f"Invalid data from {shown}")
        try:
            found = {"hassio": data["supervisor"],
                     "homeassistant": data["homeassistant"][self._machine() or "default"]}
        except KeyError as err:
            raise FetchFailed(f"Can't process version data: {err}") from None
        # SCHEMA_UPDATER_CONFIG: every version Coerce(str)
        versions = {**self.versions(), **{k: str(v) for k, v in found.items()}}
        if isinstance(data.get("hassos"), dict):  # per board, for /hassos (version_latest)
            versions["hassos"] = {str(k): str(v) for k, v in data["hassos"].items()}
        if data.get("hassos-cli") is not None:
            versions["hassos-cli"] = str(data["hassos-cli"])
        self._store.set(**{VERSIONS_KEY: json.dumps(versions)})


def download(url: str, shown: str) -> bytes:
    import urllib.error  # urllib.request: 1 MiB of the idle agent, loaded on the first fetch
    import urllib.request

    """The body at `url` whatever the status; FetchFailed (naming `shown`) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as err:  # a 404 page is still parsed, as aiohttp did
        body = err.read()
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise FetchFailed(f"Can't fetch versions from {shown}: {err}") from None
    return body


def parse_json(body: bytes) -> Any:
    """aiohttp's request.json(content_type=None): empty -> None, bad JSON -> FetchFailed; bytes
    that are not UTF-8 raise UnicodeDecodeError, which the legacy did not catch."""
    text = body.strip()
    if not text:
        return None
    decoded = text.decode("utf-8")
    try:
        return json.loads(decoded)
    except json.JSONDecodeError as err:
        raise FetchFailed(f"Can't parse versions: {err}") from None
