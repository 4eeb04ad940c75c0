"""/host: info from hostnamed, reboot and shutdown through systemd after the managed containers stop, options, reload, services."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
