"""/homeassistant/api/... and /homeassistant/websocket: Home Assistant's API and websocket, proxied with the add-on token check of hassio/api/proxy.py."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
