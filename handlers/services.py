"""The domain objects one agent process uses, built from plain settings values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from handlers import VERSION
from handlers.docker import Engine
from handlers.edgehub.cloud import Cloud as EdgehubCloud
from handlers.edgehub.conncfg import ConnConfig as EdgehubConfig
from handlers.edgehub.local import Local as EdgehubLocal
from handlers.engine.actions import Actions
from handlers.engine.apps import Apps
from handlers.engine.device import Device, UpdateFlags
from handlers.engine.locks import Locks
from handlers.engine.power import Power
from handlers.engine.supervisor import Supervisor
from handlers.engine.terminal import Terminals
from handlers.gosd.nodes import Nodes as GosdNodes
from handlers.gosd.rpc import Rpc as GosdRpc
from handlers.gosd.runner import Runner as GosdRunner
from handlers.gosd.store import GosdStore
from handlers.homeassistant.auth import Auth as HassioAuth
from handlers.homeassistant.core import Core as HassioCore
from handlers.homeassistant.core import run_options as hassio_run_options
from handlers.homeassistant.coreapi import CoreAccess, CoreAPI
from handlers.homeassistant.discovery import Discovery as HassioDiscovery
from handlers.homeassistant.services import ServiceRecords as HassioServices
from handlers.homeassistant.snapshots.manager import Snapshots as HassioSnapshots
from handlers.homeassistant.supervisor import HassioSupervisor
from handlers.homeassistant.system import HassioSystem
from handlers.homeassistant.tokens import Tokens as HassioTokens
from handlers.host.appdata import AppData
from handlers.host.blink import DEFAULT_LED, Blink
from handlers.host.bus import Bus
from handlers.host.hostconfig import HostConfig
from handlers.host.hostfs import HostFS
from handlers.host.identity import Identity
from handlers.host.netwatch import NetWatch
from handlers.host.network import Network
from handlers.host.selfupdate import SelfUpdate
from handlers.host.systemd import Systemd
from handlers.platform import Platform
from handlers.store import Store

if TYPE_CHECKING:
    from handlers.homeassistant.addons.deferred import DeferredAddons
    from handlers.homeassistant.addons.manager import Addons as HassioAddons


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
    locks: Locks
    actions: Actions
    power: Power
    blink: Blink
    hostconfig: HostConfig
    terminals: Terminals
    platform: Platform
    supervisor: Supervisor  # the balena state engine
    systemd: Systemd
    appdata: AppData
    hassio_tokens: HassioTokens  # who may call the hassio API
    hassio_supervisor: HassioSupervisor  # the agent as the hassio supervisor: settings, versions, log, stats
    selfupdate: SelfUpdate  # POST /supervisor/update: this agent's own binary
    hassio_core: HassioCore  # Home Assistant's container (hassio)
    # False when only the resin Go helper's API is served: that process sits beside a node
    # supervisor that runs the apps, so the state engine must not start
    state_engine: bool = True
    hassio_system: HassioSystem | None = None  # /host, /hassos, /hardware of the hassio dialect
    # the hassio dialect's calls into Home Assistant, its discovery messages, service records
    # and add-on logins (None only for a Services made by hand without them)
    hassio_coreapi: CoreAPI | None = None
    hassio_discovery: HassioDiscovery | None = None
    hassio_services: HassioServices | None = None
    hassio_auth: HassioAuth | None = None
    # the add-on store and the installed add-ons (hassio part 2): an Addons, made on first use
    hassio_addons: HassioAddons | DeferredAddons | None = None
    hassio_snapshots: HassioSnapshots | None = None  # /snapshots: <hassio data>/backup
    # gosd: users, tokens, blobs, plans, jobs (its database is opened on first use)
    gosd_store: GosdStore | None = None
    # gosd's node and plan state from MQTT, and its job worker (started by the first job)
    gosd_nodes: GosdNodes | None = None
    gosd_runner: GosdRunner | None = None
    gosd_served: bool = False  # the gosd dialect is served: connect to its broker at open()
    # edgehub-agent's local side: macaddr, profile, AppHub and EdgeBus units, PEM uploads
    edgehub_local: EdgehubLocal | None = None
    # edgehub-agent: the stored connection setting and the cloud MQTT connection (paho on first connect)
    edgehub_config: EdgehubConfig | None = None
    edgehub_cloud: EdgehubCloud | None = None
    edgehub_served: bool = False  # the platform dialect (edgehub's routes) is served: restore the cloud at open()
    netwatch: NetWatch | None = None  # the netlink caches Network and the platform's Netconfig read

    @classmethod
    def build(cls, settings: Any, api_port: int) -> Services:
        """Wire the domain objects from a settings object (data_dir, root, api_key, docker_host,
        dbus_address, led_file, boot_dir); nothing is opened yet."""
        store = Store(Path(settings.data_dir))
        hostfs = HostFS(settings.root)
        netwatch = NetWatch()  # links, addresses and routes from memory, kept true by netlink
        network = Network(watch=netwatch)
        engine = Engine(settings.docker_host)
        apps = Apps(engine)
        bus = Bus(settings.dbus_address)
        locks = Locks(hostfs, store)
        actions = Actions(engine, apps, locks)
        led = getattr(settings, "led_file", None) or DEFAULT_LED
        boot = getattr(settings, "boot_dir", None) or "/mnt/boot"
        hostconfig = HostConfig(hostfs, bus, boot)
        identity = Identity(store, settings.api_key, lambda: hostconfig.config_json().get("uuid"))
        device = Device(hostfs, network, apps, api_port, UpdateFlags(),
                        variant=getattr(settings, "os_variant", None),
                        reported_version=getattr(settings, "supervisor_version", None) or "10.0.0")
        supervisor = Supervisor(store=store, identity=identity, hostfs=hostfs, engine=engine, locks=locks,
                                actions=actions, device=device, api_port=api_port,
                                boot_dir=boot,
                                docker_host=settings.docker_host,
                                target_url=getattr(settings, "target_url", None),
                                target_ca=getattr(settings, "target_ca", None),
                                device_type=getattr(settings, "device_type", None))
        actions.pause = supervisor.reconciler.paused
        actions.writing = supervisor.reconciler.writing
        apps.source = supervisor.cache.supervised
        platform = Platform.build(settings, store, hostfs, bus, engine, netwatch)
        device.engine_status = supervisor.status.first_service
        return cls(
            store=store,
            identity=identity,
            hostfs=hostfs,
            network=network,
            engine=engine,
            apps=apps,
            bus=bus,
            device=device,
            locks=locks,
            actions=actions,
            power=Power(bus, actions),
            blink=Blink(hostfs.path(led)),
            hostconfig=hostconfig,
            terminals=Terminals(engine, actions),
            platform=platform,
            supervisor=supervisor,
            systemd=Systemd(bus),
            appdata=AppData(hostfs, getattr(settings, "legacy_data_path", None) or "/resin-data"),
            state_engine=set(getattr(settings, "dialects", ())) != {"gosuper"},
            netwatch=netwatch,
            **hassio_parts(settings, store, hostfs, bus, engine, identity),
            **gosd_parts(settings),
            **edgehub_parts(settings, store, edgehub_local(settings, bus, hostfs, platform, netwatch)),
        )

    def __post_init__(self) -> None:
        self._users = 0

    def lock_override(self) -> bool:
        """SUPERVISOR_OVERRIDE_LOCK: update locks are ignored everywhere."""
        return self.supervisor.reconciler.lock_override()

    def trigger_update(self, force: bool = False) -> bool:
        """Fetch the target URL now (instant updates); False when unmanaged or instant updates are off."""
        from handlers.engine.target import config_value

        supervisor = self.supervisor
        if supervisor.source is None:
            return False
        if not config_value(supervisor.targets.device_config(), "SUPERVISOR_INSTANT_UPDATE_TRIGGER"):
            return False  # `force` does not matter here (api-binder.ts)
        supervisor.source.poll_now(force)
        return True

    def set_connectivity_check(self, enabled: bool) -> None:
        """The resin era's tcp-ping switch, kept in the store."""
        self.store.set(connectivity_check="true" if enabled else "false")

    def open(self) -> None:
        """Open the store and load or create the identity; nested opens are counted."""
        if self._users == 0:
            self.store.open()
            self.identity.load()
            if self.state_engine:
                self.supervisor.open()
            if self.gosd_served and self.gosd_nodes is not None:
                self.gosd_nodes.start()  # paho is loaded only when a broker is configured
            if self.edgehub_served and self.edgehub_cloud is not None:
                self.edgehub_cloud.restore()  # reconnects in its thread when it was connected
        self._users += 1

    def close(self) -> None:
        """Release connections when the last user closes."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self.blink.stop()
            if self.hassio_discovery is not None:
                self.hassio_discovery.close()  # pushes to Home Assistant not sent yet are dropped
            if self.hassio_addons is not None:
                self.hassio_addons.close()  # a boot pausing wait_boot between stages ends now
            self.hassio_core.watchdog.stop()
            if self.state_engine:
                self.supervisor.close()
            self.platform.close()
            if self.edgehub_cloud is not None:
                self.edgehub_cloud.close()  # the enabled flag stays: restored at the next start
            if self.gosd_runner is not None:
                self.gosd_runner.close()  # a running job is stopped; the broker connection ends
            if self.gosd_store is not None:
                self.gosd_store.close()
            self.engine.close()
            self.bus.close()
            self.store.close()
            if self.netwatch is not None:
                self.netwatch.close()  # reopened by the next read (a later open() of the same services)


def hassio_parts(settings: Any, store: Store, hostfs: HostFS, bus: Bus, engine: Engine,
                 identity: Identity) -> dict[str, Any]:
    """The hassio dialect's domain objects (Services fields by name)."""
    tokens = HassioTokens(store, lambda: hostfs.read_text("/etc/machine-id"), identity.check_key,
                          getattr(settings, "hassio_token", None))
    supervisor = HassioSupervisor(store, hostfs, bus, getattr(settings, "version", None) or VERSION,
                                  getattr(settings, "hassio_version_url", None), lambda: container.machine)
    container = HassioCore(store, engine, hassio_run_options(settings), settings.device_type,
                           tokens.homeassistant_token, timezone=lambda: supervisor.settings.get().timezone,
                           latest=lambda: supervisor.updater.versions().get("homeassistant"))
    system = HassioSystem.build(bus, engine, hostfs, Path(settings.data_dir), getattr(settings, "hassos_ota_url", None),
                                (getattr(settings, "device_type", None) or "").split(":")[0] or None)
    system.hassos.version_file = supervisor.updater.versions
    given_url = getattr(settings, "hassio_core_url", None)

    def access() -> CoreAccess:
        """Home Assistant's API as its container's settings say (port, ssl, and the password and
        refresh token it posts to /homeassistant/options), unless --hassio-core-url names it."""
        conf = container.settings()
        url = given_url or f"{'https' if conf.get('ssl') else 'http'}://127.0.0.1:{conf.get('port', 8123)}"
        return CoreAccess(url, conf.get("password"), conf.get("refresh_token"))

    core = CoreAPI(access)
    data_dir = Path(settings.data_dir)
    discovery = HassioDiscovery(store, core)
    addons = hassio_addons(settings, store, engine, tokens, supervisor, container, discovery)
    container.watchdog.addons = addons  # loaded and booted by stage around Home Assistant's start
    return {
        "hassio_tokens": tokens,
        "hassio_supervisor": supervisor,
        "selfupdate": SelfUpdate(data_dir, bus, getattr(settings, "release_url", None),
                                 getattr(settings, "version", VERSION)),
        "hassio_system": system,
        "hassio_coreapi": core,
        "hassio_core": container,
        "hassio_discovery": discovery,
        "hassio_addons": addons,
        "hassio_services": HassioServices(store, tokens),
        "hassio_auth": HassioAuth(store, core),
        "hassio_snapshots": HassioSnapshots(container.options.data_folder, container, supervisor.settings, addons),
    }


def edgehub_parts(settings: Any, store: Store, local: EdgehubLocal) -> dict[str, Any]:
    """edgehub-agent's local side, connection setting and cloud connection (the local profile
    published on connect); the cloud's spool in <data>/edgehub (0700)."""
    config = EdgehubConfig(store)
    cloud = EdgehubCloud(config, Path(settings.data_dir) / "edgehub", profile=local.profile,
                         version=getattr(settings, "version", None) or VERSION)
    return {"edgehub_local": local, "edgehub_config": config, "edgehub_cloud": cloud,
            "edgehub_served": "platform" in set(getattr(settings, "dialects", ()) or ())}


def edgehub_local(settings: Any, bus: Bus, hostfs: HostFS, platform: Platform,
                  netwatch: NetWatch | None = None) -> EdgehubLocal:
    """edgehub-agent's local side; units and the broker's address from --edgehub-* (nothing opened)."""
    return EdgehubLocal(bus, hostfs, getattr(settings, "version", None) or VERSION, platform,
                        apphub_unit=getattr(settings, "edgehub_apphub_unit", None) or "apphub.service",
                        edgebus_unit=getattr(settings, "edgehub_edgebus_unit", None) or "mosquitto.service",
                        edgebus_url=getattr(settings, "edgehub_edgebus_url", None) or "mqtt://127.0.0.1:1883",
                        netwatch=netwatch)


def gosd_parts(settings: Any) -> dict[str, Any]:
    """The gosd dialect's domain objects (Services fields by name); nothing is opened or imported
    beyond the standard library until gosd is first called."""
    store = GosdStore(getattr(settings, "gosd_database_url", None), Path(settings.data_dir),
                      getattr(settings, "gosd_expire_token", None) or 7200)
    nodes = GosdNodes(getattr(settings, "gosd_mqtt_url", None),
                      getattr(settings, "gosd_mqtt_client_id", None) or "gosd-1")  # gosd's own id
    rpc = GosdRpc(nodes.mqtt.publish if nodes.mqtt is not None else None)
    nodes.listeners.append(rpc.received)
    runner = GosdRunner(store, nodes, rpc, lua_file=getattr(settings, "gosd_lua_file", None),
                        base_url=getattr(settings, "gosd_base_url", None) or "http://localhost/gosd",
                        timeout=float(getattr(settings, "gosd_job_timeout", 0) or 0) or None)
    return {"gosd_store": store, "gosd_nodes": nodes, "gosd_runner": runner,
            "gosd_served": "gosd" in set(getattr(settings, "dialects", ()) or ())}


# platform.machine() -> the supervisor's arch names (hassio's arch.json)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64", "armv7l": "armhf",
          "armv6l": "armhf", "i686": "i386", "i386": "i386"}


def hassio_addons(settings: Any, store: Store, engine: Engine, tokens: HassioTokens, supervisor: HassioSupervisor,
                  core: HassioCore, discovery: HassioDiscovery) -> DeferredAddons:
    """The add-on store at <hassio data>/addons (core repository from --hassio-addons-core-url) and the
    manager of the installed add-ons, made on first use. Nothing is read, cloned or asked of the
    engine here."""
    from handlers.homeassistant.addons.deferred import DeferredAddons

    return DeferredAddons(lambda: make_addons(settings, store, engine, tokens, supervisor, core, discovery),
                          store.get)


def make_addons(settings: Any, store: Store, engine: Engine, tokens: HassioTokens, supervisor: HassioSupervisor,
                core: HassioCore, discovery: HassioDiscovery) -> HassioAddons:
    """The Addons manager (its store and installed entries made on their first use in turn)."""
    import platform

    from handlers.homeassistant.addons.manager import Addons

    arch = ARCHES.get(platform.machine(), "amd64")
    folder = core.options.data_folder
    core_url = getattr(settings, "hassio_addons_core_url", None)

    def addon_store() -> Any:  # made on first use: its modules (git, the schemas) stay unloaded until then
        from handlers.homeassistant.addons.store import AddonStore

        return AddonStore(folder / "addons", core_url or None, arch, core.machine)

    def installed() -> Any:
        from handlers.homeassistant.addons.installed import Installed

        return Installed(store)

    return Addons(addon_store, installed, engine, tokens, folder, arch, core.machine,
                  timezone=lambda: supervisor.settings.get().timezone,
                  wait_boot=lambda: supervisor.settings.get().wait_boot,
                  on_uninstall=discovery.remove_addon,
                  repositories=lambda: supervisor.settings.get().addons_repositories)
