"""Domain errors. They carry no HTTP status: each dialect maps them in its ERRORS table.

PolyvisorError
 +-- InvalidInput          a caller gave something the domain cannot use
 |    +-- InvalidId        the id names nothing this machine has (no such LED, GPIO pin, interface)
 +-- NotFound              the thing asked for does not exist
 |    +-- AppNotFound
 +-- Conflict              the request clashes with the current state
 |    +-- UpdatesLocked    an application holds its update lock
 +-- Unavailable           a component the agent depends on does not answer
 |    +-- EngineUnavailable    the Docker Engine
 |    +-- BusUnavailable       the system D-Bus or one of its services
 |         +-- BusReplyError    a service answered with an error reply (NoSuchUnit, ...)
 +-- NotSupported          this machine lacks the hardware or service
"""

from __future__ import annotations


class PolyvisorError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidInput(PolyvisorError):
    """A caller gave something the domain cannot use."""


class InvalidId(InvalidInput):
    """The id names nothing this machine has (e.g. an LED index past the last LED); the platform
    routes answer 400."""


class NotFound(PolyvisorError):
    """The thing asked for does not exist."""


class AppNotFound(NotFound):
    """No application with that id runs on this device."""


class Conflict(PolyvisorError):
    """The request clashes with the current state."""


class UpdatesLocked(Conflict):
    """An application holds its update lock."""


class Unavailable(PolyvisorError):
    """A component the agent depends on does not answer."""


class StorageUnavailable(Unavailable):
    """The data folder cannot take a write (full, read-only); nothing of the write was kept."""


class EngineUnavailable(Unavailable):
    """The Docker Engine does not answer."""


class BusUnavailable(Unavailable):
    """The system D-Bus, or a service on it, does not answer."""


class BusReplyError(BusUnavailable):
    """A D-Bus service answered a call with an error reply (its name is kept)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


class NotSupported(PolyvisorError):
    """This machine lacks the hardware or service."""
