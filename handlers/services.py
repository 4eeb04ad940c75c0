"""The domain objects one agent process uses, built from plain settings values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handlers.apps import Apps
from handlers.bus import Bus
from handlers.device import Device, UpdateFlags
from handlers.engine import Engine
from handlers.hostfs import HostFS
from handlers.identity import Identity
from handlers.network import Network
from handlers.store import Store


@dataclass
class Services:
    """Everything the dialects call into; made once per process, opened by the app's lifespan."""

    store: Store
    identity: Identity
    hostfs: HostFS
    network: Network
    engine: Engine
    apps: Apps
    bus: Bus
    device: Device

    @classmethod
    def build(cls, data_dir: Path, root: Path, api_key: str | None, docker_host: str | None,
              dbus_address: str | None, api_port: int) -> Services:
        """Wire the domain objects together; nothing is opened yet."""
        store = Store(data_dir)
        hostfs = HostFS(root)
        network = Network()
        engine = Engine(docker_host)
        apps = Apps(engine)
        return cls(
            store=store,
            identity=Identity(store, api_key),
            hostfs=hostfs,
            network=network,
            engine=engine,
            apps=apps,
            bus=Bus(dbus_address),
            device=Device(hostfs, network, apps, api_port, UpdateFlags()),
        )

    def __post_init__(self) -> None:
        self._users = 0

    def open(self) -> None:
        """Open the store and load or create the identity; nested opens are counted."""
        if self._users == 0:
            self.store.open()
            self.identity.load()
        self._users += 1

    def close(self) -> None:
        """Release connections when the last user closes."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.engine.close()
            self.bus.close()
            self.store.close()
