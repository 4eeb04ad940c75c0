"""The agent's command-line options and the environment variables behind them: one table that
app.py's Settings parses, the README's option table documents and the frozen binary's tests
check (flag, environment variables in order of precedence, default, help), with the commands
that run instead of the agent and the balena profiles."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from compat import DEFAULT_DIALECTS, DIALECTS

# The supervisor's official add-on repository (tag 138's URL_HASSIO_ADDONS).
ADDONS_CORE_URL = "https://github.com/home-assistant/hassio-addons"
# (flag, environment variables in order of precedence, default, help)
OPTIONS: tuple[tuple[str, tuple[str, ...], str | None, str], ...] = (
    ("listen", ("POLYVISOR_LISTEN",), "0.0.0.0:48484",
     "address to serve on: HOST:PORT or unix:/path"),
    ("data-dir", ("POLYVISOR_DATA_DIR",), "/var/lib/polyvisor",
     "folder for the SQLite database and generated secrets"),
    ("api-key", ("POLYVISOR_API_KEY", "BALENA_SUPERVISOR_API_KEY", "RESIN_SUPERVISOR_API_KEY"), None,
     "initial API key (letters, digits, _); generated and persisted on first start when absent"),
    ("root", ("POLYVISOR_ROOT",), "/",
     "prefix under which host files (/sys, /proc, /etc, /mnt/boot, lock folders) are used"),
    ("dialects", ("POLYVISOR_DIALECTS",), None,
     "comma-separated legacy APIs to serve: " + ", ".join(DIALECTS) + " (default: "
     + ",".join(DEFAULT_DIALECTS) + ", plus gosuper when it has an address)"),
    ("balena-profile", ("POLYVISOR_BALENA_PROFILE",), "v10",
     "balena behaviour: v10 (2019 supervisor) or legacy (resin era and its Go helper)"),
    ("supervisor-version", ("POLYVISOR_SUPERVISOR_VERSION",), None,
     "supervisor version the balena API reports (default: 10.0.0 for v10, 2.6.3 for legacy)"),
    ("docker-host", ("DOCKER_HOST",), None, "Docker Engine address (the docker SDK's DOCKER_HOST)"),
    ("dbus-address", ("DBUS_SYSTEM_BUS_ADDRESS",), None, "system D-Bus address"),
    ("led-file", ("POLYVISOR_LED_FILE", "LED_FILE"), "/sys/class/leds/led0/brightness",
     "LED brightness file that POST /v1/blink toggles (host path, under --root)"),
    ("boot-dir", ("POLYVISOR_BOOT_DIR", "BOOT_MOUNTPOINT"), "/mnt/boot",
     "boot partition holding config.json and system-proxy/ (host path, under --root)"),
    ("log-level", ("POLYVISOR_LOG_LEVEL",), "info", "debug, info, warning or error"),
    ("max-connections", ("POLYVISOR_MAX_CONNECTIONS",), "512",
     "open connections per listen address; past it a new one is answered 503 and closed (0: no cap)"),
    ("target-url", ("POLYVISOR_TARGET_URL",), None,
     "http(s):// or file:// target state (local-mode format) to apply; makes the device managed"),
    ("target-ca", ("POLYVISOR_TARGET_CA",), None,
     ("PEM file of the CA that an https:// --target-url's certificate must chain to: the only trust "
      "anchor (the system's store is not used), host name checked")),
    ("device-type", ("POLYVISOR_DEVICE_TYPE",), None,
     ("SLUG[:ARCH] /v2/local/device-info answers (balena push builds for it); ARCH defaults to the "
      "machine's. Default: the boot partition's device-type.json; on images that are not balenaOS, "
      "by machine genericx86-64-ext:amd64, generic-aarch64:aarch64, generic-armv7ahf:armv7hf, qemux86:i386")),
    ("os-variant", ("POLYVISOR_OS_VARIANT",), None,
     "dev or prod (default: VARIANT_ID of os-release under --root); unmanaged dev devices need no key"),
    ("os-accounts", ("POLYVISOR_OS_ACCOUNTS",), "pam",
     "platform OS-account logins (m=0): pam, or a users file (name:hash:groups) for machines without PAM"),
    ("pam-service", ("POLYVISOR_PAM_SERVICE",), "login", "PAM service that checks OS-account logins"),
    ("admin-group", ("POLYVISOR_ADMIN_GROUP",), "sudo",
     "OS groups (comma-separated) whose members may reboot, shut down and kill processes"),
    ("jwt-lifetime", ("POLYVISOR_JWT_LIFETIME",), "3600", "platform JWT lifetime in seconds"),
    ("watchdog-device", ("POLYVISOR_WATCHDOG_DEVICE",), "/dev/watchdog0",
     "hardware watchdog the platform API drives (host path, under --root)"),
    ("legacy-data-path", ("POLYVISOR_LEGACY_DATA_PATH", "RESIN_DATA_PATH"), "/resin-data",
     "per-app data folders (<path>/<appId>) the gosuper purge empties (host path, under --root)"),
    ("hassio-token", ("POLYVISOR_HASSIO_TOKEN", "HASSIO_TOKEN"), None,
     ("Home Assistant's X-HASSIO-KEY token (handed to its container as HASSIO_TOKEN); generated and "
      "persisted on first use when absent")),
    ("hassio-version-url", ("POLYVISOR_HASSIO_VERSION_URL",), None,
     ("http(s) URL of the hassio version JSON ({channel} is replaced by the update channel) that "
      "POST /supervisor/reload fetches; without one no versions are fetched")),
    ("release-url", ("POLYVISOR_RELEASE_URL",), None,
     ("http(s) URL of the release manifest POST /supervisor/update installs from (JSON: latest, "
      "versions -> architecture -> url, sha256, size; see handlers/host/release.py)")),
    ("hassos-ota-url", ("POLYVISOR_HASSOS_OTA_URL",), None,
     ("URL template of HassOS update bundles, with {version} and {board} (default: the HassOS "
      "releases on GitHub, as supervisor 138)")),
    ("hassio-core-url", ("POLYVISOR_HASSIO_CORE_URL",), None,
     ("Home Assistant core's API (http(s)://HOST:PORT) the hassio dialect pushes discovery messages and "
      "add-on logins to (default: the homeassistant container's port on 127.0.0.1)")),
    ("hassio-data", ("POLYVISOR_HASSIO_DATA",), None,
     ("host folder whose homeassistant/, ssl/ and share/ the homeassistant container mounts as /config, "
      "/ssl and /share (default: <data-dir>/hassio); 'privileged=false' after a comma runs it "
      "unprivileged, for engines that cannot start privileged containers")),
    ("hassio-addons-core-url", ("POLYVISOR_HASSIO_ADDONS_CORE_URL",), ADDONS_CORE_URL,
     ("git URL (URL#BRANCH for a branch) of the add-on core repository, cloned into <hassio "
      "data>/addons/core (the supervisor's official add-ons); an empty value (flag or variable) means none")),
    ("gosd-database-url", ("POLYVISOR_GOSD_DATABASE_URL", "DATABASE_URL"), None,
     ("gosd's database: postgres://USER:PASSWORD@HOST/DB (PostgreSQL, shared by many agents) or "
      "sqlite:///path (default: <data-dir>/gosd.db)")),
    ("gosd-mqtt-url", ("POLYVISOR_GOSD_MQTT_URL", "MQTT_URL"), None,
     "gosd's MQTT v5 broker, mqtt://USER:PASSWORD@HOST:PORT (without one, jobs cannot reach nodes)"),
    ("gosd-mqtt-client-id", ("POLYVISOR_GOSD_MQTT_CLIENT_ID",), "gosd-1",
     ("gosd's MQTT client id; agents sharing one broker need ids of their own (the broker drops the older "
      "of two clients with one id)")),
    ("gosd-base-url", ("POLYVISOR_GOSD_BASE_URL", "BASE_URL"), "http://localhost/gosd",
     "gosd's public URL: its path is the route prefix; jobs hand nodes blob URLs under it"),
    ("gosd-lua-file", ("POLYVISOR_GOSD_LUA_FILE", "LUA_FILE"), None,
     "Lua script a gosd job runs when its plan has no `lua` file (default: one that asks to configure a flow)"),
    ("gosd-expire-token", ("POLYVISOR_GOSD_EXPIRE_TOKEN", "EXPIRE_TOKEN"), "7200",
     "seconds a gosd token stays valid"),
    ("gosd-job-timeout", ("POLYVISOR_GOSD_JOB_TIMEOUT",), "86400",
     "seconds a gosd job may run before it is cancelled (0: no limit)"),
    ("gosd-max-body", ("POLYVISOR_GOSD_MAX_BODY",), "67108864",
     "bytes a gosd request body may have (uploads, plans, logins); more is refused with gosd's 500"),
    ("edgehub-apphub-unit", ("POLYVISOR_EDGEHUB_APPHUB_UNIT",), "apphub.service",
     "systemd unit of the AppHub service that /edgehub/api/apphub reports on and starts/stops"),
    ("edgehub-edgebus-unit", ("POLYVISOR_EDGEHUB_EDGEBUS_UNIT",), "mosquitto.service",
     "systemd unit of the EdgeBus broker (mosquitto) that /edgehub/api/edgebus enables and disables"),
    ("edgehub-edgebus-url", ("POLYVISOR_EDGEHUB_EDGEBUS_URL",), "mqtt://127.0.0.1:1883",
     "the EdgeBus broker, mqtt://[USER:PASSWORD@]HOST:PORT, whose $SYS topics give its status"),
)
# Switches: (flag, environment variables; a value of 1, true or yes turns them on, help)
SWITCHES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("gosd-noauth", ("POLYVISOR_GOSD_NOAUTH",), "gosd without tokens: every request acts as user 1 (gosd --noauth)"),
)
# Options whose environment variable counts even when empty (it then switches the thing off).
EMPTY_MEANS_NONE = ("hassio-addons-core-url",)
# The resin image's run.sh: the Go helper listened on $GOSUPER_SOCKET.
GOSUPER_SOCKET_ENV = "GOSUPER_SOCKET"
# Commands that run instead of the agent, on the same settings: name -> help.
COMMANDS = {"api-key": "print the API key stored in the data folder and exit (the agent may be running)",
            "hassio-token": "print Home Assistant's hassio token stored in the data folder and exit",
            "update-guard": "(started by a self-update) roll the binary back unless the new one confirms",
            "gosd": "gosd's command line: gosd users add|ls|find|update ..., gosd database migrate",
            "migrate": ("migrate --from-balena FOLDER: take the device over from the balena supervisor "
                        "(its API key, uuid, name, target, images and config; its database is only read)")}
# Commands whose arguments follow them (everything after the command word is theirs).
COMMANDS_WITH_ARGS = ("gosd", "migrate")
PROFILES = ("v10", "legacy")
# The supervisor version each balena profile reports by default: the release it imitates.
REPORTED_VERSIONS = {"v10": "10.0.0", "legacy": "2.6.3"}


def own_addresses(given: Sequence[str], environ: Mapping[str, str],
                  parser: argparse.ArgumentParser) -> dict[str, str]:
    """Dialect -> its own address: --dialect-listen over POLYVISOR_LISTEN_<NAME>, and for gosuper
    the legacy image's GOSUPER_SOCKET (a path) last."""
    own: dict[str, str] = {}
    if environ.get(GOSUPER_SOCKET_ENV):
        own["gosuper"] = f"unix:{environ[GOSUPER_SOCKET_ENV]}"
    for name in DIALECTS:
        if environ.get(f"POLYVISOR_LISTEN_{name.upper()}"):
            own[name] = environ[f"POLYVISOR_LISTEN_{name.upper()}"]
    for item in given:
        name, _, address = item.partition("=")
        if name not in DIALECTS or not address:
            parser.error(f"--dialect-listen takes NAME=ADDRESS with NAME in {', '.join(DIALECTS)}")
        own[name] = address
    return own


def parse_listen(address: str) -> tuple[str, int]:
    """HOST:PORT -> (host, port); unix:/path -> (path, 0)."""
    if address.startswith("unix:"):
        if not address[5:]:
            raise ValueError("unix: listen address needs a path")
        return address[5:], 0
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad listen address {address!r}: use HOST:PORT or unix:/path")
    return host.strip("[]") or "0.0.0.0", int(port)


def target_ca_error(ca_file: str, target_url: str | None) -> str | None:
    """What is wrong with --target-ca (with the --target-url it pins), or None: read at start-up, so
    a missing, unreadable or non-PEM file stops the agent with one line."""
    if not str(target_url or "").startswith("https://"):
        return "--target-ca pins the CA of an https:// --target-url: give one"
    from handlers.engine.target_fetch import tls_context

    try:
        tls_context(ca_file)
    except ValueError as err:
        return f"--target-ca: {err}"
    return None
