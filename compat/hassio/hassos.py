"""/hassos: RAUC over D-Bus on a HassOS host; a non-HassOS host's answers otherwise."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
