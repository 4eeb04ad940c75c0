"""The Docker Engine connection: made on first use, dropped and remade when the engine goes away."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from handlers.errors import EngineUnavailable

T = TypeVar("T")


class Engine:
    """A docker SDK client that survives the engine restarting under it."""

    def __init__(self, base_url: str | None = None, timeout: float = 60.0) -> None:
        self._base_url = base_url
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import docker  # heavy: imported on first use

        if self._base_url:
            client = docker.DockerClient(base_url=self._base_url, timeout=self._timeout)
        else:
            client = docker.from_env(timeout=self._timeout)
        if str(client.api.base_url).startswith("http+docker://local"):
            # a unix socket: requests need not look up proxy variables on every call (~0.4 ms)
            client.api.trust_env = False
        return client

    def client(self) -> Any:
        """The SDK client; EngineUnavailable when no engine can be reached."""
        with self._lock:
            if self._client is None:
                try:
                    self._client = self._connect()
                except Exception as err:  # the SDK raises DockerException or OSError
                    raise EngineUnavailable(f"Docker engine unavailable: {err}") from err
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
            raise EngineUnavailable(f"Docker engine unavailable: {err}") from err
        except docker.errors.APIError as err:
            if err.response is not None and err.response.status_code >= 500 and "connect" in str(err):
                self.reset()
                raise EngineUnavailable(str(err)) from err
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

    def version(self) -> dict[str, Any]:
        """The engine's version document."""
        return self.call(lambda c: c.version())

    def close(self) -> None:
        """Close the connection."""
        self.reset()
