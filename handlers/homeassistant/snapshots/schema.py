"""snapshot.json as tag 138 wrote and validated it (hassio/snapshots/validate.py, hassio.md §4.3),
the slug rule and the folder names."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import voluptuous as vol

FULL, PARTIAL = "full", "partial"
CRYPTO_AES128 = "aes128"
# the folders of the hassio data folder a snapshot holds, in 138's ALL_FOLDERS order
ALL_FOLDERS = ("homeassistant", "share", "addons/local", "ssl")
RE_REPOSITORY = re.compile(r"^(?P<url>[^#]+)(?:#(?P<branch>[\w\-]+))?$")
DOCKER_IMAGE = vol.Match(r"^[\w{}]+/[\-\w{}]+$")
RE_SLUG = re.compile(r"[\w-][\w.-]{0,63}")
NETWORK_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))


def member_name(name: str) -> str:
    """The inner archive's member of a folder or add-on: `./<name with / as _>.tar.gz`."""
    return f"./{name.replace('/', '_')}.tar.gz"


def new_date() -> str:
    """utcnow().isoformat() of 138: microseconds and +00:00."""
    return datetime.now(UTC).isoformat()


def create_slug(name: str, date: str) -> str:
    """sha1 of "<date> - <name>" lowercased, the first 8 hex digits."""
    return hashlib.sha1(f"{date} - {name}".lower().encode()).hexdigest()[:8]


def validate_repository(repository: Any) -> str:
    """`url[#branch]` whose url passes vol.Url() (138's validate_repository)."""
    if not isinstance(repository, str):
        raise vol.Invalid("No valid repository format!")
    found = RE_REPOSITORY.match(repository)
    if not found:
        raise vol.Invalid("No valid repository format!")
    vol.Url()(found.group("url"))
    return repository


def unique_addons(addons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len({addon["slug"] for addon in addons}) != len(addons):
        raise vol.Invalid("Invalid addon list on snapshot!")
    return addons


SCHEMA_SNAPSHOT = vol.Schema({
    vol.Required("slug"): vol.Coerce(str),
    vol.Required("type"): vol.In([FULL, PARTIAL]),
    vol.Required("name"): vol.Coerce(str),
    vol.Required("date"): vol.Coerce(str),
    vol.Inclusive("protected", "encrypted"): vol.All(vol.Coerce(str), vol.Length(min=1, max=1)),
    vol.Inclusive("crypto", "encrypted"): CRYPTO_AES128,
    vol.Optional("homeassistant", default=dict): vol.Schema({
        vol.Optional("version"): vol.Coerce(str),
        vol.Inclusive("image", "custom_hass"): DOCKER_IMAGE,
        vol.Inclusive("last_version", "custom_hass"): vol.Coerce(str),
        vol.Optional("boot", default=True): vol.Boolean(),
        vol.Optional("ssl", default=False): vol.Boolean(),
        vol.Optional("port", default=8123): NETWORK_PORT,
        vol.Optional("password"): vol.Maybe(vol.Coerce(str)),
        vol.Optional("refresh_token"): vol.Maybe(vol.Coerce(str)),
        vol.Optional("watchdog", default=True): vol.Boolean(),
        vol.Optional("wait_boot", default=600): vol.All(vol.Coerce(int), vol.Range(min=60)),
    }, extra=vol.REMOVE_EXTRA),
    vol.Optional("folders", default=list): vol.All([vol.In(ALL_FOLDERS)], vol.Unique()),
    vol.Optional("addons", default=list): vol.All([vol.Schema({
        vol.Required("slug"): vol.Coerce(str),
        vol.Required("name"): vol.Coerce(str),
        vol.Required("version"): vol.Coerce(str),
        vol.Optional("size", default=0): vol.Coerce(float),
    }, extra=vol.REMOVE_EXTRA)], unique_addons),
    vol.Optional("repositories", default=list): vol.All([validate_repository], vol.Unique()),
}, extra=vol.ALLOW_EXTRA)


def validate(data: Any) -> dict[str, Any]:
    """SCHEMA_SNAPSHOT; ValueError with voluptuous' text (also for values that crashed 138's
    validators, such as a list where a string belongs)."""
    from voluptuous.humanize import humanize_error

    try:
        if not isinstance(data, dict):
            raise vol.Invalid("snapshot.json is not an object")
        result: dict[str, Any] = SCHEMA_SNAPSHOT(data)
    except vol.Invalid as err:
        raise ValueError(humanize_error(data, err)) from None
    except (TypeError, AttributeError, OverflowError) as err:
        raise ValueError(f"{type(err).__name__}: {err}") from None
    # Coerce(str) takes anything, but the slug names the file <slug>.tar in the backup folder
    # (138 renamed an upload to it: "../x" would have left the folder)
    if not RE_SLUG.fullmatch(result["slug"]):
        raise ValueError(f"slug {result['slug']!r} cannot name a file")
    return result
