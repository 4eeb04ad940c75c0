"""Blink: the LED file toggles and ends off."""

from __future__ import annotations

import time
from pathlib import Path

from handlers.host.blink import Blink


def test_blinks_then_stops_off(tmp_path: Path) -> None:
    led = tmp_path / "brightness"
    led.write_text("0")
    seen: set[str] = set()
    blink = Blink(led, on_ms=20, off_ms=20)
    blink.identify(seconds=0.3)
    assert not blink.start()  # a second start while blinking does not restart
    deadline = time.monotonic() + 0.25
    while time.monotonic() < deadline:
        seen.add(led.read_text() or "0")  # a plain file is empty for an instant while rewritten
        time.sleep(0.005)
    assert seen == {"0", "1"}
    time.sleep(0.3)
    assert not blink.running
    assert led.read_text() == "0"


def test_missing_led_is_not_an_error(tmp_path: Path) -> None:
    blink = Blink(tmp_path / "nope" / "brightness", on_ms=10, off_ms=10)
    blink.identify(seconds=0.05)
    time.sleep(0.1)
    blink.stop()
    assert not blink.running
