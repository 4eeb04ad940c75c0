"""/info and /auth: the system summary every add-on may read, and logins forwarded to Home Assistant."""

from __future__ import annotations

from typing import Any

from compat.base import Router
from compat.hassio.common import Call

routes = Router()  # compat.hassio.dialect serves it


@routes.add("GET", "/info")
async def get_info(call: Call) -> dict[str, Any]:
    """hassio/api/info.py: versions, hostname, machine, arch and channel in one object."""
    supervisor = call.services.hassio_supervisor
    settings = await call.run(supervisor.settings.get)
    return {
        "supervisor": supervisor.version,
        # The homeassistant container's io.hass.version label; null until the homeassistant
        # domain object reports it (the legacy's null when Home Assistant was not installed).
        "homeassistant": None,
        "hassos": None,  # not a HassOS host: sys_hassos.version was null
        "hostname": await call.run(supervisor.hostname),
        # The homeassistant image's io.hass.machine label: null without it, as sys_machine was.
        "machine": None,
        "arch": supervisor.arch,
        "channel": settings.channel,
    }
