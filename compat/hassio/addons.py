"""/addons: the add-on store and the installed add-ons (tag 138's hassio/api/addons.py, hassio.md
§3.6 and §5).

`{addon}` is a full slug (`local_x`, `core_ssh`, `a0d7b954_nodered`) or `self`: the calling
add-on itself, without the existence checks (_extract_addon returned request["HASSIO_FROM"]);
called with Home Assistant's, the host's or the operator's token that object is no add-on and
138 crashed (callers.py: aiohttp's 500). The security middleware already refused
`/addons/self/security` and `/addons/self/update` to every add-on (security.py).

The order of the checks is 138's, it decides which error a caller sees: the add-on's existence
and installation, then the body, then what the action itself refuses. The raw routes (logs, icon,
logo, changelog) are api_process_raw: their errors come with status 200 as octet-stream text.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import voluptuous as vol

from compat.base import Router
from compat.hassio.callers import addon_of
from compat.hassio.common import APIError, Call

routes = Router()  # compat.hassio.dialect serves it



@cache
def schema_options() -> vol.Schema:
    """POST /addons/<slug>/options' body (made on first use: the add-on config's schemas are not
    built at the agent's start)."""
    from handlers.homeassistant.addons.config import ALSA_DEVICE, BOOT_ALL, DOCKER_PORTS

    return vol.Schema({
        vol.Optional("boot"): vol.In(BOOT_ALL),
        vol.Optional("network"): vol.Any(None, DOCKER_PORTS),
        vol.Optional("auto_update"): vol.Boolean(),
        vol.Optional("audio_output"): ALSA_DEVICE,
        vol.Optional("audio_input"): ALSA_DEVICE,
    })


SCHEMA_SECURITY = vol.Schema({vol.Optional("protected"): vol.Boolean()})

NOT_FOUND = "Addon does not exist"
NOT_INSTALLED = "Addon is not installed"


async def _slug(call: Call, installed: bool = True) -> str:
    """_extract_addon: the path's add-on, `self` the caller; 400 when it does not exist or (with
    `installed`) is not installed."""
    slug = call.params["addon"]
    if slug == "self":
        return addon_of(call).slug
    addons = call.services.hassio_addons
    if slug in await call.run(addons.installed_slugs):
        return slug
    if await call.run(addons.store.get, slug) is None:  # neither installed nor in a repository
        raise APIError(NOT_FOUND)
    if installed:
        raise APIError(NOT_INSTALLED)
    return slug


async def _config(call: Call, slug: str) -> dict[str, Any]:
    """The config.json an installed add-on was installed with (138's `_mesh` of an installed add-on)."""
    config: dict[str, Any] | None = await call.run(call.services.hassio_addons.installed.system, slug)
    if config is None:  # uninstalled meanwhile
        raise APIError(NOT_INSTALLED)
    return config


@routes.add("GET", "/addons")
async def get_addons(call: Call) -> dict[str, Any]:
    """Every add-on of every repository (installed or not), and the repositories."""
    result: dict[str, Any] = await call.run(call.services.hassio_addons.listing)
    return result


@routes.add("POST", "/addons/reload")
async def post_reload(call: Call) -> bool:
    """Pull every git repository and read the add-ons again; a repository that fails is logged."""
    await call.run(call.services.hassio_addons.reload)
    return True


@routes.add("GET", "/addons/:addon/info")
async def get_info(call: Call) -> dict[str, Any]:
    """One add-on with 138's keys, installed or not (state `none` when not)."""
    slug = await _slug(call, installed=False)
    result: dict[str, Any] = await call.run(call.services.hassio_addons.info, slug)
    return result


@routes.add("POST", "/addons/:addon/options")
async def post_options(call: Call) -> bool:
    """Boot mode, ports, auto update, audio devices and the add-on's own options (null resets).

    138 checked the options inside SCHEMA_OPTIONS as `vol.Any(None, <add-on schema>)`: voluptuous'
    Any kept the first failure of equal depth, None's, so any invalid options answer `not a valid
    value for dictionary value @ data['options']. Got ...`, never the schema's own message."""
    slug = await _slug(call)
    from handlers.homeassistant.addons.options import options_schema

    schema = options_schema((await _config(call, slug))["schema"])
    body = await call.validate(schema_options().extend({vol.Optional("options"): vol.Any(None, schema)}))
    await call.run(call.services.hassio_addons.set_options, slug, body)
    return True


@routes.add("POST", "/addons/:addon/security")
async def post_security(call: Call) -> bool:
    """Protection mode on or off (logged as a warning, as 138 did)."""
    slug = await _slug(call)
    body = await call.validate(SCHEMA_SECURITY)
    if "protected" in body:
        await call.run(call.services.hassio_addons.set_security, slug, body["protected"])
    return True


@routes.add("GET", "/addons/:addon/stats")
async def get_stats(call: Call) -> dict[str, Any]:
    """One docker stats sample of the add-on's container."""
    slug = await _slug(call)
    stats = await call.run(call.services.hassio_addons.stats, slug)
    if not stats:
        raise APIError("No stats available")
    result: dict[str, Any] = stats.as_dict()
    return result


async def _action(call: Call, name: str, installed: bool = True) -> Any:
    """One of the add-on's long jobs; what it returns is api_process's to map (False: 400 null)."""
    slug = await _slug(call, installed)
    return await call.run(getattr(call.services.hassio_addons, name), slug)


@routes.add("POST", "/addons/:addon/install")
async def post_install(call: Call) -> Any:
    """Pull the image (or build it) and record the add-on as installed."""
    return await _action(call, "install", installed=False)


@routes.add("POST", "/addons/:addon/uninstall")
async def post_uninstall(call: Call) -> Any:
    """Remove the container, the image, the data folder and the add-on's token."""
    return await _action(call, "uninstall")


@routes.add("POST", "/addons/:addon/start")
async def post_start(call: Call) -> Any:
    """Check the stored options against the add-on's schema, then run its container."""
    return await _action(call, "start")


@routes.add("POST", "/addons/:addon/stop")
async def post_stop(call: Call) -> Any:
    """Stop and remove the container (138 never kept one)."""
    return await _action(call, "stop")


@routes.add("POST", "/addons/:addon/restart")
async def post_restart(call: Call) -> Any:
    return await _action(call, "restart")


@routes.add("POST", "/addons/:addon/update")
async def post_update(call: Call) -> Any:
    """Install the repository's version; `No update available!` when it is the installed one."""
    return await _action(call, "update")


@routes.add("POST", "/addons/:addon/rebuild")
async def post_rebuild(call: Call) -> Any:
    """Build a local-build add-on's image again; `Only local build addons are supported`."""
    return await _action(call, "rebuild")


@routes.add("POST", "/addons/:addon/stdin")
async def post_stdin(call: Call) -> Any:
    """The raw body, written to the container's standard input."""
    slug = await _slug(call)
    if not (await _config(call, slug)).get("stdin"):
        raise APIError("STDIN not supported by add-on")
    return await call.run(call.services.hassio_addons.stdin, slug, await call.body())


@routes.add("GET", "/addons/:addon/logs", raw="application/octet-stream")
async def get_logs(call: Call) -> bytes:
    """The container's last 100 lines, both streams; empty when there is no container."""
    slug = await _slug(call)
    output: bytes = await call.run(call.services.hassio_addons.logs, slug)
    return output


async def _asset(call: Call, name: str) -> bytes:
    """The file, or 138's `No icon found!`, `No logo found!`, `No changelog found!` (as text, status 200)."""
    slug = await _slug(call, installed=False)
    found: bytes = await call.run(call.services.hassio_addons.asset, slug, name)
    return found


@routes.add("GET", "/addons/:addon/icon", raw="image/png")
async def get_icon(call: Call) -> bytes:
    """icon.png next to the add-on's config.json."""
    return await _asset(call, "icon")


@routes.add("GET", "/addons/:addon/logo", raw="image/png")
async def get_logo(call: Call) -> bytes:
    """logo.png next to the add-on's config.json."""
    return await _asset(call, "logo")


@routes.add("GET", "/addons/:addon/changelog", raw="text/plain")
async def get_changelog(call: Call) -> bytes:
    """CHANGELOG.md next to the add-on's config.json."""
    return await _asset(call, "changelog")
