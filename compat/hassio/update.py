"""POST /supervisor/update: the self-update of this agent's binary (handlers/host/selfupdate.py).

Tag 138's APISupervisor.update: body `{version?: Coerce(str)}`, default the latest version (there
the version JSON's, here the release manifest's); the running version is 400 `Version <v> is
already in use`; otherwise Supervisor.update's answer: True (ok {}, the restart follows 1 s
later), False (400 with message null: download, checksum, swap or restart impossible, the reason
logged), or None (ok {}) for `{"version": ""}` when the latest is the running one, since 138 ran
`version or last_version` there and only logged "already installed".
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
    result: bool | None = await call.run(selfupdate.update, version)
    return result
