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
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib.request

from handlers.errors import Unavailable

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


class CoreAPI:
    """Blocking requests to Home Assistant's API; call them off the event loop."""

    def __init__(self, access: Callable[[], CoreAccess]) -> None:
        self._access = access
        self._lock = threading.Lock()
        self._token: tuple[str, str, float] | None = None  # (refresh token, access token, expiry)
        self._opener: Any = None  # made on the first request: urllib and a TLS context cost memory

    def _open(self, request: Any, timeout: float) -> Any:
        """The opener: no proxies, https without certificate checks (138's verify_ssl=False)."""
        import ssl
        import urllib.request

        if self._opener is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                       urllib.request.HTTPSHandler(context=context))
        return self._opener.open(request, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30) -> int:
        """`method` `<url>/<path>` with `body` as JSON; the status. CoreUnavailable when no answer."""
        import urllib.request

        access = self._access()
        url = f"{access.url.rstrip('/')}/{path}"
        for _ in (1, 2):
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if access.password:
                headers["X-HA-Access"] = access.password
            if access.refresh_token:
                headers["Authorization"] = f"Bearer {self._access_token(access)}"
            data = json.dumps(body).encode() if body is not None else None
            status = self._send(urllib.request.Request(url, data, headers, method=method.upper()), timeout)
            if status == 401 and access.refresh_token:
                with self._lock:
                    self._token = None  # expired: fetch a new one and try once more
                continue
            return status
        raise CoreUnavailable(f"{method} {url}: Home Assistant refused a fresh access token too")

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

    def _send(self, request: urllib.request.Request, timeout: float) -> int:
        import urllib.error

        try:
            with self._open(request, timeout=timeout) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as err:
            err.close()
            return int(err.code)
        except (OSError, ValueError) as err:  # refused, timeout, DNS, TLS, a bad URL
            raise CoreUnavailable(f"{request.get_method()} {request.full_url}: {err}") from err

    def _access_token(self, access: CoreAccess) -> str:
        """An access token for the refresh token (ensure_access_token), cached until it expires."""
        import urllib.error
        import urllib.request

        with self._lock:
            cached = self._token
            if cached and cached[0] == access.refresh_token and cached[2] > time.monotonic():
                return cached[1]
            form = urllib.parse.urlencode({"grant_type": "refresh_token",
                                           "refresh_token": access.refresh_token or ""}).encode()
            request = urllib.request.Request(f"{access.url.rstrip('/')}/auth/token", form, method="POST")
            try:
                with self._open(request, timeout=30) as response:
                    tokens = json.loads(response.read())
                token, lifetime = str(tokens["access_token"]), float(tokens["expires_in"])
            except urllib.error.HTTPError as err:
                err.close()
                raise CoreUnavailable(f"Home Assistant refused the refresh token: {err.code}") from err
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise CoreUnavailable(f"no access token from Home Assistant: {err}") from err
            self._token = (access.refresh_token or "", token, time.monotonic() + lifetime)
            return token
