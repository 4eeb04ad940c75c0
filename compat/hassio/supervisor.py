"""/supervisor: ping, info, options, reload, logs, stats, update (the self-update of this binary)."""

from __future__ import annotations

from compat.base import Router
from compat.hassio.common import Call

routes = Router()  # compat.hassio.dialect serves it


@routes.add("GET", "/supervisor/ping")
async def ping(call: Call) -> bool:
    """Liveness, open to every caller: ok {}."""
    return True
