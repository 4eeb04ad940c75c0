"""HassOS as tag 138's supervisor saw it (hassio/hassos.py, hassio/dbus/rauc.py): version and board
from the CPE name, over-the-air updates through RAUC, the CLI image and the USB config import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from handlers.docker import Engine
from handlers.errors import BusReplyError, BusUnavailable, PolyvisorError
from handlers.homeassistant.host import PROPERTIES, RAUC, HassioHost

log = logging.getLogger("polyvisor.hassio.hassos")

# const.py URL_HASSOS_OTA; --hassos-ota-url replaces it ({version} and {board} are filled in)
OTA_URL = "https://github.com/home-assistant/hassos/releases/download/{version}/hassos_{board}-{version}.raucb"
CONFIG_UNIT = "hassos-config.service"
CHUNK = 1024 ** 2  # _download_raucb read 1 MiB at a time
DOWNLOAD_TIMEOUT = 60.0
INSTALL_TIMEOUT = 3600.0  # 138 waited for Completed without a limit
VERSION_LABEL = "io.hass.version"
# docker's Architecture -> the hassio arch in image names (homeassistant/<arch>-hassio-cli)
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "aarch64", "arm64": "aarch64",
          "armv7l": "armhf", "armv6l": "armhf", "i386": "i386", "i686": "i386"}


class HassOSNotSupported(PolyvisorError):
    """This host is not HassOS (138's HassOSNotSupportedError)."""


class HassOSUpdateError(PolyvisorError):
    """The update could not be fetched, started or is the running version (HassOSUpdateError)."""


class InstallFailed(PolyvisorError):
    """RAUC's Completed signal carried a non-zero result; `last_error` is its LastError property."""

    def __init__(self, result: int, last_error: str | None) -> None:
        super().__init__(f"HassOS update fails with: {last_error} (result {result})")
        self.result = result
        self.last_error = last_error


class HassOS:
    """The /hassos routes' domain."""

    def __init__(self, host: HassioHost, engine: Engine, tmp_dir: Path, ota_url: str = OTA_URL) -> None:
        self._host = host
        self._engine = engine
        self._tmp = tmp_dir
        self._ota_url = ota_url
        # The channel's version file as last fetched (138's updater: hassio-version/<channel>.json);
        # whoever fetches it sets this. Until then the latest versions are null, as in 138 before
        # its first fetch.
        self.version_file: Callable[[], dict[str, Any]] = dict

    def latest(self, board: str | None) -> tuple[str | None, str | None]:
        """(hassos[board], hassos-cli) of the version file."""
        data = self.version_file() or {}
        hassos = data.get("hassos")
        os_version = hassos.get(board) if isinstance(hassos, dict) and board else None
        return (None if os_version is None else str(os_version),
                None if data.get("hassos-cli") is None else str(data["hassos-cli"]))

    def info(self) -> dict[str, Any]:
        """{version, version_cli, version_latest, version_cli_latest, board}: nulls off HassOS."""
        cpe = self._host.state().hassos
        if cpe is None:
            return dict.fromkeys(("version", "version_cli", "version_latest", "version_cli_latest", "board"))
        os_latest, cli_latest = self.latest(cpe.target_hw)
        return {"version": cpe.version, "version_cli": self.cli_version(), "version_latest": os_latest,
                "version_cli_latest": cli_latest, "board": cpe.target_hw}

    def cli_image(self) -> str:
        """homeassistant/<arch>-hassio-cli for the engine's architecture."""
        machine = self._engine.call(lambda client: client.info().get("Architecture", ""))
        return f"homeassistant/{ARCHES.get(machine, machine)}-hassio-cli"

    def cli_version(self) -> str | None:
        """The CLI image's io.hass.version label (DockerHassOSCli attach); None without the image."""
        import docker.errors

        try:
            image = self.cli_image()
            labels = self._engine.call(lambda client: client.images.get(image).labels) or {}
        except (docker.errors.DockerException, PolyvisorError) as err:  # ImageNotFound, EngineUnavailable
            log.warning("Can't find a HassOS CLI: %s", err)
            return None
        return labels.get(VERSION_LABEL)

    def update(self, version: str | None) -> None:
        """Download the bundle, install it with RAUC, wait for Completed; reboot in the background."""
        cpe = self._host.state().hassos
        if cpe is None:
            log.error("No HassOS available")
            raise HassOSNotSupported("No HassOS available")
        version = version or self.latest(cpe.target_hw)[0]
        if version is None:  # no version file fetched yet
            raise HassOSUpdateError("No HassOS version to update to")
        if version == cpe.version:
            log.warning("Version %s is already installed", version)
            raise HassOSUpdateError(f"Version {version} is already installed")
        bundle = self.download(version, cpe.target_hw or "")
        try:
            result = self.install(bundle)
        finally:
            bundle.unlink(missing_ok=True)
        if result != 0:
            raise InstallFailed(result, self.last_error())
        log.info("Install HassOS %s success", version)
        # sys_create_task(reboot()): the answer goes out while the containers stop
        threading.Thread(target=self._reboot, name="hassos-reboot", daemon=True).start()

    def _reboot(self) -> None:
        try:
            self._host.power("reboot")
        except PolyvisorError as err:
            log.error("Reboot after the HassOS update failed: %s", err)

    def download(self, version: str, board: str) -> Path:
        import urllib.error
        import urllib.request

        """GET the bundle into the temp folder as hassos-<version>.raucb (proxies from the
        environment are not used: aiohttp's session did not trust the environment)."""
        url = self._ota_url.format(version=version, board=board)
        self._tmp.mkdir(parents=True, exist_ok=True)
        bundle = (self._tmp / f"hassos-{version}.raucb").resolve()
        if bundle.parent != self._tmp.resolve():
            raise HassOSUpdateError(f"Invalid version {version!r}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        log.info("Fetch OTA update from %s", url)
        try:
            with opener.open(url, timeout=DOWNLOAD_TIMEOUT) as response, bundle.open("wb") as out:
                if response.status != 200:
                    raise HassOSUpdateError(f"{url} answered {response.status}")
                while chunk := response.read(CHUNK):
                    out.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as err:
            bundle.unlink(missing_ok=True)
            log.warning("Can't fetch OTA update from %s: %s", url, err)
            raise HassOSUpdateError(f"Can't fetch {url}: {err}") from err
        log.info("OTA update is downloaded on %s", bundle)
        return bundle

    def install(self, bundle: Path) -> int:
        """Installer.Install(bundle) and the result of the Completed signal that follows.

        A connection of its own: the wait can take minutes and must not hold the shared one."""
        from jeepney import DBusAddress, MatchRule, message_bus, new_method_call
        from jeepney.io.blocking import Proxy, open_dbus_connection
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        address = self._host.bus.address
        try:
            conn = open_dbus_connection(bus=address)
        except Exception as err:  # OSError, auth failures
            raise BusUnavailable(f"D-Bus unavailable at {address}: {err}") from err
        rule = MatchRule(type="signal", interface=RAUC[2], member="Completed", path=RAUC[1])
        try:
            Proxy(message_bus, conn).AddMatch(rule)
            with conn.filter(rule) as signals:
                call = new_method_call(DBusAddress(RAUC[1], RAUC[0], RAUC[2]), "Install", "s", (str(bundle),))
                unwrap_msg(conn.send_and_get_reply(call, timeout=60))
                completed = conn.recv_until_filtered(signals, timeout=INSTALL_TIMEOUT)
        except DBusErrorResponse as err:
            log.error("Rauc communication error: %s", err)
            raise BusReplyError(str(err.name), " ".join(map(str, err.data))) from err
        except (OSError, TimeoutError, EOFError) as err:
            log.error("Rauc communication error: %s", err)
            raise BusUnavailable(f"rauc: {err}") from err
        finally:
            conn.close()
        return int(completed.body[0])

    def last_error(self) -> str | None:
        """The Installer's LastError property."""
        try:
            (variant,) = self._host.bus.call((RAUC[0], RAUC[1], PROPERTIES), "Get", "ss", (RAUC[2], "LastError"))
        except PolyvisorError:
            return None
        return str(variant[1])

    def update_cli(self, version: str | None) -> None:
        """Pull homeassistant/<arch>-hassio-cli:<version> and tag it latest."""
        cpe = self._host.state().hassos
        current = self.cli_version() if cpe else None  # DockerHassOSCli attached on HassOS only
        version = version or (self.latest(cpe.target_hw)[1] if cpe else None)
        if version is None or version == current:
            log.warning("Version %s is already installed for CLI", version)
            raise HassOSUpdateError(f"Version {version} is already installed for CLI")
        import docker.errors

        try:
            image = self.cli_image()

            def pull(client: Any) -> None:
                client.images.pull(image, tag=version).tag(image, "latest")

            self._engine.call(pull)
        except (docker.errors.DockerException, PolyvisorError) as err:  # APIError, EngineUnavailable
            log.error("HassOS CLI update fails: %s", err)
            raise HassOSUpdateError(f"HassOS CLI update fails: {err}") from err

    def config_sync(self) -> None:
        """Restart hassos-config.service (it imports the configuration from a USB stick)."""
        if self._host.state().hassos is None:
            log.error("No HassOS available")
            raise HassOSNotSupported("No HassOS available")
        log.info("Syncing configuration from USB with HassOS.")
        self._host.unit_job(CONFIG_UNIT, "restart")
