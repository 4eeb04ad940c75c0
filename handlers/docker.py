"""The Docker Engine connection: made on first use, dropped and remade when the engine goes away."""

from __future__ import annotations

import http.client
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from handlers.errors import EngineUnavailable
from handlers.redact import redact_url

T = TypeVar("T")

# The docker SDK's address when neither a flag nor DOCKER_HOST names one.
DEFAULT_ADDRESS = "unix:///var/run/docker.sock"


def os_reason(err: BaseException) -> str | None:
    """The operating-system error inside an SDK exception ("No such file or directory", "timed
    out"), if any: requests and urllib3 wrap it in args, `reason` or the exception chain."""
    seen: set[int] = set()
    pending: list[Any] = [err]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.errno is not None:
            return item.strerror or os.strerror(item.errno)
        if isinstance(item, TimeoutError):  # the socket's own timeout carries no errno
            return "timed out"
        pending += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return None


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket: the start-up probe's transport, without the docker SDK."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)  # the Host header the SDK sends on unix sockets
        self._path = path

    def connect(self) -> None:
        """Connect to the socket file, with the timeout of the connection."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def get_over_unix(path: str, url: str, timeout: float) -> tuple[int, str, bytes]:
    """GET `url` on the engine's unix socket: (status, reason, body); OSError from the socket."""
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, response.reason, body


def version_over_unix(path: str, timeout: float) -> dict[str, Any]:
    """GET /version on the engine's unix socket: its version document; OSError from the socket,
    ValueError for a status other than 200 or a body that is no JSON, TypeError for other JSON."""
    status, reason, body = get_over_unix(path, "/version", timeout)
    if status != 200:
        raise ValueError(f"GET /version answered {status} {reason}")
    document = orjson.loads(body)
    if not isinstance(document, dict):
        raise TypeError("GET /version answered no JSON object")
    return document


class Engine:
    """A docker SDK client that survives the engine restarting under it."""

    def __init__(self, base_url: str | None = None, timeout: float = 60.0) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def _address(self) -> str:
        """The engine address in use: the configured one, else DOCKER_HOST, else the SDK's default."""
        return self._base_url or os.environ.get("DOCKER_HOST") or DEFAULT_ADDRESS

    @property
    def address(self) -> str:
        """The engine address in use, with any credential in it masked: it is for messages."""
        return redact_url(self._address())

    def unavailable(self, err: BaseException) -> EngineUnavailable:
        """The error for an engine that cannot be reached, naming its address (as the docker CLI does)."""
        return EngineUnavailable(f"Docker engine unavailable at {self.address}: {os_reason(err) or err}")

    def _connect(self, timeout: float | None) -> Any:
        import docker  # heavy: imported on first use

        if self._base_url:
            client = docker.DockerClient(base_url=self._base_url, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        if str(client.api.base_url).startswith("http+docker://local"):
            # a unix socket: requests need not look up proxy variables on every call (~0.4 ms)
            client.api.trust_env = False
        return client

    def connect(self, timeout: float | None) -> Any:
        """A new SDK client of the caller's own (the event stream's: timeout None, no read timeout);
        the SDK's errors as raised. The caller closes it."""
        return self._connect(timeout)

    def client(self) -> Any:
        """The SDK client; EngineUnavailable when no engine can be reached."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._connect(self._timeout)
                except Exception as err:  # the SDK raises DockerException or OSError
                    raise self.unavailable(err) from err
            return self._client

    def call(self, action: Callable[[Any], T]) -> T:
        """Run action(client); a connection failure drops the client and raises EngineUnavailable."""
        import docker.errors
        import requests.exceptions

        client = self.client()
        try:
            return action(client)
        except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as err:
            self.reset()
            raise self.unavailable(err) from err
        except docker.errors.APIError as err:
            if err.response is not None and err.response.status_code >= 500 and "connect" in str(err):
                self.reset()
                raise self.unavailable(err) from err
            raise

    def reset(self) -> None:
        """Forget the client; the next call reconnects."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass

    def ping(self) -> bool:
        """True when the engine answers."""
        try:
            return bool(self.call(lambda c: c.ping()))
        except EngineUnavailable:
            return False

    def probe(self, timeout: float = 1.0) -> dict[str, Any]:
        """The engine's version document from a throwaway connection with a short timeout (the
        start-up report), leaving the shared client alone; EngineUnavailable naming the address."""
        address = self._address()
        try:
            if address.startswith("unix://"):
                # the device's case: one plain request, so the report does not load the docker SDK
                # (6 MiB of the idle agent's RSS) before a route or the reconciler needs the engine
                return version_over_unix(address.removeprefix("unix://"), timeout)
            client = self._connect(timeout)  # TCP and TLS as the SDK reads them from the environment
        except Exception as err:
            raise self.unavailable(err) from err
        try:
            return dict(client.version())
        except Exception as err:
            raise self.unavailable(err) from err
        finally:
            client.close()

    def inspect(self, kind: str, name: str) -> dict[str, Any] | None:
        """`GET /<kind>/<name>/json` (kind: images or containers): the object, None when the engine
        has none by that name or refuses the name. On a unix socket one plain request, so a poll
        loop (Home Assistant's watchdog) does not load the docker SDK; EngineUnavailable when the
        engine does not answer."""
        address = self._address()
        if not address.startswith("unix://"):
            import docker.errors

            def get(client: Any) -> dict[str, Any] | None:
                try:
                    return dict(getattr(client.api, f"inspect_{kind[:-1]}")(name))
                except (docker.errors.NotFound, docker.errors.NullResource):
                    return None
            return self.call(get)
        try:
            status, reason, body = get_over_unix(address.removeprefix("unix://"),
                                                 f"/{kind}/{quote(name, safe='/:@')}/json", self._timeout)
        except OSError as err:
            raise self.unavailable(err) from err
        if status in (400, 404):  # no such object; a name the engine does not take
            return None
        if status != 200:
            raise self.unavailable(ValueError(f"GET /{kind}/{name}/json answered {status} {reason}"))
        found = orjson.loads(body)
        return found if isinstance(found, dict) else None

    def version(self) -> dict[str, Any]:
        """The engine's version document."""
        return self.call(lambda c: c.version())

    def close(self) -> None:
        """Close the connection."""
        self.reset()
