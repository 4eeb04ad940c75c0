"""polyvisor: one on-device agent that serves the legacy device agents' HTTP APIs.

The one wiring point: Settings (flags > environment > defaults), create_app(settings, services)
and main(), which serves each group of dialects on its listen address with Hypercorn (or runs
a COMMANDS entry on the same settings).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compat import DEFAULT_DIALECTS, DIALECTS, OWN_ADDRESS_ONLY, build_asgi
from compat.options import (
    ADDONS_CORE_URL,
    COMMANDS,
    COMMANDS_WITH_ARGS,
    EMPTY_MEANS_NONE,
    GOSUPER_SOCKET_ENV,
    OPTIONS,
    PROFILES,
    REPORTED_VERSIONS,
    SWITCHES,
    own_addresses,
    parse_listen,
    target_ca_error,
)
from compat.server import (
    add_reason_phrases,
    drain_unread_body,
    notify,
    trim_after_bursts,
    wait_bound,
    watchdog,
)
from handlers import VERSION
from handlers.gosd import settings as gosd_settings
from handlers.host import allocator, unixsocket
from handlers.host.devicetype import parse_option as parse_device_type
from handlers.services import Services

log = logging.getLogger("polyvisor")



@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved once at start."""

    listen: str = "0.0.0.0:48484"
    data_dir: Path = Path("/var/lib/polyvisor")
    api_key: str | None = None
    root: Path = Path("/")
    dialects: tuple[str, ...] = DEFAULT_DIALECTS
    dialect_listen: Mapping[str, str] = field(default_factory=dict)
    balena_profile: str = "v10"
    supervisor_version: str = "10.0.0"
    docker_host: str | None = None
    dbus_address: str | None = None
    led_file: str = "/sys/class/leds/led0/brightness"
    boot_dir: str = "/mnt/boot"
    log_level: str = "info"
    max_connections: int = 512  # per listen address; 0: no cap
    target_url: str | None = None
    target_ca: str | None = None  # PEM file: the only trust anchor of an https:// target URL
    device_type: str | None = None
    os_variant: str | None = None
    os_accounts: str = "pam"
    pam_service: str = "login"
    admin_group: str = "sudo"
    jwt_lifetime: int = 3600
    watchdog_device: str = "/dev/watchdog0"
    legacy_data_path: str = "/resin-data"
    hassio_token: str | None = None
    hassio_core_url: str | None = None
    hassio_data: str | None = None
    version: str = VERSION
    command: str | None = None  # one of COMMANDS, or None: run the agent
    hassio_version_url: str | None = None
    release_url: str | None = None
    hassos_ota_url: str | None = None
    hassio_addons_core_url: str | None = ADDONS_CORE_URL
    command_args: tuple[str, ...] = ()  # what follows a command of COMMANDS_WITH_ARGS
    gosd_database_url: str | None = None
    gosd_mqtt_url: str | None = None
    gosd_mqtt_client_id: str = "gosd-1"
    gosd_base_url: str = "http://localhost/gosd"
    gosd_lua_file: str | None = None
    gosd_expire_token: int = 7200
    gosd_job_timeout: float = 86400.0  # 0: no limit
    gosd_noauth: bool = False
    gosd_max_body: int = 64 * 1024 * 1024  # bytes of one gosd request body (gosd had no limit)
    edgehub_apphub_unit: str = "apphub.service"
    edgehub_edgebus_unit: str = "mosquitto.service"
    edgehub_edgebus_url: str = "mqtt://127.0.0.1:1883"

    @classmethod
    def from_sources(cls, argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
        """Resolve flags over environment over defaults; SystemExit with a message on bad values."""
        parser = argparse.ArgumentParser(
            prog="polyvisor", description=(__doc__ or "polyvisor").splitlines()[0],  # -OO drops docstrings
            epilog="Per-dialect listen address: --dialect-listen NAME=ADDRESS or "
                   "POLYVISOR_LISTEN_<NAME> (e.g. POLYVISOR_LISTEN_GOSD=0.0.0.0:8000); the resin "
                   "Go helper's API (gosuper) also on unix:$GOSUPER_SOCKET.")
        for flag, envs, default, text in OPTIONS:
            parser.add_argument(f"--{flag}", help=f"{text} [env {', '.join(envs)}; default {default}]")
        for flag, envs, text in SWITCHES:
            parser.add_argument(f"--{flag}", action="store_true", default=None,
                                help=f"{text} [env {', '.join(envs)}=1]")
        parser.add_argument("--dialect-listen", action="append", default=[], metavar="NAME=ADDRESS",
                            help="serve one dialect on its own address (repeatable)")
        parser.add_argument("--version", action="version", version=f"polyvisor {VERSION}")
        parser.add_argument("command", nargs="?", choices=tuple(COMMANDS), metavar="COMMAND",
                            help="without one, run the agent; "
                            + "; ".join(f"{name}: {text}" for name, text in COMMANDS.items()))
        head, command_args = split_command(argv)
        args = parser.parse_args(head)
        values: dict[str, Any] = {}
        for flag, envs, default, _ in OPTIONS:
            given = getattr(args, flag.replace("-", "_"))
            if given is None and flag in EMPTY_MEANS_NONE:
                given = next((environ[e] for e in envs if e in environ), default)
            if given is None:
                given = next((environ[e] for e in envs if environ.get(e)), default)
            values[flag.replace("-", "_")] = given
        own = own_addresses(args.dialect_listen, environ, parser)
        if values["dialects"] is None:  # the default: the own-address-only ones when they have one
            values["dialects"] = ",".join([*DEFAULT_DIALECTS, *[d for d in OWN_ADDRESS_ONLY if d in own]])
        dialects = tuple(d.strip() for d in values["dialects"].split(",") if d.strip())
        unknown = [d for d in dialects if d not in DIALECTS]
        if unknown or not dialects:
            parser.error(f"unknown dialect(s) {', '.join(unknown) or '(none)'}; known: {', '.join(DIALECTS)}")
        for name in OWN_ADDRESS_ONLY:
            if name in dialects and (name not in own or any(
                    own.get(other, values["listen"]) == own[name] for other in dialects if other != name)):
                parser.error(f"{name} is served only on an address of its own: --dialect-listen "
                             f"{name}=unix:/path (or POLYVISOR_LISTEN_{name.upper()}, {GOSUPER_SOCKET_ENV})")
        if values["target_url"] and not str(values["target_url"]).startswith(("http://", "https://", "file://")):
            parser.error("--target-url must be an http://, https:// or file:// URL")
        if values["target_ca"] and (problem := target_ca_error(values["target_ca"], values["target_url"])):
            parser.error(problem)
        if values["device_type"]:
            try:
                parse_device_type(values["device_type"])
            except ValueError as err:
                parser.error(str(err))
        if values["os_variant"] and values["os_variant"] not in ("dev", "prod"):
            parser.error("--os-variant must be dev or prod")
        if values["balena_profile"] not in PROFILES:
            parser.error(f"--balena-profile must be one of {', '.join(PROFILES)}")
        for name in ("hassio_version_url", "hassio_core_url", "release_url"):
            if values[name] and not str(values[name]).startswith(("http://", "https://")):
                parser.error(f"--{name.replace('_', '-')} must be an http:// or https:// URL")
        if values["hassio_addons_core_url"] and not re.match(r"^[^#]+(?:#[\w\-]+)?$",
                                                             values["hassio_addons_core_url"]):
            parser.error("--hassio-addons-core-url must be a git URL, optionally with #BRANCH")
        for name in ("edgehub_apphub_unit", "edgehub_edgebus_unit"):
            if not re.match(r"^[A-Za-z0-9:_.\\@-]{1,255}$", values[name] or "") or values[name].startswith("."):
                parser.error(f"--{name.replace('_', '-')} must be a systemd unit name")
        if not str(values["edgehub_edgebus_url"] or "").startswith("mqtt://"):
            parser.error("--edgehub-edgebus-url must be an mqtt:// URL")
        if not str(values["max_connections"]).isdigit():
            parser.error("--max-connections must be a number of connections (0: no cap)")
        if not str(values["jwt_lifetime"]).isdigit() or int(values["jwt_lifetime"]) < 1:
            parser.error("--jwt-lifetime must be a positive number of seconds")
        switches: dict[str, Any] = {flag.replace("-", "_"): bool(getattr(args, flag.replace("-", "_"))) or any(
            environ.get(e, "").lower() in ("1", "true", "yes") for e in envs) for flag, envs, _ in SWITCHES}
        if (args.gosd_database_url is None and not environ.get("POLYVISOR_GOSD_DATABASE_URL")
                and not str(values["gosd_database_url"] or "").startswith(gosd_settings.DATABASE_SCHEMES)):
            values["gosd_database_url"] = None  # a plain DATABASE_URL of another kind is another program's
        if "gosd" in dialects or args.command == "gosd":
            check_gosd(values, parser)
        for address in [values["listen"], *own.values()]:
            try:
                parse_listen(address)
            except ValueError as err:
                parser.error(str(err))
        return cls(
            listen=values["listen"], data_dir=Path(values["data_dir"]), api_key=values["api_key"],
            root=Path(values["root"]), dialects=dialects,
            dialect_listen={k: v for k, v in own.items() if k in dialects},
            balena_profile=values["balena_profile"],
            supervisor_version=values["supervisor_version"] or REPORTED_VERSIONS[values["balena_profile"]],
            docker_host=values["docker_host"],
            dbus_address=values["dbus_address"], log_level=values["log_level"],
            max_connections=int(values["max_connections"]),
            target_url=values["target_url"], target_ca=values["target_ca"], device_type=values["device_type"], os_variant=values["os_variant"],
            led_file=values["led_file"], boot_dir=values["boot_dir"],
            os_accounts=values["os_accounts"], pam_service=values["pam_service"],
            admin_group=values["admin_group"], jwt_lifetime=int(values["jwt_lifetime"]),
            watchdog_device=values["watchdog_device"], legacy_data_path=values["legacy_data_path"],
            hassio_token=values["hassio_token"], command=args.command,
            hassio_version_url=values["hassio_version_url"], release_url=values["release_url"],
            hassos_ota_url=values["hassos_ota_url"], hassio_core_url=values["hassio_core_url"],
            hassio_data=values["hassio_data"],
            hassio_addons_core_url=values["hassio_addons_core_url"] or None,
            command_args=tuple(command_args),
            gosd_database_url=values["gosd_database_url"], gosd_mqtt_url=values["gosd_mqtt_url"],
            gosd_mqtt_client_id=values["gosd_mqtt_client_id"] or "gosd-1",
            gosd_base_url=values["gosd_base_url"], gosd_lua_file=values["gosd_lua_file"],
            gosd_expire_token=int(values["gosd_expire_token"]) if str(values["gosd_expire_token"]).isdigit() else 7200,
            gosd_job_timeout=gosd_settings.seconds(values["gosd_job_timeout"], 86400.0),
            gosd_max_body=int(values["gosd_max_body"]) if str(values["gosd_max_body"]).isdigit() else 64 * 1024 * 1024,
            edgehub_apphub_unit=values["edgehub_apphub_unit"], edgehub_edgebus_unit=values["edgehub_edgebus_unit"],
            edgehub_edgebus_url=values["edgehub_edgebus_url"],
            **switches,
        )

    def listen_groups(self) -> dict[str, tuple[str, ...]]:
        """Listen address -> the dialects served there, in configured order."""
        groups: dict[str, list[str]] = {}
        for name in self.dialects:
            groups.setdefault(self.dialect_listen.get(name, self.listen), []).append(name)
        return {address: tuple(names) for address, names in groups.items()}

    def port_of(self, dialect: str) -> int:
        """The TCP port a dialect is served on (0 for a unix socket)."""
        address = self.dialect_listen.get(dialect, self.listen)
        return parse_listen(address)[1] if not address.startswith("unix:") else 0


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split argv after a command word of COMMANDS_WITH_ARGS (handlers/gosd/settings.py)."""
    valued = {f"--{flag}" for flag, *_ in OPTIONS} | {"--dialect-listen"}
    return gosd_settings.split_command(argv, valued, {f"--{flag}" for flag, *_ in SWITCHES}, COMMANDS_WITH_ARGS)


def check_gosd(values: Mapping[str, Any], parser: argparse.ArgumentParser) -> None:
    """The gosd options' values, checked only when gosd is served or run (parser.error on a bad one)."""
    problem = gosd_settings.setting_error(values)
    if problem:
        parser.error(problem)


def unix_paths(settings: Settings) -> list[str]:
    """The socket paths of the unix listen addresses served."""
    return [address[5:] for address in settings.listen_groups() if address.startswith("unix:")]


def print_stored(settings: Settings) -> int:
    """`polyvisor api-key` / `polyvisor hassio-token`: the stored secret on stdout; 1 and what to do
    when there is none."""
    from handlers.errors import PolyvisorError
    from handlers.homeassistant.tokens import stored_token
    from handlers.host.identity import stored_key

    try:
        print(stored_key(settings.data_dir) if settings.command == "api-key" else stored_token(settings.data_dir))
    except PolyvisorError as err:
        print(f"polyvisor: {err}", file=sys.stderr)
        return 1
    return 0


def run_gosd(settings: Settings) -> int:
    """`polyvisor gosd ...`: gosd's command line on the agent's database settings."""
    from handlers.gosd import cli
    from handlers.gosd.store import GosdStore

    return cli.run(settings.command_args,
                   lambda: GosdStore.open(settings.gosd_database_url, settings.data_dir, settings.gosd_expire_token),
                   sys.stdout, sys.stderr)


def build_services(settings: Settings) -> Services:
    """The domain objects for these settings (not yet opened)."""
    return Services.build(settings, settings.port_of("balena"))


def create_app(settings: Settings, services: Services | None = None,
               dialects: Sequence[str] | None = None) -> Any:
    """The ASGI app serving `dialects` (default: all configured) over one set of services."""
    return build_asgi(settings, services or build_services(settings),
                      tuple(dialects or settings.dialects))


async def serve(settings: Settings, services: Services) -> None:
    """Serve every listen group until SIGTERM or SIGINT."""
    from hypercorn.asyncio import serve as hypercorn_serve

    from compat import connections

    add_reason_phrases()
    connections.install()

    from handlers.startup import describe, report_components

    log.info("%s", describe(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    tasks = []
    groups = settings.listen_groups()
    for address, names in groups.items():
        config = connections.ServerConfig(settings.max_connections)
        config.bind = [address]
        config.include_server_header = False  # the legacy agents sent none (or their own)
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.graceful_timeout = 3
        config.keep_alive_timeout = 75
        app = drain_unread_body(create_app(settings, services, names))
        tasks.append(asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=stop.wait)))
        log.info("serving %s on %s", ", ".join(names), address)
    await wait_bound(list(groups), parse_listen)
    sockets = {Path(path): unixsocket.identity(Path(path)) for path in unix_paths(settings)}
    notify("READY=1\nSTATUS=serving")
    await asyncio.to_thread(services.selfupdate.started)  # serving: a pending self-update is healthy
    report_components(services.engine if services.state_engine else None, services.bus)  # once serving
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    keepalive = asyncio.create_task(watchdog(usec / 2e6)) if usec else None
    trimming = asyncio.create_task(trim_after_bursts())
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    notify("STOPPING=1")
    if keepalive:
        keepalive.cancel()
    trimming.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for path, made in sockets.items():  # as Go's UnixListener.Close did
        unixsocket.remove(path, made)
    for task in done:
        if task.exception():
            raise task.exception()  # type: ignore[misc]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python app.py` and of the frozen binary."""
    settings = Settings.from_sources(sys.argv[1:] if argv is None else argv, os.environ)
    if settings.command in ("api-key", "hassio-token"):
        return print_stored(settings)
    if settings.command == "gosd":
        return run_gosd(settings)
    if settings.command == "migrate":
        from handlers.migrate import cli as migrate

        return migrate.run(settings.command_args, settings.data_dir, settings.root, settings.boot_dir,
                           sys.stdout, sys.stderr)
    allocator.configure()  # before any thread: the arenas are capped for all of them
    logging.basicConfig(level=settings.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.command == "update-guard":
        return build_services(settings).selfupdate.guard()
    try:
        for path in unix_paths(settings):
            unixsocket.prepare(Path(path))
    except OSError as err:
        log.error("cannot start: %s", err)
        return 1
    services = build_services(settings)
    logging.getLogger().addHandler(services.hassio_supervisor.logs)  # GET /supervisor/logs
    try:
        services.open()
    except (OSError, ValueError) as err:
        log.error("cannot start: %s", err)
        return 1
    if "platform" in settings.dialects:
        services.platform.auth.prepare()  # the first start makes the RSA key: not on a login's time
    stop_versions, versions = threading.Event(), None
    if "hassio" in settings.dialects:
        services.hassio_tokens.homeassistant_token()  # made and stored on the first start
        if settings.hassio_version_url:  # fetched at start and every 6 h, as the supervisor did
            versions = threading.Thread(target=services.hassio_supervisor.updater.watch, args=(stop_versions,),
                                        name="hassio-versions", daemon=True)
            versions.start()
        services.hassio_core.watchdog.start()  # Home Assistant's boot start and watchdogs
    try:
        asyncio.run(serve(settings, services))
    except OSError as err:
        log.error("cannot serve: %s", err)
        return 1
    finally:
        stop_versions.set()
        if versions is not None:
            versions.join(timeout=2)  # a fetch under way may finish before the store closes
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
