"""/supervisor: ping, info, options, reload, logs, stats, update (the self-update of this binary).

Schemas as hassio/api/supervisor.py and hassio/validate.py of tag 138 declared them, so the real
voluptuous gives the legacy's messages.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import voluptuous as vol
from starlette.responses import Response

from compat.base import Router
from compat.hassio.common import APIError, Call, server_error
from handlers.errors import PolyvisorError
from handlers.homeassistant.settings import CHANNELS

routes = Router()  # compat.hassio.dialect serves it
log = logging.getLogger("polyvisor.hassio")

RE_REPOSITORY = re.compile(r"^(?P<url>[^#]+)(?:#(?P<branch>[\w\-]+))?$")
TIMEZONE_INVALID = ("Invalid time zone passed in. Valid options can be found here: "
                    "http://en.wikipedia.org/wiki/List_of_tz_database_time_zones")
WAIT_BOOT = vol.All(vol.Coerce(int), vol.Range(min=1, max=60))


class ValidatorCrash(TypeError):
    """A value that crashed one of the legacy's validators past voluptuous: aiohttp's 500."""


def validate_repository(repository: Any) -> str:
    """validate_repository: `url[#branch]` whose url passes vol.Url(). A value that is not a string
    crashed re.match (TypeError), the legacy's 500."""
    if not isinstance(repository, str):
        raise ValidatorCrash(f"repository {repository!r} is not a string")
    found = RE_REPOSITORY.match(repository)
    if not found:
        raise vol.Invalid("No valid repository format!")
    vol.Url()(found.group("url"))
    return repository


REPOSITORIES = vol.All([validate_repository], vol.Unique())


def timezone_validator(call: Call) -> Any:
    """validate_timezone with the system's tz database (pytz.timezone's case-insensitive match);
    the name is kept as given. null is pytz's UnknownTimeZoneError; another non-string crashed
    pytz (AttributeError: no .upper()), the legacy's 500."""
    zones = call.services.hassio_supervisor.settings

    def validate_timezone(timezone: Any) -> str:
        if timezone is not None and not isinstance(timezone, str):
            raise ValidatorCrash(f"time zone {timezone!r} is not a string")
        if timezone is None or zones.zone(timezone) is None:
            raise vol.Invalid(TIMEZONE_INVALID)
        return timezone

    return validate_timezone


def options_schema(call: Call) -> vol.Schema:
    """SCHEMA_OPTIONS."""
    return vol.Schema({
        vol.Optional("channel"): vol.In(list(CHANNELS)),
        vol.Optional("addons_repositories"): REPOSITORIES,
        vol.Optional("timezone"): timezone_validator(call),
        vol.Optional("wait_boot"): WAIT_BOOT,
    })


@routes.add("GET", "/supervisor/ping")
async def ping(call: Call) -> bool:
    """Liveness, open to every caller: ok {}."""
    return True


@routes.add("GET", "/supervisor/info")
async def get_info(call: Call) -> dict[str, Any]:
    """The supervisor's version, channel, settings and installed add-ons."""
    supervisor = call.services.hassio_supervisor
    settings = await call.run(supervisor.settings.get)
    return {
        "version": supervisor.version,
        "last_version": await call.run(lambda: supervisor.updater.last_version),
        "channel": settings.channel,
        "arch": supervisor.arch,
        "wait_boot": settings.wait_boot,
        "timezone": settings.timezone,
        "addons": await call.run(installed_addons, call.services.hassio_addons),
        "addons_repositories": list(settings.addons_repositories),
    }


@routes.add("POST", "/supervisor/options")
async def post_options(call: Call) -> bool | Response:
    """Change the channel, time zone, wait_boot or custom repositories; ok {}."""
    try:
        body = await call.validate(options_schema(call))
    except ValidatorCrash as err:  # the legacy's 500; an expected answer here, so no traceback logged
        log.warning("POST /supervisor/options: %s", err)
        return server_error()
    if "addons_repositories" in body:
        body["addons_repositories"] = await call.run(load_repositories, call.services, body["addons_repositories"])
    if body:
        await call.run(call.services.hassio_supervisor.settings.update, **body)
    return True


def load_repositories(services: Any, urls: list[str]) -> list[str]:
    """load_repositories of 138: new repositories cloned, dropped ones removed; the setting as 138
    kept it: a URL that cannot be cloned is logged and not added (one already there stays, 138
    only dropped repositories it had loaded)."""
    from handlers.homeassistant.addons.store import kept_repositories

    addons = services.hassio_addons
    before = addons.store.sources()
    after = addons.set_repositories(urls)
    return kept_repositories(services.hassio_supervisor.settings.get().addons_repositories, before, after)


def installed_addons(addons: Any) -> list[dict[str, Any]]:
    """The installed add-ons as /supervisor/info listed them: `version` is the repository's,
    `installed` the installed one, `state` started or stopped."""
    found = []
    for addon in addons.listing()["addons"]:
        if addon["installed"] is None:
            continue
        found.append({
            "name": addon["name"],
            "slug": addon["slug"],
            "description": addon["description"],
            "state": "started" if _running(addons, addon["slug"]) else "stopped",
            "version": addon["version"],
            "installed": addon["installed"],
            "repository": addon["repository"],
            "icon": addon["icon"],
            "logo": addon["logo"],
        })
    return found


def _running(addons: Any, slug: str) -> bool:
    """DockerAddon.is_running: an engine that does not answer is "not running" (138 caught
    docker's errors there), not an error of the whole info."""
    try:
        return bool(addons.is_running(slug))
    except PolyvisorError as err:
        log.warning("state of add-on %s: %s", slug, err)
        return False


@routes.add("POST", "/supervisor/reload")
async def post_reload(call: Call) -> bool:
    """Fetch the channel's version JSON again; only an unexpected failure is an error."""
    if not await call.run(call.services.hassio_supervisor.updater.reload):
        raise APIError("Some reload task fails!")
    return True


@routes.add("GET", "/supervisor/logs", raw="application/octet-stream")
async def get_logs(call: Call) -> bytes:
    """The agent's last 100 log lines."""
    text: bytes = call.services.hassio_supervisor.logs.text()
    return text


@routes.add("GET", "/supervisor/stats")
async def get_stats(call: Call) -> dict[str, Any]:
    """The agent process's resource use."""
    stats = await call.run(call.services.hassio_supervisor.process.stats)
    if stats is None:
        raise APIError("No stats available")
    return {
        "cpu_percent": stats.cpu_percent,
        "memory_usage": stats.memory_usage,
        "memory_limit": stats.memory_limit,
        "network_rx": stats.network_rx,
        "network_tx": stats.network_tx,
        "blk_read": stats.blk_read,
        "blk_write": stats.blk_write,
    }
