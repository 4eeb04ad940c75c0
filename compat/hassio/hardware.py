"""/hardware: info and audio from sysfs, procfs and udev data under --root."""

from __future__ import annotations

from compat.base import Router

routes = Router()  # compat.hassio.dialect serves it
