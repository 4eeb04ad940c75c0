"""The host-facing half of the hassio dialect's domain: /host, /hassos and /hardware."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handlers.docker import Engine
from handlers.homeassistant.hardware import HassioHardware
from handlers.homeassistant.hassos import OTA_URL, HassOS
from handlers.homeassistant.host import HassioHost
from handlers.host.bus import Bus
from handlers.host.hostfs import HostFS


@dataclass
class HassioSystem:
    """HassioHost, HassOS and HassioHardware on one agent's bus, engine and root."""

    host: HassioHost
    hassos: HassOS
    hardware: HassioHardware

    @classmethod
    def build(cls, bus: Bus, engine: Engine, hostfs: HostFS, data_dir: Path,
              ota_url: str | None = None, machine: str | None = None) -> HassioSystem:
        """Bundles download to <data_dir>/tmp; `machine` picks the audio names (raspberrypi3)."""
        host = HassioHost(bus, engine)
        hassos = HassOS(host, engine, Path(data_dir) / "tmp", ota_url or OTA_URL)
        return cls(host, hassos, HassioHardware(hostfs, machine))
