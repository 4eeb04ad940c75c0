"""/info and /auth: the system summary every add-on may read, and logins forwarded to Home Assistant."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
