"""The platform API of a real agent process over a real (private) system bus: systemd units,
logind reboot/shutdown and NetworkManager Wi-Fi, all python-dbusmock services."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["integration.platform_fixtures"]  # platform_bus, platform_calls, pv5_netns

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
PASSWORD = "Pv5-admin-pw"


@pytest.fixture
def api(start_agent: Callable[..., Any], platform_bus: str) -> Iterator[Any]:
    """An httpx client on an agent using the platform bus, with an admin token (password changed)."""
    agent = start_agent(dbus_address=platform_bus, docker_host=None)
    from integration.platform_fixtures import admin_login

    with agent.client() as client:
        yield admin_login(client, PASSWORD)


def test_service_list_status_and_control(api: Any, platform_calls: Any) -> None:
    listed = api.get("/platform/api/service/list").json()
    assert listed == [
        {"name": "apphub", "displayName": "AppHub-Edge Service", "description": "AppHub-Edge Service", "status": "stopped"},
        {"name": "bluetooth", "displayName": "Bluetooth service", "description": "Bluetooth service", "status": "disabled"},
        {"name": "cron", "displayName": "Regular background program processing daemon",
         "description": "Regular background program processing daemon", "status": "stopped"},
        {"name": "ssh", "displayName": "OpenBSD Secure Shell server", "description": "OpenBSD Secure Shell server",
         "status": "running"}]
    assert api.get("/platform/api/service/cron").json() == {"status": "stopped"}
    response = api.put("/platform/api/service/cron", json={"action": "start"})
    assert (response.status_code, response.content) == (204, b"")
    assert api.get("/platform/api/service/cron.service").json() == {"status": "running"}
    assert api.put("/platform/api/service/cron", json={"action": "restart"}).status_code == 204
    assert api.put("/platform/api/service/cron", json={"action": "stop"}).status_code == 204
    calls = [c for c in platform_calls("org.freedesktop.systemd1") if c[0].endswith("Unit")]
    assert calls == [("StartUnit", ("cron.service", "replace")), ("RestartUnit", ("cron.service", "replace")),
                     ("StopUnit", ("cron.service", "replace"))]
    response = api.get("/platform/api/service/nope")
    assert (response.status_code, response.json()) == (422, {"errors": {"Service": "unit nope.service not found"}})
    assert api.put("/platform/api/service/nope", json={"action": "start"}).status_code == 422


def logind_calls(calls: Any, timeout: float = 10.0) -> list[tuple[str, tuple[Any, ...]]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in calls("org.freedesktop.login1") if c[0] in ("Reboot", "PowerOff")]
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.mark.parametrize("route, method", [("reboot", "Reboot"), ("shutdown", "PowerOff")])
def test_control_answers_first_then_calls_logind(api: Any, platform_calls: Any, route: str, method: str) -> None:
    response = api.post(f"/platform/api/control/{route}")
    assert (response.status_code, response.content) == (200, b"")
    assert [c for c in platform_calls("org.freedesktop.login1") if c[0] == method] == []  # not yet
    assert logind_calls(platform_calls) == [(method, (False,))]


def add_wifi(address: str, tag: str) -> str:
    """A Wi-Fi device wl<tag> with two access points and a profile for the first; its path."""
    from integration.platform_fixtures import mock_call

    (device,) = mock_call(address, NM, NM_PATH, "AddWiFiDevice", "ssi", f"dev{tag}", f"wl{tag}", 100)
    mock_call(address, NM, NM_PATH, "AddAccessPoint", "ssssuuuyu", device, f"ap{tag}a", f"SQA-{tag}",
              "e0:3f:49:00:04:30", 2, 2442, 54000, 90, 0x100)
    mock_call(address, NM, NM_PATH, "AddAccessPoint", "ssssuuuyu", device, f"ap{tag}b", f"OPEN-{tag}",
              "e0:3f:49:00:04:31", 2, 5180, 54000, 30, 0)
    mock_call(address, NM, NM_PATH, "AddWiFiConnection", "ssss", device, f"conn{tag}", f"SQA-{tag}", "wpa-psk")
    return str(device)


def test_wifi_interfaces_networks_and_profile_delete(api: Any, platform_bus: str) -> None:
    add_wifi(platform_bus, "x1")
    interfaces = [i for i in api.get("/platform/api/networking/wifi/interfaces").json() if i["uuid"] == "wlx1"]
    assert interfaces == [{"ifIndex": 0, "uuid": "wlx1", "description": "dbusmock", "profiles": [
        {"name": "SQA-x1", "allUserProfile": True, "groupPolicyProfile": False, "perUserProfile": False}]}]
    networks = api.get("/platform/api/networking/wifi/networks/wlx1").json()
    assert [(n["ssid"], n["channel"], n["authenticationAlgorithm"], n["cipherAlgorithm"], n["profileName"],
             n["signalQuality"]) for n in networks] == [
        ("SQA-x1", 7, "WPA2-Personal", "None", "SQA-x1", 90), ("OPEN-x1", 36, "Open", "None", "", 30)]
    response = api.get("/platform/api/networking/wifi/networks/nope0")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["WiFi"]
    response = api.delete("/platform/api/networking/wifi/interface/wlx1/profile/%20")
    assert (response.status_code, response.content) == (400, b'{"errors":{"WiFi":"invalid profile name"}}')
    assert api.delete("/platform/api/networking/wifi/interface/wlx1/profile/nope").status_code == 422
    assert api.delete("/platform/api/networking/wifi/interface/wlx1/profile/SQA-x1").status_code == 200
    profiles = [i["profiles"] for i in api.get("/platform/api/networking/wifi/interfaces").json() if i["uuid"] == "wlx1"]
    assert profiles == [[]]


def test_dhcp_through_networkmanager_in_a_namespace(start_agent: Callable[..., Any], platform_bus: str,
                                                    platform_calls: Any, pv5_netns: Callable[[], str],
                                                    tmp_path: Path) -> None:
    from integration.platform_fixtures import ip

    device = add_wifi(platform_bus, "d2")
    name = pv5_netns()
    ip("-n", name, "link", "add", "wld2", "type", "veth", "peer", "name", "wld2peer")
    agent = start_agent(dbus_address=platform_bus, docker_host=None, netns=name, listen=f"unix:{tmp_path / 'a.sock'}")
    with agent.client() as client:
        token = client.get("/auth/token?m=2", auth=("admin", "p@ssw0rd")).json()["token"]
        client.put("/auth/user/admin/password", headers={"Authorization": f"Bearer {token}"},
                   json={"old": "p@ssw0rd", "new": PASSWORD})
        token = client.get("/auth/token?m=2", auth=("admin", PASSWORD)).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        index = next(i["ifIndex"] for i in client.get("/platform/api/networking/interfaces").json()
                     if i["name"] == "wld2")
        response = client.delete(f"/platform/api/networking/ipv4config/{index}")
        assert (response.status_code, response.content) == (200, b""), response.text
        response = client.delete("/platform/api/networking/ipv4config/9999")
        assert response.status_code == 422 and list(response.json()["errors"]) == ["Net"]
    conn = "/org/freedesktop/NetworkManager/Settings/connd2"
    updates = platform_calls(NM, conn)
    assert [c[0] for c in updates if c[0] == "Update"] == ["Update"]
    settings = next(c[1][0] for c in updates if c[0] == "Update")
    assert settings["ipv4"] == {"method": ("s", "auto")}  # a{sv}: (signature, value)
    activated = [c for c in platform_calls(NM) if c[0] == "ActivateConnection"]
    assert activated == [("ActivateConnection", (conn, device, "/"))]
