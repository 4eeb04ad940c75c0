"""An add-on's user options checked as tag 138's API checked them (hassio/api/addons.py): the
stored options against the add-on's schema before a start, and a POST /addons/{slug}/options body
through `Any(None, <the add-on's schema>)`, with voluptuous' humanized messages.
"""

from __future__ import annotations

from typing import Any

from handlers.errors import InvalidInput
from handlers.homeassistant.addons.addon import Addon

USER_SETTINGS = ("options", "boot", "auto_update", "network", "audio_input", "audio_output")


def humanized(data: Any, err: Exception) -> str:
    from voluptuous.humanize import humanize_error

    return str(humanize_error(data, err))  # type: ignore[arg-type]


def check_stored(addon: Addon) -> None:
    """The stored options (defaults with the user's over them) against the schema; InvalidInput
    with humanize_error's text (the API's start)."""
    import voluptuous as vol

    from handlers.homeassistant.addons.options import validate_options

    options = addon.options
    try:
        validate_options(addon.mesh.get("schema", False), options)
    except vol.Invalid as err:
        raise InvalidInput(humanized(options, err)) from None


def user_changes(addon: Addon, changes: dict[str, Any]) -> dict[str, Any]:
    """What POST /addons/{slug}/options stores: `options` checked as 138's extended SCHEMA_OPTIONS
    did (its Any kept None's failure: `not a valid value for dictionary value @ data['options']`),
    network entries for ports the add-on does not declare dropped (Addon.ports' setter)."""
    import voluptuous as vol

    from handlers.homeassistant.addons.options import options_schema

    changes = {k: v for k, v in changes.items() if k in USER_SETTINGS}
    if "options" in changes:
        body = {"options": changes["options"]}
        schema = vol.Schema({vol.Optional("options"): vol.Any(None, options_schema(addon.mesh.get("schema", False)))})
        try:
            changes["options"] = schema(body)["options"]
        except vol.Invalid as err:
            raise InvalidInput(humanized(body, err)) from None
    if changes.get("network") is not None:
        declared = addon.mesh.get("ports") or {}
        changes["network"] = {k: v for k, v in changes["network"].items() if k in declared}
    return changes
