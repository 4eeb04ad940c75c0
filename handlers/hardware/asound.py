"""ALSA cards and their PCM devices from /proc/asound (under --root), as tag 138's supervisor read
them (hassio/misc/hardware.py audio_devices, hassio/host/alsa.py input/output lists).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from handlers.host.hostfs import HostFS

log = logging.getLogger("polyvisor.hardware.asound")

RE_CARDS = re.compile(r"(\d+) \[(\w*) *\]: (.*\w)")
RE_DEVICES = re.compile(r"\[.*(\d+)- (\d+).*\]: ([\w ]*)")
# hassio/host/data/audiodb.json: names of known cards' channels per machine ("card,device").
AUDIO_DB: dict[str, dict[str, dict[str, str]]] = {
    "raspberrypi3": {"bcm2835 - bcm2835 ALSA": {"0,0": "Raspberry Jack", "0,1": "Raspberry HDMI"}},
}


class Asound:
    """GET /hardware/info's `audio` and GET /hardware/audio."""

    def __init__(self, hostfs: HostFS, machine: str | None = None) -> None:
        self._fs = hostfs
        self._machine = machine

    def cards(self) -> dict[str, dict[str, Any]]:
        """{card: {name, type: <card id>, devices: {device: "digital audio playback", ...}}}."""
        cards_text = self._fs.read_text("/proc/asound/cards")
        if cards_text is None:
            log.info("No audio devices found")
            return {}
        devices_text = self._fs.read_text("/proc/asound/devices")
        if devices_text is None:
            log.error("Can't read asound data: /proc/asound/devices")
            return {}
        cards: dict[str, dict[str, Any]] = {}
        for match in RE_CARDS.finditer(cards_text):
            cards[match.group(1)] = {"name": match.group(3), "type": match.group(2), "devices": {}}
        for match in RE_DEVICES.finditer(devices_text):
            card = cards.get(match.group(1))
            if card is None:
                log.warning("Wrong audio device found %s", match.group(0))
                continue
            card["devices"][match.group(2)] = match.group(3)
        return cards

    def channels(self) -> dict[str, dict[str, str]]:
        """{"input": {"card,device": name}, "output": {...}}: playback is output, capture input."""
        database = AUDIO_DB.get(self._machine or "", {})
        found: dict[str, dict[str, str]] = {"input": {}, "output": {}}
        for card_id, card in self.cards().items():
            for device_id, kind in card["devices"].items():
                if kind.endswith("playback"):
                    key = "output"
                elif kind.endswith("capture"):
                    key = "input"
                else:
                    log.warning("Unknown channel type: %s", kind)
                    continue
                alsa_id = f"{card_id},{device_id}"
                found[key][alsa_id] = database.get(card["name"], {}).get(alsa_id, f"{card['name']}: {device_id}")
        return found
