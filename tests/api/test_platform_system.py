"""Platform system routes in process: host info (DMI under --root), systemperf, processes and kill."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from handlers.host.sysinfo import MEMORY_KEYS
from tests.api.platform_support import Platform, start_platform, write_tree
from tests.api.support import Agents


@pytest.fixture
def plat(agents: Agents, tmp_path: Path) -> Platform:
    return start_platform(agents, tmp_path)


def test_host_info_from_dmi_and_os_release(plat: Platform) -> None:
    write_tree(plat.root, {"sys/class/dmi/id/product_name": "UNO-2484G\n",
                           "sys/class/dmi/id/product_uuid": "03000200-0400-0500-0006-000700080009\n",
                           "sys/class/dmi/id/bios_version": "1.05\n", "sys/class/dmi/id/bios_date": "01/23/2019\n"})
    info = plat.get("/platform/api/host/info").json()
    assert info["deviceName"] == "UNO-2484G" and info["biosVersion"] == "1.05"
    assert info["hostid"] == "03000200-0400-0500-0006-000700080009" and info["releaseDate"] == "01/23/2019"
    assert (info["os"], info["platform"], info["hostname"]) == ("linux", "balenaOS 2.38.0+rev1", "polyvisor-test")
    assert abs(info["bootTime"] + info["upTime"] - time.time()) < 5
    assert "dockerVersion" not in info  # no engine answers in API tests
    assert "ecVersion" not in info and "bootCount" not in info  # no Linux source: left out


def test_systemperf_uses_gopsutil_keys(plat: Platform) -> None:
    perf = plat.get("/platform/api/systemperf").json()
    assert list(perf) == ["cpu", "memory"]
    assert list(perf["memory"]) == [key for key, _ in MEMORY_KEYS]
    assert perf["memory"]["total"] > perf["memory"]["used"] > 0
    cpu = plat.get("/platform/api/systemperf/cpu").json()
    assert len(cpu["usage"]) >= 1 and cpu["info"]["cores"] == 1
    assert plat.get("/platform/api/systemperf/memory").json()["total"] == perf["memory"]["total"]


def test_processes_list_and_kill(plat: Platform) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        listed = {p["pid"]: p for p in plat.get("/platform/api/processes").json()}
        assert listed[child.pid]["cmdline"].endswith("time.sleep(60)")
        assert listed[child.pid]["ppid"] > 1 and listed[child.pid]["username"] == "root"
        response = plat.request("DELETE", f"/platform/api/processes/{child.pid}")
        assert (response.status_code, response.content) == (200, b"")
        assert child.wait(5) == -9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    response = plat.request("DELETE", f"/platform/api/processes/{child.pid}")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Processes"]
    # strconv.Atoi: ASCII digits with a sign, within int64; anything else is 400 Invalid PID
    for bad in ("abc", "1.5", "%D9%A1", "%EF%BC%91", "%C2%B2", " 5", "99999999999999999999", "1" * 5000):
        response = plat.request("DELETE", f"/platform/api/processes/{bad}")
        assert (response.status_code, response.content) == (400, b'{"errors":{"Processes":"Invalid PID"}}'), bad
    # a number Atoi takes is looked up: no such process (or one that may not be killed) is 422
    for number, message in (("2147483646", "process 2147483646 not found"),
                            ("9223372036854775807", "process 9223372036854775807 not found"),
                            ("-5", "process -5 may not be killed"), ("1", "process 1 may not be killed")):
        response = plat.request("DELETE", f"/platform/api/processes/{number}")
        assert (response.status_code, response.json()) == (422, {"errors": {"Processes": message}})


def test_services_without_systemd_are_422(plat: Platform) -> None:
    response = plat.get("/platform/api/service/list")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Service"]
    response = plat.put("/platform/api/service/ssh", {"action": "explode"})
    assert response.status_code == 422
    response = plat.put("/platform/api/service/ssh", {})
    assert response.status_code == 422 and list(response.json()["errors"]) == ["validator"]


@pytest.mark.parametrize(("index", "shown"), [("%D9%A1", "'١'"), ("1" * 5000, repr("1" * 5000)), ("1.5", "'1.5'")])
def test_interface_index_is_read_with_atoi(plat: Platform, caplog: pytest.LogCaptureFixture, index: str,
                                           shown: str) -> None:
    """The networking routes answer every id they cannot use under their own key, 422."""
    response = plat.request("DELETE", f"/platform/api/networking/ipv4config/{index}")
    assert (response.status_code, response.json()) == (422, {"errors": {"Net": f"invalid interface index {shown}"}})
    response = plat.request("DELETE", "/platform/api/networking/ipv4config/9223372036854775807")
    assert response.json() == {"errors": {"Net": "interface 9223372036854775807 not found"}}
    assert "Traceback" not in caplog.text


def test_wifi_without_networkmanager(plat: Platform) -> None:
    """No NetworkManager: no adapters to list, and the per-adapter routes are "not supported" (404, no body)."""
    assert plat.get("/platform/api/networking/wifi/interfaces").json() == []
    for method, path in (("GET", "/platform/api/networking/wifi/networks/wlan0"),
                         ("DELETE", "/platform/api/networking/wifi/interface/wlan0/profile/home")):
        response = plat.request(method, path)
        assert (response.status_code, response.content) == (404, b"")
