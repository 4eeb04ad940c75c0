"""hassio/api/security.py of tag 138: the paths nobody may call, the paths open to all, what every
add-on may call and what each add-on role may call (full matches on the path, any method).
The roles are not cumulative: `homeassistant` may not read /supervisor/info."""

from __future__ import annotations

import re

from handlers.homeassistant.tokens import Caller

BLACKLIST = re.compile(r"^(?:/homeassistant/api/hassio/.*)$")
NO_SECURITY_CHECK = re.compile(r"^(?:/supervisor/ping|/homeassistant/api/.*|/homeassistant/websocket)$")
ADDONS_API_BYPASS = re.compile(r"^(?:/addons/self/(?!security|update)[^/]+|/info|/services.*|/discovery.*|/auth)$")
ADDONS_ROLE_ACCESS = {
    "default": re.compile(r"^(?:/[^/]+/info|/addons)$"),
    "homeassistant": re.compile(r"^(?:/homeassistant/.+)$"),
    "backup": re.compile(r"^(?:/snapshots.*)$"),
    "manager": re.compile(r"^(?:/homeassistant/.+|/host/.+|/hardware/.+|/hassos/.+|/supervisor/.+"
                          r"|/addons(?:/[^/]+/(?!security).+)?|/snapshots.*)$"),
    "admin": re.compile(r"^.*$"),
}


def allowed(caller: Caller, path: str) -> bool:
    """May `caller` call `path`? Home Assistant, the host and the operator may call everything."""
    if caller.addon is None:
        return True
    if ADDONS_API_BYPASS.match(path):
        return True
    role = ADDONS_ROLE_ACCESS.get(caller.addon.hassio_role)
    return bool(caller.addon.hassio_api and role is not None and role.match(path))
