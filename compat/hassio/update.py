"""POST /supervisor/update: the self-update of this agent's binary (handlers/host/selfupdate.py).

Tag 138's APISupervisor.update: body `{version?: Coerce(str)}`, default the latest version (there
the version JSON's, here the release manifest's); the running version is 400 `Version <v> is
already in use`; otherwise Supervisor.update's True (ok {}, the restart follows 1 s later) or
False (400 with message null: download, checksum, swap or restart impossible; the reason is logged).
"""

from __future__ import annotations

import voluptuous as vol

from compat.base import Router
from compat.hassio.common import APIError, Call

routes = Router()  # compat.hassio.dialect serves it

SCHEMA_VERSION = vol.Schema({vol.Optional("version"): vol.Coerce(str)})


@routes.add("POST", "/supervisor/update")
async def update(call: Call) -> bool | None:
    """Install the requested (or latest) release and restart into it."""
    body = await call.validate(SCHEMA_VERSION)
    selfupdate = call.services.selfupdate
    version = body["version"] if "version" in body else await call.run(selfupdate.latest)
    if version == selfupdate.version:
        raise APIError(f"Version {version} is already in use")
    if version == "":
        # 138's Supervisor.update ran `version or last_version`: {"version": ""} means the latest,
        # and when that is the running one it only logged "already installed" and returned None (ok {}).
        version = await call.run(selfupdate.latest)
        if version == selfupdate.version:
            return None
    result: bool = await call.run(selfupdate.update, version or None)
    return result
