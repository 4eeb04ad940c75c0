"""Platform routes over a sysfs-shaped tree under --root: hwmon, LEDs, GPIO, backlight, display,
watchdog (a substituted device: a real one is never armed), disks, and the not-supported answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handlers.hardware.disks import Disks
from handlers.hardware.watchdog import WatchdogInfo
from tests.api.platform_support import Platform, start_platform, write_tree
from tests.api.support import Agents

# smartctl -j -i -A output, trimmed to what the agent reads (recorded on an SQF SATA SSD)
SMARTCTL = json.dumps({"device": {"name": "/dev/sda", "type": "sat"}, "ata_smart_attributes": {"revision": 1, "table": [
    {"id": 1, "name": "Raw_Read_Error_Rate", "value": 100, "worst": 100, "thresh": 50,
     "flags": {"value": 10, "string": "-O-R-- "}, "raw": {"value": 0, "string": "0"}},
    {"id": 9, "name": "Power_On_Hours", "value": 100, "worst": 100, "thresh": 0,
     "flags": {"value": 18, "string": "-O--C- "}, "raw": {"value": 9846, "string": "9846"}}]}})


@pytest.fixture
def plat(agents: Agents, tmp_path: Path) -> Platform:
    return start_platform(agents, tmp_path)


def test_hwmon_from_sysfs(plat: Platform) -> None:
    write_tree(plat.root, {
        "sys/class/hwmon/hwmon0/name": "nct6776\n", "sys/class/hwmon/hwmon0/temp1_input": "50100\n",
        "sys/class/hwmon/hwmon0/temp1_label": "CPU\n", "sys/class/hwmon/hwmon0/in0_input": "920\n",
        "sys/class/hwmon/hwmon0/in0_label": "VCore\n", "sys/class/hwmon/hwmon0/in1_input": "11860\n",
        "sys/class/hwmon/hwmon0/fan1_input": "1234\n", "sys/class/hwmon/hwmon1/name": "acpi\n",
        "sys/class/hwmon/hwmon1/curr1_input": "540\n"})
    response = plat.get("/platform/api/hwmon")
    assert response.status_code == 200
    assert response.json() == {
        "temperature": [{"name": "CPU", "value": 50.1, "unit": "Celsius"}],
        "voltage": [{"name": "VCore", "value": 0.92, "unit": "Volt"}, {"name": "nct6776 in1", "value": 11.86, "unit": "Volt"}],
        "current": [{"name": "acpi curr1", "value": 0.54, "unit": "A"}],
        "fanspeed": [{"name": "nct6776 fan1", "value": 1234, "unit": "RPM"}]}
    assert plat.get("/platform/api/hwmon/fanspeeds").json() == [{"name": "nct6776 fan1", "value": 1234, "unit": "RPM"}]


def test_hwmon_without_sensors_is_404_and_thermal_zones_count(plat: Platform) -> None:
    for path in ("/platform/api/hwmon", "/platform/api/hwmon/temperatures", "/platform/api/hwmon/currents"):
        response = plat.get(path)
        assert (response.status_code, response.content) == (404, b"")
    write_tree(plat.root, {"sys/class/thermal/thermal_zone0/type": "x86_pkg_temp\n",
                           "sys/class/thermal/thermal_zone0/temp": "41000\n"})
    assert plat.get("/platform/api/hwmon/temperatures").json() == [
        {"name": "x86_pkg_temp", "value": 41.0, "unit": "Celsius"}]
    assert plat.get("/platform/api/hwmon/voltages").status_code == 404


def test_leds(plat: Platform) -> None:
    # make_root gives led0 (brightness 0); add two more
    write_tree(plat.root, {"sys/class/leds/led1/brightness": "1\n", "sys/class/leds/led1/max_brightness": "255\n",
                           "sys/class/leds/led2/brightness": "0\n"})
    assert plat.get("/platform/api/perif/led").json() == [False, True, False]
    assert plat.put("/platform/api/perif/led/2", {"status": True}).status_code == 200
    assert (plat.root / "sys/class/leds/led2/brightness").read_text() == "1\n"
    assert plat.put("/platform/api/perif/led/1", {"status": False}).status_code == 200
    assert plat.get("/platform/api/perif/led").json() == [False, False, True]
    assert plat.get("/platform/api/perif/led/2").content == b"true"
    # strconv.Atoi: ASCII digits only ("²", "١" are no index), 5000 digits out of range
    for bad in ("3", "x", "-1", "%C2%B2", "%D9%A1", "1" * 5000):
        response = plat.get(f"/platform/api/perif/led/{bad}")
        assert response.status_code == 400 and response.json()["errors"].keys() == {"LED"}
    response = plat.put("/platform/api/perif/led/0", {"status": "on"})
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]
    response = plat.request("PUT", "/platform/api/perif/led/0", content=b"{")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]


def test_no_led_is_404(plat: Platform) -> None:
    (plat.root / "sys/class/leds/led0/brightness").unlink()
    assert plat.get("/platform/api/perif/led").status_code == 404


def gpio_tree(root: Path) -> None:
    write_tree(root, {"sys/class/gpio/gpio10/direction": "out\n", "sys/class/gpio/gpio10/value": "0\n",
                      "sys/class/gpio/gpio3/direction": "in\n", "sys/class/gpio/gpio3/value": "1\n",
                      "sys/class/gpio/gpiochip0/base": "0\n"})


def test_gpio(plat: Platform) -> None:
    assert plat.get("/platform/api/perif/gpio/count").json() == {"count": 0}
    assert plat.get("/platform/api/perif/gpio/all").status_code == 404
    gpio_tree(plat.root)
    assert plat.get("/platform/api/perif/gpio/count").json() == {"count": 2}
    assert plat.get("/platform/api/perif/gpio/all").json() == [{"pin": 0, "dir": 1, "level": 1},
                                                                {"pin": 1, "dir": 0, "level": 0}]
    assert plat.put("/platform/api/perif/gpio/1/level", {"level": 1}).status_code == 200
    assert (plat.root / "sys/class/gpio/gpio10/value").read_text() == "1"
    assert plat.get("/platform/api/perif/gpio/1/level").json() == {"level": 1}
    response = plat.put("/platform/api/perif/gpio/0/level", {"level": 0})  # an input pin
    assert response.status_code == 422 and list(response.json()["errors"]) == ["GPIO"]
    assert plat.put("/platform/api/perif/gpio/1/level", {"level": 7}).status_code == 422
    response = plat.put("/platform/api/perif/gpio/1/dir", {})
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]
    assert plat.put("/platform/api/perif/gpio/1/dir", {"dir": 1}).status_code == 200
    assert plat.get("/platform/api/perif/gpio/1/dir").json() == {"dir": 1}
    for bad in ("2", "abc", "%D9%A0", "%EF%BC%90", "9" * 30):  # "٠" and "０" are not pin 0
        response = plat.get(f"/platform/api/perif/gpio/{bad}")
        assert (response.status_code, response.content) == (400, b'{"errors":{"GPIO":"invalid parameter"}}')


def test_brightness_and_display(plat: Platform) -> None:
    response = plat.get("/platform/api/perif/brightness")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Brightness"]
    assert plat.get("/platform/api/control/display").status_code == 404
    write_tree(plat.root, {"sys/class/backlight/intel_backlight/brightness": "5\n",
                           "sys/class/backlight/intel_backlight/max_brightness": "9\n",
                           "sys/class/backlight/intel_backlight/bl_power": "0\n"})
    assert plat.get("/platform/api/perif/brightness").content == b'{"min":0,"max":9,"value":5}'
    assert plat.put("/platform/api/perif/brightness", {"value": 9}).status_code == 200
    assert plat.get("/platform/api/perif/brightness").json()["value"] == 9
    for bad in (10, -1):
        response = plat.put("/platform/api/perif/brightness", {"value": bad})
        assert response.status_code == 422 and list(response.json()["errors"]) == ["Brightness"]
    assert plat.get("/platform/api/control/display").status_code == 204
    assert plat.put("/platform/api/control/display", {"status": "off"}).status_code == 200
    assert (plat.root / "sys/class/backlight/intel_backlight/bl_power").read_text() == "4\n"
    assert plat.put("/platform/api/control/display", {"status": "on"}).status_code == 200
    assert (plat.root / "sys/class/backlight/intel_backlight/bl_power").read_text() == "0\n"
    assert plat.put("/platform/api/control/display", {"status": "dim"}).status_code == 422


class FakeWatchdog:
    """A watchdog device that records what the agent does to it (never a real /dev/watchdog)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.active = False

    def info(self) -> WatchdogInfo:
        return WatchdogInfo("EC Watchdog", 60, 10, 255, self.active)

    def start(self, timeout: int) -> int:
        self.calls.append(("start", timeout))
        self.active = True
        return timeout

    def keepalive(self) -> None:
        self.calls.append(("keepalive", None))

    def set_timeout(self, timeout: int) -> int:
        self.calls.append(("set_timeout", timeout))
        return timeout

    def stop(self) -> None:
        self.calls.append(("stop", None))
        self.active = False


def test_watchdog_absent_is_404(plat: Platform) -> None:
    assert plat.get("/platform/api/perif/wdt").status_code == 404
    assert plat.put("/platform/api/perif/wdt", {"enabled": True}).status_code == 404


def test_watchdog_through_a_substituted_device(plat: Platform) -> None:
    fake = FakeWatchdog()
    plat.services.platform.watchdog.device = fake
    assert plat.get("/platform/api/perif/wdt").content == (
        b'{"enabled":false,"type":"EC Watchdog","timeoutInSeconds":60,"timeoutMaxInSeconds":255,"timeoutMinInSeconds":10}')
    for body in ({"enabled": True, "seconds": 9}, {"enabled": True, "seconds": 256}):
        response = plat.put("/platform/api/perif/wdt", body)
        assert response.status_code == 422 and list(response.json()["errors"]) == ["WDT"]
    assert plat.put("/platform/api/perif/wdt/timeout", {"seconds": 5}).status_code == 422
    response = plat.put("/platform/api/perif/wdt", {"seconds": 15})
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]
    assert fake.calls == []
    assert plat.put("/platform/api/perif/wdt", {"enabled": True, "seconds": 15}).content == b'{"enabled":true,"seconds":15}'
    assert plat.put("/platform/api/perif/wdt/timeout", {"seconds": 30}).content == b'{"seconds":30}'
    assert plat.get("/platform/api/perif/wdt").json()["timeoutInSeconds"] == 30
    assert plat.put("/platform/api/perif/wdt", {"enabled": False}).content == b'{"enabled":false,"seconds":30}'
    assert fake.calls[0] == ("start", 15) and ("set_timeout", 30) in fake.calls and fake.calls[-1] == ("stop", None)


BIG = "1" * 5000


BIND_ERRORS = [
    (f'{{"enabled":true,"seconds":{BIG}}}', f"json: cannot unmarshal number {BIG} into Go struct field WDT.seconds of type int"),
    ('{"enabled":true,"seconds":9223372036854775808}',
     "json: cannot unmarshal number 9223372036854775808 into Go struct field WDT.seconds of type int"),
    ('{"enabled":true,"seconds":1.50}', "json: cannot unmarshal number 1.50 into Go struct field WDT.seconds of type int"),
    ('{"enabled":1,"seconds":15}', "json: cannot unmarshal number into Go struct field WDT.enabled of type bool"),
    ('{"enabled":true,"seconds":"15"}', "json: cannot unmarshal string into Go struct field WDT.seconds of type int"),
    # decoding errors come before the validator's `required`
    ('{"seconds":"15"}', "json: cannot unmarshal string into Go struct field WDT.seconds of type int"),
    ('{"enabled":true,"seconds":NaN}', "invalid character 'N' looking for beginning of value"),
    # Go 1.15's scanner: 10000 nested values at most (here the object and 10000 arrays)
    ('{"enabled":true,"x":' + "[" * 10000 + "]" * 10000 + "}", "invalid character '[' exceeded max depth"),
    ("[1]", "json: cannot unmarshal array into Go value of type WDT"),
    ('{"enabled":true', "unexpected EOF"),
]


def test_bodies_bind_as_gin_did(plat: Platform, caplog: pytest.LogCaptureFixture) -> None:
    """encoding/json's answers for what it could not put into the struct: 422 under validator."""
    plat.services.platform.watchdog.device = FakeWatchdog()
    for body, message in BIND_ERRORS:
        response = plat.request("PUT", "/platform/api/perif/wdt", content=body.encode())
        assert (response.status_code, response.json()) == (422, {"errors": {"validator": message}}), body[:80]
    assert not [r for r in caplog.records if r.exc_info] and "Traceback" not in caplog.text


def test_bodies_go_ignores_fields_it_has_not_and_what_follows(plat: Platform) -> None:
    fake = FakeWatchdog()
    plat.services.platform.watchdog.device = fake
    body = f'{{"Enabled":true,"seconds":15,"junk":{BIG},"deep":{"[" * 9000}{"]" * 9000}}} {{"more"'
    response = plat.request("PUT", "/platform/api/perif/wdt", content=body.encode())
    assert (response.status_code, response.content) == (200, b'{"enabled":true,"seconds":15}')
    assert fake.calls[0] == ("start", 15)


def test_disks_from_sysfs_with_smart(plat: Platform) -> None:
    assert plat.get("/platform/api/perif/disk").status_code == 404
    write_tree(plat.root, {"sys/block/sda/size": "2048\n", "sys/block/sda/removable": "0\n",
                           "sys/block/sda/queue/physical_block_size": "4096\n", "sys/block/sda/queue/rotational": "0\n",
                           "sys/block/sda/device/vendor": "ATA\n", "sys/block/sda/device/model": "SQF-S25M4-64G\n",
                           "sys/block/sda/device/rev": "S9FM\n", "sys/block/sda/sda1/partition": "1\n",
                           "sys/block/loop0/size": "8\n",
                           "proc/self/mounts": "/dev/sda1 / ext4 rw,relatime 0 0\n/dev/sda1 /data ext4 rw 0 0\n"
                                               "tmpfs /run tmpfs rw 0 0\n"})
    seen: list[list[str]] = []
    plat.services.platform.disks = Disks(plat.services.platform.disks._fs,
                                         lambda argv: seen.append(argv) or SMARTCTL)
    response = plat.get("/platform/api/perif/disk")
    assert response.status_code == 200
    (disk,) = response.json()
    assert seen == [["-j", "-i", "-A", "/dev/sda"]]
    assert (disk["name"], disk["sizeBytes"], disk["model"], disk["mediaType"]) == (
        "/dev/sda", 2048 * 512, "SQF-S25M4-64G", "Fixed solid state media")
    assert [p["mountPoint"] for p in disk["partitions"]] == ["/"]
    assert disk["smartAttributes"][1] == {"id": 9, "name": "Power_On_Hours", "statusFlags": 18, "value": 100,
                                          "worst": 100, "threshold": 0, "rawData": [118, 38, 0, 0, 0, 0]}
    (partition,) = plat.get("/platform/api/perif/disk/partition").json()
    assert (partition["mountPoint"], partition["sizeBytes"]) == ("/", disk["partitions"][0]["sizeBytes"])


def test_no_linux_source_answers_not_supported(plat: Platform) -> None:
    assert (plat.get("/platform/api/perif/redundant_power").status_code,
            plat.get("/platform/api/perif/redundant_power").content) == (404, b"")
    assert plat.get("/platform/api/etp/devicedata").status_code == 204
    response = plat.get("/platform/api/etp/userdata")
    assert (response.status_code, list(response.json()["errors"])) == (404, ["ETP"])
    response = plat.put("/platform/api/etp/userdata", {"userSpace1": "x" * 129})
    assert response.status_code == 422
    assert response.content == b'{"errors":{"ETP":"The maximum length of UserSpace1 is 128"}}'
    assert plat.put("/platform/api/etp/userdata/lockstatus", {"locked": True, "password": "123456789"}).status_code == 422
    assert plat.put("/platform/api/etp/userdata/lockstatus", {"locked": True, "password": "1234"}).status_code == 404


def test_screenshot_without_a_display_server(plat: Platform) -> None:
    response = plat.get("/platform/api/host/screenshot/0")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Host"]
    response = plat.get("/platform/api/host/screenshot/zero/file")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["Host"]


def test_display_count_and_devmgr_from_sysfs(plat: Platform) -> None:
    assert plat.get("/platform/api/host/display/count").content == b"0"
    write_tree(plat.root, {"sys/class/drm/card0-HDMI-A-1/status": "connected\n",
                           "sys/class/drm/card0-DP-1/status": "disconnected\n",
                           "sys/bus/pci/devices/0000:00:1c.0/vendor": "0x8086\n",
                           "sys/bus/pci/devices/0000:00:1c.0/device": "0x9d15\n",
                           "sys/bus/pci/devices/0000:00:1c.0/class": "0x060400\n",
                           "sys/bus/pci/devices/0000:00:1c.0/driver/bind": "",
                           "sys/bus/usb/devices/1-1/idVendor": "05e3\n", "sys/bus/usb/devices/1-1/idProduct": "0612\n",
                           "sys/bus/usb/devices/1-1/product": "USB3.1 Hub\n",
                           "sys/bus/usb/devices/1-1:1.0/bInterfaceClass": "09\n"})
    assert plat.get("/platform/api/host/display/count").content == b"1"
    assert plat.get("/platform/api/devmgr").json() == [
        {"class": "PCI", "instancePath": "/sys/bus/pci/devices/0000:00:1c.0", "name": "Bridge",
         "vendorID": "8086", "deviceID": "9D15", "status": "running"},
        {"class": "USB", "instancePath": "/sys/bus/usb/devices/1-1", "name": "USB3.1 Hub",
         "vendorID": "05E3", "deviceID": "0612", "status": "stopped"}]
