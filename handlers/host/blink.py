"""Identify the device: blink its LED (balena's `blinking` module, pattern 200 ms on / 200 ms off)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger("polyvisor.blink")

DEFAULT_LED = "/sys/class/leds/led0/brightness"


class Blink:
    """Writes 1 and 0 to the LED file on a background thread."""

    def __init__(self, led_file: Path, on_ms: int = 200, off_ms: int = 200) -> None:
        self.led_file = Path(led_file)
        self.on_s = on_ms / 1000
        self.off_s = off_ms / 1000
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """True while the LED blinks."""
        return self._thread is not None and self._thread.is_alive()

    def _write(self, value: str) -> None:
        try:
            self.led_file.write_text(value)
        except OSError as err:  # LED errors are not reported to the caller (legacy)
            log.debug("LED write failed: %s", err)

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._write("1")
            if stop.wait(self.on_s):
                break
            self._write("0")
            stop.wait(self.off_s)
        self._write("0")

    def start(self) -> bool:
        """Start blinking; False (and no restart) when already blinking."""
        with self._lock:
            if self.running:
                return False
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="blink", daemon=True)
            self._thread.start()
            return True

    def stop(self) -> None:
        """Stop blinking and leave the LED off."""
        with self._lock:
            stop, thread = self._stop, self._thread
        stop.set()
        if thread is not None:
            thread.join(timeout=2)

    def identify(self, seconds: float = 15.0) -> None:
        """POST /v1/blink: blink now and stop after `seconds`; every call schedules its own stop."""
        self.start()
        timer = threading.Timer(seconds, self.stop)
        timer.daemon = True
        timer.start()
