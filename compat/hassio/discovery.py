"""/discovery and /services: discovery messages between add-ons and Home Assistant, and the MQTT service record."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
