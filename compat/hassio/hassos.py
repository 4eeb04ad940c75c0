"""/hassos: RAUC over D-Bus on a HassOS host; a non-HassOS host's answers otherwise."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from starlette.responses import Response

from compat.base import Router
from compat.hassio.common import Call, server_error
from compat.hassio.host import system
from handlers.homeassistant.hassos import InstallFailed

routes = Router()  # compat.hassio.dialect serves it

SCHEMA_VERSION = vol.Schema({vol.Optional("version"): vol.Coerce(str)})  # api/hassos.py


@routes.add("GET", "/hassos/info")
async def info(call: Call) -> dict[str, Any]:
    """{version, version_cli, version_latest, version_cli_latest, board}: nulls off HassOS."""
    return await call.run(system(call).hassos.info)


@routes.add("POST", "/hassos/update")
async def update(call: Call) -> Response | None:
    """{version?}: the bundle through RAUC, then a reboot."""
    body = await call.validate(SCHEMA_VERSION)
    try:
        await call.run(system(call).hassos.update, body.get("version"))
    except InstallFailed:
        # 138 read the failure's LastError with self.sys_dbus.get_properties(), which DBusManager
        # has not: the AttributeError escaped api_process as aiohttp's 500 (hassos.py update)
        return server_error()
    return None


@routes.add("POST", "/hassos/update/cli")
async def update_cli(call: Call) -> None:
    """{version?}: pull homeassistant/<arch>-hassio-cli:<version>."""
    body = await call.validate(SCHEMA_VERSION)
    await call.run(system(call).hassos.update_cli, body.get("version"))


@routes.add("POST", "/hassos/config/sync")
async def config_sync(call: Call) -> None:
    """Restart hassos-config.service."""
    await call.run(system(call).hassos.config_sync)
