"""The add-on container's run parameters (params.py) and the info view (addon.py), without an engine:
each of 138's rules in hassio/docker/addon.py and hassio/api/addons.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from handlers.homeassistant.addons import params
from handlers.homeassistant.addons.addon import Addon

DATA = Path("/srv/hassio")
BASE: dict[str, Any] = {"name": "SSH", "version": "3.0", "slug": "ssh", "description": "d", "startup": "services",
                        "boot": "auto", "options": {"port": 22}, "schema": {"port": "port"}, "arch": ["amd64"],
                        "repository": "core", "location": "/srv/hassio/addons/core/ssh", "apparmor": True,
                        "host_network": False, "host_pid": False, "host_ipc": False, "host_dbus": False,
                        "full_access": False, "stdin": False, "map": [], "timeout": 10}
BRIDGE = params.Host(DATA)
NO_BRIDGE = params.Host(DATA, network="none")


def run(config: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
        host: params.Host = BRIDGE) -> dict[str, Any]:
    return params.run_parameters("core_ssh", {**BASE, **(config or {})}, {"protected": True, **(user or {})},
                                 host, "Europe/Amsterdam", "t" * 64)


def test_name_hostname_init_and_environment() -> None:
    found = run({"environment": {"A": 1}})
    assert (found["name"], found["hostname"], found["init"], found["detach"]) == ("addon_core_ssh", "core-ssh",
                                                                                 True, True)
    assert found["environment"] == {"A": "1", "TZ": "Europe/Amsterdam", "HASSIO_TOKEN": "t" * 64}
    assert list(found["environment"])[-2:] == ["TZ", "HASSIO_TOKEN"]  # the config cannot override them


def test_audio_environment_device_and_asound() -> None:
    host = params.Host(DATA, audio=True)
    found = params.run_parameters("core_ssh", {**BASE, "audio": True}, {"audio_output": "0,0"}, host, "UTC", None,
                                  ("0,0", "1,0"))
    assert found["environment"]["ALSA_OUTPUT"] == "0,0" and found["environment"]["ALSA_INPUT"] == "1,0"
    assert found["devices"] == ["/dev/snd:/dev/snd:rwm"]
    assert found["volumes"][str(DATA / "tmp" / "core_ssh_asound")] == {"bind": "/etc/asound.conf", "mode": "ro"}


def test_volumes() -> None:
    found = run({"map": ["config:rw", "ssl", "addons", "backup:rw", "share"], "devicetree": True,
                 "host_dbus": True, "gpio": True, "docker_api": True})
    assert found["volumes"] == {
        "/srv/hassio/addons/data/core_ssh": {"bind": "/data", "mode": "rw"},
        "/srv/hassio/homeassistant": {"bind": "/config", "mode": "rw"},
        "/srv/hassio/ssl": {"bind": "/ssl", "mode": "ro"},
        "/srv/hassio/addons/local": {"bind": "/addons", "mode": "ro"},
        "/srv/hassio/backup": {"bind": "/backup", "mode": "rw"},
        "/srv/hassio/share": {"bind": "/share", "mode": "ro"},
        "/sys/firmware/devicetree/base": {"bind": "/device-tree", "mode": "ro"},
        "/var/run/dbus": {"bind": "/var/run/dbus", "mode": "rw"},
    }  # gpio: the host has none; docker_api: protected
    unprotected = run({"docker_api": True, "gpio": True}, {"protected": False},
                      params.Host(DATA, gpio=True, docker_socket="/run/balena.sock"))
    assert unprotected["volumes"]["/run/balena.sock"] == {"bind": "/var/run/docker.sock", "mode": "ro"}
    assert unprotected["volumes"]["/sys/class/gpio"] == {"bind": "/sys/class/gpio", "mode": "rw"}


@pytest.mark.parametrize(("config", "protected", "privileged", "pid"), [
    ({"full_access": True, "host_pid": True}, True, False, None),
    ({"full_access": True, "host_pid": True}, False, True, "host"),
    ({"full_access": False, "host_pid": False}, False, False, None),
])
def test_privileges_need_protection_off(config: dict[str, Any], protected: bool, privileged: bool,
                                        pid: str | None) -> None:
    found = run(config, {"protected": protected})
    assert found["privileged"] is privileged and found.get("pid_mode") == pid


def test_capabilities_ipc_tmpfs_devices_stdin() -> None:
    found = run({"privileged": ["NET_ADMIN"], "host_ipc": True, "tmpfs": "size=10m", "stdin": True,
                 "devices": ["/dev/ttyUSB0:/dev/ttyUSB0:rwm"], "auto_uart": True},
                host=params.Host(DATA, serial=("/dev/ttyAMA0",)))
    assert found["cap_add"] == ["NET_ADMIN"] and found["ipc_mode"] == "host" and found["stdin_open"] is True
    assert found["tmpfs"] == {"/tmpfs": "size=10m"}
    assert found["devices"] == ["/dev/ttyUSB0:/dev/ttyUSB0:rwm", "/dev/ttyAMA0:/dev/ttyAMA0:rwm"]
    bare = run()
    assert "cap_add" not in bare and "devices" not in bare and "tmpfs" not in bare and "ipc_mode" not in bare


def test_security_opt() -> None:
    assert run()["security_opt"] == ["apparmor=unconfined", "seccomp=unconfined"]  # no AppArmor on the host
    enforcing = params.Host(DATA, apparmor=True)
    assert run(host=enforcing)["security_opt"] == ["seccomp=unconfined"]
    assert run({"apparmor": False}, host=enforcing)["security_opt"] == ["apparmor=unconfined", "seccomp=unconfined"]


def test_network_bridge_host_and_none() -> None:
    ports = {"22/tcp": 2222, "80/tcp": None, "53/udp": ["127.0.0.1", 5353], "8/tcp": [81, 82]}
    bridge = run({"ports": ports})
    assert (bridge["network"], bridge["aliases"], bridge["dns_search"]) == ("hassio", ["core-ssh"], ["."])
    assert bridge["extra_hosts"] == {"homeassistant": params.GATEWAY, "hassio": params.GATEWAY}
    assert bridge["ports"] == {"22/tcp": 2222, "53/udp": ("127.0.0.1", 5353), "8/tcp": [81, 82]}
    assert "network_mode" not in bridge
    user = run({"ports": ports}, {"network": {"22/tcp": 2200}})
    assert user["ports"] == {"22/tcp": 2200}  # the user's mapping replaces the config's
    host = run({"ports": ports, "host_network": True})
    assert host["network_mode"] == "host" and "ports" not in host and "network" not in host
    assert host["extra_hosts"] == {"homeassistant": "127.0.0.1", "hassio": "127.0.0.1"}
    none = run({"ports": ports}, host=NO_BRIDGE)
    assert none["network_mode"] == "none" and "ports" not in none and "extra_hosts" not in none


def test_image_names_and_build_arguments() -> None:
    assert params.image_name({**BASE, "image": "homeassistant/{arch}-addon-ssh"}, "armhf") == \
        "homeassistant/armhf-addon-ssh"
    assert params.image_name(BASE, "amd64") == "core/amd64-addon-ssh"
    found = params.build_arguments({**BASE, "name": "O'Brien", "url": "https://x.invalid"},
                                   {"build_from": "base/amd64-base:1", "squash": False, "args": {"X": 1}},
                                   "amd64", "3.0")
    assert found["labels"] == {"io.hass.version": "3.0", "io.hass.arch": "amd64", "io.hass.type": "addon",
                               "io.hass.name": "OBrien", "io.hass.description": "d", "io.hass.url": "https://x.invalid"}
    assert found["buildargs"] == {"BUILD_FROM": "base/amd64-base:1", "BUILD_VERSION": "3.0", "BUILD_ARCH": "amd64",
                                  "X": "1"}
    assert "squash" not in found


def addon(cache: dict[str, Any] | None, system: dict[str, Any] | None = None,
          user: dict[str, Any] | None = None) -> Addon:
    return Addon("core_ssh", cache, system, user, "amd64", "qemux86-64")


def test_info_quirks() -> None:
    store = addon({**BASE, "devices": ["/dev/ttyUSB0:/dev/ttyUSB0:rwm"], "services": ["mqtt:want"],
                   "ports": {"22/tcp": 22}, "webui": "[PROTO:ssl]://[HOST]:[PORT:22]/x", "privileged": ["SYS_ADMIN"]})
    info = store.info("none")
    assert info["protected"] is True and info["auto_update"] is None and info["version"] is None
    assert info["devices"] == ["/dev/ttyUSB0"] and info["services"] == ["mqtt:want"]
    assert info["options"] == {"port": 22} and info["available"] is True and info["rating"] == 4
    assert info["webui"] == "http://[HOST]:22/x" and info["apparmor"] == "default"
    assert list(info)[:10] == ["name", "slug", "description", "long_description", "version", "auto_update",
                               "repository", "last_version", "state", "protected"]
    assert list(info)[-3:] == ["audio_output", "services", "discovery"] and len(info) == 45
    installed = addon({**BASE, "version": "3.1"}, {**BASE, "ports": {"22/tcp": 22}},
                      {"version": "3.0", "options": {"port": 2022}, "protected": False, "auto_update": False,
                       "network": {"22/tcp": 2222}, "boot": "manual"})
    info = installed.info("stopped")
    assert (info["version"], info["last_version"], info["boot"], info["protected"]) == ("3.0", "3.1", "manual", False)
    assert info["options"] == {"port": 2022} and info["network"] == {"22/tcp": 2222} and info["auto_update"] is False
    detached = addon(None, BASE, {"version": "3.0"})
    assert detached.detached and detached.last_version == "3.0"
    assert addon({**BASE, "host_network": True, "ports": {"22/tcp": 22}}).info("none")["network"] is None
    assert addon({**BASE, "arch": ["armhf"]}).available is False
    assert addon({**BASE, "machine": ["raspberrypi3"]}).available is False
    newer = Addon("core_ssh", BASE, None, None, "amd64", "genericx86-64-ext")  # a machine 138 did not know
    assert newer.available is True
    assert Addon("core_ssh", {**BASE, "machine": ["intel-nuc"]}, None, None, "amd64", "genericx86-64-ext").available is False


@pytest.mark.parametrize("slug", ["..", ".", "", "local_../../etc", "a/b", "a\\b", "a\0b"])
def test_a_slug_never_leaves_the_data_folder(slug: str) -> None:
    from handlers.errors import InvalidInput

    with pytest.raises(InvalidInput):
        BRIDGE.addon_data(slug)
    with pytest.raises(InvalidInput):
        BRIDGE.asound(slug)
    assert BRIDGE.addon_data("local_ok.1") == DATA / "addons" / "data" / "local_ok.1"


def test_deferred_addons_made_on_first_use() -> None:
    from handlers.homeassistant.addons import installed
    from handlers.homeassistant.addons.deferred import INSTALLED_KEY, DeferredAddons

    assert INSTALLED_KEY == installed.STORE_KEY
    made: list[Any] = []
    stored: dict[str, str] = {}

    class Manager:
        booted: ClassVar[list[str]] = []

        def boot(self, stage: str) -> None:
            self.booted.append(stage)

        def installed_slugs(self) -> list[str]:
            return ["local_x"]

        def close(self) -> None:
            made.append("closed")

    deferred = DeferredAddons(lambda: made.append(Manager()) or made[-1], stored.get)
    deferred.boot("services")  # nothing installed: nothing made
    deferred.close()
    assert made == []
    stored[INSTALLED_KEY] = '{"user": {}, "system": {}}'
    deferred.boot("services")
    assert len(made) == 1 and Manager.booted == ["services"]
    assert deferred.installed_slugs() == ["local_x"] and len(made) == 1  # the same manager
    deferred.close()
    assert made[-1] == "closed"
