"""What the agent reports once at start: what it was started with, and whether the Docker
Engine and the system D-Bus answer.

The components are probed once the agent is serving. One that does not answer is a warning,
never a reason to stop: the agent serves what it can, and the routes that need the missing
component answer their dialect's error until it is back (engine and bus are reconnected on use).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from handlers.docker import Engine
from handlers.errors import BusUnavailable, EngineUnavailable
from handlers.host.bus import SERVICES, Bus
from handlers.redact import redact_url

log = logging.getLogger("polyvisor")

# Each probe gives up after this long, so a hung engine or bus costs the report a second at most.
PROBE_TIMEOUT = 1.0


def describe(settings: Any) -> str:
    """One line saying what the agent was started with (no key, no credentials of the target URL)."""
    target = redact_url(settings.target_url) if settings.target_url else "none (unmanaged)"
    return (f"polyvisor {settings.version}: data folder {settings.data_dir}, root {settings.root}, "
            f"dialects {', '.join(settings.dialects)}, balena profile {settings.balena_profile}, "
            f"target URL {target}")


def report_engine(engine: Engine, timeout: float = PROBE_TIMEOUT) -> bool:
    """Log whether the engine answered; True when it did."""
    try:
        version = engine.probe(timeout)
    except EngineUnavailable as err:
        log.warning("%s; serving on without it: the routes that need it answer errors until it is back", err)
        return False
    log.info("Docker engine at %s answered: version %s, API %s", engine.address,
             version.get("Version", "?"), version.get("ApiVersion", "?"))
    return True


def report_bus(bus: Bus, timeout: float = PROBE_TIMEOUT) -> bool:
    """Log whether the system D-Bus and the services the agent calls answered; True when all did."""
    try:
        missing = bus.probe(timeout)
    except BusUnavailable as err:
        log.warning("%s; serving on without it: host name, power and unit routes answer errors "
                    "until it is back", err)
        return False
    if missing:
        log.warning("D-Bus at %s answered, without %s: the routes that need %s answer errors",
                    bus.address, ", ".join(missing), "it" if len(missing) == 1 else "them")
        return False
    log.info("D-Bus at %s answered, with %s", bus.address, ", ".join(SERVICES))
    return True


def report_components(engine: Engine | None, bus: Bus) -> None:
    """Probe the engine (None: no dialect served uses it, as gosuper alone) and the bus side by side
    in daemon threads, once the agent serves: neither the report nor a hung component holds up the
    agent, its readiness or its stop."""
    if engine is not None:
        threading.Thread(target=report_engine, args=(engine,), name="report-engine", daemon=True).start()
    threading.Thread(target=report_bus, args=(bus,), name="report-bus", daemon=True).start()
