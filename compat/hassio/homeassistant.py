"""/homeassistant: the homeassistant container on the Docker Engine (info, options, update with rollback, start, stop, restart, check, logs, stats)."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
