"""/homeassistant: the homeassistant container on the Docker Engine (info, options, update with rollback, start, stop, restart, check, logs, stats).

Tag 138's hassio/api/homeassistant.py: schemas as it declared them, so voluptuous gives its messages.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol

from compat.base import Router
from compat.hassio.common import APIError, Call

routes = Router()  # compat.hassio.dialect serves it

NETWORK_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))
DOCKER_IMAGE = vol.Match(r"^[\w{}]+/[\-\w{}]+$")

SCHEMA_OPTIONS = vol.Schema({
    vol.Optional("boot"): vol.Boolean(),
    vol.Inclusive("image", "custom_hass"): vol.Maybe(vol.Coerce(str)),
    # 138's bug, kept: last_version is checked with the docker image pattern, so a plain version
    # such as "0.80.3" is refused and only something shaped like "a/b" (or null) passes
    vol.Inclusive("last_version", "custom_hass"): vol.Any(None, DOCKER_IMAGE),
    vol.Optional("port"): NETWORK_PORT,
    vol.Optional("password"): vol.Maybe(vol.Coerce(str)),
    vol.Optional("ssl"): vol.Boolean(),
    vol.Optional("watchdog"): vol.Boolean(),
    vol.Optional("wait_boot"): vol.All(vol.Coerce(int), vol.Range(min=60)),
    vol.Optional("refresh_token"): vol.Maybe(vol.Coerce(str)),
})

SCHEMA_VERSION = vol.Schema({vol.Optional("version"): vol.Coerce(str)})


@routes.add("GET", "/homeassistant/info")
async def info(call: Call) -> dict[str, Any]:
    """Version, image and settings of Home Assistant."""
    result: dict[str, Any] = await call.run(call.services.hassio_core.info)
    return result


@routes.add("POST", "/homeassistant/options")
async def options(call: Call) -> None:
    """Store settings; Home Assistant posts its ssl, port, password, watchdog and refresh token at every start."""
    body = await call.validate(SCHEMA_OPTIONS)
    changes: dict[str, Any] = {key: body[key] for key in ("boot", "port", "password", "ssl", "watchdog", "wait_boot",
                                          "refresh_token") if key in body}
    if "image" in body and "last_version" in body:
        changes.update(image=body["image"], last_version=body["last_version"])
    await call.run(call.services.hassio_core.save, changes)


@routes.add("GET", "/homeassistant/stats")
async def stats(call: Call) -> dict[str, Any]:
    """One docker stats sample of the running container."""
    found = await call.run(call.services.hassio_core.stats)
    if not found:
        raise APIError("No stats available")
    result: dict[str, Any] = found.as_dict()
    return result


@routes.add("POST", "/homeassistant/update")
async def update(call: Call) -> None:
    """Install a version (default last_version); rolls back when it does not come up."""
    body = await call.validate(SCHEMA_VERSION)
    await call.run(call.services.hassio_core.update, body.get("version"))


@routes.add("POST", "/homeassistant/stop")
async def stop(call: Call) -> bool:
    """Stop and remove the container; none there is 400 with message null (138 returned False)."""
    stopped: bool = await call.run(call.services.hassio_core.stop)
    return stopped


@routes.add("POST", "/homeassistant/start")
async def start(call: Call) -> None:
    """Run the container and wait until its API answers (up to wait_boot)."""
    await call.run(call.services.hassio_core.start)


@routes.add("POST", "/homeassistant/restart")
async def restart(call: Call) -> None:
    await call.run(call.services.hassio_core.restart)


@routes.add("GET", "/homeassistant/logs", raw="application/octet-stream")
async def logs(call: Call) -> bytes:
    """The last 100 lines of the container's output."""
    output: bytes = await call.run(call.services.hassio_core.logs)
    return output


@routes.add("POST", "/homeassistant/check")
async def check(call: Call) -> None:
    """Home Assistant's check_config; a bad config is 400 with the check's output as the message."""
    valid, output = await call.run(call.services.hassio_core.check)
    if not valid:
        raise APIError(output)
