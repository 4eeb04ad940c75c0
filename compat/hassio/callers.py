"""Who a hassio route may serve, checked inside the route as tag 138 did (hassio.md §2.3 items 4-5).

138's routes for add-ons read the add-on's attributes straight off request["HASSIO_FROM"]: called
with Home Assistant's or the host's token that object has none of them, the AttributeError escaped
api_process and aiohttp answered its 500 page. Crash (NotAnAddon and the other cases where 138's
handler choked) reproduces that answer on purpose: the dialect answers the 500 page and logs one
line, no traceback, since nothing went wrong here.
"""

from __future__ import annotations

from compat.hassio.common import APIError, Call, Crash
from handlers.homeassistant.tokens import AddonGrant


class NotAnAddon(Crash):
    """An add-on's route called with Home Assistant's, the host's or the operator's token."""


def addon_of(call: Call) -> AddonGrant:
    """The calling add-on's grant; NotAnAddon (-> 500, as 138) for any other caller."""
    if call.caller.addon is None:
        raise NotAnAddon(f"{call.request.method} {call.request.scope['path']} needs an add-on, "
                         f"called by {call.caller.kind}")
    return call.caller.addon


def only_homeassistant(call: Call) -> None:
    """_check_permission_ha: 400 for anybody but Home Assistant (the host and the operator too)."""
    if call.caller.kind != "homeassistant":
        raise APIError("Only HomeAssistant can use this API!")
