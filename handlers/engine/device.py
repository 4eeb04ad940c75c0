"""What the device reports about itself: addresses, OS, versions, update flags, app status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from handlers import supervisor_version
from handlers.engine.apps import Apps
from handlers.host.hostfs import HostFS
from handlers.host.network import Network


@dataclass
class UpdateFlags:
    """The update flags the state engine raises and lowers."""

    pending: bool = False
    downloaded: bool = False
    failed: bool = False
    commit: str | None = None


@dataclass
class DeviceState:
    """A snapshot of the device, in domain terms."""

    api_port: int
    ip_addresses: list[str]
    os_version: str | None
    supervisor_version: str
    flags: UpdateFlags
    status: str | None = None
    download_progress: int | None = None
    has_service: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class Device:
    """Collects the device's state from the network, the host files and the engine."""

    def __init__(self, hostfs: HostFS, network: Network, apps: Apps, api_port: int,
                 flags: UpdateFlags | None = None, variant: str | None = None,
                 reported_version: str = "10.0.0") -> None:
        self._hostfs = hostfs
        # the supervisor version clients see: they gate features on it (balena push wants >= 7.21.4)
        self.reported_version = reported_version
        self._network = network
        self._apps = apps
        self.api_port = api_port
        self.flags = flags or UpdateFlags()
        self._variant = variant  # --os-variant: wins over os-release
        # (has a service, status, download progress) from the state engine, when one runs
        self.engine_status: Callable[[], tuple[bool, str | None, int | None]] | None = None

    def os_version(self) -> str | None:
        """PRETTY_NAME of os-release under the root, as the legacy supervisor reported it."""
        return self._hostfs.os_release().get("PRETTY_NAME")

    def os_variant(self) -> str | None:
        """VARIANT_ID of os-release ("dev" or "prod" on balenaOS), or None when not stated."""
        if self._variant:
            return self._variant.lower()
        release = self._hostfs.os_release()
        variant = release.get("VARIANT_ID")
        if variant:
            return variant.lower()
        # balenaOS before VARIANT_ID put the variant in the version: "balenaOS 2.x (dev)"
        version = release.get("PRETTY_NAME", "") + " " + release.get("VERSION", "")
        for name in ("dev", "prod"):
            if f"({name})" in version:
                return name
        return None

    def state(self) -> DeviceState:
        """The current state; EngineUnavailable when the engine cannot be read."""
        state = DeviceState(
            api_port=self.api_port,
            ip_addresses=self._network.device_ipv4(),
            os_version=self.os_version(),
            supervisor_version=supervisor_version(self.reported_version),
            flags=self.flags,
        )
        if self.engine_status is not None:
            state.has_service, state.status, state.download_progress = self.engine_status()
            return state
        apps = self._apps.list()
        if apps and apps[0].services:
            first = apps[0].services[0]
            state.has_service = True
            state.status = first.status
            state.download_progress = first.download_progress
        return state
