"""/hardware: info and audio from sysfs, procfs and udev data under --root."""

from __future__ import annotations

from typing import Any

from compat.base import Router
from compat.hassio.common import Call
from compat.hassio.host import system

routes = Router()  # compat.hassio.dialect serves it


@routes.add("GET", "/hardware/info")
async def info(call: Call) -> dict[str, Any]:
    """{serial, input, disk, gpio, audio}."""
    return await call.run(system(call).hardware.info)


@routes.add("GET", "/hardware/audio")
async def audio(call: Call) -> dict[str, Any]:
    """{audio: {input: {"card,device": name}, output: {...}}}."""
    return {"audio": await call.run(system(call).hardware.asound.channels)}
