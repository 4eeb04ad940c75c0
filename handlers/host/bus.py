"""The system D-Bus (jeepney, imported on first use): logind, hostnamed and systemd calls."""

from __future__ import annotations

import os
import threading
from typing import Any

from handlers.errors import BusReplyError, BusUnavailable

LOGIND = ("org.freedesktop.login1", "/org/freedesktop/login1", "org.freedesktop.login1.Manager")
HOSTNAMED = ("org.freedesktop.hostname1", "/org/freedesktop/hostname1", "org.freedesktop.hostname1")
SYSTEMD = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")
DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
# The services the agent calls, by the name the start-up report gives them.
SERVICES = {"logind": LOGIND[0], "hostnamed": HOSTNAMED[0], "systemd": SYSTEMD[0]}


class Bus:
    """Method calls on the system bus; reconnects after the bus goes away."""

    def __init__(self, address: str | None = None, timeout: float = 10.0) -> None:
        self._address = address
        self._timeout = timeout
        self._conn: Any = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """The bus address in use: the configured one, else DBUS_SYSTEM_BUS_ADDRESS, else 'SYSTEM'."""
        return self._address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "SYSTEM"

    def _connection(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection

        if self._conn is None:
            try:
                self._conn = open_dbus_connection(bus=self.address)
            except Exception as err:  # OSError, KeyError for bad addresses, auth failures
                raise BusUnavailable(f"D-Bus unavailable at {self.address}: {err}") from err
        return self._conn

    def connect(self) -> None:
        """Open the connection now; BusUnavailable when the bus cannot be reached."""
        with self._lock:
            self._connection()

    def ping(self, destination: str, path: str = "/") -> None:
        """org.freedesktop.DBus.Peer.Ping a service (activating it if it is activatable);
        BusUnavailable when the bus or the service does not answer."""
        self.call((destination, path, "org.freedesktop.DBus.Peer"), "Ping")

    def call(self, target: tuple[str, str, str], method: str, signature: str = "",
             body: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        """Call a method and return its reply body; BusUnavailable on any bus failure."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse

        destination, path, interface = target
        message = new_method_call(DBusAddress(path, destination, interface), method,
                                  signature or None, body)
        with self._lock:
            conn = self._connection()
            try:
                reply = conn.send_and_get_reply(message, timeout=self._timeout)
            except (OSError, TimeoutError, EOFError) as err:
                self._drop()
                raise BusUnavailable(f"D-Bus unavailable at {self.address}: {err}") from err
        try:
            from jeepney.wrappers import unwrap_msg

            return tuple(unwrap_msg(reply))
        except DBusErrorResponse as err:
            raise BusReplyError(str(err.name), " ".join(map(str, err.data))) from err

    def get_property(self, target: tuple[str, str, str], name: str) -> Any:
        """One property's value."""
        destination, path, interface = target
        (variant,) = self.call((destination, path, "org.freedesktop.DBus.Properties"), "Get",
                               "ss", (interface, name))
        return variant[1]

    def probe(self, timeout: float = 1.0) -> list[str]:
        """The SERVICES neither running nor activatable on the bus, asked over a throwaway
        connection with a short timeout (the start-up report); BusUnavailable when the bus is not there."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.wrappers import unwrap_msg

        destination, path, interface = DBUS
        names: set[str] = set()
        try:
            conn = open_dbus_connection(bus=self.address, auth_timeout=timeout)
        except Exception as err:  # OSError, KeyError for bad addresses, auth failures
            raise BusUnavailable(f"D-Bus unavailable at {self.address}: {err}") from err
        try:
            for method in ("ListNames", "ListActivatableNames"):
                message = new_method_call(DBusAddress(path, destination, interface), method)
                names.update(unwrap_msg(conn.send_and_get_reply(message, timeout=timeout))[0])
        except Exception as err:  # a bus that accepts but does not answer, or refuses the call
            raise BusUnavailable(f"D-Bus unavailable at {self.address}: {err}") from err
        finally:
            conn.close()
        return [name for name, service in SERVICES.items() if service not in names]

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._drop()
