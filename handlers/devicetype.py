"""The device type and architecture, from the boot partition as the supervisor read them."""

from __future__ import annotations

import json
from typing import Any

from handlers.errors import NotFound
from handlers.hostfs import HostFS

# balenaOS: /mnt/boot/device-type.json (the supervisor saw it as /mnt/root/resin-boot/device-type.json)
PLACES = ("{boot}/device-type.json", "/mnt/root/resin-boot/device-type.json", "/resin-boot/device-type.json")


def device_type(hostfs: HostFS, boot_dir: str) -> dict[str, Any]:
    """{"slug", "arch"}; NotFound with the reason when no file says it."""
    for place in PLACES:
        text = hostfs.read_text(place.format(boot=boot_dir))
        if text is None:
            continue
        try:
            data = json.loads(text)
        except ValueError as err:
            raise NotFound(f"{place.format(boot=boot_dir)}: {err}") from err
        if isinstance(data, dict) and data.get("slug") and data.get("arch"):
            return {"slug": str(data["slug"]), "arch": str(data["arch"])}
    config = hostfs.read_text(f"{boot_dir}/config.json") or "{}"
    try:
        data = json.loads(config)
    except ValueError:
        data = {}
    if isinstance(data, dict) and data.get("deviceType"):
        return {"slug": str(data["deviceType"]), "arch": str(data.get("deviceArch", ""))}
    raise NotFound("ENOENT: no such file or directory, open '/mnt/root/resin-boot/device-type.json'")
