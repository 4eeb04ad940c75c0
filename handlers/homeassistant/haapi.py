"""Requests to Home Assistant's own API as tag 138's HomeAssistant.make_request made them: the legacy
api_password as X-HA-Access, else (or also) a Bearer access token from the refresh token Home
Assistant gave the supervisor (POST /auth/token), renewed once on a 401. Blocking (http.client).
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from handlers.errors import PolyvisorError

log = logging.getLogger("polyvisor.hassio.core")

HEADER_HA_ACCESS = "X-HA-Access"


class HomeAssistantAPIError(PolyvisorError):
    """Home Assistant did not answer (138's HomeAssistantAPIError)."""


class HomeAssistantAuthError(HomeAssistantAPIError):
    """Home Assistant refused the refresh token (138's HomeAssistantAuthError)."""


@dataclass(frozen=True)
class Target:
    """Where Home Assistant's API is and how to authenticate: read fresh for every request."""

    host: str
    port: int
    ssl: bool
    password: str | None
    refresh_token: str | None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"


class HomeAssistantAPI:
    """Requests to Home Assistant with the supervisor's credentials."""

    def __init__(self, target: Callable[[], Target]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self.access_token: str | None = None  # never persisted (138 fetched new ones when needed)
        self._expires = 0.0
        self._refresh_token: str | None = None  # the one access_token came from

    def connection(self, target: Target, timeout: float | None) -> http.client.HTTPConnection:
        """A connection to Home Assistant (certificates not verified, as 138's verify_ssl=False)."""
        if target.ssl:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def ensure_access_token(self, target: Target) -> str | None:
        """A valid access token from the refresh token; HomeAssistantAuthError when refused."""
        with self._lock:
            if (self.access_token is not None and self._expires > time.monotonic()
                    and self._refresh_token == target.refresh_token):  # a new refresh token: a new access token
                return self.access_token
            body = urllib.parse.urlencode({"grant_type": "refresh_token",
                                           "refresh_token": target.refresh_token or ""})
            conn = self.connection(target, 30)
            try:
                conn.request("POST", "/auth/token", body,
                             {"Content-Type": "application/x-www-form-urlencoded"})
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as err:  # 138 suppressed these
                log.error("cannot renew Home Assistant's access token: %s", err)
                return self.access_token
            finally:
                conn.close()
            if response.status != 200:
                log.error("Home Assistant refused the refresh token (%s)", response.status)
                raise HomeAssistantAuthError("refresh token refused")
            try:
                tokens = json.loads(data)
                self.access_token = str(tokens["access_token"])
                self._expires = time.monotonic() + float(tokens["expires_in"])
                self._refresh_token = target.refresh_token
            except (ValueError, KeyError, TypeError) as err:
                raise HomeAssistantAuthError("bad token answer") from err
            return self.access_token

    def forget_token(self) -> None:
        with self._lock:
            self.access_token = None

    def auth_headers(self, target: Target) -> dict[str, str]:
        """The headers that authenticate the supervisor to Home Assistant."""
        headers = {}
        if target.password:
            headers[HEADER_HA_ACCESS] = target.password
        token = self.ensure_access_token(target) if target.refresh_token else None
        if token:  # none when /auth/token could not be reached: the request then fails on its own
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def open(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
             timeout: float | None = 300) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request to `/<path>`; the open connection and response (the caller closes the
        connection). HomeAssistantAPIError when Home Assistant cannot be reached."""
        for _ in (1, 2):
            target = self._target()
            headers = self.auth_headers(target)
            if content_type is not None:
                headers["Content-Type"] = content_type
            conn = self.connection(target, timeout)
            try:
                conn.request(method.upper(), f"/{path}", body or None, headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                log.error("error on call %s/%s: %s", target.url, path, err)
                break
            if response.status == 401 and target.refresh_token:  # the access token expired
                conn.close()
                self.forget_token()
                continue
            return conn, response
        raise HomeAssistantAPIError(f"Home Assistant API {path} failed")

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                timeout: float | None = 300) -> tuple[int, str | None, bytes]:
        """One whole request: (status, content type, body)."""
        conn, response = self.open(method, path, body, content_type, timeout)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise HomeAssistantAPIError(f"Home Assistant API {path}: {err}") from err
        finally:
            conn.close()
        return response.status, response.getheader("Content-Type"), data

    def answers(self) -> bool:
        """True when GET /api/ gets any HTTP answer (the start-up wait; quiet, unauthenticated: 138
        only looked at the port)."""
        conn = self.connection(self._target(), 5)
        try:
            conn.request("GET", "/api/")
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()
        return True
