"""The domain objects behind the platform API (/auth, /platform/api), wired from settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handlers.auth import Auth
from handlers.auth_accounts import make_verifier
from handlers.bus import Bus
from handlers.engine import Engine
from handlers.hostfs import HostFS
from handlers.store import Store


@dataclass
class Platform:
    """Everything compat/platform*.py calls into; built once, nothing opened at build time."""

    auth: Auth
    hostfs: HostFS
    bus: Bus
    engine: Engine

    @classmethod
    def build(cls, settings: Any, store: Store, hostfs: HostFS, bus: Bus, engine: Engine) -> Platform:
        """Wire the platform's domain objects from settings."""
        verifier = make_verifier(getattr(settings, "os_accounts", "pam"),
                                 getattr(settings, "pam_service", "login"))
        auth = Auth(store, Path(settings.data_dir), verifier, getattr(settings, "admin_group", "sudo"),
                    int(getattr(settings, "jwt_lifetime", 3600)))
        return cls(auth=auth, hostfs=hostfs, bus=bus, engine=engine)

    def close(self) -> None:
        """Stop what runs in the background."""
