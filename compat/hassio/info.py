"""/info and /auth: the system summary every add-on may read, and logins forwarded to Home Assistant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from compat.base import Router
from compat.hassio.common import Call
from handlers.errors import PolyvisorError

routes = Router()  # compat.hassio.dialect serves it


@routes.add("GET", "/info")
async def get_info(call: Call) -> dict[str, Any]:
    """hassio/api/info.py: versions, hostname, machine, arch and channel in one object."""
    supervisor = call.services.hassio_supervisor
    settings = await call.run(supervisor.settings.get)
    core = call.services.hassio_core
    return {
        "supervisor": supervisor.version,
        "homeassistant": await call.run(_or_none, core.version),  # the image's io.hass.version
        "hassos": await call.run(_or_none, _hassos_version, call.services),  # null off HassOS
        "hostname": await call.run(supervisor.hostname),
        "machine": core.machine,
        "arch": supervisor.arch,
        "channel": settings.channel,
    }


def _hassos_version(services: Any) -> str | None:
    version: str | None = services.hassio_system.hassos.info()["version"]
    return version


def _or_none(read: Callable[..., str | None], *args: Any) -> str | None:
    """What `read` found, or null when the engine or the bus does not answer (138 showed null
    for what it could not attach to)."""
    try:
        return read(*args)
    except PolyvisorError:
        return None
