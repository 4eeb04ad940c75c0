"""hassio /host, /hardware and /hassos in process (hassio.md §3.3-3.5): no bus and no engine here,
so these are the answers of a host without D-Bus services, plus validation and the hardware
read from sysfs/procfs/udev files under a tmp --root. On a real bus: tests/integration/test_hassio_host.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import API_KEY, Agent, Agents

STEM = "hassio"
KEY = {"X-HASSIO-KEY": API_KEY}
UNKNOWN = {"result": "error", "message": "Unknown Error, see logs"}


def get(api: Agent, path: str) -> dict:
    response = api.request(STEM, "GET", path, headers=KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == "ok"
    return body["data"]


def post(api: Agent, path: str, **kwargs: object) -> tuple[int, dict]:
    response = api.request(STEM, "POST", path, headers=KEY, **kwargs)
    return response.status_code, response.json()


def test_host_info_without_dbus_is_all_null_and_no_features(api: Agent) -> None:
    data = get(api, "/host/info")
    assert data == {"chassis": None, "cpe": None, "features": [], "hostname": None,
                    "operating_system": None, "deployment": None, "kernel": None}
    assert list(data) == ["chassis", "cpe", "features", "hostname", "operating_system", "deployment", "kernel"]


@pytest.mark.parametrize("path", ["/host/reboot", "/host/shutdown", "/host/services/ssh.service/start",
                                  "/host/services/ssh.service/reload", "/hassos/update", "/hassos/config/sync"])
def test_actions_without_their_dbus_service_are_unknown_error(api: Agent, path: str) -> None:
    assert post(api, path) == (400, UNKNOWN)


def test_host_options_without_hostnamed_is_unknown_error(api: Agent) -> None:
    assert post(api, "/host/options", json={"hostname": "x"}) == (400, UNKNOWN)


def test_host_options_without_hostname_does_nothing(api: Agent) -> None:
    assert post(api, "/host/options", json={}) == (200, {"result": "ok", "data": {}})


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x"}, "extra keys not allowed @ data['name']. Got 'x'"),
    (b"{nope", "Invalid json"),
])
def test_host_options_validation(api: Agent, body: object, message: str) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    assert post(api, "/host/options", **kwargs) == (400, {"result": "error", "message": message})


def test_host_options_coerces_the_hostname_to_a_string(api: Agent) -> None:
    # vol.Coerce(str): 5 passes validation, so the answer is the missing bus's, not a schema error
    assert post(api, "/host/options", json={"hostname": 5}) == (400, UNKNOWN)


def test_hassos_update_validation_comes_before_the_host_check(api: Agent) -> None:
    assert post(api, "/hassos/update", json={"version": "2.0", "board": "x"}) == (
        400, {"result": "error", "message": "extra keys not allowed @ data['board']. Got 'x'"})


def test_host_reload_and_services_without_systemd(api: Agent) -> None:
    assert post(api, "/host/reload") == (200, {"result": "ok", "data": {}})
    assert get(api, "/host/services") == {"services": []}


def test_singular_service_path_of_the_seed_is_404(api: Agent) -> None:
    response = api.request(STEM, "POST", "/host/service/ssh.service/start", headers=KEY)
    assert (response.status_code, response.text) == (404, "404: Not Found")


def test_service_get_is_405(api: Agent) -> None:
    response = api.request(STEM, "GET", "/host/services/ssh.service/start", headers=KEY)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_hassos_info_off_hassos_is_nulls(api: Agent) -> None:
    assert get(api, "/hassos/info") == {"version": None, "version_cli": None, "version_latest": None,
                                        "version_cli_latest": None, "board": None}


def test_hassos_cli_update_without_a_version_is_unknown_error(api: Agent) -> None:
    assert post(api, "/hassos/update/cli") == (400, UNKNOWN)


def test_host_routes_need_a_token(api: Agent) -> None:
    response = api.request(STEM, "POST", "/host/reboot")
    assert (response.status_code, response.text) == (401, "401: Unauthorized")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


CARDS = (" 0 [ALSA           ]: bcm2835_alsa - bcm2835 ALSA\n"
         "                      bcm2835 ALSA\n"
         " 1 [Device         ]: USB-Audio - USB Audio Device\n"
         "                      C-Media USB Audio Device at usb-3f980000.usb-1.2, full speed\n")
DEVICES = ("  0: [ 0]   : control\n"
           " 16: [ 0- 0]: digital audio playback\n"
           " 17: [ 0- 1]: digital audio playback\n"
           " 24: [ 1- 0]: digital audio playback\n"
           " 25: [ 1- 0]: digital audio capture\n"
           " 33:        : timer\n")


def hardware_root(root: Path) -> None:
    """sysfs entries, udev database files and /proc/asound as a Raspberry Pi 3 with a USB dongle has them."""
    write(root, {
        "sys/class/tty/ttyAMA0/uevent": "MAJOR=204\nMINOR=64\nDEVNAME=ttyAMA0\n",
        "sys/class/tty/ttyACM0/uevent": "MAJOR=166\nMINOR=0\nDEVNAME=ttyACM0\n",
        "run/udev/data/c166:0": "S:serial/by-id/usb-dresden_elektronik_ConBee-if00\nE:ID_VENDOR=dresden_elektronik\n"
                                "E:ID_MODEL=ConBee\nG:systemd\n",
        "sys/class/tty/tty1/uevent": "MAJOR=4\nMINOR=1\nDEVNAME=tty1\n",  # a console: neither rule
        "sys/class/tty/console/uevent": "MAJOR=5\nMINOR=1\nDEVNAME=console\n",
        "sys/class/input/input0/uevent": 'PRODUCT=3/46d/c52b/111\nNAME="Logitech USB Receiver"\n',
        "sys/class/input/event0/uevent": "MAJOR=13\nMINOR=64\nDEVNAME=input/event0\n",
        "sys/class/input/input1/uevent": "PRODUCT=0/0/0/0\n",
        "run/udev/data/+input:input1": 'E:NAME="gpio-keys"\n',  # a property only udev's database has
        "sys/class/block/sda/uevent": "MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n",
        "sys/class/block/sda1/uevent": "MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\n",
        "sys/class/block/mmcblk0/uevent": "MAJOR=179\nMINOR=0\nDEVNAME=mmcblk0\n",
        "sys/class/gpio/export": "",
        "sys/class/gpio/gpiochip0/base": "0\n",
        "sys/class/gpio/gpio17/value": "0\n",
        "proc/asound/cards": CARDS,
        "proc/asound/devices": DEVICES,
    })


def test_hardware_info_from_sysfs_udev_and_proc(agents: Agents) -> None:
    api = agents.start()
    hardware_root(api.root)
    assert get(api, "/hardware/info") == {
        "serial": ["/dev/ttyACM0", "/dev/ttyAMA0"],
        "input": ["Logitech USB Receiver", "gpio-keys"],
        "disk": ["/dev/sda", "/dev/sda1"],
        "gpio": ["gpio17", "gpiochip0"],
        "audio": {
            "0": {"name": "bcm2835_alsa - bcm2835 ALSA", "type": "ALSA",
                  "devices": {"0": "digital audio playback", "1": "digital audio playback"}},
            "1": {"name": "USB-Audio - USB Audio Device", "type": "Device",
                  "devices": {"0": "digital audio capture"}},
        },
    }


def test_hardware_on_an_empty_root(api: Agent) -> None:
    assert get(api, "/hardware/info") == {"serial": [], "input": [], "disk": [], "gpio": [], "audio": {}}
    assert get(api, "/hardware/audio") == {"audio": {"input": {}, "output": {}}}


def test_hardware_audio_generic_names(agents: Agents) -> None:
    api = agents.start()
    hardware_root(api.root)
    # card 1's device 0 plays and captures: /proc/asound/devices has it twice and 138's dict kept
    # the last line, so it is an input only
    assert get(api, "/hardware/audio") == {"audio": {
        "input": {"1,0": "USB-Audio - USB Audio Device: 0"},
        "output": {"0,0": "bcm2835_alsa - bcm2835 ALSA: 0", "0,1": "bcm2835_alsa - bcm2835 ALSA: 1"},
    }}


def test_hardware_audio_names_from_the_audio_database(agents: Agents) -> None:
    api = agents.start("--device-type", "raspberrypi3")
    write(api.root, {"proc/asound/cards": " 0 [ALSA           ]: bcm2835 - bcm2835 ALSA\n",
                     "proc/asound/devices": " 16: [ 0- 0]: digital audio playback\n"
                                            " 17: [ 0- 1]: digital audio playback\n"})
    assert get(api, "/hardware/audio") == {"audio": {
        "input": {}, "output": {"0,0": "Raspberry Jack", "0,1": "Raspberry HDMI"}}}


def test_hassos_cli_update_without_an_engine_is_unknown_error(api: Agent) -> None:
    # 138 pulled the CLI image whether or not the host was HassOS; here the pull cannot start
    assert post(api, "/hassos/update/cli", json={"version": "7"}) == (400, UNKNOWN)
