"""The supervisor's calls into Home Assistant core's own API (tag 138's HomeAssistant.make_request
and check_api_state): discovery pushes and add-on logins go there.

Authentication as 138: the legacy api_password as X-HA-Access, and when Home Assistant gave a
refresh token (POST /homeassistant/options) an access token from its /auth/token as Bearer,
fetched again once on a 401. No proxy from the environment (aiohttp's ClientSession ignores it)
and, for https, no certificate check: 138's websession_ssl had verify_ssl=False because Home
Assistant's certificate names its public host, never the hassio network's gateway address.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from handlers.errors import Unavailable
from handlers.homeassistant.haapi import HomeAssistantAPI, HomeAssistantAPIError, Target

log = logging.getLogger("polyvisor.hassio.core")

# 138: api_url = http(s)://<hassio network gateway>:<port option, default 8123>; here Home
# Assistant runs with the host's network, so the agent reaches it on loopback.
DEFAULT_URL = "http://127.0.0.1:8123"


class CoreUnavailable(Unavailable):
    """Home Assistant's API did not answer (138's HomeAssistantAPIError)."""


@dataclass(frozen=True)
class CoreAccess:
    """Where Home Assistant's API is and how to authenticate to it."""

    url: str = DEFAULT_URL
    password: str | None = None
    refresh_token: str | None = None

    def target(self) -> Target:
        """The same place as haapi's Target (the client both share)."""
        parts = urllib.parse.urlsplit(self.url)
        secure = parts.scheme == "https"
        return Target(parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80), secure,
                      self.password, self.refresh_token)


class CoreAPI:
    """JSON requests to Home Assistant's API through haapi's client (its credentials, the token
    renewal on a 401); blocking: call them off the event loop."""

    def __init__(self, access: Callable[[], CoreAccess]) -> None:
        self._client = HomeAssistantAPI(lambda: access().target())

    def request(self, method: str, path: str, body: object = None, timeout: float = 30) -> int:
        """`method` `<url>/<path>` with `body` as JSON; the status. CoreUnavailable when no answer
        (a refused refresh token included: 138 then counted the API as down)."""
        data = json.dumps(body).encode() if body is not None else None
        try:
            status, _, _ = self._client.request(method, path, data, "application/json" if data else None, timeout)
        except HomeAssistantAPIError as err:
            raise CoreUnavailable(f"{method} {path}: {err}") from err
        return status

    def api_running(self) -> bool:
        """check_api_state: GET api/ answers 200 or 201."""
        try:
            status = self.request("GET", "api/")
        except CoreUnavailable as err:
            log.info("Home Assistant's API does not answer: %s", err)
            return False
        if status not in (200, 201):
            log.warning("Home Assistant API config mismatch: %s", status)
            return False
        return True
